"""Photos by address from a server that accepts the connection and never answers, kept in
flight from one network against the production stack (`make serve`: nginx before gunicorn,
defaults): each worker fetches at most URL_FETCH_CONCURRENCY at once, and one at a time
for one client, and refuses the rest at once (503 busy or 429, Retry-After), so
/health and an innocent visitor's page answer every probe in under a second the whole
time, and another network's photos by address still arrive. Before the bound, 12 such
fetches made /health take 14.5 s; before the share, they made every other visitor's photo
by address busy."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid

import pytest

from app.core.fetching.gate import PER_CLIENT
from app.settings import Settings
from tests.front import session_from, start_stack
from tests.servers import stop
from tests.system.test_front_burst import Poller

pytestmark = pytest.mark.alone

ATTACKERS, SECONDS = 12, 30
FETCHES_AT_ONCE = Settings.model_fields["url_fetch_concurrency"].default


class SilentServer(threading.Thread):
    """Accepts every connection, reads what comes, answers nothing; counts how many are
    open at once. `close()` hangs up on all of them."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.open, self.most, self.lock = [], 0, threading.Lock()

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.open.append(conn)
                self.most = max(self.most, len(self.open))
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn):
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass
        with self.lock:
            if conn in self.open:
                self.open.remove(conn)

    def close(self):
        self.sock.close()
        with self.lock:
            for conn in self.open:
                conn.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    extra = {"URL_ALLOWED_NETWORKS": "127.0.0.0/8", "UPLOAD_RATE_LIMIT": "1000 per minute",
             "UPLOAD_RATE_LIMIT_IP": "1000 per minute"}
    database = os.environ.get("MONGO_TEST_URI")
    if database:  # two workers, as in the container
        extra["MONGO_URI"] = database
        extra["MONGO_DB"] = f"silent_{uuid.uuid4().hex[:10]}"
    process, base, _ = start_stack(tmp_path_factory.mktemp("silent"), **extra)
    yield base, 2 if database else 1
    stop(process)


def test_silent_servers_cannot_hold_the_threads_probes_and_pages_need(stack, photo_server):
    base, workers = stack
    silent = SilentServer()
    silent.start()
    url = f"http://127.0.0.1:{silent.port}/photo.jpg"
    # From one address with two cookies, as the attack was made.
    attackers = []
    for session in (session_from("127.0.3.1"), session_from("127.0.3.1")):
        token = session.get(f"{base}/api/v1/session", timeout=10).json()["csrf_token"]
        attackers.append((session, token))
    pollers = [Poller(base, "/health"), Poller(base, "/")]
    for poller in pollers:
        poller.start()
    answers, lock, done = [], threading.Lock(), threading.Event()

    def attack(session, token):
        while not done.is_set():
            began = time.monotonic()
            response = session.post(f"{base}/api/v1/records", json={
                "name": "silent", "image_url": url}, headers={"X-CSRFToken": token},
                timeout=60)
            with lock:
                answers.append((response.status_code, response.json()["error"],
                                response.headers.get("Retry-After"), time.monotonic() - began))
            done.wait(0.5)  # at once again: it does not wait as Retry-After says

    threads = [threading.Thread(target=attack, args=attackers[n % 2])
               for n in range(ATTACKERS)]
    for thread in threads:
        thread.start()
    time.sleep(SECONDS / 2)
    innocent = session_from("127.0.4.1")
    token = innocent.get(f"{base}/api/v1/session", timeout=10).json()["csrf_token"]
    served = [innocent.post(f"{base}/api/v1/remove", json={
        "image_url": f"{photo_server}/photo"}, headers={"X-CSRFToken": token}, timeout=60)
        for _ in range(3)]
    time.sleep(SECONDS / 2)
    done.set()
    silent.close()  # the fetches in flight end now, as broken off
    for thread in threads:
        thread.join(60)
    for poller in pollers:
        poller.done.set()
        poller.join(10)

    for poller in pollers:
        assert len(poller.answers) >= SECONDS, (poller.url, len(poller.answers))
        slow = [(status, round(took, 3)) for status, took in poller.answers
                if status != 200 or took >= 1.0]
        assert slow == [], f"{poller.url}: {slow}"
    assert 1 <= silent.most <= PER_CLIENT * workers
    kinds = {(status, error) for status, error, _, _ in answers}
    assert kinds <= {(429, "rate_limited"), (503, "busy"), (400, "url_timeout"),
                     (400, "url_failed")}, kinds
    turned = [(retry, took) for status, _, retry, took in answers if status in (429, 503)]
    assert len(turned) >= ATTACKERS, len(turned)  # most were turned away...
    assert all(int(retry) >= 1 and took < 1.0 for retry, took in turned), turned  # ...at once
    # ...and the slots they could not take served another network's photos meanwhile.
    assert [(answer.status_code, answer.headers["Content-Type"]) for answer in served] == [
        (200, "image/png")] * 3
    print(f"{len(answers)} answers: {sorted(kinds)}; at most {silent.most} fetches at once; "
          f"slowest probe {max(t for p in pollers for _, t in p.answers) * 1000:.0f} ms")
