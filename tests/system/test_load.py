"""A smaller run of bench/load.py in the suite: visitors mixing page views, uploads,
renames, image fetches and deletes against gunicorn. Nothing is lost or duplicated, no
visitor goes over the limit, no request fails on the server's side."""

import os

import pytest

from bench.load import run

pytestmark = pytest.mark.alone


def test_mixed_load_loses_nothing(tmp_path):
    result = run(clients=20, seconds=10, mongo_uri=os.environ.get("MONGO_TEST_URI", ""))
    tally = result["tally"]
    assert tally.problems == []
    # "503 busy" (refused at once, with a time to retry) is the admission working.
    statuses = {status for (_, status) in tally.statuses} - {"503 busy"}
    assert all(isinstance(s, int) and s < 500 for s in statuses), statuses
    uploads = sum(n for (action, status), n in tally.statuses.items()
                  if action == "upload" and status == 201)
    pages = sum(n for (action, status), n in tally.statuses.items() if action == "page")
    assert uploads > 0 and pages > 20  # the mix really ran
