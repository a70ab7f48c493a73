"""GET / and POST /: the page and the upload form, every message it can show."""

import re

import pytest

from app import create_app
from app.core import errors
from app.engines import EngineError, EngineTimeout
from app.storage import StorageUnavailable
from tests.support import Visitor, encode, open_png, photo, photo_array, use_engine


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "Healthy"}


def test_first_visit_sets_a_signed_user_id_cookie_and_shows_an_empty_page(client):
    response = client.get("/")
    assert response.status_code == 200
    cookie = client.get_cookie("user_id")
    assert cookie is not None and "." in cookie.value  # id plus signature
    assert cookie.http_only and cookie.same_site == "Lax"
    html = response.get_data(as_text=True)
    assert "Image Background Remover" in html
    assert "No images yet" in html


def test_the_cookie_is_kept_on_later_visits(client):
    client.get("/")
    first = client.get_cookie("user_id").value
    response = client.get("/")
    assert "user_id=" not in " ".join(response.headers.getlist("Set-Cookie"))
    assert client.get_cookie("user_id").value == first


def test_upload_flashes_success_and_lists_the_record_with_image_urls(visitor, fake_engine):
    response = visitor.upload(photo(), name="Raven")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert visitor.flashes() == [("success", "Image generated successfully")]
    assert visitor.flashes() == []  # a flash is shown once

    visitor.upload(photo(), name="Second")
    html = visitor.client.get("/").get_data(as_text=True)
    assert "Raven" in html and "Second" in html
    (record_id, *_) = visitor.record_ids()
    assert f"/images/{record_id}/original" in html
    assert f"/images/{record_id}/processed" in html
    assert "base64" not in html and "data:image" not in html


def test_each_download_button_names_its_format_as_the_menu_does(visitor, fake_engine):
    for file_format in ("webp", "jpeg"):  # a gallery of two
        visitor.upload(photo(), name=file_format, format=file_format, output="color")
    html = visitor.client.get("/").get_data(as_text=True)
    labels = re.findall(r"Download ([A-Za-z]+)<span class=\"visually-hidden\"> of ([a-z]+)<",
                        html)
    assert sorted(labels) == [("JPEG", "jpeg"), ("WebP", "webp"),  # not WEBP
                              ("original", "jpeg"), ("original", "webp")]
    menu = re.findall(r'<option value="([a-z]+)"[^>]*>([A-Za-z]+)</option>',
                      html.split('id="format"')[1].split("</select>")[0])
    assert menu == [("png", "PNG"), ("webp", "WebP"), ("jpeg", "JPEG")]


def test_success_flash_text_and_category(visitor, fake_engine):
    visitor.upload(photo())
    assert visitor.flashes() == [("success", "Image generated successfully")]


def test_upload_records_the_engine_and_metadata(visitor, fake_engine, records):
    visitor.upload(photo("coffee"), name="Coffee")
    (record,) = records.list(visitor.id())
    assert record.engine == "fake"
    html = visitor.client.get("/").get_data(as_text=True)
    assert "UTC</span> · engine: fake</span>" in html  # no model: the engine is named
    assert record.image_name == "Coffee"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", record.created_on)
    assert (record.original.width, record.original.height) == (600, 400)
    assert record.original.content_type == "image/jpeg"
    assert record.processed.content_type == "image/png"


def test_a_full_gallery_is_refused_before_its_photo_is_fetched_or_read(app, visitor,
                                                                       fake_engine):
    """At exactly USER_LIMIT the upload is refused first: a photo by address is not fetched
    (the slot taken later would refuse it too, but only after the fetch)."""
    asked = []
    app.extensions["services"].uploads.fetch = (
        lambda url, holder=None: asked.append(url) or photo())
    for name in ("one", "two"):
        visitor.upload(photo(), name=name)
    response = visitor.client.post("/", data={
        "name": "three", "image_url": "https://photos.example/cat.jpg",
        "csrf_token": visitor.ensure_token()}, headers={"Accept": "application/json"})
    assert (response.status_code, response.get_json()["error"]) == (409, "limit_reached")
    assert asked == [] and fake_engine.calls == 2


NAME_RULE = "Please give the image a name of 1 to 50 characters."
NO_VISIBLE = ("Please give the image a name with at least one visible character, not only "
              "spaces or invisible characters such as a zero-width space.")


@pytest.mark.parametrize(("name", "told"), [("", NAME_RULE), ("   ", NO_VISIBLE),
                                            ("x" * 51, NAME_RULE)])
def test_a_bad_name_is_refused(visitor, fake_engine, name, told):
    response = visitor.upload(photo(), name=name)
    assert response.status_code == 302
    assert visitor.flashes() == [("danger", told)]
    assert visitor.record_ids() == []
    assert fake_engine.calls == 0


def test_a_name_with_a_control_character_is_refused(visitor, fake_engine, records):
    visitor.upload(photo(), name="bell\x07")
    assert visitor.flashes() == [("danger", "Please give the image a name without line "
                                            "breaks or control characters.")]
    assert visitor.record_ids() == [] and fake_engine.calls == 0
    # The edit dialog's rename: refused the same way, the name kept.
    visitor.upload(photo(), name="Raven")
    (record_id,) = visitor.record_ids()
    response = visitor.client.post(f"/edit/{record_id}", content_type="multipart/form-data",
                                   data={"image_name": "Ra\nven",
                                         "csrf_token": visitor.ensure_token()})
    assert response.status_code == 302
    assert visitor.flashes() == [("danger", "Please give the image a name without line "
                                            "breaks or control characters.")]
    assert [r.image_name for r in records.list(visitor.id())] == ["Raven"]


def test_a_name_is_trimmed_and_50_characters_are_fine(visitor, fake_engine, records):
    visitor.upload(photo(), name="  " + "n" * 50 + "  ")
    assert [r.image_name for r in records.list(visitor.id())] == ["n" * 50]


def test_a_missing_file_is_refused(visitor, fake_engine):
    visitor.upload(None)
    assert visitor.flashes() == [
        ("danger", "Please choose an image to upload, or give the address of one.")]


def test_a_non_image_is_refused_with_what_is_accepted(visitor, fake_engine):
    visitor.upload(b"%PDF-1.4 not an image at all", filename="cat.jpg")
    ((category, text),) = visitor.flashes()
    assert category == "danger"
    assert "JPEG, PNG or WebP" in text
    assert visitor.record_ids() == []
    assert fake_engine.calls == 0


def test_a_truncated_jpeg_is_refused(visitor, fake_engine):
    data = photo()
    visitor.upload(data[: len(data) // 2])
    ((category, text),) = visitor.flashes()
    assert category == "danger" and "damaged or incomplete" in text
    assert visitor.record_ids() == []


def test_png_and_webp_are_accepted(visitor, fake_engine):
    visitor.upload(photo(fmt="PNG"), name="png", filename="a.png")
    visitor.upload(photo(fmt="WEBP"), name="webp", filename="a.webp")
    assert len(visitor.record_ids()) == 2


def test_an_oversized_upload_gets_a_message_on_the_page(settings, fake_engine):
    app = create_app(settings.changed(max_content_length=50_000))
    use_engine(app, fake_engine)
    visitor = Visitor(app.test_client())
    response = visitor.upload(photo(size=(1200, 800)))
    assert response.status_code == 302
    assert visitor.flashes() == [
        ("danger", "The file is too large. Please upload an image of at most 48.8 KB.")]
    assert visitor.record_ids() == []
    assert visitor.upload_json(photo(size=(1200, 800))).status_code == 413


def test_too_many_pixels_is_refused_before_decoding(settings, fake_engine):
    app = create_app(settings.changed(max_image_pixels=100_000))
    use_engine(app, fake_engine)
    visitor = Visitor(app.test_client())
    visitor.upload(photo())  # 451 x 300 = 135,300 pixels
    assert visitor.flashes() == [
        ("danger", "The image is too large (451×300). The limit is 0.1 megapixels.")]


def test_the_limit_is_enforced_with_the_original_message(visitor, fake_engine):
    visitor.upload(photo(), name="one")
    visitor.upload(photo(), name="two")
    fake_engine.calls = 0
    visitor.upload(photo(), name="three")
    assert visitor.flashes()[-1] == ("danger", "Max limit reached. Please remove a record.")
    assert len(visitor.record_ids()) == 2
    assert fake_engine.calls == 0  # refused before any engine work


def test_an_engine_failure_flashes_failed_to_generate(visitor, fake_engine):
    fake_engine.error = EngineError()
    visitor.upload(photo())
    ((category, text),) = visitor.flashes()
    assert category == "danger"
    assert text.startswith("Failed to generate the image")
    assert visitor.record_ids() == []


def test_an_unexpected_error_flashes_something_went_wrong(visitor, fake_engine, records,
                                                          monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(records, "add", broken)
    response = visitor.upload(photo())
    assert response.status_code == 302
    assert visitor.flashes() == [("danger", "Something went wrong")]


@pytest.mark.parametrize("error, status", [(EngineError(), 502), (EngineTimeout(), 504)])
def test_json_clients_get_status_codes_for_failures(visitor, fake_engine, error, status):
    fake_engine.error = error
    response = visitor.upload_json(photo())
    assert response.status_code == status
    body = response.get_json()
    assert body["error"] == "engine_failed"
    assert body["message"].startswith("Failed to generate the image")


def test_json_clients_get_the_record_on_success(visitor, fake_engine):
    response = visitor.upload_json(photo())
    assert response.status_code == 201
    body = response.get_json()
    assert body["image_name"] == "cat"
    assert body["processed"]["url"] == f"/images/{body['id']}/processed"


def test_json_clients_get_415_for_a_non_image(visitor, fake_engine):
    response = visitor.upload_json(b"hello")
    assert response.status_code == 415
    assert response.get_json()["error"] == "invalid_image"


def test_the_page_loads_no_third_party_assets_and_no_jquery(client):
    html = client.get("/").get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, "the page should load its styles and scripts"
    assert all(src.startswith("/") for src in sources), sources
    assert "jquery" not in html.lower()
    for asset in ("/static/vendor/bootstrap/bootstrap.min.css",
                  "/static/vendor/bootstrap/bootstrap.bundle.min.js", "/static/js/upload.js",
                  "/static/js/gallery.js", "/static/js/edit.js"):
        assert asset in sources
        assert client.get(asset).status_code == 200


def test_the_page_has_no_inline_script(client):
    """Only data runs inline: the rules block (JSON, never executed; the CSP would refuse a
    script there anyway)."""
    html = client.get("/").get_data(as_text=True)
    assert re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", html) == [
        '<script type="application/json" id="rules">']
    assert " onclick=" not in html


def test_demo_storage_banner(client):
    assert "data is lost on restart" in client.get("/").get_data(as_text=True)


def test_the_upload_form_matches_the_original(client):
    html = client.get("/").get_data(as_text=True)
    assert re.search(r'<input[^>]*name="name"[^>]*required[^>]*maxlength="50"', html)
    assert re.search(r'<input[^>]*type="file"[^>]*name="image"[^>]*accept="[^"]*image/\*', html)
    assert 'id="edit-modal"' in html
    # The original's note, and where the picture itself is changed now (helper 94).
    assert ('id="edit-note">Note: You can only change image name. To change the picture '
            'itself, use Edit result.</p>') in html
    # The whole record goes, its photo too (the sentence named only the processed image).
    assert ('“<bdi id="delete-name"></bdi>”, its photo and its processed image will be '
            'deleted for good.') in html


def test_names_are_escaped_on_the_page(visitor, fake_engine):
    visitor.upload(photo(), name="<script>alert(1)</script>")
    html = visitor.client.get("/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_an_upload_through_the_real_model(visitor):
    """The real engine, through the route: the cutout is stored and served as a PNG."""
    visitor.upload(encode(photo_array("rocket")), name="rocket")
    (record_id,) = visitor.record_ids()
    png = open_png(visitor.client.get(f"/images/{record_id}/processed").data)
    assert png.mode == "RGBA" and png.size == (640, 427)
    assert png.getpixel((0, 0))[3] < 16  # sky
    assert png.getpixel((320, 213))[3] > 240  # rocket
    # The row says which model made it, as the model menu names it (was "engine: local").
    assert re.findall(r"UTC</span> · ([^<]+)</span>", visitor.client.get("/").get_data(
        as_text=True)) == ["Fast model"]


def test_unknown_paths_and_methods_get_pages_not_tracebacks(client):
    response = client.get("/nope")
    assert response.status_code == 404
    assert "There is nothing here." in response.get_data(as_text=True)
    assert client.patch("/").status_code == 405
    assert client.get("/nope", headers={"Accept": "application/json"}).get_json()["error"] == (
        "not_found")


def test_the_original_texts_are_kept():
    assert errors.SUCCESS == "Image generated successfully"
    assert errors.ENGINE_FAILED == "Failed to generate the image"
    assert errors.LIMIT_REACHED == "Max limit reached. Please remove a record."
    assert errors.UNEXPECTED == "Something went wrong"


def test_ready_reports_each_dependency(client, records, monkeypatch):
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.get_json() == {"status": "Ready", "checks": {"database": "ok"},
                                   "engine": "local"}

    def down():
        raise StorageUnavailable("no route to database")

    monkeypatch.setattr(records, "ping", down)
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "unavailable"}
    assert client.get("/health").status_code == 200  # liveness is unaffected


@pytest.mark.parametrize("path", ["/", "/api/v1/session", "/api/v1/records", "/health"])
def test_pages_and_json_are_never_stored_by_caches(client, path):
    """The page holds a CSRF token and the gallery; the JSON a visitor's records."""
    response = client.get(path)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Vary"] == "Cookie"


FORM_TOO_LARGE = ("The form is too large: it may have at most 50 fields, each text field at "
                  "most 256 KB, and 64 KB of part headers in all. Nothing was uploaded.")


@pytest.mark.parametrize("form, words", [
    ({f"field{n}": "x" for n in range(1500)}, FORM_TOO_LARGE),
    ({"name": "x" * 600_000}, FORM_TOO_LARGE),
])
def test_a_form_too_large_says_so_not_that_the_file_is(visitor, fake_engine, form, words):
    response = visitor.client.post("/", data={**form, "csrf_token": visitor.ensure_token()},
                                   content_type="multipart/form-data")
    assert response.status_code == 302
    ((category, message),) = visitor.flashes()
    assert (category, message) == ("danger", words)
    api = visitor.client.post("/api/v1/records", data=form, content_type="multipart/form-data",
                              headers={"X-CSRFToken": visitor.token})
    assert api.status_code == 413 and api.get_json()["error"] == "too_large"
    assert api.get_json()["message"] == words
