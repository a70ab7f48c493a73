"""Identity, ownership and CSRF: what the original got wrong."""

import io
import re

import pytest
from bson import ObjectId
from itsdangerous import URLSafeSerializer

from app.http.errors import REFERRER_MESSAGES
from tests.support import Visitor, photo


def test_another_visitor_cannot_rename_delete_or_fetch(visitor, other_visitor, fake_engine,
                                                       records):
    visitor.upload(photo(), name="Mine")
    (record_id,) = visitor.record_ids()

    assert other_visitor.record_ids() == []
    assert other_visitor.rename(record_id, {"record_name": "Stolen"}).status_code == 404
    assert other_visitor.delete(record_id).status_code == 404
    for kind in ("original", "processed"):
        assert other_visitor.client.get(f"/images/{record_id}/{kind}").status_code == 404

    (record,) = records.list(visitor.id())
    assert record.image_name == "Mine"
    assert visitor.client.get(f"/images/{record_id}/processed").status_code == 200


def test_a_tampered_cookie_gets_a_fresh_id_and_sees_nothing(app, visitor, fake_engine):
    visitor.upload(photo(), name="Mine")
    signed = visitor.client.get_cookie("user_id").value

    intruder = Visitor(app.test_client())
    intruder.client.set_cookie("user_id", signed[:-2] + ("AA" if signed[-2:] != "AA" else "BB"))
    response = intruder.client.get("/")
    assert "Mine" not in response.get_data(as_text=True)
    fresh = intruder.client.get_cookie("user_id").value
    assert fresh != signed
    assert intruder.id() != visitor.id()


def test_a_hand_made_cookie_with_someone_elses_id_is_ignored(app, visitor, fake_engine):
    visitor.upload(photo(), name="Mine")
    intruder = Visitor(app.test_client())
    # What the original accepted: the bare id.
    intruder.client.set_cookie("user_id", visitor.id())
    assert "Mine" not in intruder.client.get("/").get_data(as_text=True)
    # And an id signed with a different key.
    forged = URLSafeSerializer("guessed-key-guessed-key", salt="visitor-id").dumps(visitor.id())
    intruder.client.set_cookie("user_id", forged)
    assert "Mine" not in intruder.client.get("/").get_data(as_text=True)


def test_a_signed_value_that_is_not_an_id_is_ignored(app, client):
    bad = URLSafeSerializer(app.secret_key, salt="visitor-id").dumps({"$ne": None})
    client.set_cookie("user_id", bad)
    client.get("/")
    assert ObjectId.is_valid(Visitor(client).id())


def test_cookies_are_secure_over_https(app):
    client = app.test_client()
    client.get("/", base_url="https://localhost")
    assert client.get_cookie("user_id", domain="localhost").secure
    assert client.get_cookie("session", domain="localhost").secure
    plain = app.test_client()
    plain.get("/")
    assert not plain.get_cookie("user_id").secure


def test_form_post_without_csrf_token_is_refused(visitor, fake_engine):
    visitor.page()
    response = visitor.upload(photo(), csrf_token="")
    assert response.status_code == 302
    assert visitor.flashes() == [
        ("danger", "Your page had expired, so nothing was changed. Please try again.")]
    assert visitor.record_ids() == []
    assert fake_engine.calls == 0


@pytest.mark.parametrize("path", ["/", "/edit/6b0ae7287c127ecec3c4cab5"])
def test_a_cross_site_form_post_leaves_the_visitors_cookies_alone(app, visitor, fake_engine,
                                                                 path):
    """Another site's form posts without the Lax cookies; its answer set a new session,
    which the browser took in place of the visitor's: every open tab's next change then
    failed as "expired" (helper 76). Now the answer sets no cookie and says why itself."""
    visitor.page()
    visitor_id = visitor.client.get_cookie("user_id").value
    stranger = app.test_client()  # the browser, as it posts from another site
    response = stranger.post(path, data={"name": "x", "image": (io.BytesIO(photo()), "a.jpg")},
                             content_type="multipart/form-data",
                             headers={"Origin": "https://evil.example"})
    assert response.status_code == 400
    assert "Set-Cookie" not in response.headers
    assert ("Your page had expired, so nothing was changed. Please try again."
            in response.get_data(as_text=True))
    assert fake_engine.calls == 0
    # The visitor's own post still brings its session and is told by a flash, as before.
    assert visitor.upload(photo(), csrf_token="").status_code == 302
    assert visitor.flashes() == [
        ("danger", "Your page had expired, so nothing was changed. Please try again.")]
    assert visitor.client.get_cookie("user_id").value == visitor_id
    assert visitor.upload(photo()).status_code == 302 and len(visitor.record_ids()) == 1


def test_put_and_delete_without_csrf_header_are_refused(visitor, fake_engine, records):
    visitor.upload(photo(), name="Mine")
    (record_id,) = visitor.record_ids()
    rename = visitor.client.put(f"/update/{record_id}", json={"record_name": "x"})
    delete = visitor.client.delete(f"/remove/{record_id}")
    wrong = visitor.client.delete(f"/remove/{record_id}", headers={"X-CSRFToken": "forged"})
    for response in (rename, delete, wrong):
        assert response.status_code == 400
        assert response.get_json()["error"] == "csrf_failed"
    assert [r.image_name for r in records.list(visitor.id())] == ["Mine"]


def test_a_token_from_another_session_does_not_work(visitor, other_visitor, fake_engine):
    visitor.upload(photo(), name="Mine")
    (record_id,) = visitor.record_ids()
    response = visitor.client.delete(f"/remove/{record_id}",
                                     headers={"X-CSRFToken": other_visitor.ensure_token()})
    assert response.status_code == 400
    assert visitor.record_ids() == [record_id]


@pytest.mark.parametrize("referrer, message", [
    (None, REFERRER_MESSAGES["The referrer header is missing."]),
    ("https://elsewhere.example/", REFERRER_MESSAGES["The referrer does not match the host."]),
])
def test_over_https_a_form_without_this_sites_referrer_is_told_why(app, fake_engine, referrer,
                                                                   message):
    """Flask-WTF checks the Referer over HTTPS; "your page had expired" sent people round
    in a loop, since trying again could never pass."""
    client = app.test_client()
    page = client.get("https://localhost/").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)

    def upload(headers):
        return client.post("https://localhost/", headers={"Accept": "application/json",
                                                           **headers},
                           data={"name": "cat", "csrf_token": token,
                                 "image": (io.BytesIO(photo()), "cat.jpg")})

    response = upload({"Referer": referrer} if referrer else {})
    assert response.status_code == 400
    assert response.get_json() == {"error": "csrf_failed", "message": message}
    assert fake_engine.calls == 0
    assert upload({"Referer": "https://localhost/"}).status_code == 201
