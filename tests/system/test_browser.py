"""What a person does, in real headless Chromium against the app under gunicorn on a
loopback port, with the real model removing backgrounds.

Debian's `chromium` at /usr/bin/chromium is driven by Playwright (which downloads nothing).
Where it is missing these tests skip and say why; under CI (`CI` or `REQUIRE_BROWSER=1`,
which `.ci/run` sets) a missing browser fails the run instead, so they cannot pass unseen.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from tests.servers import clean_env, free_port, start, stop
from tests.support import photo

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
# The flags this machine needs: no sandbox as root, no GPU, and nothing that phones home
# (its connections are refused here and would show up as noise or delays).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync",
                 "--disable-quic"]
REQUIRED = (os.environ.get("REQUIRE_BROWSER") == "1"
            or os.environ.get("CI", "").lower() in ("1", "true", "yes"))
LIMIT = 2
MAX_UPLOAD = "1MB"
WAIT_MS = 60_000  # an upload runs the real model; generous for a loaded CI machine


def _unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"{reason}, but the browser tests must run here (CI / REQUIRE_BROWSER=1).",
                    pytrace=False)
    pytest.skip(reason)


try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # requirements-dev.txt installs it; say so rather than error
    sync_playwright = None


@pytest.fixture(scope="module")
def chromium():
    if sync_playwright is None:
        _unavailable("Playwright for Python is not installed (pip install -r requirements-dev.txt)")
    if not CHROMIUM.exists():
        _unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                 args=CHROMIUM_ARGS)
        except PlaywrightError as exc:
            _unavailable(f"Chromium at {CHROMIUM} did not start: {exc}")
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    env = clean_env(APP_SECRET_KEY="browser-test-secret-key-0123456789", PORT=str(port),
                    USER_LIMIT=str(LIMIT), MAX_CONTENT_LENGTH=MAX_UPLOAD, BG_ENGINE="local")
    # On loopback only: the container's config binds every interface.
    command = [str(Path(sys.executable).parent / "gunicorn"), "--config",
               str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py"),
               "--bind", f"127.0.0.1:{port}"]
    process, base = start(command, env, port, tmp_path_factory.mktemp("browser-server"))
    yield base
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

    def upload(self, files: list[tuple[str, bytes]], name: str = ""):
        page = self.page
        self.choose(files)
        expect(page.locator("#previews li")).to_have_count(len(files))
        page.locator("#upload-form").get_by_label("Image Name", exact=True).fill(name)
        page.get_by_role("button", name="Remove background").click()
        # The form is busy while it uploads and the engine works, then ready again.
        expect(page.locator("#upload-form")).to_have_attribute("aria-busy", "false")
        expect(page.get_by_role("button", name="Remove background")).to_be_enabled()

    def messages(self) -> list[str]:
        return [text.strip() for text in self.page.locator("#alerts .alert").all_inner_texts()]

    def names(self) -> list[str]:
        names = self.page.locator("#records .record-name").all_inner_texts()
        return [text.strip() for text in names]

    def assert_clean(self):
        assert self.problems == [], "\n".join(self.problems)

    def close(self):
        self.context.close()


@pytest.fixture
def tab(chromium, server):
    opened = Tab(chromium, server, viewport={"width": 1280, "height": 800})
    yield opened
    try:
        opened.assert_clean()
    finally:
        opened.close()


def image_rendered(page, selector: str) -> dict:
    """Wait until the image has loaded and decoded; its natural size."""
    page.wait_for_function("sel => { const i = document.querySelector(sel);"
                           " return i && i.complete && i.naturalWidth > 0; }", arg=selector)
    return page.eval_on_selector(selector, "i => ({w: i.naturalWidth, h: i.naturalHeight})")


def test_upload_see_download_rename_hit_the_limit_and_delete(tab):
    page = tab.open()
    expect(page.locator("#no-records")).to_be_visible()
    # Labels and names a screen reader would use.
    expect(page.locator("#upload-form").get_by_label("Image Name", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Images Drop images here or choose files")
           ).to_be_attached()

    # Upload a real photo: progress, then "Removing background…", then the result.
    tab.upload([("chelsea.jpg", photo("chelsea"))], name="ginger-cat")
    assert tab.messages() == ["Image generated successfully"]
    states = page.evaluate("window.__progressStates")
    assert any(state.startswith("Uploading chelsea.jpg") for state in states), states
    assert "Removing background…" in states
    # Focus moved to the outcome, where a screen reader reads it.
    assert page.evaluate("document.activeElement.id") == "alerts"
    assert tab.names() == ["ginger-cat"]

    row = page.locator("#records tbody tr").first
    # The gallery shows renditions (160 px here, at 1 device pixel per CSS pixel) of the
    # 451×300 photo and its cutout; the full size is behind a click.
    assert image_rendered(page, "#records tbody tr .processed-img") == {"w": 160, "h": 106}
    assert image_rendered(page, "#records tbody tr img[alt^='Original']") == {"w": 160, "h": 106}
    expect(row.locator(".processed-img")).to_have_class(
        "result-img processed-img checkerboard")
    expect(row.get_by_alt_text("Background removed: ginger-cat")).to_be_visible()

    # The download saves under the record's name, not an id.
    with page.expect_download() as download:
        row.get_by_role("link", name="Download PNG of ginger-cat").click()
    assert download.value.suggested_filename == "ginger-cat.png"

    # Rename with the keyboard alone: the modal takes the focus, Enter saves.
    page.get_by_role("button", name="Edit ginger-cat").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#edit-modal")).to_be_visible()
    expect(page.locator("#edit-name")).to_be_focused()
    expect(page.locator("#edit-name")).to_have_value("ginger-cat")
    page.keyboard.type("tabby")  # the old name is selected, so typing replaces it
    page.keyboard.press("Enter")
    expect(page.locator("#edit-modal")).to_be_hidden()
    expect(page.locator("#records .record-name")).to_have_text(["tabby"])
    assert tab.messages() == ["Image name edited successfully"]
    expect(page.get_by_role("button", name="Edit tabby")).to_be_focused()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PNG of tabby").click()
    assert download.value.suggested_filename == "tabby.png"

    # A second image fits; a third is over the limit and says so.
    tab.upload([("rocket.jpg", photo("rocket"))], name="rocket")
    assert tab.messages() == ["Image generated successfully"]
    expect(page.locator("#usage")).to_contain_text("(2 used)")
    tab.expected_statuses.add(409)
    tab.upload([("coffee.jpg", photo("coffee"))], name="coffee")
    assert tab.messages() == ["Max limit reached. Please remove a record."]
    expect(page.get_by_role("alert")).to_have_text("Max limit reached. Please remove a record.")
    assert tab.names() == ["rocket", "tabby"]

    # Delete, after a confirmation that names the image and has the safe choice focused.
    page.get_by_role("button", name="Delete tabby").click()
    dialog = page.get_by_role("dialog", name="Delete image?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("“tabby”")
    expect(page.locator("#delete-cancel")).to_be_focused()
    dialog.get_by_role("button", name="Delete", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#records .record-name")).to_have_text(["rocket"])
    assert tab.messages() == ["Deleted successfully"]
    expect(page.locator("#usage")).to_contain_text("(1 used)")

    # What the page shows is what the server keeps.
    page.reload()
    assert tab.names() == ["rocket"]
    tab.assert_clean()


def test_several_files_at_once_each_get_their_own_record_and_message(tab):
    page = tab.open()
    tab.expected_statuses.add(409)
    huge = os.urandom(1_200_000)  # over the server's 1 MB limit: refused before sending
    tab.upload([("first.jpg", photo("chelsea")), ("huge.jpg", huge),
                ("second.jpg", photo("astronaut", size=(256, 256))),
                ("third.jpg", photo("coffee"))])
    assert tab.messages() == [
        "first.jpg: Image generated successfully",
        "huge.jpg: The file is too large. Please upload an image of at most 1 MB.",
        "second.jpg: Image generated successfully",
        "third.jpg: Max limit reached. Please remove a record.",
    ]
    # Named after their files (the name field was left empty); newest first.
    assert tab.names() == ["second", "first"]
    for index in (1, 2):
        assert image_rendered(page, f"#records tbody tr:nth-child({index}) .processed-img")["w"] > 0
    expect(page.locator("#previews")).to_be_hidden()


def test_files_dropped_on_the_zone_are_chosen_and_previewed(tab):
    page = tab.open()
    data = list(photo("coffee", size=(120, 80)))
    page.evaluate("""data => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(data)], "dropped.jpg", {type: "image/jpeg"}));
        const zone = document.getElementById("dropzone");
        zone.dispatchEvent(new DragEvent("dragenter", {bubbles: true, dataTransfer: transfer}));
        zone.dispatchEvent(new DragEvent("drop", {bubbles: true, dataTransfer: transfer}));
    }""", data)
    expect(page.locator("#previews li")).to_have_count(1)
    expect(page.locator("#previews")).to_contain_text("dropped.jpg")
    assert image_rendered(page, "#previews img") == {"w": 120, "h": 80}
    expect(page.get_by_alt_text("Preview of dropped.jpg")).to_be_visible()
    assert page.eval_on_selector("#image", "input => input.files.length") == 1
    expect(page.locator("#dropzone")).not_to_have_class(re.compile(r"\bis-dragover\b"))


def test_every_image_has_alt_text_and_every_control_a_name(tab):
    page = tab.open()
    tab.upload([("chelsea.jpg", photo("chelsea"))], name="named")
    unnamed = page.evaluate("""() => {
        const controls = [...document.querySelectorAll("input, select, textarea, button")]
            .filter(el => el.type !== "hidden" && !el.closest("template"));
        const named = el => el.labels?.length || el.getAttribute("aria-label")
            || el.getAttribute("aria-labelledby") || el.textContent.trim();
        return {
            images: [...document.images].filter(i => !i.alt.trim()).map(i => i.src),
            controls: controls.filter(el => !named(el)).map(el => el.outerHTML),
        };
    }""")
    assert unnamed == {"images": [], "controls": []}
    expect(page.get_by_alt_text("Original: named")).to_be_visible()


# What the security headers are heading for: nothing inline, only this origin's assets. The
# page needs `blob:` (previews of chosen files) and `data:` (Bootstrap's icons) images.
STRICT_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; "
              "img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; "
              "form-action 'self'; frame-ancestors 'none'")


def test_the_page_works_under_a_strict_content_security_policy(tab):
    page = tab.page

    def with_csp(route):
        if route.request.resource_type != "document":
            route.fallback()
            return
        response = route.fetch()
        route.fulfill(response=response,
                      headers={**response.headers, "content-security-policy": STRICT_CSP})

    page.route(lambda url: url.startswith(tab.base + "/"), with_csp)
    tab.open()
    assert page.evaluate("() => document.querySelector('meta[name=csrf-token]') !== null")
    tab.upload([("chelsea.jpg", photo("chelsea"))], name="strict")
    assert tab.messages() == ["Image generated successfully"]
    image_rendered(page, "#records tbody tr .processed-img")
    page.get_by_role("button", name="Edit strict").click()
    expect(page.locator("#edit-name")).to_be_focused()
    page.keyboard.type("stricter")
    page.keyboard.press("Enter")
    expect(page.locator("#records .record-name")).to_have_text(["stricter"])
    page.get_by_role("button", name="Delete stricter").click()
    page.locator("#delete-confirm").click()
    expect(page.locator("#no-records")).to_be_visible()
    tab.assert_clean()  # a violation is a console error


def test_choosing_nothing_says_so(tab):
    page = tab.open()
    page.get_by_role("button", name="Remove background").click()
    assert tab.messages() == ["Please choose an image to upload."]
    expect(page.locator("#image")).to_be_focused()


def test_a_phone_sized_screen_has_no_horizontal_scroll(chromium, server):
    tab = Tab(chromium, server, viewport={"width": 390, "height": 844}, is_mobile=True,
              has_touch=True, device_scale_factor=2)
    try:
        page = tab.open()
        tab.upload([("chelsea.jpg", photo("chelsea"))], name="a rather long name for a phone")
        assert tab.messages() == ["Image generated successfully"]
        image_rendered(page, "#records tbody tr .processed-img")
        overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        assert page.evaluate(overflow) <= 0
        # Each result is a card: its images fit the screen's width.
        for selector in (".processed-img", "img[alt^='Original']", ".download-processed"):
            box = page.locator(f"#records tbody tr {selector}").bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (selector, box)
        page.get_by_role("button", name="Edit a rather long name for a phone").click()
        expect(page.locator("#edit-name")).to_be_focused()
        assert page.evaluate(overflow) <= 0
        tab.assert_clean()
    finally:
        tab.close()
