"""Edits: a record's result made again from its stored photo and kept mask, without the
model; the old result replaced only once the new one is stored."""

import io

import numpy as np
import pytest
from PIL import Image

from tests.support import encode, open_png, photo

API = "/api/v1"


@pytest.fixture
def api(visitor, fake_engine):
    visitor.ensure_token()
    return visitor


def create(visitor, **fields):
    response = visitor.client.post(f"{API}/records", headers={"X-CSRFToken": visitor.token},
                                   data={"name": "cat", "image": (io.BytesIO(photo()), "c.jpg"),
                                         **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def patch(visitor, record_id, body=None, files=None):
    headers = {"X-CSRFToken": visitor.token}
    if files is not None:
        return visitor.client.patch(f"{API}/records/{record_id}", data=files, headers=headers,
                                    content_type="multipart/form-data")
    return visitor.client.patch(f"{API}/records/{record_id}", json=body, headers=headers)


def pixels(visitor, record):
    data = visitor.client.get(record["processed"]["url"]).data
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA")).astype(int)


def test_a_new_look_without_running_the_model(api, fake_engine, records):
    record = create(api)
    edited = patch(api, record["id"], {"output": "color", "background": "#123456"})
    assert edited.status_code == 200
    body = edited.get_json()
    assert body["options"] == {"output": "color", "background": "#123456", "crop": False,
                               "crop_margin": 5, "format": "png", "refine_edges": False}
    assert fake_engine.calls == 1  # the upload's only
    result = pixels(api, body)
    width = result.shape[1]
    assert (result[:, -5:, :3] == (0x12, 0x34, 0x56)).all()  # the cut right half: the colour
    source = np.asarray(Image.open(io.BytesIO(photo())).convert("RGB")).astype(int)
    assert np.array_equal(result[:, : width // 2 - 1, :3], source[:, : width // 2 - 1])
    # The old result and its renditions are gone; as many files as before.
    (stored,) = records.list(api.id())
    assert len(list(records.files.find({}))) == 7
    assert stored.processed.file_id != record["processed"]["url"]


def test_a_background_photo_then_a_crop_keeps_the_photo(api, records):
    record = create(api)
    backdrop = encode(Image.new("RGB", (60, 40), (10, 200, 30)), "PNG")
    edited = patch(api, record["id"], files={
        "output": "image", "background_image": (io.BytesIO(backdrop), "b.png")})
    assert edited.status_code == 200, edited.get_json()
    assert (pixels(api, edited.get_json())[:, -5:, :3] == (10, 200, 30)).all()
    # The kept subject is the left 225 columns; a 10% margin adds round(300 * 0.1) = 30.
    kept = records.list(api.id())[0].backdrop
    cropped = patch(api, record["id"], {"crop": True, "crop_margin": 10}).get_json()
    # The stored background photo is used again, not stored again.
    assert records.list(api.id())[0].backdrop == kept and kept is not None
    assert cropped["options"]["output"] == "image" and cropped["options"]["crop"] is True
    assert (cropped["processed"]["width"], cropped["processed"]["height"]) == (255, 300)
    assert (pixels(api, cropped)[:, -1, :3] == (10, 200, 30)).all()


@pytest.mark.parametrize("body, message", [
    ({"output": "image"}, "Choose a background photo to put behind the subject."),
    ({"format": "jpeg"}, "A JPEG cannot hold transparency: choose PNG or WebP, or put the "
                         "subject on a background."),
])
def test_an_edit_that_cannot_be_made_changes_nothing(api, records, body, message):
    record = create(api)
    before = records.list(api.id())[0]
    response = patch(api, record["id"], body)
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_options", "message": message}
    assert records.list(api.id())[0] == before


def test_jpeg_for_an_opaque_result(api):
    record = create(api)
    edited = patch(api, record["id"], {"output": "blur", "format": "jpeg"}).get_json()
    assert edited["processed"]["content_type"] == "image/jpeg"
    img = Image.open(io.BytesIO(api.client.get(edited["processed"]["url"]).data))
    assert img.format == "JPEG" and img.mode == "RGB"
    download = api.client.get(edited["processed"]["download_url"])
    assert download.headers["Content-Disposition"] == "attachment; filename=cat.jpg"


def test_a_record_without_a_kept_mask_gets_one_on_its_first_edit(api, fake_engine, records):
    record = create(api)
    (stored,) = records.list(api.id())
    records.delete_file(stored.mask.file_id)
    records.records.update_one({}, {"$unset": {"mask": ""}})  # as records made before masks
    assert patch(api, record["id"], {"output": "mask"}).status_code == 200
    assert fake_engine.calls == 2  # the model ran once more, for the mask
    assert records.list(api.id())[0].mask is not None
    assert patch(api, record["id"], {"output": "transparent"}).status_code == 200
    assert fake_engine.calls == 2  # and never again


def test_the_old_result_stays_until_the_new_one_is_stored(api, records, monkeypatch):
    record = create(api)
    before = records.list(api.id())[0]
    files = len(list(records.files.find({})))

    def broken(*args, **kwargs):
        raise RuntimeError("the database fell over mid-edit")

    monkeypatch.setattr(records.records, "find_one_and_update", broken)  # the swap
    response = patch(api, record["id"], {"output": "mask"})
    assert response.status_code == 500
    monkeypatch.undo()
    assert records.list(api.id())[0] == before
    assert len(list(records.files.find({}))) == files  # the new files were taken back
    assert open_png(api.client.get(record["processed"]["url"]).data).mode == "RGBA"


def test_the_page_edits_through_its_own_form(api):
    api.upload(photo(), name="page cat")
    (record_id,) = api.record_ids()
    response = api.client.post(f"/edit/{record_id}", content_type="multipart/form-data",
                               data={"output": "color", "background": "#ff0000",
                                     "csrf_token": api.token, "crop_margin": ""})
    assert response.status_code == 302
    assert api.flashes() == [("success", "Image updated")]
    record = api.client.get(f"{API}/records/{record_id}").get_json()
    assert record["options"]["background"] == "#ff0000"
    as_json = api.client.post(f"/edit/{record_id}", data={"output": "sepia",
                                                          "csrf_token": api.token},
                              headers={"Accept": "application/json"})
    assert as_json.status_code == 400 and as_json.get_json()["error"] == "invalid_options"


def test_another_visitors_record_cannot_be_edited(api, other_visitor):
    record = create(api)
    other_visitor.ensure_token()
    response = patch(other_visitor, record["id"], {"output": "mask"})
    assert response.status_code == 404


def test_a_record_of_the_original_app_is_moved_then_edited(api, records):
    import base64

    api.page()
    legacy = {"user_id": api.id(), "image_name": "Old", "created_on": "2024-01-01 00:00:00",
              "original_image_base64": base64.b64encode(photo()).decode(),
              "processed_image_base64": base64.b64encode(
                  encode(Image.new("RGBA", (451, 300)), "PNG")).decode()}
    record_id = str(records.records.insert_one(legacy).inserted_id)
    edited = patch(api, record_id, {"output": "color", "background": "#00ff00"})
    assert edited.status_code == 200, edited.get_json()
    doc = records.records.find_one({})
    assert "original_image_base64" not in doc and doc["mask"]["file_id"]


def test_a_stored_webp_past_todays_limit_still_gets_a_new_look(api, monkeypatch):
    """A record keeps its photo as sent: one stored before a WebP's 25 MP limit is re-made,
    while the same photo sent again is refused."""
    from app.images import decoding

    webp = encode(Image.fromarray(np.asarray(Image.open(io.BytesIO(photo())))), "WEBP")
    made = api.client.post(f"{API}/records", headers={"X-CSRFToken": api.token},
                           data={"name": "cat", "image": (io.BytesIO(webp), "c.webp")})
    assert made.status_code == 201
    monkeypatch.setattr(decoding, "MAX_WEBP_PIXELS", 1000)  # the limit comes later
    edited = patch(api, made.get_json()["id"], {"output": "color", "background": "#123456"})
    assert edited.status_code == 200, edited.get_json()
    again = api.client.post(f"{API}/records", headers={"X-CSRFToken": api.token},
                            data={"name": "cat", "image": (io.BytesIO(webp), "c.webp")})
    assert (again.status_code, again.get_json()["error"]) == (413, "invalid_image")
