"""The repository's contract, on the embedded store and, when MONGO_TEST_URI is set, on a real
MongoDB-compatible server (CI runs it against FerretDB)."""

import contextlib
import os
import threading
import time
import uuid
from datetime import timedelta

import pytest
from bson import ObjectId
from pymongo import MongoClient

from app.images.outputs import EncodedImage
from app.storage import LimitReached, RecordNotFound, RecordRepository
from app.storage.embedded import WHOLE_FILE, embedded_database
from app.storage.maintenance import sweep_orphans
from app.storage.records import BUCKET
from tests.servers import eventually

BACKENDS = ["embedded"] + (["server"] if os.environ.get("MONGO_TEST_URI") else [])


@pytest.fixture(params=BACKENDS)
def database(request):
    name = f"contract_{uuid.uuid4().hex[:12]}"
    if request.param == "embedded":
        yield embedded_database(name)
        return
    client = MongoClient(os.environ["MONGO_TEST_URI"], serverSelectionTimeoutMS=5000)
    yield client[name]
    client.drop_database(name)
    client.close()


@pytest.fixture
def repo(database):
    repo = RecordRepository(database)
    repo.ensure_indexes()
    return repo


def image(data=b"\x89PNG fake bytes", content_type="image/png", size=(4, 3)):
    return EncodedImage(data, content_type, *size)


def add(repo, user="u1", name="cat", limit=2, original=None, processed=None):
    return repo.add(user, name, original or image(b"original", "image/jpeg"),
                    processed or image(b"processed"), engine="local", limit=limit)


def file_count(repo):
    return len(list(repo.files.find({})))


def test_add_get_and_list(repo):
    first = add(repo, name="first")
    second = add(repo, name="second")
    assert [r.image_name for r in repo.list("u1")] == ["second", "first"]  # newest first
    got = repo.get("u1", first.id)
    assert got == first
    assert got.engine == "local"
    assert got.original.content_type == "image/jpeg" and got.original.size == len(b"original")
    assert (got.processed.width, got.processed.height) == (4, 3)
    assert repo.read(got, "original") == b"original"
    assert repo.read(second, "processed") == b"processed"
    assert repo.count("u1") == 2


def test_records_are_scoped_to_their_visitor(repo):
    mine = add(repo, user="u1")
    assert repo.list("u2") == []
    assert repo.count("u2") == 0
    with pytest.raises(RecordNotFound):
        repo.get("u2", mine.id)
    with pytest.raises(RecordNotFound):
        repo.rename("u2", mine.id, "stolen")
    with pytest.raises(RecordNotFound):
        repo.delete("u2", mine.id)
    assert repo.get("u1", mine.id).image_name == "cat"


@pytest.mark.parametrize("bad", ["", "nope", "0" * 24, "zz" * 12])
def test_unknown_ids_are_not_found(repo, bad):
    add(repo)
    for call in (lambda: repo.get("u1", bad), lambda: repo.rename("u1", bad, "x"),
                 lambda: repo.delete("u1", bad)):
        with pytest.raises(RecordNotFound):
            call()


def test_rename(repo):
    record = add(repo)
    repo.rename("u1", record.id, "renamed")
    assert repo.get("u1", record.id).image_name == "renamed"


def test_delete_removes_record_and_bytes(repo):
    record = add(repo)
    assert file_count(repo) == 2
    repo.delete("u1", record.id)
    assert repo.list("u1") == []
    assert file_count(repo) == 0


def test_the_limit_stores_nothing_beyond_it(repo):
    add(repo)
    add(repo)
    with pytest.raises(LimitReached):
        add(repo)
    assert repo.count("u1") == 2
    assert file_count(repo) == 4  # the refused upload left no bytes behind
    add(repo, user="u2")  # other visitors are not affected


def test_the_limit_holds_under_parallel_adds(repo):
    outcomes, lock = [], threading.Lock()
    start = threading.Barrier(8)

    def worker(n):
        start.wait()
        try:
            add(repo, name=f"r{n}")
            result = "stored"
        except LimitReached:
            result = "limit"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["limit"] * 6 + ["stored"] * 2
    assert repo.count("u1") == 2
    assert file_count(repo) == 4


def test_a_failed_insert_leaves_no_orphan_bytes(repo, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("insert failed")

    monkeypatch.setattr(repo.records, "insert_one", fail)
    with pytest.raises(RuntimeError):
        add(repo)
    assert file_count(repo) == 0


def test_images_larger_than_a_document_are_stored_whole(repo):
    big = os.urandom(17 * 1024 * 1024)  # over MongoDB's 16 MB document limit
    record = add(repo, processed=image(big))
    assert repo.read(repo.get("u1", record.id), "processed") == big


def test_created_on_uses_the_original_format(repo):
    import re

    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", add(repo).created_on)


def test_indexes(repo):
    keys = [spec["key"] for spec in repo.records.index_information().values()]
    assert [("user_id", 1)] in keys  # every per-visitor query
    assert [("slot", 1)] in keys


def test_documents_without_a_slot_coexist(repo):
    """The original app's documents have no slot; the unique slot index must allow many."""
    repo.records.insert_one({"user_id": "u1", "image_name": "old 1"})
    repo.records.insert_one({"user_id": "u1", "image_name": "old 2"})
    add(repo, limit=3)
    assert repo.count("u1") == 3


@pytest.mark.parametrize("old", [1, 2])
def test_documents_without_a_slot_leave_fewer_slots_to_parallel_uploads(repo, old):
    """Uploads held at once (each has passed the count before any slot was taken) find
    only the slots the original app's documents leave: the limit holds with them too."""
    for n in range(old):
        repo.records.insert_one({"user_id": "u1", "image_name": f"old {n}"})
    with contextlib.ExitStack() as held:
        for _ in range(3 - old):
            held.enter_context(repo.reserved("u1", 3))
        with pytest.raises(LimitReached), repo.reserved("u1", 3):
            pass
        assert repo.count("u1") == 3


def test_sweeping_orphans_keeps_everything_referenced(repo):
    from datetime import timedelta

    kept = add(repo)
    orphan = repo.files.put(b"left behind by a crash", metadata={"user_id": "u1"})
    legacy_id = repo.records.insert_one({"user_id": "u1", "image_name": "old",
                                         "original_image_base64": "", "processed_image_base64":
                                         ""}).inserted_id
    half_migrated = repo.files.put(b"x", metadata={"legacy_id": legacy_id, "kind": "original"})
    assert sweep_orphans(repo, timedelta(minutes=10)) == 0  # too young: maybe in progress
    assert sweep_orphans(repo, timedelta(0)) == 1
    assert not repo.files.exists(orphan)
    assert repo.files.exists(half_migrated)
    assert repo.read(repo.get("u1", kept.id), "processed") == b"processed"


def test_sweeping_removes_the_chunks_a_killed_writer_left_without_their_file(repo):
    """GridFS writes a file's document last: a writer killed part-way leaves chunks that no
    file lists (helper 99), swept once older than asked, by the age of their file's id."""
    from datetime import timedelta

    from app.storage import slots

    kept = add(repo)
    chunks = repo.records.database[f"{BUCKET}.chunks"]
    stored_chunks = chunks.count_documents({})

    def cut_short(started, numbers=range(3)):
        files_id = ObjectId.from_datetime(started)
        chunks.insert_many([{"files_id": files_id, "n": n, "data": b"x" * 10}
                            for n in numbers])
        return files_id

    hour_ago = cut_short(slots.now() - timedelta(hours=1))
    # A delete cut short after its first chunk (helper 101).
    deleted_in_part = cut_short(slots.now() - timedelta(hours=2), numbers=(1, 2))
    minute_ago = cut_short(slots.now() - timedelta(minutes=1))
    assert sweep_orphans(repo, timedelta(minutes=10)) == 2
    assert chunks.count_documents({"files_id": {"$in": [hour_ago, deleted_in_part]}}) == 0
    assert chunks.count_documents({"files_id": minute_ago}) == 3  # maybe still being written
    assert sweep_orphans(repo, timedelta(seconds=30)) == 1
    assert chunks.count_documents({}) == stored_chunks
    assert repo.read(repo.get("u1", kept.id), "processed") == b"processed"
    assert repo.read(repo.get("u1", kept.id), "original") == b"original"


def test_a_held_slot_counts_but_is_never_listed_and_its_upload_fills_it(repo):
    """On every backend (FerretDB in CI too): a placeholder counts towards the limit while
    its upload is made, lists and lookups never show it, the record takes its id and slot,
    and a failed upload lets it go."""
    from app.storage import slots

    with repo.reserved("u1", 2) as held:
        assert (repo.count("u1"), repo.list("u1")) == (1, [])
        with pytest.raises(RecordNotFound):
            repo.get("u1", str(held["_id"]))
        record = repo.add("u1", "cat", image(b"original", "image/jpeg"), image(b"processed"),
                          engine="local", limit=2, slot=held)
    assert record.id == str(held["_id"])
    assert [r.id for r in repo.list("u1")] == [record.id] and repo.count("u1") == 1
    with pytest.raises(RuntimeError), repo.reserved("u1", 2):
        raise RuntimeError("the upload failed")
    assert repo.count("u1") == 1
    assert repo.records.count_documents({slots.RESERVED: {"$exists": True}}) == 0


def test_a_held_slot_is_renewed_while_its_upload_works_and_lapses_when_its_process_stops(
        repo, monkeypatch):
    """A placeholder lapses LEASE_SECONDS after it was last renewed: its process renews it
    every RENEW_SECONDS while the upload works, so a long upload keeps its slot, and a
    killed worker's slot is free half a minute later, not ten (helper 99)."""
    from app.storage import slots

    assert (slots.LEASE_SECONDS, slots.RENEW_SECONDS) == (30, 10)
    renewals = []
    monkeypatch.setattr(slots, "RENEW_SECONDS", 0.05)
    monkeypatch.setattr(slots.Leases, "renew", lambda self, real=slots.Leases.renew: (
        renewals.append(slots.now()), real(self)))

    def until(held):
        return repo.records.find_one({"_id": held["_id"]})[slots.RESERVED].replace(
            tzinfo=slots.timezone.utc)

    with repo.reserved("u1", 2) as held:
        first = until(held)
        assert 29 <= (first - slots.now()).total_seconds() <= 30
        # Made to lapse: the renewal brings it back to a whole lease from now.
        repo.records.update_one({"_id": held["_id"]},
                                {"$set": {slots.RESERVED: slots.now() - timedelta(seconds=1)}})
        eventually(lambda: until(held) > slots.now())
        assert 29 <= (until(held) - slots.now()).total_seconds() <= 30
        assert repo.count("u1") == 1
    # Let go (as by its process's end): no longer renewed, it stays lapsed; with nothing
    # held, the renewing thread ends.
    repo.records.update_one({"_id": held["_id"]},
                            {"$set": {slots.RESERVED: slots.now() - timedelta(seconds=1)}})
    eventually(lambda: not repo.leases.renewing)
    time.sleep(3 * slots.RENEW_SECONDS)
    assert until(held) < slots.now()
    with repo.reserved("u1", 2) as held, repo.reserved("u1", 2) as other:
        repo.records.update_many({}, {"$set": {slots.RESERVED: slots.now() - timedelta(
            seconds=1)}})
        repo.leases.renew()  # both at once
        assert min(until(held), until(other)) > slots.now()


def test_a_held_slot_is_renewed_no_longer_than_the_old_fixed_hold(repo, monkeypatch):
    """An upload's own bounds end it well before: a thread hung past them does not keep
    its slot for as long as its worker lives (helper 101)."""
    from app.storage import slots

    assert slots.HELD_MOST_SECONDS == 600
    monkeypatch.setattr(slots, "RENEW_SECONDS", 0.05)
    monkeypatch.setattr(slots, "HELD_MOST_SECONDS", 0.5)
    lapsed = {"$set": {slots.RESERVED: slots.now() - timedelta(seconds=1)}}
    with repo.reserved("u1", 2) as held:
        def renewed():
            until = repo.records.find_one({"_id": held["_id"]})[slots.RESERVED]
            return until.replace(tzinfo=slots.timezone.utc) > slots.now()

        repo.records.update_one({"_id": held["_id"]}, lapsed)
        eventually(renewed)  # while young
        time.sleep(0.5)
        repo.records.update_one({"_id": held["_id"]}, lapsed)
        time.sleep(4 * slots.RENEW_SECONDS)
        assert not renewed()


def test_a_slot_is_no_longer_renewed_once_its_record_is_written_in_its_place(repo,
                                                                             monkeypatch):
    """On a server that does not isolate updates (FerretDB's SQLite backend) a renewal
    racing the write of the record could put the placeholder back (helper 101)."""
    from app.storage import slots

    renewed_at_fill = []
    fill = slots.fill
    monkeypatch.setattr(slots, "fill", lambda records, placeholder, doc: (
        renewed_at_fill.append(placeholder["_id"] in repo.leases.held),
        fill(records, placeholder, doc))[1])
    with repo.reserved("u1", 2) as held:
        assert repo.leases.held == (held["_id"],)
        repo.add("u1", "cat", image(b"original", "image/jpeg"), image(b"processed"),
                 engine="local", limit=2, slot=held)
    assert renewed_at_fill == [False]
    assert repo.leases.held == ()


def test_sweeping_removes_lapsed_placeholders_only(repo):
    from datetime import timedelta

    from app.storage import slots

    lapsed = slots.now() - timedelta(seconds=1)
    repo.records.insert_one({"user_id": "u9", "slot": "u9/0", slots.RESERVED: lapsed})
    with repo.reserved("u9", 3):
        sweep_orphans(repo, timedelta(0))
        assert repo.records.count_documents({slots.RESERVED: {"$exists": True}}) == 1
        assert repo.count("u9") == 1  # the live one


def test_a_new_result_replaces_the_old_one_and_its_files(repo):
    """An edit's swap: the old result, its renditions and the extras given are deleted, the
    photo and its renditions kept, on every backend (FerretDB answers findAndModify)."""
    webp = "image/webp"
    record = repo.add("u1", "cat", image(b"original", "image/jpeg"), image(b"processed"),
                      engine="local", limit=2, extras={"mask": image(b"mask")},
                      thumbnails={"original": {160: image(b"o-160", webp)},
                                  "processed": {160: image(b"p-160", webp)}})
    assert file_count(repo) == 5
    new = repo.replace_result(record, image(b"edited"), {160: image(b"e-160", webp)},
                              {"image_name": "dog"}, {"mask": image(b"mask-2")})
    assert (new.image_name, repo.read(new, "processed")) == ("dog", b"edited")
    assert sorted(stored.read() for stored in repo.files.find({})) == [
        b"e-160", b"edited", b"mask-2", b"o-160", b"original"]


@pytest.mark.parametrize(("embedded", "chunks"), [(False, 3), (True, 1)])
def test_a_file_is_stored_in_chunks_of_the_size_asked_and_read_back_whole(database,
                                                                            embedded,
                                                                            chunks):
    """The server keeps GridFS's 255 KB chunks; the embedded store gets one chunk a file,
    since mongomock finds a file's chunks by scanning them all."""
    repo = RecordRepository(database, embedded=embedded)
    repo.ensure_indexes()
    big = bytes(range(256)) * (2 * 255 * 4 + 1)  # 255 KB × 2 and one byte more
    record = add(repo, processed=image(big))
    file_id = ObjectId(record.processed.file_id)
    assert database[f"{BUCKET}.chunks"].count_documents({"files_id": file_id}) == chunks
    assert repo.read(repo.get("u1", record.id), "processed") == big


def test_the_app_gives_the_embedded_store_whole_file_chunks():
    from app.services import build_services
    from app.settings import Settings

    services = build_services(Settings(app_env="development", log_level="ERROR"))
    assert services.demo_storage
    record = add(services.records, processed=image(b"x" * (3 * 255 * 1024)))
    chunks = services.records.records.database[f"{BUCKET}.chunks"]
    assert chunks.count_documents({"files_id": ObjectId(record.processed.file_id)}) == 1


def test_the_embedded_store_does_not_copy_every_file_to_store_one(monkeypatch):
    """GridFS's "is the bucket empty?" before each file, answered by the first document:
    storing a record copies as many documents with 70 records stored as with one."""
    import mongomock

    repo = RecordRepository(embedded_database(f"copies_{uuid.uuid4().hex[:8]}"), embedded=True)
    repo.ensure_indexes()
    copies = []
    real = mongomock.Collection._copy_only_fields
    monkeypatch.setattr(mongomock.Collection, "_copy_only_fields",
                        lambda self, *args: copies.append(1) or real(self, *args))

    def copies_to_add_one() -> int:
        copies.clear()
        add(repo, user=uuid.uuid4().hex, limit=100)
        return len(copies)

    first = copies_to_add_one()
    for _ in range(70):
        add(repo, user="many", limit=100)
    assert copies_to_add_one() == first
    files = repo.records.database[f"{BUCKET}.files"]
    assert set(files.find_one({}, projection={"_id": 1})) == {"_id"}
    assert files.find_one({}, projection={"_id": 1})["_id"] == files.find_one({})["_id"]
    assert repo.records.find_one({"image_name": "cat", "user_id": "many"})["image_name"] == "cat"


def test_a_failure_after_the_record_is_gone_leaves_its_own_files_deleted(repo, monkeypatch):
    """The legacy leftovers are asked for only after the record's own files are deleted:
    a database failing at that point strands none of them (the sweep finds the rest)."""
    from pymongo.errors import ConnectionFailure

    from app.storage import StorageUnavailable, legacy

    record = add(repo)

    def down(*args):
        raise ConnectionFailure("gone")

    monkeypatch.setattr(legacy, "leftover_files", down)
    with pytest.raises(StorageUnavailable):
        repo.delete("u1", record.id)
    assert file_count(repo) == 0


def test_a_falsy_filter_is_still_an_id(database):
    """`find_one(0)` asks for `_id` 0, on a server and in the embedded store, whose fast
    path answers GridFS's `find_one({})` alone."""
    collection = database[f"falsy_{uuid.uuid4().hex[:8]}"]
    collection.insert_many([{"_id": 5}, {"_id": 0}])
    assert collection.find_one(0, projection={"_id": 1}) == {"_id": 0}


def test_the_embedded_store_stores_a_file_without_reading_the_others(monkeypatch):
    """mongomock checks a unique index by reading every document: the chunks' index is
    made not unique, so storing a record reads as many chunks with 100 more files stored
    as without them (it was 7 scans of them all, one a file)."""
    import mongomock.collection

    repo = RecordRepository(embedded_database(f"chunks_{uuid.uuid4().hex[:8]}"), embedded=True)
    repo.ensure_indexes()
    read = []
    real = mongomock.collection.filter_applies

    def counted(spec, document, *args, **kwargs):
        if "files_id" in document:  # a chunk
            read.append(1)
        return real(spec, document, *args, **kwargs)

    monkeypatch.setattr(mongomock.collection, "filter_applies", counted)

    def chunks_read_to_add_one() -> int:
        read.clear()
        add(repo, user=uuid.uuid4().hex, limit=100)
        return len(read)

    add(repo, user="first", limit=100)  # GridFS makes its indexes with the first file
    first = chunks_read_to_add_one()
    for _ in range(100):
        repo.files.put(b"x", chunk_size=WHOLE_FILE)
    assert chunks_read_to_add_one() == first
    info = repo.records.database[f"{BUCKET}.chunks"].index_information()["files_id_1_n_1"]
    assert not info.get("unique")
