"""The browser tests' shared pieces: Debian's Chromium driven by Playwright, the app under
gunicorn on a loopback port, a tab that records everything that goes wrong in it, axe-core
for accessibility, and reading pixels off the page.

Where Chromium, Playwright or axe-core is missing the tests skip and say why; under CI
(`CI` or `REQUIRE_BROWSER=1`, which `.ci/run` sets) a missing one fails the run instead, so
they cannot pass unseen. axe-core comes from npm (package.json, `npm ci`; the Makefile's
test target runs it).
"""

from __future__ import annotations

import os
import re
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import requests

from tests.servers import clean_env, free_port, start, stop

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
# The flags this machine needs: no sandbox as root, no GPU, and nothing that phones home
# (its connections are refused here and would show up as noise or delays).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync",
                 "--disable-quic"]
REQUIRED = (os.environ.get("REQUIRE_BROWSER") == "1"
            or os.environ.get("CI", "").lower() in ("1", "true", "yes"))
WAIT_MS = 60_000  # an upload runs the real model; generous for a loaded CI machine
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # requirements-dev.txt installs it; say so rather than error
    sync_playwright = expect = None
else:
    # expect() waits 5 s by default, whatever the page's timeout: an upload of several photos
    # through the real model on a loaded 2-core machine takes longer.
    expect.set_options(timeout=WAIT_MS)


def unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"{reason}, but the browser tests must run here (CI / REQUIRE_BROWSER=1).",
                    pytrace=False)
    pytest.skip(reason)


@contextmanager
def chromium_browser():
    if sync_playwright is None:
        unavailable("Playwright for Python is not installed (pip install -r requirements-dev.txt)")
    if not CHROMIUM.exists():
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                 args=CHROMIUM_ARGS)
        except PlaywrightError as exc:
            unavailable(f"Chromium at {CHROMIUM} did not start: {exc}")
        yield browser
        browser.close()


@contextmanager
def app_server(folder: Path, **settings: str):
    """The app under gunicorn with the real model, on loopback only (the container's
    config binds every interface); yields its base URL."""
    port = free_port()
    env = clean_env(APP_SECRET_KEY="browser-test-secret-key-0123456789", PORT=str(port),
                    BG_ENGINE="local", **settings)
    command = [str(Path(sys.executable).parent / "gunicorn"), "--config",
               str(ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}"]
    process, base = start(command, env, port, folder)
    try:
        yield base
    finally:
        stop(process)


class Tab:
    """A fresh visitor's browser tab that remembers everything that went wrong in it."""

    # Records every text the progress label shows, however briefly, so a test can tell
    # the "Removing background…" state was shown without racing the server.
    RECORD_STATES = """
        window.__progressStates = [];
        document.addEventListener("DOMContentLoaded", () => {
          const label = document.getElementById("progress-label");
          if (!label) return;
          new MutationObserver(() => window.__progressStates.push(label.textContent))
            .observe(label, {childList: true, characterData: true, subtree: true});
        });
    """

    def __init__(self, browser, base: str, **context_options):
        self.base = base
        self.context = browser.new_context(accept_downloads=True, **context_options)
        self.context.add_init_script(self.RECORD_STATES)
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.problems: list[str] = []
        self.expected_statuses: set[int] = set()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("requestfailed", lambda request: self.problems.append(
            f"request failed: {request.method} {request.url} {request.failure}"))
        self.page.on("response", self._response)

    def _console(self, message):
        if message.type in ("error", "warning"):
            text = message.text
            # Chromium logs every 4xx answer as a console error; the ones a test provokes on
            # purpose (the limit's 409) are checked as responses instead.
            if any(f"status of {code}" in text for code in self.expected_statuses):
                return
            self.problems.append(f"console {message.type}: {text}")

    def _response(self, response):
        if response.status >= 400 and response.status not in self.expected_statuses:
            self.problems.append(f"HTTP {response.status}: {response.request.method} "
                                 f"{response.url}")

    def open(self):
        self.page.goto(self.base + "/")
        expect(self.page.get_by_role("heading", name="Image Background Remover")).to_be_visible()
        return self.page

    def choose(self, files: list[tuple[str, bytes]]):
        self.page.set_input_files("#image", files=[
            {"name": name, "mimeType": "image/jpeg", "buffer": data} for name, data in files])

    def submit(self):
        page = self.page
        page.get_by_role("button", name="Remove background").click()
        # The form is busy while it uploads and the engine works, then ready again.
        expect(page.locator("#upload-form")).to_have_attribute("aria-busy", "false")
        expect(page.get_by_role("button", name="Remove background")).to_be_enabled()

    def upload(self, files: list[tuple[str, bytes]], name: str = ""):
        self.choose(files)
        expect(self.page.locator("#previews li")).to_have_count(len(files))
        self.page.locator("#upload-form").get_by_label("Image Name", exact=True).fill(name)
        self.submit()

    def messages(self) -> list[str]:
        """The messages as read: without the invisible isolates around a file's name or an
        address (test_a_file_name_that_turns_text_around_stays_in_its_place checks them)."""
        return [text.strip().replace("\u2068", "").replace("\u2069", "")
                for text in self.page.locator("#alerts .alert").all_inner_texts()]

    def outcomes(self) -> list[str]:
        """What the rows say of a change made from them (a rename, an edit), under the
        button the focus went back to."""
        return [text.strip() for text in
                self.page.locator("#records .row-outcome").all_inner_texts()]

    def names(self) -> list[str]:
        names = self.page.locator("#records .record-name").all_inner_texts()
        return [text.strip() for text in names]

    def assert_clean(self):
        assert self.problems == [], "\n".join(self.problems)

    def close(self):
        self.context.close()


def image_rendered(page, selector: str) -> dict:
    """Wait until the image has loaded and decoded; its natural size."""
    page.wait_for_function("sel => { const i = document.querySelector(sel);"
                           " return i && i.complete && i.naturalWidth > 0; }", arg=selector)
    return page.eval_on_selector(selector, "i => ({w: i.naturalWidth, h: i.naturalHeight})")


def pixels(page, selector: str) -> np.ndarray:
    """The RGBA pixels of the picture the page shows at `selector`, as the browser decoded
    it (drawn on a canvas: the images are the page's own, so it can read them back)."""
    image_rendered(page, selector)
    found = page.eval_on_selector(selector, """img => {
        const canvas = document.createElement("canvas");
        canvas.width = img.naturalWidth;
        canvas.height = img.naturalHeight;
        const context = canvas.getContext("2d");
        context.drawImage(img, 0, 0);
        const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
        return {w: canvas.width, h: canvas.height, data: Array.from(data)};
    }""")
    return np.array(found["data"], dtype=np.uint8).reshape(found["h"], found["w"], 4)


def axe_violations(page, include: str | None = None) -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now (or within `include`),
    one line each: rule, impact, the elements, and what is wrong."""
    if not AXE.exists():
        unavailable(f"axe-core is not installed at {AXE.relative_to(ROOT)} (run: npm ci)")
    # Evaluated through the DevTools protocol, which the page's script-src 'self' allows.
    page.evaluate(AXE.read_text())
    results = page.evaluate(
        "([include, tags]) => axe.run(include || document,"
        " {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        [include, WCAG_TAGS])
    return [f"{rule['id']} ({rule['impact']}): "
            + "; ".join(f"{' '.join(node['target'])}: {node['failureSummary']}"
                        for node in rule["nodes"])
            for rule in results["violations"]]


def metric(base: str, name: str, **labels: str) -> float:
    """A counter's value from /metrics (loopback is allowed to read them); 0 when the
    labelled series does not exist yet."""
    text = requests.get(f"{base}/metrics", timeout=10).text
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    pattern = re.compile(rf"^{re.escape(name)}(?:\{{{re.escape(wanted)}\}})? (\S+)$", re.M)
    found = pattern.search(text)
    return float(found.group(1)) if found else 0.0
