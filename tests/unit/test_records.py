"""PUT /update/<id> and DELETE /remove/<id>: the page's Edit and Delete buttons."""

import pytest

from tests.support import photo


def names(visitor, records):
    return [r.image_name for r in records.list(visitor.id())]


def test_rename(visitor, record_id, records):
    response = visitor.rename(record_id, {"record_id": record_id, "record_name": "  Crow  "})
    assert response.status_code == 200
    assert response.get_json()["message"] == "success"
    assert names(visitor, records) == ["Crow"]


def test_rename_without_record_id_in_the_body(visitor, record_id, records):
    assert visitor.rename(record_id, {"record_name": "Crow"}).status_code == 200
    assert names(visitor, records) == ["Crow"]


@pytest.mark.parametrize("body, status, error", [
    ({"record_name": ""}, 400, "invalid_name"),
    ({"record_name": "   "}, 400, "invalid_name"),
    ({"record_name": "x" * 51}, 400, "invalid_name"),
    ({"record_name": 42}, 400, "invalid_name"),
    ({}, 400, "invalid_name"),
    ({"record_id": "0" * 24, "record_name": "Crow"}, 400, "id_mismatch"),
    (["record_name", "Crow"], 400, "invalid_body"),
    ("Crow", 400, "invalid_body"),
])
def test_rename_refuses_bad_bodies_and_changes_nothing(visitor, record_id, records, body, status,
                                                       error):
    response = visitor.rename(record_id, body)
    assert response.status_code == status
    assert response.get_json()["error"] == error
    assert response.get_json()["message"]
    assert names(visitor, records) == ["Raven"]


@pytest.mark.parametrize("name, message", [
    ("Crow\x00", "Please give the image a name without line breaks or control characters."),
    ("Cr\now", "Please give the image a name without line breaks or control characters."),
    ("Crow\udfff", "The image name holds a character that is not valid text (an unpaired "
                   "surrogate or a U+FFFD replacement character). Please type it again."),
])
def test_rename_says_why_a_name_is_not_text(visitor, record_id, records, name, message):
    response = visitor.rename(record_id, {"record_id": record_id, "record_name": name})
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_name", "message": message}
    assert names(visitor, records) == ["Raven"]


def test_rename_refuses_malformed_json(visitor, record_id, records):
    response = visitor.client.put(f"/update/{record_id}", data="{not json",
                                  content_type="application/json",
                                  headers={"X-CSRFToken": visitor.ensure_token()})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_body"
    assert names(visitor, records) == ["Raven"]


@pytest.mark.parametrize("bad_id", ["nope", "0" * 24, "6b0ae7287c127ecec3c4cab5"])
def test_rename_and_delete_of_missing_records_answer_404(visitor, record_id, bad_id):
    rename = visitor.rename(bad_id, {"record_name": "Crow"})
    delete = visitor.delete(bad_id)
    for response in (rename, delete):
        assert response.status_code == 404
        assert response.get_json() == {"error": "not_found",
                                        "message": "That image does not exist, or it is not yours."}


def test_delete_removes_the_record_and_its_bytes(visitor, record_id, records):
    stored = records.get(visitor.id(), record_id)
    response = visitor.delete(record_id)
    assert response.status_code == 200
    assert response.get_json() == {"message": "success"}
    assert visitor.record_ids() == []
    assert records.files.exists(stored.original.file_id) is False
    assert records.files.exists(stored.processed.file_id) is False
    assert visitor.client.get(f"/images/{record_id}/processed").status_code == 404
    assert visitor.delete(record_id).status_code == 404


def test_deleting_frees_a_place_under_the_limit(visitor, record_id, records):
    visitor.upload(photo(), name="two")
    visitor.upload(photo(), name="three")
    assert sorted(names(visitor, records)) == ["Raven", "two"]
    visitor.delete(record_id)
    visitor.upload(photo(), name="four")
    assert visitor.flashes()[-1] == ("success", "Image generated successfully")
    assert sorted(names(visitor, records)) == ["four", "two"]


@pytest.mark.parametrize("body, status, error", [
    ("[" * 10_000, 400, "invalid_body"),  # within 16 KB, but too deep for the parser
    ("[" * 100_000, 413, "too_large"),
    ('{"record_name": "' + "x" * 20_000 + '"}', 413, "too_large")])
def test_rename_refuses_deeply_nested_or_huge_json(visitor, record_id, records, body, status,
                                                   error):
    for response in (
        visitor.client.put(f"/update/{record_id}", data=body, content_type="application/json",
                           headers={"X-CSRFToken": visitor.ensure_token()}),
        visitor.client.patch(f"/api/v1/records/{record_id}", data=body,
                             content_type="application/json",
                             headers={"X-CSRFToken": visitor.ensure_token()}),
    ):
        assert response.status_code == status
        assert response.get_json()["error"] == error
    assert names(visitor, records) == ["Raven"]


@pytest.mark.parametrize("template", ["/images/{id}/original", "/images/{id}/original/160",
                                      "/api/v1/records/{id}",
                                      "/api/v1/records/{id}/images/original"])
def test_a_record_has_one_address(visitor, record_id, template):
    """MongoDB's ids are lower-case hexadecimal; bson reads upper-case digits as the same
    id, which gave each record 2^12 more addresses (each cached on its own)."""
    letter = next(i for i, digit in enumerate(record_id) if digit in "abcdef")
    spellings = {"as made": record_id, "upper": record_id.upper(),
                 "one letter": record_id[:letter] + record_id[letter].upper()
                 + record_id[letter + 1:]}
    answers = {how: visitor.client.get(template.format(id=spelled)).status_code
               for how, spelled in spellings.items()}
    assert answers == {"as made": 200, "upper": 404, "one letter": 404}
