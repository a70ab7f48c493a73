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
    with caplog.at_level(logging.WARNING, "app.storage.demo"):
        add(repo, "a", "third")
    assert names(repo, "a") == ["third", "second", "first"]
    assert repo.stored_bytes == 3 * RECORD  # past the bound by the visitor's own record
    assert caplog.records == []
    add(repo, "b", "other")  # another visitor's upload: the oldest two go, in order
    assert names(repo, "a") == ["third"]
    assert names(repo, "b") == ["other"]


def test_removing_says_how_many_went(caplog):
    repo = repository(2 * RECORD)
    add(repo, "a")
    add(repo, "b")
    with caplog.at_level(logging.WARNING, "app.storage.demo"):
        add(repo, "c")
    assert [r.getMessage() for r in caplog.records] == [
        "The demo store holds 0 MB at most (DEMO_STORE_MB): removed the 1 oldest records "
        "of other visitors."]


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
    assert records.capacity == 1_000_000
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
