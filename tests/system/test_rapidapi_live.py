"""RapidAPI slow or failing, over real HTTP: a fake service on loopback that sleeps past
the timeout, answers 429, 500 or garbage. The visitor gets the right message, within the
configured timeout plus one second (a deadline the app promises, not a speed measurement)."""

import base64
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from app import create_app
from tests.support import Visitor, photo

pytestmark = pytest.mark.alone

TIMEOUT = 2.0


class FakeRapidApi(BaseHTTPRequestHandler):
    behaviour = "ok"
    calls = 0

    def do_POST(self):
        type(self).calls += 1
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.behaviour == "slow":
            time.sleep(TIMEOUT * 3)
        if self.behaviour == "429":
            return self._send(429, b'{"message": "You have exceeded the rate limit"}')
        if self.behaviour == "500":
            return self._send(500, b"Internal Server Error")
        if self.behaviour == "garbage":
            return self._send(200, b"\x00\xffnot json at all")
        buf = io.BytesIO()
        Image.new("RGBA", (451, 300), (0, 0, 0, 0)).save(buf, "PNG")
        body = {"response": {"image_base64": base64.b64encode(buf.getvalue()).decode()}}
        return self._send(200, json.dumps(body).encode())

    def _send(self, status, body):
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up waiting, as it should

    def log_message(self, *args):
        pass


@pytest.fixture
def service():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRapidApi)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FakeRapidApi.calls = 0
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def api_app(settings, service):
    url = f"http://127.0.0.1:{service.server_address[1]}/remove"
    return create_app(settings.changed(bg_engine="rapidapi", rapidapi_key="key",
                              rapidapi_url_override=url, rapidapi_timeout=TIMEOUT,
                              rapidapi_connect_timeout=1.0))


@pytest.mark.parametrize("behaviour, status, words, calls", [
    ("slow", 504, "did not answer in time", 1),
    ("429", 429, "quota is used up", 1),
    ("500", 503, "is unavailable", 2),
    ("garbage", 502, "could not be removed", 1),
])
def test_failures_get_the_right_message_in_time(api_app, behaviour, status, words, calls):
    FakeRapidApi.behaviour = behaviour
    visitor = Visitor(api_app.test_client())
    visitor.page()
    began = time.monotonic()
    response = visitor.upload(photo(), headers={"Accept": "application/json"})
    elapsed = time.monotonic() - began
    assert response.status_code == status
    body = response.get_json()
    assert body["error"] == "engine_failed"
    assert body["message"].startswith("Failed to generate the image.") and words in body["message"]
    assert elapsed < TIMEOUT + 1
    assert FakeRapidApi.calls == calls  # a slow service is not asked twice past the deadline
    assert api_app.extensions["services"].records.list(visitor.id()) == []


def test_the_page_shows_the_quota_message(api_app):
    FakeRapidApi.behaviour = "429"
    visitor = Visitor(api_app.test_client())
    visitor.upload(photo())
    assert visitor.flashes() == [("danger", "Failed to generate the image. The background-removal "
                                            "service's quota is used up. Please try again later.")]


def test_success_over_real_http(api_app):
    FakeRapidApi.behaviour = "ok"
    visitor = Visitor(api_app.test_client())
    response = visitor.upload(photo(), headers={"Accept": "application/json"})
    assert response.status_code == 201
    assert response.get_json()["engine"] == "rapidapi"
