"""A slot held by an upload whose process died lets go when its time is up: the visitor's
next upload clears it and may use every slot of USER_LIMIT (2 here)."""

from datetime import datetime, timedelta, timezone

import pytest

from app.storage import LimitReached, slots
from tests.support import photo


@pytest.fixture
def lapsed(visitor, records):
    """A placeholder in the visitor's first slot, left by an upload that died: lapsed a
    second ago."""
    visitor.page()
    held = slots.hold(records.records, visitor.id(), 2)
    past = datetime.now(timezone.utc) - timedelta(seconds=1)
    records.records.update_one({"_id": held["_id"]}, {"$set": {slots.RESERVED: past}})
    return held


def test_a_lapsed_placeholder_neither_counts_nor_keeps_its_slot(api, visitor, lapsed,
                                                                records):
    statuses = [api.create(photo(), name=name).status_code for name in ("one", "two")]
    assert statuses == [201, 201]
    assert sorted(r["image_name"] for r in api.list()) == ["one", "two"]
    assert records.records.count_documents({"_id": lapsed["_id"]}) == 0
    refused = api.create(photo(), name="three")
    assert (refused.status_code, refused.get_json()["error"]) == (409, "limit_reached")


def test_a_live_placeholder_keeps_its_slot(api, visitor, records):
    visitor.page()
    slots.hold(records.records, visitor.id(), 2)  # an upload being made elsewhere
    assert api.create(photo(), name="one").status_code == 201
    refused = api.create(photo(), name="two")
    assert (refused.status_code, refused.get_json()["error"]) == (409, "limit_reached")


def test_a_result_whose_placeholder_lapsed_and_was_cleared_is_not_stored(visitor, records):
    """The upload took longer than its hold: another cleared the placeholder, so the result
    has no slot to go to and is refused, not stored outside the limit."""
    visitor.page()
    held = slots.hold(records.records, visitor.id(), 2)
    records.records.delete_one({"_id": held["_id"]})
    with pytest.raises(LimitReached):
        slots.fill(records.records, held, {"user_id": visitor.id(), "image_name": "late"})
    assert records.records.count_documents({}) == 0
