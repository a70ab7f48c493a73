"""What an edit is charged: a new look costs what an upload of the same pixels would; asking
for the look a record already has (no new background photo) makes nothing again, costs
nothing and keeps the result's ETag, at both doors; a rename alone is free, as before."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.support import encode, left_in

API = "/api/v1"
GIVEN = "given-key-0123456789"  # in API_KEYS
KEY = {"X-Api-Key": GIVEN}
# The page's "Edit result" dialog sends every field but an unticked box and an empty file.
PAGE_FORM = {"output": "transparent", "background": "#ffffff", "crop_margin": "5",
             "format": "png"}


@pytest.fixture
def settings(settings):
    return settings.changed(api_keys=f"bot:{GIVEN}")


def png(width: int = 200, height: int = 100) -> bytes:
    return encode(Image.new("RGB", (width, height), (200, 30, 10)), "PNG")


def usage(client) -> tuple[int, float]:
    today = client.get(f"{API}/account", headers=KEY).get_json()["today"]
    return today["calls"], today["megapixels"]


def etag(client, record: dict, **headers) -> str:
    response = client.get(record["processed"]["url"], headers=headers)
    assert response.status_code == 200
    return response.headers["ETag"]


def test_a_key_pays_for_new_looks_only(app, fake_engine):
    """200 x 100 pixels: one call and 0.02 MP for the upload and for each new look."""
    client = app.test_client()
    made = client.post(f"{API}/records", headers=KEY,
                       data={"name": "red", "image": (io.BytesIO(png()), "r.png")})
    assert made.status_code == 201
    record = client.get(f"{API}/records/{made.get_json()['id']}", headers=KEY).get_json()
    url, first = f"{API}/records/{record['id']}", etag(client, record, **KEY)
    assert usage(client) == (1, 0.02)

    same = client.patch(url, json={"output": "transparent", "crop": False}, headers=KEY)
    assert (same.status_code, same.get_json()) == (200, record)
    assert (usage(client), etag(client, record, **KEY), fake_engine.calls) == (
        (1, 0.02), first, 1)

    masked = client.patch(url, json={"output": "mask"}, headers=KEY)
    assert masked.status_code == 200 and masked.get_json()["options"]["output"] == "mask"
    second = etag(client, masked.get_json(), **KEY)
    assert second != first and usage(client) == (2, 0.04)

    again = client.patch(url, json={"output": "mask"}, headers=KEY)
    assert (again.status_code, again.get_json()) == (200, masked.get_json())
    assert (usage(client), etag(client, masked.get_json(), **KEY)) == ((2, 0.04), second)

    renamed = client.patch(url, json={"image_name": "renamed"}, headers=KEY)
    assert renamed.status_code == 200 and renamed.get_json()["image_name"] == "renamed"
    both = client.patch(url, json={"image_name": "both", "output": "mask"}, headers=KEY)
    assert both.status_code == 200
    assert both.get_json() == {**masked.get_json(), "image_name": "both"}
    assert (usage(client), etag(client, both.get_json(), **KEY)) == ((2, 0.04), second)


def test_a_new_background_photo_is_a_new_look_even_with_the_same_options(app, fake_engine):
    """A 100 x 50 background photo adds 0.005 MP to the photo's 0.02."""
    client = app.test_client()
    backdrop = encode(Image.new("RGB", (100, 50), (10, 200, 30)), "PNG")
    made = client.post(f"{API}/records", headers=KEY, data={
        "name": "red", "image": (io.BytesIO(png()), "r.png"), "output": "image",
        "background_image": (io.BytesIO(backdrop), "b.png")})
    assert made.status_code == 201 and usage(client) == (1, 0.025)
    url = f"{API}/records/{made.get_json()['id']}"
    response = client.patch(url, headers=KEY, content_type="multipart/form-data", data={
        "output": "image", "background_image": (io.BytesIO(backdrop), "b.png")})
    assert response.status_code == 200 and usage(client) == (2, 0.05)
    assert client.patch(url, json={"output": "image"}, headers=KEY).status_code == 200
    assert usage(client) == (2, 0.05)


def left(app, visitor) -> tuple[int, int]:
    """What the visitor's limit (20 a minute) and the address's (60) have left."""
    return left_in(app.extensions["limits"], (f"visitor:{visitor.id()}", "ip:127.0.0.1"))


def edit(visitor, door: str, record_id: str, fields: dict):
    if door == "page":
        return visitor.client.post(f"/edit/{record_id}", content_type="multipart/form-data",
                                   data={**fields, "csrf_token": visitor.ensure_token()},
                                   headers={"Accept": "application/json"})
    return visitor.client.patch(f"{API}/records/{record_id}", json=fields,
                                headers={"X-CSRFToken": visitor.ensure_token()})


@pytest.mark.parametrize("door", ["page", "api"])
def test_the_look_a_record_has_is_not_made_again_nor_counted(
        app, visitor, record_id, records, fake_engine, door):
    """The chelsea photo, 451 x 300, counts one: the upload took it."""
    record = visitor.client.get(f"{API}/records/{record_id}").get_json()
    stored, first = records.get(visitor.id(), record_id), etag(visitor.client, record)
    assert left(app, visitor) == (19, 59)

    fields = PAGE_FORM if door == "page" else {"output": "transparent", "format": "png"}
    same = edit(visitor, door, record_id, fields)
    assert same.status_code == 200
    assert same.get_json()["options"] == record["options"]
    assert records.get(visitor.id(), record_id) == stored
    assert (left(app, visitor), etag(visitor.client, record), fake_engine.calls) == (
        (19, 59), first, 1)

    changed = edit(visitor, door, record_id, {**fields, "output": "mask"})
    assert changed.status_code == 200 and left(app, visitor) == (18, 58)
    assert etag(visitor.client, changed.get_json()) != first


@pytest.mark.parametrize("door", ["page", "api"])
def test_a_rename_alone_is_still_free(app, visitor, record_id, door):
    if door == "page":
        response = visitor.rename(record_id, {"record_name": "Crow"})
    else:
        response = edit(visitor, "api", record_id, {"image_name": "Crow"})
    assert response.status_code == 200 and left(app, visitor) == (19, 59)
    record = visitor.client.get(f"{API}/records/{record_id}").get_json()
    assert record["image_name"] == "Crow"


@pytest.mark.parametrize("door", ["page", "api"])
@pytest.mark.parametrize("backdrop", [b"not a photo", "photo"])
def test_a_background_photo_with_another_output_is_ignored_as_an_uploads_is(
        app, visitor, record_id, records, fake_engine, door, backdrop):
    """An upload ignores it; an edit read it (junk: 415) and, a photo, made the same look
    again, charged it and changed the ETag."""
    data = png() if backdrop == "photo" else backdrop
    record = visitor.client.get(f"{API}/records/{record_id}").get_json()
    stored, first = records.get(visitor.id(), record_id), etag(visitor.client, record)
    fields = {**PAGE_FORM, "background_image": (io.BytesIO(data), "b.png")}
    if door == "page":
        same = edit(visitor, door, record_id, fields)
    else:
        same = visitor.client.patch(f"{API}/records/{record_id}", data={
            "output": "transparent", "background_image": (io.BytesIO(data), "b.png")},
            content_type="multipart/form-data",
            headers={"X-CSRFToken": visitor.ensure_token()})
    assert (same.status_code, same.get_json()["options"]) == (200, record["options"])
    assert records.get(visitor.id(), record_id) == stored
    assert (left(app, visitor), etag(visitor.client, record), fake_engine.calls) == (
        (19, 59), first, 1)
