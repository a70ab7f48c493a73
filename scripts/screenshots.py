"""Regenerate the README's screenshots from the real app in headless Chromium.

    make screenshots      (or: .venv/bin/python -m scripts.screenshots [--out assets])

Starts the app under gunicorn on a loopback port (embedded store, local model), then walks
through the original app's five views with public-domain photos from scikit-image and
writes them to assets/: get_home.png, upload_image.png, upload_success.png, edit_data.png,
delete_data.png; then the views of what the original did not have: upload_options.png (the
form's new options: an address, Photo with its background photo, Refine edges),
compare_slider.png (a result's before/after slider, moved by the keyboard) and
edit_result.png (the "Edit result" dialog after a change). Needs Debian's chromium at
/usr/bin/chromium (or CHROMIUM_PATH).
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

from scripts.serve import free_port

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync",
                 "--disable-quic"]
VIEWPORT = {"width": 1280, "height": 800}
MAX_BYTES = 300 * 1024  # README images stay small enough to clone quickly
WAIT_MS = 120_000
IMAGES_LOADED = ("() => [...document.querySelectorAll('#records img')]"
                 ".every(i => i.complete && i.naturalWidth)")


def photo(name: str) -> bytes:
    import skimage.data

    buf = io.BytesIO()
    Image.fromarray(getattr(skimage.data, name)()).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@contextmanager
def app_server():
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MONGO_URI", "X_RAPID_API_KEY")}
    env.update(APP_SECRET_KEY=secrets.token_hex(32), APP_ENV="production", BG_ENGINE="local",
               USER_LIMIT="2", PYTHONPATH=str(ROOT), FLASK_SKIP_DOTENV="1")
    gunicorn = Path(sys.executable).parent / "gunicorn"
    with tempfile.TemporaryDirectory() as folder, open(Path(folder) / "log", "wb") as log:
        process = subprocess.Popen(  # noqa: S603 (our own gunicorn, fixed arguments)
            [str(gunicorn), "--config", str(ROOT / "gunicorn.conf.py"),
             "--bind", f"127.0.0.1:{port}"],
            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    sys.exit("the app did not start:\n" + (Path(folder) / "log").read_text())
                try:
                    with urllib.request.urlopen(f"{base}/health", timeout=1):  # noqa: S310
                        break
                except OSError:
                    time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=20)


def save(page, path: Path, full_page: bool = False) -> None:
    img = Image.open(io.BytesIO(page.screenshot(full_page=full_page)))
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    if buf.tell() > MAX_BYTES:
        # Photos make the difference; 256 colours keep them recognisable at this size.
        buf = io.BytesIO()
        img.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(
            buf, "PNG", optimize=True)
    path.write_bytes(buf.getvalue())
    print(f"{path.relative_to(ROOT)}: {img.width}×{img.height}, {buf.tell() // 1024} KB")


def show_messages_and_results(page) -> None:
    """Scroll so the messages sit near the top and the results below them are in view."""
    page.evaluate("window.scrollTo(0, document.getElementById('alerts')"
                  ".getBoundingClientRect().top + window.scrollY - 320)")


def solid_photo(colour: tuple[int, int, int], size=(640, 427)) -> bytes:
    """A background photo: a soft vertical gradient from `colour` to white."""
    top = Image.new("RGB", size, colour)
    fade = Image.linear_gradient("L").resize(size)
    buf = io.BytesIO()
    Image.composite(Image.new("RGB", size, (255, 255, 255)), top, fade).save(buf, "JPEG",
                                                                             quality=90)
    return buf.getvalue()


def scroll_to(page, selector: str, above: int) -> None:
    """Scroll so that `selector` sits `above` pixels below the top of the view."""
    page.evaluate("([sel, above]) => window.scrollTo(0, document.querySelector(sel)"
                  ".getBoundingClientRect().top + window.scrollY - above)", [selector, above])


def new_views(page, base: str, out: Path, cat: bytes) -> None:
    """What the original app did not have: the new options, the slider, editing a result."""
    page.goto(base + "/")
    page.wait_for_function(IMAGES_LOADED)
    form = page.locator("#upload-form")
    page.set_input_files("#image", files=[{"name": "chelsea.jpg", "mimeType": "image/jpeg",
                                           "buffer": cat}])
    form.get_by_label("Image Name", exact=True).fill("Chelsea on a sunny wall")
    form.get_by_label("Photo", exact=True).check()
    form.get_by_label("Background photo").set_input_files(files=[
        {"name": "sunny-wall.jpg", "mimeType": "image/jpeg",
         "buffer": solid_photo((244, 180, 76))}])
    form.get_by_label("Refine edges").check()
    page.wait_for_function("() => document.querySelector('#previews img').naturalWidth > 0")
    scroll_to(page, "#image-label", 24)
    save(page, out / "upload_options.png")

    form.get_by_role("button", name="Remove background").click()
    page.wait_for_selector("#upload-form[aria-busy=false]")
    page.wait_for_function(IMAGES_LOADED)
    slider = page.get_by_role("slider", name="Compare original and result: Chelsea on a sunny")
    slider.focus()
    for _ in range(15):
        page.keyboard.press("ArrowLeft")
    scroll_to(page, "#results-title", 160)
    save(page, out / "compare_slider.png")

    page.get_by_role("button", name="Edit result Chelsea the cat").click()
    dialog = page.locator("#result-modal")
    page.wait_for_selector("#result-modal.show")
    dialog.get_by_label("Background colour").fill("#3d7fd6")
    dialog.get_by_label("Crop to the subject").check()
    dialog.get_by_role("button", name="Apply changes").click()
    page.wait_for_selector("#result-done:not([hidden])")
    page.wait_for_function("() => document.getElementById('result-preview').complete")
    save(page, out / "edit_result.png")


def upload(page, name: str, filename: str, data: bytes) -> None:
    page.set_input_files("#image", files=[{"name": filename, "mimeType": "image/jpeg",
                                           "buffer": data}])
    page.locator("#upload-form").get_by_label("Image Name", exact=True).fill(name)
    page.get_by_role("button", name="Remove background").click()
    page.wait_for_selector("#upload-form[aria-busy=false]")
    page.wait_for_function(IMAGES_LOADED)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "assets")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"Chromium is not at {CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)")
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    cat, astronaut = photo("chelsea"), photo("astronaut")
    with app_server() as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        # Reduced motion: Bootstrap then skips its fades, so nothing is caught mid-animation.
        page = browser.new_page(viewport=VIEWPORT, reduced_motion="reduce")
        page.set_default_timeout(WAIT_MS)
        page.goto(base + "/")

        page.set_input_files("#image", files=[{"name": "chelsea.jpg", "mimeType": "image/jpeg",
                                               "buffer": cat}])
        page.locator("#upload-form").get_by_label("Image Name", exact=True).fill("Chelsea")
        page.wait_for_function("() => document.querySelector('#previews img').naturalWidth > 0")
        save(page, args.out / "upload_image.png")

        page.get_by_role("button", name="Remove background").click()
        page.wait_for_selector("#upload-form[aria-busy=false]")
        page.wait_for_function("() => document.querySelector('#records img.processed-img')"
                               "?.naturalWidth > 0")
        show_messages_and_results(page)
        save(page, args.out / "upload_success.png")

        upload(page, "Astronaut", "astronaut.jpg", astronaut)
        page.goto(base + "/")  # a fresh look, without messages
        page.wait_for_function(IMAGES_LOADED)
        save(page, args.out / "get_home.png", full_page=True)

        page.get_by_role("button", name="Rename Chelsea").click()
        page.wait_for_selector("#edit-modal.show")
        page.keyboard.type("Chelsea the cat")
        save(page, args.out / "edit_data.png")
        page.keyboard.press("Enter")
        page.wait_for_selector("#edit-modal", state="hidden")

        page.get_by_role("button", name="Delete Astronaut").click()
        page.wait_for_selector("#delete-modal.show")
        page.locator("#delete-confirm").click()
        page.wait_for_selector("#delete-modal", state="hidden")
        page.wait_for_selector("#alerts .alert-success")
        show_messages_and_results(page)
        save(page, args.out / "delete_data.png")

        new_views(page, base, args.out, cat)
        browser.close()


if __name__ == "__main__":
    main()
