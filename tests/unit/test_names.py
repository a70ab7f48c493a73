"""A name is trimmed, then checked: the same rule at every door that takes one (the page's
form and rename, the API's create and edit), decided once in the model."""

import io

import pytest

from tests.support import photo

API = "/api/v1"
LETTERS = "n" * 50
RULE = "Please give the image a name of 1 to 50 characters."


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"user_limit": 4})  # two records, two creates


def _doors(visitor, client):
    """Each door as a function of the name: (status, JSON body)."""
    token = client.get(f"{API}/session").get_json()["csrf_token"]
    headers = {"X-CSRFToken": token}
    page_record = visitor.upload_json(photo(), name="first").get_json()["id"]
    api_record = client.post(f"{API}/records", data={"name": "second", "image": (
        io.BytesIO(photo()), "cat.jpg")}, content_type="multipart/form-data",
        headers=headers).get_json()["id"]

    def answer(response):
        return response.status_code, response.get_json()

    return {
        "page form": lambda name: answer(visitor.upload_json(photo(), name=name)),
        "page rename": lambda name: answer(visitor.rename(page_record, {
            "record_id": page_record, "record_name": name})),
        "API create": lambda name: answer(client.post(f"{API}/records", data={
            "name": name, "image": (io.BytesIO(photo()), "cat.jpg")},
            content_type="multipart/form-data", headers=headers)),
        "API edit": lambda name: answer(client.patch(f"{API}/records/{api_record}",
                                                     json={"image_name": name},
                                                     headers=headers)),
    }


def test_every_door_trims_a_name_before_its_length_is_checked(visitor, client, fake_engine):
    doors = _doors(visitor, client)
    refused = {door: send(f" {LETTERS}n ") for door, send in doors.items()}
    assert refused == {door: (400, {"error": "invalid_name", "message": RULE})
                       for door in doors}
    for door, send in doors.items():
        status, body = send(f" {LETTERS} ")
        assert status in (200, 201), (door, body)
        stored = body.get("image_name", body.get("record_name"))
        assert stored == LETTERS, door
    assert [r["image_name"] for r in client.get(f"{API}/records").get_json()["records"]
            ] == [LETTERS] * 4


def test_every_door_counts_a_name_with_its_accents_composed(visitor, client, fake_engine):
    """"é" typed as e and a combining accent (as macOS spells file names) is one character:
    50 of them (100 code points) are taken and kept composed, 51 refused, at every door."""
    doors = _doors(visitor, client)
    composed = "\N{LATIN SMALL LETTER E WITH ACUTE}"
    refused = {door: send("e\N{COMBINING ACUTE ACCENT}" * 51) for door, send in doors.items()}
    assert refused == {door: (400, {"error": "invalid_name", "message": RULE})
                       for door in doors}
    for door, send in doors.items():
        status, body = send("e\N{COMBINING ACUTE ACCENT}" * 50)
        assert status in (200, 201), (door, body)
        assert body.get("image_name", body.get("record_name")) == composed * 50, door
    assert [r["image_name"] for r in client.get(f"{API}/records").get_json()["records"]
            ] == [composed * 50] * 4
