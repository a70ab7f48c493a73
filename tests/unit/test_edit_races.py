"""Two changes to one record at once: the second result to be stored was made from a record
that is no longer there as it was. The repository refuses it (`replace_result` replaces
only the result it was given) and leaves nothing behind; the visitor is told 409, at both
doors, and the record keeps the first change whole. A record deleted meanwhile is told
404, as a record that never was: trying again could not help. No threads: the other edit
or the deletion runs inside the first edit."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.core.forms import EditFields
from app.storage import RecordNotFound, StaleRecord
from tests.support import assert_error, free

CHANGED = "The image changed while this was being made. Please try again."
NOT_FOUND = "That image does not exist, or it is not yours."


@dataclass(frozen=True)
class Image:
    """What the repository stores of an image: any object with these four attributes."""

    data: bytes
    content_type: str = "image/png"
    width: int = 4
    height: int = 3


def file_ids(records) -> set:
    return {found._id for found in records.files.find({})}


def test_a_result_made_from_a_record_that_changed_is_refused_and_leaves_nothing(
        visitor, record_id, records):
    record = records.get(visitor.id(), record_id)
    first = records.replace_result(record, Image(b"first"), {160: Image(b"first-160")},
                                   {"image_name": "first"}, {})
    before = file_ids(records)
    with pytest.raises(StaleRecord):
        records.replace_result(record, Image(b"second"), {160: Image(b"second-160")},
                               {"image_name": "second"}, {"mask": Image(b"mask")})
    assert file_ids(records) == before  # the second's files went with it
    now = records.get(visitor.id(), record_id)
    assert (now.image_name, now.processed.file_id) == ("first", first.processed.file_id)
    assert records.read(now, "processed") == b"first"


def test_a_result_for_a_record_deleted_meanwhile_is_refused_and_leaves_nothing(
        visitor, record_id, records):
    record = records.get(visitor.id(), record_id)
    assert visitor.delete(record_id).status_code == 200
    with pytest.raises(RecordNotFound):
        records.replace_result(record, Image(b"late"), {}, {}, {})
    assert file_ids(records) == set()


def test_renditions_stored_while_an_edit_was_made_go_with_the_result_it_replaces(
        visitor, record_id, records):
    """A record without its result's renditions (made before they existed) gets them from a
    gallery view while an edit of it is being made: the edit's new result replaces them
    too, and deletes their files (the edit read the record before they were there)."""
    from bson import ObjectId

    from app.storage.documents import file_ids as referenced

    for image in records.get(visitor.id(), record_id).thumbnails["processed"].values():
        records.delete_file(ObjectId(image.file_id))
    records.records.update_one({"_id": ObjectId(record_id)},
                               {"$unset": {"thumbnails.processed": ""}})
    record = records.get(visitor.id(), record_id)
    records.add_thumbnails(record, "processed", {160: Image(b"view-160"), 320: Image(b"v")})
    assert len(file_ids(records)) == 7  # original, processed, mask, two + two renditions
    records.replace_result(record, Image(b"edited"), {160: Image(b"edited-160")},
                           {"image_name": "edited"}, {"mask": Image(b"mask")})
    doc = records.records.find_one({"_id": ObjectId(record_id)})
    assert file_ids(records) == set(referenced(doc))
    assert len(file_ids(records)) == 6  # original, edited, mask, 2 + 1 renditions
    assert doc["thumbnails"]["processed"].keys() == {"160"}


def collide(app, visitor, record_id, edit):
    """`edit()`'s answer when, while it is being made, another edit of the same record (to
    green) is stored first."""
    services = app.extensions["services"]
    records, started = services.records, []
    read = records.read

    def read_then_another_edit(record, kind, *size):
        data = read(record, kind, *size)
        if kind == "original" and not started:
            started.append(True)  # the other edit reads the photo too: once is enough
            services.edits.edit(visitor.id(), record_id,
                                EditFields(output="color", background="#00ff00"),
                                pay=free)
        return data

    records.read = read_then_another_edit
    try:
        return edit()
    finally:
        records.read = read


def page_edit(visitor, record_id, fields):
    return visitor.client.post(f"/edit/{record_id}",
                               data={**fields, "csrf_token": visitor.ensure_token()},
                               content_type="multipart/form-data",
                               headers={"Accept": "application/json"})


def mask_edit(door: str, visitor, api, record_id: str):
    """The edit to output "mask", as the page or the API sends it."""
    if door == "page":
        return lambda: page_edit(visitor, record_id, {"output": "mask"})
    return lambda: api.edit(record_id, {"output": "mask"})


@pytest.mark.parametrize("door", ["page", "api"])
def test_of_two_edits_at_once_the_later_is_told_409_and_leaves_nothing(
        app, api, visitor, record_id, records, door):
    before = len(file_ids(records))
    response = collide(app, visitor, record_id, mask_edit(door, visitor, api, record_id))
    assert assert_error(response, 409, "conflict")["message"] == CHANGED
    body = api.http.get(f"/api/v1/records/{record_id}").get_json()
    assert (body["options"]["output"], body["options"]["background"]) == ("color", "#00ff00")
    # An edit replaces the result's files: as many as before, the refused edit's deleted.
    assert len(file_ids(records)) == before


def deleted_meanwhile(app, visitor, record_id, edit):
    """`edit()`'s answer when the record is deleted once its result is being made: every
    read is done by then, so only storing the result can find it gone."""
    services = app.extensions["services"]
    make = services.engines.make

    def delete_then_make(*args, **kwargs):
        services.gallery.delete(visitor.id(), record_id)
        return make(*args, **kwargs)

    services.engines.make = delete_then_make
    try:
        return edit()
    finally:
        services.engines.make = make


@pytest.mark.parametrize("door", ["page", "api"])
def test_an_edit_of_a_record_deleted_meanwhile_is_told_404_and_leaves_nothing(
        app, api, visitor, record_id, records, door):
    response = deleted_meanwhile(app, visitor, record_id,
                                 mask_edit(door, visitor, api, record_id))
    assert assert_error(response, 404, "not_found")["message"] == NOT_FOUND
    assert assert_error(api.edit(record_id, {"output": "mask"}), 404, "not_found") == {
        "error": "not_found", "message": NOT_FOUND}  # a retry: the same answer
    assert (records.list(visitor.id()), file_ids(records)) == ([], set())
