"""Security headers, upload rate limits, request ids in structured logs, and metrics."""

import io
import json
import re

import pytest

from app import create_app
from app.settings import ConfigError, Settings
from tests.support import FakeEngine, Visitor, photo, use_engine


def test_security_headers_on_every_kind_of_response(visitor, fake_engine):
    visitor.upload(photo())
    (record_id,) = visitor.record_ids()
    for response in (visitor.client.get("/"), visitor.client.get("/health"),
                     visitor.client.get(f"/images/{record_id}/processed"),
                     visitor.client.get("/nope")):
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "Strict-Transport-Security" not in response.headers


def test_hsts_only_over_https(client):
    response = client.get("/", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


@pytest.fixture
def limited_app(settings):
    app = create_app(settings.changed(upload_rate_limit="2 per minute",
                             upload_rate_limit_ip="3 per minute", user_limit=10))
    use_engine(app, FakeEngine())
    return app


def test_uploads_are_rate_limited_per_visitor_with_a_clear_message(limited_app):
    visitor = Visitor(limited_app.test_client())
    for _ in range(2):
        visitor.upload(photo())
    response = visitor.upload(photo())
    assert response.status_code == 302
    assert visitor.flashes()[-1] == (
        "danger", "Too many uploads and edits in a short time. Please wait a minute and try "
                  "again.")
    assert len(visitor.record_ids()) == 2
    limited = visitor.upload(photo(), headers={"Accept": "application/json"})
    assert limited.status_code == 429
    assert limited.get_json()["error"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0


def test_a_fresh_cookie_does_not_escape_the_per_address_limit(limited_app):
    first, second = Visitor(limited_app.test_client()), Visitor(limited_app.test_client())
    first.upload(photo())
    first.upload(photo())
    assert second.upload(photo(), headers={"Accept": "application/json"}).status_code == 201
    assert second.upload(photo(), headers={"Accept": "application/json"}).status_code == 429


@pytest.mark.parametrize(("peer", "believed"), [
    ("127.0.0.1", True), ("127.9.9.9", True), ("::1", True),  # the front, on this machine
    ("10.4.0.7", False), ("192.168.1.2", False), ("::ffff:10.4.0.7", False)])  # other pods
def test_forwarded_addresses_are_believed_from_the_front_alone(settings, peer, believed):
    """Behind the front (TRUSTED_PROXIES=1) each upload names a new client address in
    X-Forwarded-For: from the front on this machine each is its own, with its own limit;
    from a peer elsewhere (a pod that reached gunicorn's port) they are its own words, and
    its three uploads share its one address's limit of two (helper 76)."""
    app = create_app(settings.changed(upload_rate_limit="100 per minute",
                                      upload_rate_limit_ip="2 per minute", user_limit=10,
                                      trusted_proxies=1))
    use_engine(app, FakeEngine())
    statuses = []
    for i in range(3):
        visitor = Visitor(app.test_client())
        visitor.client.environ_base.update(REMOTE_ADDR=peer)
        statuses.append(visitor.upload(photo(), headers={
            "Accept": "application/json", "X-Forwarded-For": f"203.0.113.{i}"}).status_code)
    assert statuses == ([201, 201, 201] if believed else [201, 201, 429])


def test_page_views_are_not_rate_limited(limited_app):
    client = limited_app.test_client()
    assert all(client.get("/").status_code == 200 for _ in range(10))


def test_a_malformed_rate_is_refused_at_start():
    with pytest.raises(ConfigError, match="UPLOAD_RATE_LIMIT"):
        Settings.from_env({"APP_SECRET_KEY": "k" * 32, "UPLOAD_RATE_LIMIT": "lots"},
                          dotenv=False)


def test_request_ids_are_returned_and_kept_when_sane(client):
    generated = client.get("/health").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert client.get("/health", headers={"X-Request-ID": "trace-42"}).headers[
        "X-Request-ID"] == "trace-42"
    for junk in ("<script>alert(1)</script>", "x" * 65, "a b"):
        answered = client.get("/health", headers={"X-Request-ID": junk}).headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", answered)


def test_logs_are_json_lines_with_the_request_id(settings, capfd):
    app = create_app(settings.changed(log_format="json"))
    capfd.readouterr()
    app.test_client().get("/health", headers={"X-Request-ID": "trace-7"})
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines()
             if line.startswith("{")]
    (entry,) = [e for e in lines if e.get("path") == "/health"]
    assert entry["request_id"] == "trace-7"
    assert entry["status"] == 200 and entry["method"] == "GET" and entry["severity"] == "INFO"
    assert "duration_ms" in entry and "time" in entry


def metric(text, name, **labels):
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(part in line for part in wanted.split(",")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def growth(before: str, after: str):
    """How much a metric (with these labels) grew between two /metrics pages."""
    return lambda name, **labels: metric(after, name, **labels) - metric(before, name, **labels)


def test_metrics(visitor, fake_engine):
    before = visitor.client.get("/metrics").get_data(as_text=True)
    visitor.upload(photo())
    visitor.upload(b"not an image")
    response = visitor.client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    after = response.get_data(as_text=True)
    grew = growth(before, after)

    assert grew("ibp_uploads_total", outcome="success") == 1
    assert grew("ibp_uploads_total", outcome="invalid_image") == 1
    assert grew("ibp_engine_used_total", engine="fake") == 1
    assert grew("ibp_engine_seconds_count", engine="fake") == 1
    assert grew("ibp_http_requests_total", method="POST", endpoint="/", status="302") == 2
    assert "ibp_http_request_duration_seconds_bucket" in after


def test_the_page_and_the_api_share_the_upload_rate_limit(limited_app):
    visitor = Visitor(limited_app.test_client())
    visitor.upload(photo())
    visitor.upload(photo())  # the visitor's 2 per minute, used up through the page
    token = visitor.client.get("/api/v1/session").get_json()["csrf_token"]
    response = visitor.client.post("/api/v1/records", headers={"X-CSRFToken": token},
                                   data={"name": "n", "image": (io.BytesIO(photo()), "p.jpg")})
    assert response.status_code == 429
    assert response.get_json()["error"] == "rate_limited"
    assert "rate_limited" in limited_app.test_client().get("/api/v1/openapi.json").get_data(
        as_text=True)


def test_a_rename_is_not_an_upload_but_a_new_look_is(limited_app):
    """Edits that make a result again share the upload limit (they cost the same work);
    one that only renames, like PUT /update, makes nothing and is not counted. Each
    refusal is counted as what it was: an upload or an edit."""
    visitor = Visitor(limited_app.test_client())
    metrics = limited_app.test_client()
    before = metrics.get("/metrics").get_data(as_text=True)
    visitor.upload(photo())
    visitor.upload(photo())  # the visitor's 2 per minute, used up
    first, _ = visitor.record_ids()
    headers = {"X-CSRFToken": visitor.ensure_token()}
    api = f"/api/v1/records/{first}"
    for name in ("Crow", "Rook", "Raven"):  # more renames than the limit: none refused
        assert visitor.client.patch(api, json={"image_name": name},
                                    headers=headers).status_code == 200
    page_rename = visitor.client.post(f"/edit/{first}", data={
        "image_name": "Jay", "csrf_token": visitor.token, "crop_margin": " "})
    assert page_rename.status_code == 302 and visitor.flashes() == [("success", "Image updated")]
    assert visitor.rename(first, {"record_name": "Jay"}).status_code == 200  # PUT /update
    restyle = visitor.client.patch(api, json={"image_name": "Jay", "output": "mask"},
                                   headers=headers)
    assert (restyle.status_code, restyle.get_json()["error"]) == (429, "rate_limited")
    page_restyle = visitor.client.post(f"/edit/{first}", headers={"Accept": "application/json"},
                                       data={"output": "mask", "csrf_token": visitor.token})
    assert page_restyle.status_code == 429
    unreadable = visitor.client.patch(api, data="{nope", content_type="application/json",
                                      headers=headers)
    assert (unreadable.status_code, unreadable.get_json()["error"]) == (400, "invalid_body")
    after = metrics.get("/metrics").get_data(as_text=True)
    grew = growth(before, after)

    assert grew("ibp_uploads_total", outcome="rate_limited") == 0
    assert grew("ibp_edits_total", outcome="rate_limited") == 2
    assert grew("ibp_edits_total", outcome="success") == 5
    assert grew("ibp_uploads_total", outcome="success") == 2


@pytest.mark.parametrize("unreadable", ["nested JSON", "too many form fields"])
def test_a_body_that_cannot_be_read_is_refused_and_the_limits_still_hold(limited_app,
                                                                        unreadable):
    """A body refused for what it is (nested past the parser, too many fields) is answered
    with its own code, spends nothing, and leaves the limits as they were: the next upload
    and the next new look are still refused for the rate."""
    visitor = Visitor(limited_app.test_client())
    visitor.upload(photo())
    visitor.upload(photo())  # the visitor's 2 per minute, used up
    first, _ = visitor.record_ids()
    headers = {"X-CSRFToken": visitor.ensure_token(), "Accept": "application/json"}
    api = f"/api/v1/records/{first}"
    if unreadable == "nested JSON":
        deep = "[" * 5000 + "]" * 5000
        answer = visitor.client.patch(api, data='{"output": "mask", "x": ' + deep + "}",
                                      content_type="application/json", headers=headers)
        assert (answer.status_code, answer.get_json()["error"]) == (400, "invalid_body")
    else:  # small, but more fields than a form may have: Werkzeug refuses it as it parses.
        fields = {f"f{index}": "x" for index in range(1500)}
        answer = visitor.client.post("/api/v1/records", headers=headers, data={
            **fields, "name": "many", "image": (io.BytesIO(photo()), "m.jpg")})
        assert answer.status_code == 413
        assert answer.get_json()["message"].startswith("The form is too large")
    for attempt in (visitor.client.patch(api, json={"output": "mask"}, headers=headers),
                    visitor.upload(photo(), headers={"Accept": "application/json"})):
        assert (attempt.status_code, attempt.get_json()["error"]) == (429, "rate_limited")


def test_metrics_are_for_private_networks_only(client):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.4.0.7"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "8.8.8.8"}).status_code == 404


def test_a_metrics_folder_only_in_dotenv_is_refused(settings, tmp_path, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with pytest.raises(ConfigError, match=r"not only in \.env"):
        create_app(settings.changed(prometheus_multiproc_dir=str(tmp_path)))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="is not a folder"):
        create_app(settings.changed(prometheus_multiproc_dir=str(tmp_path / "missing")))


def test_uploads_count_by_the_pixels_they_declare(settings, limits_clock):
    """A 12 MP photo counts 3 (one per started 4 MP), so big photos use a limit up sooner:
    with 5 per minute per address, a 12 MP photo and two small ones leave no room. All in
    one moment: the first place frees a minute later, and Retry-After says 60."""
    from PIL import Image

    from tests.support import encode

    clock = limits_clock
    clock.now = 1_000_000.25
    app = create_app(settings.changed(upload_rate_limit="10 per minute",
                                      upload_rate_limit_ip="5 per minute", user_limit=10))
    use_engine(app, FakeEngine())
    visitor = Visitor(app.test_client())
    big = encode(Image.new("RGB", (4000, 3000)), "PNG")
    assert visitor.upload_json(big).status_code == 201
    assert visitor.upload_json(photo()).status_code == 201
    assert visitor.upload_json(photo()).status_code == 201
    refused = visitor.upload_json(photo())
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "60"
    clock.now += 20.5
    assert visitor.upload_json(photo()).headers["Retry-After"] == "40"  # 39.5, rounded up


def test_the_limit_counts_the_last_minute_not_a_fixed_window(settings, limits_clock):
    """3 per minute: one upload at 0 s and two at 59 s. At 61 s the first has aged out, so one
    more goes through and the next waits until 119 s, when the 59 s ones age out (Retry-After
58). A fixed window
    would have started afresh at 60 s and let three through (twice the limit in 2 s)."""
    clock = limits_clock
    limited = create_app(settings.changed(upload_rate_limit="3 per minute", user_limit=10))
    use_engine(limited, FakeEngine())
    visitor = Visitor(limited.test_client())
    for moment, expected in ((0, 201), (59, 201), (59, 201), (61, 201), (61, 429)):
        clock.now = 1_000_000.0 + moment
        answer = visitor.upload_json(photo())
        assert answer.status_code == expected, moment
    assert answer.headers["Retry-After"] == "58"


def test_the_content_security_policy_is_exactly_this(client):
    """Every directive, written out: a weakened one (an 'unsafe-inline', a wildcard, a
    dropped frame-ancestors) fails here, not only a missing header."""
    assert client.get("/").headers["Content-Security-Policy"] == (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
