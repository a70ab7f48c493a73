"""The page's features beyond the original app, one test each, in real headless Chromium
against the app under gunicorn with the real model (shared pieces in tests/browser.py):
photos by address and pasted from the clipboard, results over a photo or a blurred
background, JPEG only for opaque results, the before/after slider, the "Edit result"
dialog and the model choice. Pictures are checked by their pixels, read back from the page.
"""

from __future__ import annotations

import io
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from scipy import ndimage

from app.core.errors import Rejected
from app.core.errors import busy as busy_refusal
from app.core.fields import NEEDS_BACKDROP, REFINE_EDGES_HELP
from app.core.forms import UploadRequest, parse
from app.http.limits import RATE_LIMITED
from app.images.outputs import FORMAT_LABELS
from tests.browser import (
    Tab,
    app_server,
    expect,
    image_rendered,
    metric,
    pixels,
)
from tests.support import MODELS_DIR, photo

ROW = "#records tbody tr:nth-child({}) "


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # The loopback photo server below is allowed as a source; rate limits are not what
    # these tests are about.
    with app_server(tmp_path_factory.mktemp("features-server"), USER_LIMIT="2",
                    MAX_CONTENT_LENGTH="2MB", URL_ALLOWED_NETWORKS="127.0.0.0/8",
                    UPLOAD_RATE_LIMIT="1000 per minute",
                    UPLOAD_RATE_LIMIT_IP="1000 per minute") as base:
        yield base


def solid_jpeg(colour: tuple[int, int, int], size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def regions(transparent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where a transparent result is surely background (alpha 0) and surely subject
    (alpha ≥ 250), 3 pixels in from their borders, which lossy renditions blur."""
    alpha = transparent[..., 3]
    background = ndimage.binary_erosion(alpha == 0, iterations=3)
    subject = ndimage.binary_erosion(alpha >= 250, iterations=3)
    assert background.sum() > 500 and subject.sum() > 500, (background.sum(), subject.sum())
    return background, subject


def detail(rgba: np.ndarray, region: np.ndarray) -> float:
    """Mean difference between horizontal neighbours inside `region`: what a blur removes."""
    steps = np.abs(np.diff(rgba[..., :3].astype(int), axis=1)).sum(axis=2)
    return float(steps[region[:, 1:] & region[:, :-1]].mean())


def upload_with(tab: Tab, data: bytes, name: str, output: str = "transparent",
                backdrop: bytes | None = None, file_format: str | None = None) -> np.ndarray:
    """Upload through the form with these options; the new result's rendition's pixels."""
    page = tab.page
    tab.choose([(f"{name}.jpg", data)])
    page.locator("#upload-form").get_by_label("Image Name", exact=True).fill(name)
    page.locator(f"#output-{output}").check()
    if backdrop is not None:
        page.locator("#background_image").set_input_files(
            files=[{"name": "backdrop.jpg", "mimeType": "image/jpeg", "buffer": backdrop}])
    if file_format:
        page.locator("#format").select_option(file_format)
    tab.submit()
    assert tab.messages() == ["Image generated successfully"]
    expect(page.locator(ROW.format(1) + ".record-name")).to_have_text(name)
    return pixels(page, ROW.format(1) + ".processed-img")


# ---- photos in ----------------------------------------------------------------------------

class PhotoServer:
    """A photo on a loopback HTTP server, and the paths asked for."""

    def __init__(self, data: bytes):
        asked = self.asked = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                asked.append(self.path)
                if self.path.endswith("/missing.jpg"):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_photo_by_its_address(tab):
    page = tab.open()
    address_field = page.get_by_label("Or paste the photo's address")
    photos = PhotoServer(photo("chelsea"))
    try:
        # An address without a photo: the server's reason, and the address stays to be fixed.
        missing = photos.base + "/photos/missing.jpg"
        address_field.fill(missing)
        tab.expected_statuses.add(400)
        tab.submit()
        assert tab.messages() == ["The address answered 404 Not Found."]
        expect(page.get_by_role("alert")).to_have_text("The address answered 404 Not Found.")
        expect(address_field).to_have_value(missing)
        expect(page.locator("#no-records")).to_be_visible()

        address = photos.base + "/photos/garden-cat.jpg"
        address_field.fill(address)
        tab.submit()
        assert tab.messages() == ["Image generated successfully"]
        assert photos.asked == ["/photos/missing.jpg", "/photos/garden-cat.jpg"]
        # Named after the address's file; its pictures made from the fetched photo.
        assert tab.names() == ["garden-cat"]
        assert image_rendered(page, ROW.format(1) + "img[alt^='Original']") == {"w": 160, "h": 106}
        assert image_rendered(page, ROW.format(1) + ".processed-img") == {"w": 160, "h": 106}
        expect(address_field).to_have_value("")
        # A file and an address at once: each becomes its own image, with its own message.
        tab.choose([("coffee.jpg", photo("coffee"))])
        address_field.fill(address)
        tab.expected_statuses.add(409)  # the visitor's limit of 2, reached
        tab.submit()
        assert tab.messages() == ["coffee.jpg: Image generated successfully",
                                  f"{address}: Max limit reached. Please remove a record."]
    finally:
        photos.close()


def test_a_name_made_from_an_address_is_one_line(tab):
    """An address whose file name decodes to line breaks and tabs (%0A, %0D, %09): the
    page names the image with spaces in their place, as the server keeps names one line."""
    page = tab.open()
    photos = PhotoServer(photo("chelsea", size=(200, 150)))
    try:
        page.get_by_label("Or paste the photo's address").fill(
            photos.base + "/photos/two%0D%0Alines%09and%C2%85more.jpg")
        tab.submit()
        assert tab.messages() == ["Image generated successfully"]
        assert tab.names() == ["two lines and more"]
    finally:
        photos.close()


def test_an_image_pasted_from_the_clipboard(tab):
    page = tab.open()
    data = list(photo("coffee", fmt="PNG", size=(120, 80)))
    # Headless Chromium has no clipboard: the paste event a real Ctrl+V fires, with a file.
    paste = """([data, target]) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(data)], "image.png", {type: "image/png"}));
        document.querySelector(target).dispatchEvent(new ClipboardEvent("paste",
            {bubbles: true, cancelable: true, clipboardData: transfer}));
    }"""
    page.evaluate(paste, [data, "main"])
    expect(page.locator("#previews li")).to_have_count(1)
    expect(page.locator("#previews")).to_contain_text("pasted-1.png")
    assert image_rendered(page, "#previews img") == {"w": 120, "h": 80}
    expect(page.get_by_role("status").filter(has_text="Pasted")).to_have_text(
        "Pasted pasted-1.png. 1 image chosen.")
    # A second paste, in the drop zone, adds to the choice.
    page.evaluate(paste, [data, "#dropzone"])
    expect(page.locator("#previews li")).to_have_count(2)
    assert page.eval_on_selector("#image", "i => [...i.files].map(f => f.name)") == [
        "pasted-1.png", "pasted-2.png"]
    # An address pasted outside a text field lands in the address field.
    page.evaluate("""() => {
        const transfer = new DataTransfer();
        transfer.setData("text/plain", " https://example.com/cat.jpg ");
        document.body.dispatchEvent(new ClipboardEvent("paste",
            {bubbles: true, cancelable: true, clipboardData: transfer}));
    }""")
    expect(page.get_by_label("Or paste the photo's address")).to_have_value(
        "https://example.com/cat.jpg")
    expect(page.get_by_label("Or paste the photo's address")).to_be_focused()
    page.get_by_label("Or paste the photo's address").fill("")
    # What was pasted is uploaded like a chosen file.
    tab.submit()
    assert tab.messages() == ["pasted-1.png: Image generated successfully",
                              "pasted-2.png: Image generated successfully"]
    assert tab.names() == ["pasted-2", "pasted-1"]


def test_text_pasted_into_a_field_stays_text_beside_an_image(tab):
    """Office programs copy a chart as text and as a picture: pasted into the name field, it
    is the text (the browser's own paste goes on), not one more photo."""
    page = tab.open()
    data = list(photo("coffee", fmt="PNG", size=(120, 80)))
    prevented = page.evaluate("""([data]) => {
        const transfer = new DataTransfer();
        transfer.setData("text/plain", "Quarterly chart");
        transfer.items.add(new File([new Uint8Array(data)], "image.png", {type: "image/png"}));
        const event = new ClipboardEvent("paste",
            {bubbles: true, cancelable: true, clipboardData: transfer});
        document.querySelector("#name").dispatchEvent(event);
        return event.defaultPrevented;
    }""", [data])
    assert prevented is False
    expect(page.locator("#previews li")).to_have_count(0)


# Where the page draws two words of an element's last text (their left edges).
WORD_LEFTS = """([selector, first, second]) => {
    const element = document.querySelector(selector);
    const after = [...element.childNodes].reverse().find((n) => n.nodeType === Node.TEXT_NODE);
    const left = (word) => {
        const range = document.createRange();
        const at = after.data.indexOf(word);
        range.setStart(after, at);
        range.setEnd(after, at + word.length);
        return range.getBoundingClientRect().left;
    };
    return [left(first), left(second)];
}"""


def test_a_name_that_turns_text_around_stays_inside_its_quotes(tab):
    """A name may hold bidirectional controls (a right-to-left override, U+202E, is
    invisible and allowed). Where the page sets it inside a sentence, it is isolated: the
    words after it still read left to right."""
    page = tab.open()
    name = "abc\u202edef"
    tab.upload([("cat.jpg", photo("chelsea", size=(200, 150)))], name=name)
    assert tab.names() == [name]
    page.get_by_role("button", name="Delete abc").click()
    sentence = page.get_by_role("dialog", name="Delete image?").locator("#delete-text")
    expect(sentence).to_contain_text("will be deleted for good")
    lefts = page.evaluate(WORD_LEFTS, ["#delete-text", "its", "photo"])
    assert lefts[0] < lefts[1], lefts
    for selector in ("#delete-name", "#result-name"):
        assert page.locator(selector).evaluate(
            "node => getComputedStyle(node).unicodeBidi") == "isolate", selector


def test_a_file_name_that_turns_text_around_stays_in_its_place(tab):
    """Photos sent together each get a message that starts with the file's name: a
    right-to-left override in it does not turn the words after it around (the progress
    bar's "Uploading <file>…", isolated the same way: test_browser.py)."""
    page = tab.open()
    tab.choose([("abc\u202edef.jpg", photo("chelsea", size=(200, 150))),
                ("two.jpg", photo("coffee", size=(200, 150)))])
    tab.submit()
    assert tab.messages() == ["abc\u202edef.jpg: Image generated successfully",
                              "two.jpg: Image generated successfully"]
    lefts = page.evaluate(WORD_LEFTS, ["#alerts .alert", "generated", "successfully"])
    assert lefts[0] < lefts[1], lefts


def test_numbered_names_are_cut_by_characters_not_code_units(tab):
    """Two photos under one long name of emoji: each is numbered, and the name is cut to
    make room by whole characters (a cut inside an emoji would store U+FFFD). The field
    holds 50 characters as the server counts them, though they are 99 UTF-16 units (what
    maxlength counts: the page's script counts instead)."""
    page = tab.open()
    tab.upload([("one.jpg", photo("chelsea", size=(200, 150))),
                ("two.jpg", photo("coffee", size=(200, 150)))], name="a" + "\N{CAT}" * 49)
    expect(page.locator("#records .record-name")).to_have_count(2)
    stem = "a" + "\N{CAT}" * 47
    assert sorted(tab.names()) == [stem + " 1", stem + " 2"]


def test_photos_sent_again_go_on_numbering_their_name(tab):
    """Four photos named "Batch" with room for two: "Batch 1" and "Batch 2", two kept.
    With "Batch 2" deleted and the two sent again, the first was "Batch 1" a second time
    (helper 66)."""
    page = tab.open()
    tab.expected_statuses.add(409)
    tab.upload([(f"p{i}.jpg", solid_jpeg((60 * i, 90, 90))) for i in range(4)], name="Batch")
    names = page.locator("#records .record-name")
    expect(names).to_have_text(["Batch 2", "Batch 1"])
    expect(page.locator("#previews li")).to_have_count(2)
    page.get_by_role("button", name="Delete Batch 2").click()
    page.locator("#delete-confirm").click()
    expect(names).to_have_text(["Batch 1"])
    page.get_by_role("button", name="Remove background").click()
    expect(page.locator("#upload-form")).to_have_attribute("aria-busy", "false")
    expect(names).to_have_text(["Batch 2", "Batch 1"])


def test_the_documented_name_pattern_means_the_same_to_javascript(tab):
    """The OpenAPI document's name pattern is an ECMAScript regex to its readers: in
    Chromium it accepts exactly the names the server keeps (Python's `re` is checked in
    tests/unit/test_forms.py)."""
    names = ["cat", " cat ", "\tcat\n", "cat\n", "a b", " ", "\x1f\u3000", "a\x00b", "a\tb",
             "cat\x7f", "a\u2028b", "\u2029cat", "a\x85b", "a\x85", "\ufeffcat", "\x1cx\x1d",
             "\U0001f600", "\u05d7\u05ea\u05d5\u05dc", "x" * 50,
             # Invisible alone (format characters, some astral; blank letters), and broken text.
             "\u200b", " \u200b ", "\u200b \u200b", "\u200bcat", "cat\u200b", "\u2060\ufeff",
             "\u3164", "\u2800", "\u115f\u1160\uffa0", "\u3164a", "\U000e0041",
             "\U000e0041x", "\U0001d173", "\u200b\tcat", "\u200b\u3000a", "a\ufffd", "\ufffd",
             "\U0001f468\u200d\U0001f469", "\u200d\U0001f469"]
    pattern = UploadRequest.model_json_schema()["properties"]["name"]["pattern"]
    in_javascript = tab.open().evaluate(
        "([pattern, names]) => names.map(name => new RegExp(pattern, 'u').test(name))",
        [pattern, names])

    def kept(name):
        try:
            parse(UploadRequest, {"name": name, "image": b"x"})
            return True
        except Rejected:
            return False

    assert in_javascript == [kept(name) for name in names]


def test_a_name_over_50_characters_is_stopped_before_sending(tab):
    """51 characters (emoji): the field says the server's sentence and nothing is sent;
    50 are sent and kept whole, in the upload form and in the rename dialog."""
    page = tab.open()
    rule = "Please give the image a name of 1 to 50 characters."
    name_field = page.locator("#upload-form").get_by_label("Image Name", exact=True)
    tab.choose([("one.jpg", photo("chelsea", size=(200, 150)))])
    counter = page.locator("#name-count")
    expect(counter).to_have_text("0 / 50")
    name_field.fill("\N{CAT}" * 51)
    # Counted as the server counts: 51 characters, not 102 UTF-16 units, and said past 50.
    expect(counter).to_have_text("51 / 50")
    expect(counter).to_have_class("form-text text-end mt-0 text-danger")
    expect(name_field).to_have_attribute("aria-describedby", "name-help name-count")
    page.get_by_role("button", name="Remove background").click()
    expect(page.get_by_role("alert")).to_have_text(rule)
    expect(name_field).to_be_focused()
    expect(page.locator("#no-records")).to_be_visible()
    name_field.fill("e\N{COMBINING ACUTE ACCENT}" * 50)  # accents composed, as the server does
    expect(counter).to_have_text("50 / 50")
    name_field.fill("\N{DOG}" * 50)
    expect(counter).to_have_text("50 / 50")
    expect(counter).to_have_class("form-text text-end mt-0")
    tab.submit()
    assert tab.names() == ["\N{DOG}" * 50]

    page.get_by_role("button", name="Rename").first.click()
    edit_name = page.locator("#edit-name")
    expect(edit_name).to_be_focused()
    expect(page.locator("#edit-name-count")).to_have_text("50 / 50")  # the name as it is
    edit_name.fill("\N{CAT}" * 51)
    expect(page.locator("#edit-name-count")).to_have_text("51 / 50")
    page.get_by_role("button", name="Save changes").click()
    assert edit_name.evaluate("field => field.validationMessage") == rule
    edit_name.fill("\N{CAT}" * 50)
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#records .record-name")).to_have_text(["\N{CAT}" * 50])


# ---- what is behind the subject -----------------------------------------------------------

def test_output_photo_puts_the_subject_over_the_chosen_photo(tab):
    page = tab.open()
    form = page.locator("#upload-form")
    backdrop_field = form.get_by_label("Background photo")
    expect(backdrop_field).to_be_hidden()
    reference = upload_with(tab, photo("chelsea"), "plain")
    # The background photo's field comes with "Photo", and is needed.
    form.get_by_label("Photo", exact=True).check()
    expect(backdrop_field).to_be_visible()
    expect(backdrop_field).to_be_enabled()
    tab.choose([("cat.jpg", photo("chelsea"))])
    page.get_by_role("button", name="Remove background").click()
    # The server's sentence, said first, under the field.
    expect(form.locator("#background_image-error")).to_have_text(NEEDS_BACKDROP.message)
    assert tab.messages() == []
    expect(backdrop_field).to_be_focused()

    blue = upload_with(tab, photo("chelsea"), "on-blue", output="image",
                       backdrop=solid_jpeg((0, 0, 255)))
    background, subject = regions(reference)
    assert blue.shape == reference.shape
    assert (blue[..., 3] == 255).all()  # a photo behind: nothing is see-through
    assert np.abs(blue[..., :3].astype(int) - (0, 0, 255))[background].max() <= 8
    assert np.abs(blue[..., :3].astype(int) - reference[..., :3])[subject].mean() < 6
    expect(page.locator(ROW.format(1) + ".options-summary")).to_have_text("Photo")
    expect(page.locator(ROW.format(1) + ".processed-img")).not_to_have_class("checkerboard")


def test_output_blur_blurs_the_photos_own_background_as_a_jpeg(tab):
    page = tab.open()
    reference = upload_with(tab, photo("coffee"), "plain")
    blurred = upload_with(tab, photo("coffee"), "blurred", output="blur", file_format="jpeg")
    original = pixels(page, ROW.format(1) + "img[alt^='Original']")
    background, subject = regions(reference)
    assert (blurred[..., 3] == 255).all()
    # Measured: the background keeps about a fifth of its detail, the subject all of it.
    assert detail(blurred, background) < 0.4 * detail(original, background)
    assert detail(blurred, subject) > 0.9 * detail(original, subject)
    assert np.abs(blurred[..., :3].astype(int) - original[..., :3])[subject].mean() < 6
    expect(page.locator(ROW.format(1) + ".options-summary")).to_have_text("Blurred background")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download JPEG of blurred").click()
    assert download.value.suggested_filename == "blurred.jpg"


def test_jpeg_is_offered_only_for_results_without_transparency(tab):
    page = tab.open()
    form = page.locator("#upload-form")
    file_format = form.get_by_label("Format")
    jpeg = file_format.locator("option[value=jpeg]")
    reason = ("JPEG cannot hold transparency: choose Colour, Photo, Blur background or Mask "
              "only to save a JPEG.")
    # Transparent is the default: no JPEG, and the field says why.
    expect(jpeg).to_be_disabled()
    expect(file_format).to_have_accessible_description(reason)
    expect(form.get_by_text(reason)).to_be_visible()
    for output in ("Colour", "Photo", "Blur background", "Mask only"):
        form.get_by_label(output, exact=True).check()
        expect(jpeg).to_be_enabled()
        expect(form.get_by_text(reason)).to_be_hidden()
    file_format.select_option("jpeg")
    form.get_by_label("Transparent background").check()
    expect(jpeg).to_be_disabled()
    expect(file_format).to_have_value("png")  # the choice that no longer fits is undone
    expect(form.get_by_text(reason)).to_be_visible()
    # ...and comes back with an output it fits (helper 77), unless another was chosen.
    form.get_by_label("Blur background").check()
    expect(file_format).to_have_value("jpeg")
    form.get_by_label("Transparent background").check()
    file_format.select_option("webp")
    form.get_by_label("Colour", exact=True).check()
    expect(file_format).to_have_value("webp")
    # Refine edges says what it costs.
    expect(form.get_by_label("Refine edges")).to_have_accessible_description(REFINE_EDGES_HELP)


def test_a_transparent_webp_opens_in_the_browser_with_the_pngs_very_alpha(tab):
    """A transparent WebP is put together by app/images/webpwriter.py, not by libwebp's
    muxer: Chromium's decoder reads it, and its alpha is the PNG result's, level for level."""
    page = tab.open()
    results = {}
    for file_format in ("png", "webp"):
        upload_with(tab, photo("coffee"), file_format, file_format=file_format)
        link = page.get_by_role("link", name=f"Download {FORMAT_LABELS[file_format]} of "
                                             f"{file_format}")
        page.evaluate("""href => { const img = new Image(); img.className = "probe";
                                   img.src = href; document.body.append(img); }""",
                      link.get_attribute("href"))
        results[file_format] = pixels(page, f"img.probe[src='{link.get_attribute('href')}']")
    alpha = results["png"][..., 3]
    assert ((alpha > 0) & (alpha < 255)).any() and (alpha == 0).any() and (alpha == 255).any()
    assert np.array_equal(results["webp"][..., 3], alpha)
    visible = alpha == 255  # drawn on a canvas, softer pixels' colours are premultiplied
    assert np.abs(results["webp"][..., :3].astype(int)
                  - results["png"][..., :3])[visible].mean() < 2.5


# ---- each result --------------------------------------------------------------------------

def test_the_before_after_slider_by_keyboard(tab):
    page = tab.open()
    tab.upload([("chelsea.jpg", photo("chelsea"))], name="slider")
    slider = page.get_by_role("slider", name="Compare original and result: slider")
    frame = page.locator(ROW.format(1) + ".compare-frame")
    after = page.locator(ROW.format(1) + ".compare-after")
    expect(slider).to_have_value("50")
    expect(slider).to_have_attribute("aria-valuetext", "50% original, 50% result")
    image_rendered(page, ROW.format(1) + ".compare-after")
    image_rendered(page, ROW.format(1) + ".compare-before")

    def shown() -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(frame.screenshot())).convert("RGB"), int)

    slider.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    expect(slider).to_have_value("53")
    expect(slider).to_have_attribute("aria-valuetext", "53% original, 47% result")
    expect(after).to_have_css("clip-path", "inset(0px 0px 0px 53%)")
    page.keyboard.press("ArrowLeft")
    expect(slider).to_have_attribute("aria-valuetext", "52% original, 48% result")
    page.keyboard.press("Home")
    expect(slider).to_have_attribute("aria-valuetext", "0% original, 100% result")
    result = shown()
    page.keyboard.press("End")
    expect(slider).to_have_attribute("aria-valuetext", "100% original, 0% result")
    original = shown()
    assert np.abs(result - original).mean() > 20  # checkerboard where the background was
    # Half way: the original to the left of the divider, the result to its right.
    page.keyboard.press("Home")
    for _ in range(10):
        page.keyboard.press("PageUp")  # Chromium: a tenth of the range each
    expect(slider).to_have_attribute("aria-valuetext", "100% original, 0% result")
    for _ in range(5):
        page.keyboard.press("PageDown")
    expect(slider).to_have_value("50")
    half = shown()
    middle = half.shape[1] // 2
    assert np.abs(half[:, :middle - 3] - original[:, :middle - 3]).max() <= 2
    assert np.abs(half[:, middle + 3:] - result[:, middle + 3:]).max() <= 2


# The lines each visible one-word label's text takes: a word split over two is a fault.
LINES_OF_ONE_WORD_LABELS = """(selector) => Object.fromEntries(
  [...document.querySelectorAll(selector)]
  .filter(label => label.offsetParent && !/\\s/.test(label.textContent.trim()))
  .map(label => {
    const range = document.createRange();
    range.selectNodeContents(label);
    const tops = new Set([...range.getClientRects()].map(rect => Math.round(rect.top)));
    return [label.textContent.trim(), tops.size];
  }))"""
BOXES = """(selector) => [...document.querySelectorAll(selector)].map(element => {
  const box = element.getBoundingClientRect();
  return [box.left, box.top, box.width, box.height].map(Math.round); })"""


@pytest.mark.parametrize("viewport", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_the_result_lies_on_its_original_whatever_its_shape_and_name(chromium, server,
                                                                     viewport):
    """A portrait and a 12×8 photo: the result over the original has the original's very
    box (before, the slider's own width set the frame's, and the result was stretched
    across it); a name of one 50-letter word wraps instead of widening the page."""
    width, height = viewport
    tab = Tab(chromium, server, viewport={"width": width, "height": height})
    try:
        page = tab.open()
        tab.upload([("tall.jpg", photo("astronaut", size=(540, 960)))], name="W" * 50)
        tab.upload([("tiny.jpg", photo("chelsea", size=(12, 8)))],
                   name="PXL_20240512_183455123.PORTRAIT.ORIGINAL")
        for row in (1, 2):
            image_rendered(page, ROW.format(row) + ".compare-after")
        # Both read in one go, in one layout: read one after the other, a late shift of the
        # page (3 px, in CI) between the two made them differ.
        before, after = page.evaluate(
            f"() => [({BOXES})('.compare-before'), ({BOXES})('.compare-after')]")
        assert after == before
        assert [box[2:] for box in before] == [[12, 8], [90, 160]]
        sliders = page.evaluate(BOXES, ".compare-range")
        assert [box[2] for box in sliders] == [160, 160]  # at least 10rem, to drag
        assert page.evaluate("document.documentElement.scrollWidth") == width
        names = page.evaluate(BOXES, ".record-name")
        assert all(left >= 0 and left + w <= width for left, _, w, _ in names), names
        if width >= 992:  # a table (narrower, rows are cards): a row's pictures start level
            # Read in one layout, and waited for: read one after the other, the three once
            # straddled a late change of the row (13 px, in CI).
            tops = f"""() => [1, 2].map(row => ["img[alt^='Original']", ".processed-img",
                ".compare-frame"].map(s => ({BOXES})(`{ROW}`.replace("{{}}", row) + s)[0][1]))"""
            level = f"() => ({tops})().every(t => Math.max(...t) - Math.min(...t) <= 1)"
            try:
                page.wait_for_function(level, timeout=5000)
            except PlaywrightTimeout:
                raise AssertionError(page.evaluate(tops)) from None
        # In the dialogs too: the long name wraps inside, and no one-word label breaks.
        page.get_by_role("button", name="Delete " + "W" * 50).click()
        dialog = page.locator("#delete-modal .modal-content")
        expect(dialog).to_be_visible()
        (left, _, w, _), = page.evaluate(BOXES, "#delete-modal .modal-content")
        (name_left, _, name_w, _), = page.evaluate(BOXES, "#delete-name")
        assert left <= name_left and name_left + name_w <= left + w
        page.locator("#delete-cancel").click()
        expect(dialog).to_be_hidden()
        page.get_by_role("button", name="Edit result " + "W" * 50).click()
        expect(page.locator("#result-modal")).to_be_visible()
        lines = page.evaluate(LINES_OF_ONE_WORD_LABELS, "#result-modal label")
        assert lines and all(count == 1 for count in lines.values()), lines
    finally:
        tab.assert_clean()
        tab.close()


def test_edit_result_remakes_it_without_the_model(tab):
    page = tab.open()
    transparent = upload_with(tab, photo("chelsea"), "editable")
    background, subject = regions(transparent)
    masks_made = metric(tab.base, "ibp_engine_used_total", engine="local")
    assert masks_made >= 1  # the counter counts: the upload's mask is in it

    # By keyboard: the dialog opens on the record's current options, focus on them.
    page.get_by_role("button", name="Edit result editable").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Edit result: editable")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Transparent background")).to_be_checked()
    expect(dialog.get_by_label("Transparent background")).to_be_focused()
    image_rendered(page, "#result-preview")
    expect(dialog.get_by_role("img", name="Current result: editable")).to_be_visible()

    # A photo behind needs a photo: said in the dialog, nothing sent.
    dialog.get_by_label("Photo", exact=True).check()
    dialog.get_by_role("button", name="Apply changes").click()
    expect(dialog.get_by_role("alert")).to_have_text(NEEDS_BACKDROP.message)
    # What the server refuses, it says in the dialog.
    tab.expected_statuses.add(400)
    dialog.get_by_label("Colour", exact=True).check()
    dialog.get_by_label("Crop to the subject").check()
    dialog.get_by_label("margin").fill("150")
    dialog.get_by_role("button", name="Apply changes").click()
    expect(dialog.get_by_role("alert")).to_have_text(
        "The crop margin must be a whole number of percent from 0 to 100, such as 10 (no % sign).")

    # Red behind the subject: progress while it is made, then the new result in place.
    dialog.get_by_label("Crop to the subject").uncheck()
    dialog.get_by_label("Background colour").fill("#ff0000")
    expect(dialog.get_by_label("Colour", exact=True)).to_be_checked()
    page.evaluate("""() => {
        const progress = document.getElementById("result-progress");
        window.__editProgress = [];
        new MutationObserver(() => window.__editProgress.push(!progress.hidden))
            .observe(progress, {attributes: true, attributeFilter: ["hidden"]});
    }""")
    dialog.get_by_role("button", name="Apply changes").click()
    expect(dialog.get_by_role("status")).to_have_text("Image updated")
    expect(dialog.get_by_role("alert")).to_be_hidden()
    assert page.evaluate("window.__editProgress") == [True, False]
    for where in (ROW.format(1) + ".processed-img", "#result-preview"):
        red = pixels(page, where)
        assert red.shape == transparent.shape
        assert (red[..., 3] == 255).all()
        assert np.abs(red[..., :3].astype(int) - (255, 0, 0))[background].max() <= 8, where
        assert np.abs(red[..., :3].astype(int) - transparent[..., :3])[subject].mean() < 6
    expect(page.locator(ROW.format(1) + ".options-summary")).to_have_text("Colour #ff0000")
    assert metric(tab.base, "ibp_engine_used_total", engine="local") == masks_made

    # Closing returns to the row's button, with the outcome under it.
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Edit result editable")).to_be_focused()
    assert tab.outcomes() == ["Image updated"]
    expect(page.get_by_role("button", name="Edit result editable")
           ).to_have_accessible_description("Image updated")
    # Opened again, it shows what the record is now.
    page.get_by_role("button", name="Edit result editable").click()
    expect(dialog.get_by_label("Colour", exact=True)).to_be_checked()
    expect(dialog.get_by_label("Colour", exact=True)).to_be_focused()
    expect(dialog.get_by_label("Background colour")).to_have_value("#ff0000")
    # Another look and back: the colour picked is still there (it was reset to white).
    dialog.get_by_label("Blur background").check()
    dialog.get_by_role("button", name="Apply changes").click()
    expect(page.locator(ROW.format(1) + ".options-summary")).to_have_text("Blurred background")
    expect(dialog.get_by_label("Blur background")).to_be_checked()
    expect(dialog.get_by_label("Background colour")).to_have_value("#ff0000")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    # The original app's rename is still its own dialog.
    page.get_by_role("button", name="Rename editable").click()
    rename = page.get_by_role("dialog", name="Edit image name")
    expect(rename).to_contain_text("Note: You can only change image name")


def test_the_model_choice_says_which_are_not_installed(chromium, tmp_path):
    # A models folder with the fast model only: "Best quality" is not installed there.
    models = tmp_path / "models"
    models.mkdir()
    (models / "u2netp.onnx").symlink_to(MODELS_DIR / "u2netp.onnx")
    (tmp_path / "server").mkdir()
    with app_server(tmp_path / "server", BG_MODELS_DIR=str(models), USER_LIMIT="2") as base:
        tab = Tab(chromium, base, viewport={"width": 1280, "height": 800})
        try:
            page = tab.open()
            group = page.get_by_role("group", name="Model")
            fast = group.get_by_role("radio", name="Fast", exact=True)
            best = group.get_by_role("radio", name="Best quality (not installed)")
            expect(fast).to_be_checked()
            expect(best).to_be_disabled()
            # The keyboard moves among the installed ones only: Fast stays chosen.
            fast.focus()
            page.keyboard.press("ArrowRight")
            expect(fast).to_be_checked()
            tab.upload([("chelsea.jpg", photo("chelsea"))], name="fast")
            assert tab.messages() == ["Image generated successfully"]
            tab.assert_clean()
        finally:
            tab.close()


# ---- a busy server ------------------------------------------------------------------------

class Busy:
    """The page's uploads answered 503 busy with `Retry-After: seconds` (the first `times`,
    or all), the others passed on to the server; counts the uploads the page sent."""

    def __init__(self, page, base: str, seconds: int, times: int | None = None,
                 status: int = 503, error: str = "busy"):
        self.seconds, self.times, self.posts = seconds, times, 0
        self.status, self.error = status, error
        self.message = busy_refusal(seconds).message if error == "busy" else RATE_LIMITED
        page.route(base + "/", self._route)

    def _route(self, route):
        if route.request.method != "POST":
            route.continue_()
            return
        self.posts += 1
        if self.times is not None and self.posts > self.times:
            route.continue_()
            return
        route.fulfill(status=self.status, headers={"Retry-After": str(self.seconds)},
                      json={"error": self.error, "message": self.message})


# The front's own too (nginx: the app restarting, too many requests at once), whose
# answers dropped the photo the page said to send again (helper 66).
@pytest.mark.parametrize("status, error", [(503, "busy"), (429, "rate_limited"),
                                           (502, "app_unavailable"), (503, "app_unavailable"),
                                           (429, "too_many_requests")])
def test_a_busy_server_is_waited_for_and_the_photo_sent_again(tab, status, error):
    page = tab.open()
    tab.expected_statuses.add(status)
    busy = Busy(page, tab.base, seconds=2, times=1, status=status, error=error)
    tab.choose([("first.jpg", photo("chelsea")), ("second.jpg", solid_jpeg((200, 40, 40)))])
    page.get_by_role("button", name="Remove background").click()
    row = page.locator("#previews li").nth(0)
    # The row counts down, its live region says so, and the visitor may stop it.
    expect(row.locator(".preview-status")).to_have_text(
        re.compile(r"^Server busy: trying again in [12] s…$"))
    expect(row.get_by_role("status")).to_have_text("Server busy: trying again in 2 s…")
    expect(row.get_by_role("button", name="Cancel sending first.jpg again")).to_be_visible()
    expect(page.locator("#upload-form")).to_have_attribute("aria-busy", "false")
    # Sent again by itself when the wait ran out: each photo made, nothing pressed again.
    assert tab.messages() == ["first.jpg: Image generated successfully",
                              "second.jpg: Image generated successfully"]
    assert busy.posts == 3
    states = page.evaluate("window.__progressStates")
    assert "Server busy: trying again in 2 s…" in states
    assert sorted(tab.names()) == ["first", "second"]


def test_the_focus_stays_on_the_button_while_a_photo_is_sent(tab):
    """A disabled button let the keyboard's focus fall to the page's body (helper 66)."""
    page = tab.open()
    tab.expected_statuses.add(503)
    Busy(page, tab.base, seconds=2, times=1)
    tab.choose([("one.jpg", solid_jpeg((10, 200, 10)))])
    submit = page.locator("#submit")
    submit.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#previews li .preview-status")).to_have_text(
        re.compile(r"^Server busy: trying again in [12] s…$"))
    expect(submit).to_be_focused()
    expect(submit).to_have_attribute("aria-disabled", "true")
    page.keyboard.press("Enter")  # pressed again while busy: nothing more is sent
    expect(page.locator("#alerts .alert")).to_have_text(["Image generated successfully"])
    expect(submit).to_have_attribute("aria-disabled", "false")
    assert tab.names() == ["one"]


def test_waiting_for_a_busy_server_can_be_cancelled(tab):
    page = tab.page
    page.clock.install()  # time is moved on below, to show nothing more is sent
    tab.open()
    tab.expected_statuses.add(503)
    busy = Busy(page, tab.base, seconds=30)
    tab.choose([("one.jpg", solid_jpeg((10, 200, 10))), ("two.jpg", solid_jpeg((10, 10, 200)))])
    page.get_by_role("button", name="Remove background").click()
    rows = page.locator("#previews li")
    expect(rows.nth(0).locator(".preview-status")).to_have_text(
        "Server busy: trying again in 30 s…")
    page.get_by_role("button", name="Cancel sending one.jpg again").click()
    # That row stops and says so, and focus stays on it; the next photo goes on.
    expect(rows.nth(0).locator(".preview-status")).to_have_text("Sending it again was cancelled.")
    expect(rows.nth(0).get_by_role("status")).to_have_text("Sending it again was cancelled.")
    expect(rows.nth(0)).to_be_focused()
    expect(rows.nth(0).get_by_role("button")).to_have_count(0)
    expect(rows.nth(1).locator(".preview-status")).to_have_text(
        "Server busy: trying again in 30 s…")
    assert busy.posts == 2
    page.get_by_role("button", name="Cancel sending two.jpg again").click()
    expect(page.locator("#upload-form")).to_have_attribute("aria-busy", "false")
    said = busy_refusal(30).message + " Sending it again was cancelled."
    assert tab.messages() == ["one.jpg: " + said, "two.jpg: " + said]
    # Long past any wait: neither photo was sent again.
    page.clock.run_for(120_000)
    expect(page.locator("#previews li")).to_have_count(2)  # both stay chosen, to send again
    assert busy.posts == 2
    expect(page.locator("#no-records")).to_be_visible()
