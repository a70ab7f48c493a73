"""GET /images/<id>/<kind>: bytes by URL with caching headers and download names."""

import pytest

from app.core.forms import EditFields, parse
from app.core.results import Unlimited
from app.http.downloads import download_name
from tests.support import open_png, photo


@pytest.fixture
def record_id(visitor, fake_engine):
    visitor.upload(photo("coffee"), name="my cat")
    (record_id,) = visitor.record_ids()
    return record_id


def test_original_bytes_are_served_unchanged(visitor, record_id):
    response = visitor.client.get(f"/images/{record_id}/original")
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    assert response.data == photo("coffee")


def test_processed_is_a_png_with_alpha(visitor, record_id):
    response = visitor.client.get(f"/images/{record_id}/processed")
    assert response.mimetype == "image/png"
    img = open_png(response.data)
    assert img.mode == "RGBA" and img.size == (600, 400)


def test_caching_headers_and_revalidation(visitor, record_id, records, monkeypatch):
    response = visitor.client.get(f"/images/{record_id}/processed")
    etag = response.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith('W/')
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert response.headers["Vary"] == "Cookie"
    assert response.headers["X-Content-Type-Options"] == "nosniff"

    # A revalidation is answered from the record's metadata: the bytes are not read.
    def no_bytes(*args):
        raise AssertionError("a 304 must not read the image")

    monkeypatch.setattr(records, "read", no_bytes)
    again = visitor.client.get(f"/images/{record_id}/processed", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == "private, no-cache"


def test_a_download_revalidation_reads_no_bytes(visitor, record_id, records, monkeypatch):
    first = visitor.client.get(f"/images/{record_id}/processed?download=1")
    monkeypatch.setattr(records, "read", lambda *args: (_ for _ in ()).throw(
        AssertionError("a 304 must not read the image")))
    again = visitor.client.get(f"/images/{record_id}/processed?download=1",
                               headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_a_deleted_image_is_not_kept_by_the_browser(visitor, record_id):
    """Revalidated on every use: after a delete the browser's copy is answered 404."""
    first = visitor.client.get(f"/images/{record_id}/processed")
    visitor.delete(record_id)
    again = visitor.client.get(f"/images/{record_id}/processed",
                               headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 404


def test_download_uses_the_record_name(visitor, record_id):
    processed = visitor.client.get(f"/images/{record_id}/processed?download=1")
    assert processed.headers["Content-Disposition"] == "attachment; filename=my-cat.png"
    original = visitor.client.get(f"/images/{record_id}/original?download=1")
    assert original.headers["Content-Disposition"] == "attachment; filename=my-cat-original.jpg"


def test_a_record_stored_with_a_null_name_is_still_shown_and_served(visitor, record_id,
                                                                    records):
    """The API once stored {"image_name": null} (now refused): such a record's page, images
    and downloads answer as for a record without a name, never 500."""
    from bson import ObjectId

    records.records.update_one({"_id": ObjectId(record_id)}, {"$set": {"image_name": None}})
    page = visitor.page()
    assert page.status_code == 200 and ">None<" not in page.get_data(as_text=True)
    processed = visitor.client.get(f"/images/{record_id}/processed?download=1")
    assert processed.status_code == 200
    assert processed.headers["Content-Disposition"] == "attachment; filename=image.png"
    thumbnail = visitor.client.get(f"/images/{record_id}/processed/160")
    assert thumbnail.status_code == 200


def test_download_name_is_safe_and_keeps_unicode():
    # A separator parts words as a space does (helper 77: "a/b" was ab.png).
    assert download_name('../../etc/pass"wd', "processed", "image/png") == "etc-pass-wd.png"
    assert download_name('a/b\\c:d*e?f"g<h>i|j', "processed", "image/png") == (
        "a-b-c-d-e-f-g-h-i-j.png")
    # Windows' device names, with any extension, cannot be saved there.
    assert download_name("CON", "processed", "image/png") == "image-CON.png"
    assert download_name("lpt1.draft", "original", "image/jpeg") == (
        "image-lpt1.draft-original.jpg")
    assert download_name("CONE", "processed", "image/png") == "CONE.png"
    # A mask is not the cutout's file.
    assert download_name("Kitty", "processed", "image/png", output="mask") == "Kitty-mask.png"
    assert download_name("Kitty", "original", "image/jpeg", output="mask") == (
        "Kitty-original.jpg")
    assert download_name("-rf .x", "processed", "image/png") == "rf-.x.png"
    assert download_name("猫.cat", "processed", "image/png", ascii_only=True) == "cat.png"
    assert download_name("猫-cat", "original", "image/png", ascii_only=True) == "cat-original.png"
    assert download_name("Café  au lait", "original", "image/webp") == "Café-au-lait-original.webp"
    assert download_name("///", "processed", "image/png") == "image.png"
    # A name that is a file's name keeps one extension, the download's own.
    assert download_name("cat.JPG", "processed", "image/png") == "cat.png"
    assert download_name("cat.jpg", "original", "image/jpeg") == "cat-original.jpg"
    assert download_name("cat.png.jpg", "processed", "image/png") == "cat.png"
    assert download_name("cat.Jpeg.webp.PNG", "original", "image/jpeg") == "cat-original.jpg"
    assert download_name('"x".png', "processed", "image/webp") == "x.webp"
    assert download_name("trailing.", "processed", "image/png") == "trailing.png"
    assert download_name("cat.png.bak", "processed", "image/png") == "cat.png.bak.png"
    assert download_name(".png", "processed", "image/png") == "image.png"
    # Fullwidth solidus, quotation mark and backslash are the ASCII ones once folded.
    assert download_name("a\uff0fb\uff02c\uff3cd", "processed", "image/png") == "a-b-c-d.png"
    # Bidirectional overrides and isolates, which can disguise a name's extension, go.
    assert download_name("\u202egnp.exe", "processed", "image/png") == "gnp.exe.png"
    assert download_name("a\u2066b\u2069\u200fc", "original", "image/png") == "abc-original.png"


@pytest.mark.parametrize("name, kind, stem_bytes", [
    ("\ufdfa" * 50, "processed", 251), ("\ufdfa" * 50, "original", 242),
    ("é" * 50, "processed", 100), ("😀" * 50, "processed", 200)])
def test_a_download_name_fits_a_file_system_whatever_its_name_unfolds_to(name, kind, stem_bytes):
    """U+FDFA is 18 characters once folded (NFKC): 40 of them made a Content-Disposition
    past the front's 4 KB of headers, and every download of the record a 502 (helper 67).
    The name is cut to 255 bytes, at a character's edge."""
    ending = ".png" if kind == "processed" else "-original.jpg"
    made = download_name(name, kind, "image/png" if kind == "processed" else "image/jpeg")
    assert made.endswith(ending) and len(made.encode()) <= 255
    assert len(made.encode()) - len(ending) == stem_bytes


def test_a_record_named_to_unfold_far_can_be_downloaded_through_the_front_headers(
        visitor, fake_engine):
    visitor.upload(photo(), name="\ufdfa" * 50)
    (record_id,) = visitor.record_ids()
    response = visitor.client.get(f"/images/{record_id}/processed?download=1")
    assert response.status_code == 200
    assert len(response.headers["Content-Disposition"]) < 1024


def test_the_ascii_fallback_of_a_download_holds_no_path_or_quote(visitor, fake_engine):
    visitor.upload(photo(), name="x\uff0f..\uff0fy\uff02z")
    (record_id,) = visitor.record_ids()
    header = visitor.client.get(f"/images/{record_id}/processed?download=1").headers[
        "Content-Disposition"]
    fallback = header.split(";")[1]
    assert fallback == " filename=x-..-y-z.png"


@pytest.mark.parametrize("name, kind, header", [
    ("Кот", "processed", "attachment; filename=image.png; filename*=UTF-8''%D0%9A%D0%BE%D1%82.png"),
    ("猫 cat", "original", "attachment; filename=cat-original.jpg; "
                          "filename*=UTF-8''%E7%8C%AB-cat-original.jpg"),
    ("Café au lait", "processed", "attachment; filename=Cafe-au-lait.png; "
                                  "filename*=UTF-8''Caf%C3%A9-au-lait.png"),
    ("猫 - 犬", "processed", "attachment; filename=image.png; "
                           "filename*=UTF-8''%E7%8C%AB---%E7%8A%AC.png"),
    ("\N{CAT}\N{DOG}", "processed", "attachment; filename=image.png; "
                          "filename*=UTF-8''%F0%9F%90%88%F0%9F%90%95.png"),
])
def test_unicode_names_download_with_a_fallback_worth_saving(visitor, fake_engine, name, kind,
                                                              header):
    """filename* carries the name; the plain filename, for clients that ignore it, is its
    ASCII letters, or `image` when there are none (not the hidden file `.png`)."""
    visitor.upload(photo(), name=name)
    (record_id,) = visitor.record_ids()
    answer = visitor.client.get(f"/images/{record_id}/{kind}?download=1")
    assert answer.headers["Content-Disposition"] == header
    shown = visitor.client.get(f"/images/{record_id}/{kind}")  # in the page: same names
    assert shown.headers["Content-Disposition"] == header.replace("attachment", "inline")


@pytest.mark.parametrize("path", ["/images/{id}/thumbnail", "/images/nope/processed",
                                  "/images/000000000000000000000000/original",
                                  # kept to edit the result again, not for download
                                  "/images/{id}/mask", "/api/v1/records/{id}/images/mask",
                                  "/images/{id}/backdrop"])
def test_unknown_images_are_404(visitor, record_id, path):
    assert visitor.client.get(path.format(id=record_id)).status_code == 404


def test_a_download_after_a_rename_gets_the_new_name(visitor, record_id):
    first = visitor.client.get(f"/images/{record_id}/processed?download=1")
    assert "no-cache" in first.headers["Cache-Control"]
    visitor.rename(record_id, {"record_name": "new name"})
    again = visitor.client.get(f"/images/{record_id}/processed?download=1",
                               headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200
    assert again.headers["Content-Disposition"] == "attachment; filename=new-name.png"


def test_an_image_deleted_while_being_fetched_is_404(visitor, record_id, records, monkeypatch):
    real_get = records.get

    def get_then_lose_it(user_id, rid):
        record = real_get(user_id, rid)
        records.delete(user_id, rid)  # another tab deletes it right now
        return record

    monkeypatch.setattr(records, "get", get_then_lose_it)
    assert visitor.client.get(f"/images/{record_id}/processed").status_code == 404


@pytest.mark.parametrize("path", ["/images/{id}/processed", "/images/{id}/processed/160",
                                  "/api/v1/records/{id}/images/processed?download=1"])
def test_an_image_replaced_while_being_fetched_is_sent_as_it_is_now(app, visitor, record_id,
                                                                    records, monkeypatch,
                                                                    path):
    """An edit that lands between reading the image's details and its bytes deletes the
    files those details name: the image is asked for again, not answered 404."""
    real_get, edited = records.get, []

    def get_then_edit(user_id, rid):
        record = real_get(user_id, rid)
        if not edited:  # another tab's edit, right now (its own get is not edited again)
            edited.append(rid)
            app.extensions["services"].edits.edit(
                user_id, rid, parse(EditFields, {"output": "color", "background": "#00ff00"}),
                pay=Unlimited())
        return record

    before = visitor.client.get(path.format(id=record_id))
    monkeypatch.setattr(records, "get", get_then_edit)
    response = visitor.client.get(path.format(id=record_id))
    monkeypatch.undo()
    assert response.status_code == 200 and len(edited) == 1
    now = visitor.client.get(path.format(id=record_id))
    assert (response.data, response.headers["ETag"]) == (now.data, now.headers["ETag"])
    assert response.data != before.data and response.headers["ETag"] != before.headers["ETag"]
