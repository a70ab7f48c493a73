"""Fixtures that several system test files share. Each is module-scoped: a file gets its
own browser or stack, started once for its tests, as when each file defined it."""

import pytest

from tests.browser import Tab, chromium_browser
from tests.front import start_stack
from tests.servers import stop


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium, headless (tests/browser.py says when it skips or fails)."""
    with chromium_browser() as browser:
        yield browser


@pytest.fixture
def tab(chromium, server):
    """A fresh desktop-sized tab on the module's own `server` fixture (each browser test
    file starts the app with the settings it is about); a tab must end with no console
    errors and no failed requests."""
    opened = Tab(chromium, server, viewport={"width": 1280, "height": 800})
    yield opened
    try:
        opened.assert_clean()
    finally:
        opened.close()


@pytest.fixture(scope="module")
def front_stack(tmp_path_factory):
    """`make serve`'s stack, nginx before gunicorn: (base URL, the app's own URL, log file)."""
    folder = tmp_path_factory.mktemp("front")
    process, base, app = start_stack(folder)
    yield base, app, folder / "log"
    stop(process)
