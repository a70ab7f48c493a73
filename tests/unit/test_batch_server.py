"""flask remove-bg --server: each photo sent to a server's POST /api/v1/remove, with a key or
a session; a busy, rate-limited or restarting server waited out, a refusal kept as the
photo's failure."""

import json
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from PIL import Image
from werkzeug.serving import make_server

from app.batch.runner import LOST_TIMES, Runner
from app.batch.senders import ServerSender, Wait, _room_in, retry_after
from tests.batch import DAMAGED, FakeServer, invoke, outputs, tally, tree
from tests.servers import closed_port
from tests.support import FakeEngine, made_key, photo, use_engine


@pytest.mark.parametrize("value, seconds", [("1", 1.0), ("2.5", 2.5), ("-3", 0.0), ("", None),
                                            ("soon", None)])
def test_retry_after_in_seconds(value, seconds):
    assert retry_after(value) == seconds


def test_retry_after_as_a_date():
    from email.utils import formatdate

    assert 8 < retry_after(formatdate(time.time() + 10, usegmt=True)) <= 10


@pytest.fixture
def served(app, fake_engine):
    """The app over real HTTP on loopback (werkzeug), with the fake engine."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_through_a_server_with_two_connections(app, fake_engine, served, tmp_path):
    src, out = tree(tmp_path), tmp_path / "out"
    result = invoke(app, src, "--out", out, "--server", served, "--connections", "2",
                    "--output", "color", "--background", "#ff0000", "--format", "webp")
    assert result.exit_code == 0, result.output
    assert fake_engine.calls == 3
    assert outputs(out) == ["a.webp", "trip/b.webp", "trip/day 2/c.webp"]
    with Image.open(out / "a.webp") as image:
        assert image.size == (320, 240)
        red = image.convert("RGB").getpixel((300, 120))
    assert red[0] > 240 and red[1] < 15 and red[2] < 15, red
    again = invoke(app, src, "--out", out, "--server", served, "--format", "webp")
    assert tally(again) == (0, 3, 0) and fake_engine.calls == 3


def test_a_background_is_held_to_the_pixel_limit_of_where_it_is_used(settings, fake_engine,
                                                                    served, tmp_path):
    """This process's limit is 1,000 pixels, the server's 50 MP: the 64×48 background is
    refused before any photo here, and taken through the server, whose limit it is."""
    from app import create_app

    small = create_app(settings.changed(max_image_pixels=1000))
    use_engine(small, FakeEngine())
    (tmp_path / "a.jpg").write_bytes(photo(size=(64, 48)))
    back = tmp_path / "back.png"
    back.write_bytes(photo(fmt="PNG", size=(64, 48)))
    sent = invoke(small, tmp_path / "a.jpg", "--out", tmp_path / "out", "--server", served,
                  "--output", "image", "--background-image", back)
    assert sent.exit_code == 0 and fake_engine.calls == 1, sent.output
    here = invoke(small, tmp_path / "a.jpg", "--out", tmp_path / "here", "--output", "image",
                  "--background-image", back)
    assert here.exit_code == 2 and not (tmp_path / "here").exists()
    assert here.stderr.splitlines()[-1] == (
        "Error: The background photo could not be used. The image is too large (64×48). The "
        "limit is 0.001 megapixels.")


def test_a_server_refusal_fails_that_photo_with_the_servers_reason(app, fake_engine, served,
                                                                   tmp_path):
    src, out = tree(tmp_path), tmp_path / "out"
    (src / "broken.jpg").write_bytes(photo()[:2000])
    result = invoke(app, src, "--out", out, "--server", served)
    assert result.exit_code == 1 and fake_engine.calls == 3
    assert result.stdout.splitlines()[-1] == (
        f"  {src / 'broken.jpg'}: 400 invalid_image: {DAMAGED}")


def test_a_server_that_cannot_be_reached_stops_at_once(app, fake_engine, tmp_path):
    result = invoke(app, tree(tmp_path), "--out", tmp_path / "out", "--server",
                    "http://127.0.0.1:9")
    assert result.exit_code == 1 and result.stderr == (
        "Error: http://127.0.0.1:9 cannot be reached (Connection refused): check the address, "
        "and that the server is running.\n")
    assert not (tmp_path / "out").exists()


def test_retry_after_is_waited_out_and_the_same_photo_sent_again(app, fake_engine, tmp_path,
                                                                  monkeypatch):
    pauses, pause = [], Runner.pause
    monkeypatch.setattr(Runner, "pause",
                        lambda self, seconds: (pauses.append(seconds), pause(self, seconds)))
    server = FakeServer([(429, {"Retry-After": "1"})])
    _source, result = server.send_one(app, tmp_path)
    assert result.exit_code == 0, result.output
    # The wait asked for, once, and really waited: no upper bound on a busy machine's clock.
    first, second = server.posts()
    assert pauses == [1.0] and second[0] - first[0] >= 1.0
    assert all(r[3]["X-CSRFToken"] == "token-1" and r[3]["Cookie"] == "session=s1"
               for r in (first, second))
    assert [r[1:3] for r in server.requests] == [("GET", "/api/v1/session"),
                                                 ("POST", "/api/v1/remove"),
                                                 ("POST", "/api/v1/remove")]
    assert outputs(tmp_path / "out") == ["cat.png"]


@pytest.mark.parametrize(("status", "sent"), [(502, 2), (503, 2), (504, 1)])
def test_the_fronts_answers_while_the_app_restarts_are_waited_out(app, fake_engine, tmp_path,
                                                                   status, sent):
    """nginx in front (k8s/front) answers 502 or 503 "app_unavailable" with Retry-After
    while gunicorn restarts: waited out like a busy app. Its 504 (the app took too long)
    is not: the app may still be making that photo, and would make it twice."""
    server = FakeServer([(status, {"Retry-After": "1"})])
    source, result = server.send_one(app, tmp_path)
    assert len(server.posts()) == sent
    if sent == 2:
        assert result.exit_code == 0, result.output
        assert outputs(tmp_path / "out") == ["cat.png"]
    else:
        assert result.exit_code == 1
        assert result.stdout.splitlines()[-1] == (
            f"  {source}: {status} rate_limited: Too many uploads.")


@pytest.mark.parametrize(("answer", "reason"), [
    ((502, {"Retry-After": "0"}), "502 rate_limited: Too many uploads."),
    ((0, {}), "the server could not be reached (ConnectionError)"),
])
def test_a_photo_the_server_keeps_losing_fails_after_five_sends(app, fake_engine, tmp_path,
                                                                 monkeypatch, answer, reason):
    """A 502 or a connection closed while the server had the photo may mean the photo took
    the app down (out of memory): sent five times, not until --max-wait runs out."""
    monkeypatch.setattr(Runner, "pause", lambda self, seconds: None)
    server = FakeServer([answer] * 10)
    source, result = server.send_one(app, tmp_path)
    assert result.exit_code == 1 and len(server.posts()) == LOST_TIMES == 5
    assert result.stdout.splitlines()[-1] == (
        f"  {source}: {reason} (the server lost this photo 5 times: it may be what stops "
        "the app)")
    assert not (tmp_path / "out").exists()


def test_a_photo_lost_four_times_is_made_on_the_fifth_send(app, fake_engine, tmp_path,
                                                           monkeypatch):
    monkeypatch.setattr(Runner, "pause", lambda self, seconds: None)
    server = FakeServer([(502, {"Retry-After": "0"}), (0, {})] * 2)
    _source, result = server.send_one(app, tmp_path)
    assert result.exit_code == 0, result.output
    assert len(server.posts()) == 5 and outputs(tmp_path / "out") == ["cat.png"]


def test_busy_answers_and_refused_connections_are_not_counted_as_lost(app, fake_engine,
                                                                      tmp_path, monkeypatch):
    """503 busy and 429: the app never had the photo; waited out up to --max-wait only."""
    monkeypatch.setattr(Runner, "pause", lambda self, seconds: None)
    server = FakeServer([(503, {"Retry-After": "0"}), (429, {"Retry-After": "0"})] * 4)
    _source, result = server.send_one(app, tmp_path)
    assert result.exit_code == 0, result.output
    assert len(server.posts()) == 9
    # A connection refused: nothing was sent, so nothing was lost.
    sender = ServerSender(f"http://127.0.0.1:{closed_port()}", {}, key="k")
    with pytest.raises(Wait) as refused:
        sender(b"photo", "cat.jpg")
    assert refused.value.lost is False
    assert refused.value.reason == "the server could not be reached (ConnectionError)"


def test_a_wait_past_max_wait_fails_that_photo(app, fake_engine, tmp_path):
    server = FakeServer([(503, {"Retry-After": "1"}), (503, {"Retry-After": "30"})])
    source, result = server.send_one(app, tmp_path, "--max-wait", "10")
    assert result.exit_code == 1 and len(server.posts()) == 2
    assert result.stdout.splitlines()[-1] == (
        f"  {source}: 503 rate_limited: Too many uploads. (gave up after waiting 1 s in all: "
        "30 s more would pass --max-wait, 10 s)")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["0", "-5", "Mon, 01 Jan 2024 00:00:00 GMT"])
def test_a_retry_after_of_nothing_is_waited_a_second(app, fake_engine, tmp_path, monkeypatch,
                                                     value):
    """A server that answers busy with a wait of nothing, or a date past, is still asked
    again only after a second, so --max-wait ends it (it was asked 61,593 times in 2 s)."""
    pauses = []
    monkeypatch.setattr(Runner, "pause", lambda self, seconds: pauses.append(seconds))
    server = FakeServer([(503, {"Retry-After": value})] * 10)
    source, result = server.send_one(app, tmp_path, "--max-wait", "3")
    assert result.exit_code == 1 and len(server.posts()) == 4
    assert pauses == [1.0, 1.0, 1.0]
    assert result.stdout.splitlines()[-1] == (
        f"  {source}: 503 rate_limited: Too many uploads. (gave up after waiting 3 s in all: "
        "1 s more would pass --max-wait, 3 s)")


def test_with_a_key_no_session_is_started_and_the_key_is_sent(app, fake_engine, tmp_path):
    server = FakeServer([])
    _source, result = server.send_one(app, tmp_path, "--key", "bgk_secret")
    assert result.exit_code == 0, result.output
    assert [r[1:3] for r in server.requests] == [("GET", "/api/v1/account"),
                                                 ("POST", "/api/v1/remove")]
    (post,) = server.posts()
    assert post[3]["X-Api-Key"] == "bgk_secret" and "X-CSRFToken" not in post[3]


KEY = "batch-key-0123456789abcdef"


@pytest.fixture
def keyed(settings):
    """A server that takes only API keys (API_REQUIRE_KEY), over real HTTP."""
    from app import create_app

    app = create_app(settings.changed(api_keys=f"batch:{KEY}", api_require_key=True))
    engine = use_engine(app, FakeEngine())
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield app, engine, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_a_real_key_needs_no_cookie_nor_token(keyed, tmp_path):
    app, engine, base = keyed
    src, out = tree(tmp_path), tmp_path / "out"
    result = invoke(app, src, "--out", out, "--server", base, "--key", KEY,
                    "--connections", "2")
    assert result.exit_code == 0, result.output
    assert tally(result) == (3, 0, 0) and engine.calls == 3
    assert outputs(out) == ["a.png", "trip/b.png", "trip/day 2/c.png"]


def test_a_wrong_key_stops_the_run_before_any_photo(keyed, tmp_path):
    app, engine, base = keyed
    result = invoke(app, tree(tmp_path), "--out", tmp_path / "out", "--server", base,
                    "--key", "not-the-key-0123456789")
    assert result.exit_code == 1 and engine.calls == 0
    assert result.stderr.startswith(f"Error: {base} cannot be used: /api/v1/account answered "
                                    "401 invalid_key: ")
    # Said for a command line's user, not for a script's headers (helper 75).
    assert result.stderr.rstrip().endswith("(give the key with --key or REMOVE_BG_API_KEY)")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("kind", "body", "said"), [
    ("text/html", b"<!DOCTYPE HTML><html><title>404 Not Found</title></html>",
     "404 Not Found with text/html, not this app's answer: is --server the app's own "
     "address?"),
    ("application/json", json.dumps({"errors": [{"title": "There is nothing here.",
                                                 "code": "not_found"}]}).encode(),
     "404 not_found: There is nothing here."),
])
def test_a_server_that_is_not_the_app_is_told_so_without_its_page(app, tmp_path, kind, body,
                                                                   said):
    """Another server's 404 page was printed whole; remove.bg's door's error (--server given
    its address) was printed as its raw JSON with an empty code (helper 75)."""
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(404)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        result = invoke(app, tree(tmp_path), "--out", tmp_path / "out",
                        "--server", base)
    finally:
        server.shutdown()
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {base} cannot be used: /api/v1/session answered {said}")


# A key's minute, as the server's X-RateLimit-* headers tell it.

def answered(**headers):
    answer = requests.Response()
    answer.headers.update(headers)
    return answer


def test_no_room_lasts_until_the_reset_by_the_servers_own_clock():
    """Reset − Date: the server's clock on both sides, whatever this machine's says."""
    date = formatdate(1_000_000, usegmt=True)  # 1970: far from this machine's clock
    assert _room_in(answered(**{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1000042",
                                "Date": date})) == 42.0
    assert _room_in(answered(**{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "999990",
                                "Date": date})) == 0.0
    # Without a Date, against this machine's clock.
    ahead = str(int(time.time()) + 30)
    assert 28 < _room_in(answered(**{"X-RateLimit-Remaining": "0",
                                     "X-RateLimit-Reset": ahead})) <= 30
    for headers in ({"X-RateLimit-Remaining": "1", "X-RateLimit-Reset": "1000042", "Date": date},
                    {"X-RateLimit-Remaining": "0", "Date": date},
                    {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "soon", "Date": date},
                    {}):  # room, or nothing said that can be read: sent as before
        assert _room_in(answered(**headers)) is None


def test_a_photo_waits_for_the_keys_minute_instead_of_being_sent_to_its_429(app, fake_engine,
                                                                           tmp_path,
                                                                           monkeypatch):
    """The first photo's answer says the minute has nothing left for 2 s: the next is sent
    once they have passed, and no 429 was asked for."""
    pauses, pause = [], Runner.pause
    monkeypatch.setattr(Runner, "pause",
                        lambda self, seconds: (pauses.append(seconds), pause(self, seconds)))
    reset = str(int(time.time()) + 2)
    server = FakeServer([(200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})])
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.jpg", "b.jpg"):
        (src / name).write_bytes(photo(size=(64, 48)))
    result = invoke(app, src, "--out", tmp_path / "out", "--server", server.base, "--key",
                    "bgk_secret", "--connections", "1")
    server.server.shutdown()
    assert tally(result) == (2, 0, 0), result.output
    first, second = server.posts()
    # Up to 2 s (the Date header's whole second), and really waited.
    assert len(pauses) == 1 and 1.0 <= pauses[0] <= 3.0
    assert second[0] - first[0] >= pauses[0] - 0.05


def test_a_real_keys_spent_minute_is_waited_for_without_sending(settings, tmp_path):
    """A key of 2 counts a minute and three photos, one at a time: the third is not sent to
    be refused (the server sees two uploads); with --max-wait 5 it gives up on the
    minute's wait. (Photos already in flight on other connections are sent as before.)"""
    from app import create_app

    app = create_app(settings)
    engine = use_engine(app, FakeEngine())
    key = made_key(app, "pace", "--per-minute", "2")
    posts, wsgi = [], app.wsgi_app

    def counted(environ, start_response):
        posts.extend([environ["PATH_INFO"]] if environ["REQUEST_METHOD"] == "POST" else [])
        return wsgi(environ, start_response)

    app.wsgi_app = counted
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = invoke(app, tree(tmp_path), "--out", tmp_path / "out", "--server",
                        f"http://127.0.0.1:{server.server_port}", "--key", key,
                        "--max-wait", "5", "--connections", "1")
    finally:
        server.shutdown()
    assert tally(result) == (2, 0, 1) and engine.calls == 2
    assert posts == ["/api/v1/remove"] * 2
    assert "the API key has used its counts for this minute (X-RateLimit-Remaining: 0) " \
           "(gave up after waiting 0 s in all" in result.output


def test_a_photo_held_back_by_a_refusal_is_told_that_refusals_reason(app, fake_engine,
                                                                    tmp_path):
    """The day's cap refused the first photo (429, no room for a day): the second is held
    back with the refusal's own words, not the minute's (helper 92)."""
    reset = str(int(time.time()) + 86_400)
    server = FakeServer([(429, {"Retry-After": "86400", "X-RateLimit-Remaining": "0",
                                "X-RateLimit-Reset": reset})])
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.jpg", "b.jpg"):
        (src / name).write_bytes(photo(size=(64, 48)))
    result = invoke(app, src, "--out", tmp_path / "out", "--server", server.base, "--key",
                    "bgk_secret", "--connections", "1", "--max-wait", "5")
    server.server.shutdown()
    assert tally(result) == (0, 0, 2) and len(server.posts()) == 1
    assert result.output.count("429 rate_limited: Too many uploads. "
                               "(X-RateLimit-Remaining: 0) (gave up") == 1
