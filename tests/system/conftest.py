"""Fixtures that several system test files share. Each is module-scoped: a file gets its
own browser or stack, started once for its tests, as when each file defined it."""

import pytest

from tests.browser import chromium_browser
from tests.front import start_stack
from tests.servers import stop


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium, headless (tests/browser.py says when it skips or fails)."""
    with chromium_browser() as browser:
        yield browser


@pytest.fixture(scope="module")
def front_stack(tmp_path_factory):
    """`make serve`'s stack, nginx before gunicorn: (base URL, the app's own URL, log file)."""
    folder = tmp_path_factory.mktemp("front")
    process, base, app = start_stack(folder)
    yield base, app, folder / "log"
    stop(process)
