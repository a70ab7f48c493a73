"""A slot held by an upload whose process died lets go when its time is up: the visitor's
next upload clears it and may use every slot of USER_LIMIT (2 here)."""

import os
import socket
import subprocess
import sys
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


def gone_pid() -> int:
    """The id of a process of this host that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize(("holder", "status"), [
    (lambda: f"{slots.HERE}{gone_pid()}", 201),  # a worker killed mid-upload
    (lambda: f"{slots.HERE}{os.getpid()}", 409),  # an upload still being made
    # Another host's process (a name as long as this one's): not this host's to tell.
    (lambda: f"{'x' * (len(slots.HERE) - 1)}:{gone_pid()}", 409),
    # Another container of the same host name, with pids of its own (helper 101).
    (lambda: f"{socket.gethostname()}:1:{gone_pid()}", 409),
    (lambda: f"{slots.HERE}not-a-pid", 409),
])
def test_a_slot_held_by_a_process_of_this_host_that_is_gone_is_free_at_once(
        api, visitor, records, holder, status):
    """The page sends a photo again 10 s after the front's 502 for its killed worker: the
    slot that worker held is not counted against it until its lease ends (helper 99)."""
    assert api.create(photo(), name="one").status_code == 201
    held = slots.hold(records.records, visitor.id(), 2)
    assert held[slots.HOLDER] == (f"{socket.gethostname()}:"
                                  f"{os.stat('/proc/self/ns/pid').st_ino}:{os.getpid()}")
    records.records.update_one({"_id": held["_id"]}, {"$set": {slots.HOLDER: holder()}})
    answer = api.create(photo(), name="two")
    assert answer.status_code == status, answer.get_json()
    assert records.records.count_documents({"_id": held["_id"]}) == (status == 409)
