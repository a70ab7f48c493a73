"""The demo store's bound (app/storage/demo.py): the bytes of images it keeps, and whose
records make room."""

import logging
import uuid

import pytest

from app.images.outputs import EncodedImage
from app.storage import LimitReached
from app.storage.demo import BoundedDemoRepository
from app.storage.embedded import embedded_database
from tests.support import Visitor, photo

ORIGINAL, PROCESSED = b"original", b"processed!"  # 8 + 10: 18 bytes a record
RECORD = len(ORIGINAL) + len(PROCESSED)


def repository(capacity: int) -> BoundedDemoRepository:
    repo = BoundedDemoRepository(embedded_database(f"demo_{uuid.uuid4().hex[:12]}"), capacity)
    repo.ensure_indexes()
    return repo


def add(repo, user, name="cat", limit=5):
    return repo.add(user, name, EncodedImage(ORIGINAL, "image/jpeg", 4, 3),
                    EncodedImage(PROCESSED, "image/png", 4, 3), engine="local", limit=limit)


def names(repo, user):
    return [record.image_name for record in repo.list(user)]


def stored_files(repo):
    return len(list(repo.files.find({})))


def test_records_filling_the_store_exactly_are_all_kept():
    repo = repository(3 * RECORD)
    for user in ("a", "b", "c"):
        add(repo, user)
    assert [names(repo, user) for user in "abc"] == [["cat"]] * 3
    assert repo.stored_bytes == 3 * RECORD
    assert stored_files(repo) == 6


def test_one_byte_over_removes_the_oldest_record_of_another_visitor():
    repo = repository(3 * RECORD - 1)
    add(repo, "a", "first")
    add(repo, "b", "second")
    add(repo, "c", "third")  # its processed image would pass the bound by one byte
    assert (names(repo, "a"), names(repo, "b"), names(repo, "c")) == ([], ["second"], ["third"])
    assert repo.stored_bytes == 2 * RECORD
    assert stored_files(repo) == 4  # the removed record's two files went with it


def test_as_many_records_go_as_make_room_and_no_more():
    repo = repository(4 * RECORD)
    for user in ("a", "b", "c", "d"):
        add(repo, user, f"by {user}")
    big = b"x" * (2 * RECORD)  # needs the room of two records
    repo.add("e", "big", EncodedImage(big, "image/jpeg", 4, 3),
             EncodedImage(b"", "image/png", 4, 3), engine="local", limit=5)
    assert [names(repo, user) for user in "abcde"] == [[], [], ["by c"], ["by d"], ["big"]]
    assert repo.stored_bytes == 4 * RECORD


def test_a_visitors_own_records_never_make_room_for_their_upload(caplog):
    repo = repository(2 * RECORD)
    add(repo, "a", "first")
    add(repo, "a", "second")
    caplog.clear()  # what the store said before (the root logger's level is another test's)
    with caplog.at_level(logging.INFO, "app.storage.demo"):
        add(repo, "a", "third")
    assert names(repo, "a") == ["third", "second", "first"]
    assert repo.stored_bytes == 3 * RECORD  # past the bound by the visitor's own record
    assert [r for r in caplog.records if r.name == "app.storage.demo"] == []
    add(repo, "b", "other")  # another visitor's upload: the oldest two go, in order
    assert names(repo, "a") == ["third"]
    assert names(repo, "b") == ["other"]


def test_removing_says_how_many_went(caplog):
    """As information: once the store is full, every upload removes some."""
    repo = repository(2 * 2**20)  # a megabyte as the app counts sizes
    big = EncodedImage(b"x" * 600_000, "image/jpeg", 4, 3)
    for user in ("a", "b", "c"):
        repo.add(user, "cat", big, big, engine="local", limit=5)
    caplog.clear()  # what the store said before (the root logger's level is another test's)
    with caplog.at_level(logging.INFO, "app.storage.demo"):
        repo.add("d", "cat", big, big, engine="local", limit=5)
    assert [(r.levelname, r.getMessage()) for r in caplog.records
            if r.name == "app.storage.demo"] == [
        ("INFO", "The demo store holds 2 MB at most (DEMO_STORE_MB): removed the 1 oldest "
                 "records of other visitors.")]
    assert [names(repo, user) for user in "abcd"] == [[], [], [], ["cat"]]


def test_files_larger_than_the_store_keep_it_to_the_newest_of_them():
    """Nothing else fits beside them, so the others go; left alone, a run of them from new
    sessions grew the store without bound (helper 88)."""
    repo = repository(3 * RECORD)
    add(repo, "a")
    add(repo, "b")
    huge = EncodedImage(b"x" * (3 * RECORD + 1), "image/jpeg", 4, 3)
    for user in ("c", "d"):
        repo.add(user, "huge", huge, EncodedImage(b"", "image/png", 4, 3), engine="local",
                 limit=5)
    assert [names(repo, user) for user in "abcd"] == [[], [], [], ["huge"]]
    assert repo.stored_bytes == 3 * RECORD + 1


def test_a_record_an_edit_is_remaking_is_passed_over():
    repo = repository(3 * RECORD)
    edited = add(repo, "a", "being edited")
    add(repo, "b", "older")
    add(repo, "c", "newer")
    with repo.in_use(edited.id), repo.in_use(edited.id):  # two edits of it at once
        add(repo, "d")
        assert [names(repo, user) for user in "abcd"] == [
            ["being edited"], [], ["newer"], ["cat"]]
    with repo.in_use(edited.id):
        pass
    add(repo, "e")  # no edit now: the oldest goes
    assert [names(repo, user) for user in "ace"] == [[], ["newer"], ["cat"]]


def test_two_uploads_at_once_cannot_both_take_the_last_room(monkeypatch):
    """Looking for room and storing are one step: without it, two uploads at once both
    found room for their record, and both were stored past the bound."""
    import threading
    import time

    repo = repository(3 * RECORD)  # x's record, and room for one more
    add(repo, "x")
    add(repo, "y")
    real_put = repo.files.put

    def slow_put(*args, **kwargs):
        file_id = real_put(*args, **kwargs)
        time.sleep(0.2)  # long enough for the other upload to look for room meanwhile
        return file_id

    monkeypatch.setattr(repo.files, "put", slow_put)
    threads = [threading.Thread(target=add, args=(repo, user)) for user in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert repo.stored_bytes == 3 * RECORD
    assert [names(repo, user) for user in "xyab"] == [[], ["cat"], ["cat"], ["cat"]]


def test_an_edit_of_the_oldest_record_makes_room_from_others_not_from_itself():
    repo = repository(3 * RECORD)
    mine = add(repo, "a", "mine")
    add(repo, "b", "theirs")
    add(repo, "c", "newest")
    edited = repo.replace_result(mine, EncodedImage(b"a new result", "image/png", 4, 3),
                                 {}, {"image_name": "edited"}, {})
    assert edited.image_name == "edited"
    assert repo.read(edited, "processed") == b"a new result"
    assert (names(repo, "a"), names(repo, "b"), names(repo, "c")) == (["edited"], [], ["newest"])
    assert repo.stored_bytes == len(ORIGINAL) + len(b"a new result") + RECORD


def test_deleted_and_refused_records_give_their_bytes_back():
    repo = repository(10 * RECORD)
    first = add(repo, "a", limit=1)
    with pytest.raises(LimitReached):  # its files were stored, then let go
        add(repo, "a", limit=1)
    assert repo.stored_bytes == RECORD
    repo.delete("a", first.id)
    assert repo.stored_bytes == 0
    assert stored_files(repo) == 0


def test_an_upload_in_flight_is_passed_over():
    repo = repository(RECORD)
    with repo.reserved("a", limit=2) as slot:  # a's upload holds its slot, no files yet
        add(repo, "b")
        add(repo, "c")  # the oldest record is a's slot held: b's goes
        assert (names(repo, "b"), names(repo, "c")) == ([], ["cat"])
        assert repo.stored_bytes == RECORD
        repo.add("a", "held", EncodedImage(ORIGINAL, "image/jpeg", 4, 3),
                 EncodedImage(PROCESSED, "image/png", 4, 3), engine="local", limit=2, slot=slot)
    assert (names(repo, "a"), names(repo, "c")) == (["held"], [])


@pytest.fixture
def settings(settings):
    return settings.changed(demo_store_mb=1)


def test_the_apps_demo_store_keeps_its_bound_through_real_uploads(app, records):
    """The real engine's records, uploaded through the page by one visitor each: as many as
    fill DEMO_STORE_MB are kept, and the next visitor's takes the first one's place."""
    assert isinstance(records, BoundedDemoRepository)
    assert records.capacity == 1_048_576  # a megabyte as every size here counts it: 2**20
    visitors, data = [], photo(size=(320, 240))

    def upload():
        visitor = Visitor(app.test_client())
        assert visitor.upload_json(data).status_code == 201
        visitors.append(visitor)

    upload()
    one = records.stored_bytes
    fit = records.capacity // one
    assert fit >= 2
    for _ in range(fit - 1):
        upload()
    assert [len(v.record_ids()) for v in visitors] == [1] * fit
    first = visitors[0].record_ids()[0]
    assert visitors[0].client.get(f"/images/{first}/processed").status_code == 200
    upload()
    assert [len(v.record_ids()) for v in visitors] == [0] + [1] * fit
    assert records.stored_bytes == fit * one
    assert visitors[0].client.get(f"/images/{first}/processed").status_code == 404


def test_an_edit_holds_its_record_in_use_while_it_is_remade(app, records, monkeypatch):
    """Through the page's edit: while the result is made again, the record is one the
    store passes over; after, it is not."""
    from app.core import edits

    visitor = Visitor(app.test_client())
    assert visitor.upload_json(photo(size=(320, 240))).status_code == 201
    (record_id,) = visitor.record_ids()
    seen = []
    real = edits.cut_out

    def watched(*args, **kwargs):
        seen.append(dict(records._in_use))
        return real(*args, **kwargs)

    monkeypatch.setattr(edits, "cut_out", watched)
    answer = visitor.client.post(f"/edit/{record_id}", data={
        "output": "color", "background": "#00ff00", "csrf_token": visitor.ensure_token()},
        headers={"Accept": "application/json"})
    assert answer.status_code == 200, answer.get_json()
    assert seen == [{record_id: 1}]
    assert records._in_use == {}
