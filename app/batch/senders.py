"""One photo's result, made by the core in this process (`LocalSender`) or by a running
server's `POST /api/v1/remove` (`ServerSender`, an HTTP client). Either answers the
result's bytes, or raises `Failed` (this photo will not be made: the reason) or `Wait` (try
the same photo again after that many seconds: the server or the engine is busy)."""

from __future__ import annotations

import email.utils
import os
import threading
import time
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError

from app.core.errors import Rejected
from app.core.forms import parse
from app.core.removal import RemoveRequest
from app.core.results import Unlimited
from app.http.callers import KEY_HEADER
from app.images.outputs import REMOVAL_FORMATS

RESULT_TYPES = set(REMOVAL_FORMATS.values())
API = "/api/v1"
TIMEOUT = (10, 300)  # connect, read: a big photo may wait in line and then take a while
# After a photo's answer never came: /health answers at once from a server that is there.
PROBE_TIMEOUT = (10, 10)
# Rate-limited, the app unavailable (the front's 502 while it restarts) and busy: sent
# again after their Retry-After. Not the front's 504: the app may still be on it.
RETRIED = (429, 502, 503)
# nginx answers 502 both while the app restarts and when the app died with the photo (out
# of memory, a crash), and a connection closed mid-answer is the same without the front:
# such a photo is sent again only so many times, since it may be what takes the app down.
LOST = 502


class Failed(Exception):
    """This photo will not be made; `str()` is the reason."""


class Wait(Exception):
    """`lost`: the server may have had the photo when it went away (see LOST); `down`: no
    connection to the server could be made or kept (the runner waits for it once, for all
    photos); `sent`: the server was asked (a wait before sending says nothing of it)."""

    def __init__(self, seconds: float, reason: str, lost: bool = False, down: bool = False,
                 sent: bool = True):
        super().__init__(reason)
        self.seconds, self.reason, self.lost, self.down = seconds, reason, lost, down
        self.sent = sent


class LocalSender:
    """The core's removal, as the one-call endpoint runs it, with no rate limit."""

    def __init__(self, uploads, values: dict[str, Any]):
        self.uploads, self.values = uploads, values

    def __call__(self, data: bytes, filename: str) -> bytes:
        try:
            request = parse(RemoveRequest, {**self.values, "image": data})
            return self.uploads.remove(request, pay=Unlimited()).result.data
        except Rejected as exc:
            if exc.kind == "busy" and exc.retry_after is not None:
                raise Wait(exc.retry_after, exc.message) from None
            # As the server's failures read, less the HTTP status: "code: sentence".
            raise Failed(f"{exc.code}: {exc.message}") from None


def retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds: a number, or an HTTP date."""
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):  # absent, or not a number
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _room_in(answer: requests.Response) -> float | None:
    """Seconds until a key's minute has room again, when `answer` says it has none left
    (X-RateLimit-Remaining 0): its X-RateLimit-Reset against the answer's own Date, so a
    clock set differently here does not move it (this one's without a Date); None when it
    has room or says nothing."""
    if answer.headers.get("X-RateLimit-Remaining") != "0":
        return None
    try:
        reset = int(answer.headers["X-RateLimit-Reset"])
    except (KeyError, ValueError):
        return None
    try:
        served = email.utils.parsedate_to_datetime(answer.headers["Date"]).timestamp()
    except (KeyError, TypeError, ValueError):  # no Date (a server may send none): ours
        served = time.time()
    return max(0.0, reset - served)


def _problem(response: requests.Response) -> tuple[str, str]:
    """The answer's error code, and "status code: message" to tell it by: the app's JSON,
    or remove.bg's shape (--server given its door's address); another server's page is
    not quoted (helper 75: a wrong --server printed a 404's HTML)."""
    try:
        body = response.json()
        if "errors" in body:
            body = {"error": body["errors"][0]["code"], "message": body["errors"][0]["title"]}
        code, message = str(body["error"]), str(body["message"])
    except (ValueError, KeyError, TypeError, IndexError):
        kind = response.headers.get("Content-Type", "").split(";")[0] or "no Content-Type"
        return "", (f"{response.status_code} {response.reason or ''} with {kind}, not this "
                    "app's answer: is --server the app's own address?")
    return code, f"{response.status_code} {code}: {message}"


def _wait_if_asked(answer: requests.Response, problem: str, lost: bool = False) -> None:
    """`Wait` for an answer that asks to be sent again (RETRIED, with its Retry-After)."""
    seconds = retry_after(answer.headers.get("Retry-After"))
    if answer.status_code in RETRIED and seconds is not None:
        raise Wait(seconds, problem, lost=lost)


def _not_connected(exc: requests.RequestException) -> bool:
    """The connection was never made (refused, or no answer to it): the photo was not sent."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    cause = exc.args[0] if exc.args else None
    return isinstance(getattr(cause, "reason", None), NewConnectionError)


class ServerSender:
    """`POST {base}/api/v1/remove`, one `requests.Session` per thread: with `key`, sent as
    `X-Api-Key`; without, the session's cookies and its CSRF token (`GET /api/v1/session`).
    A refused connection is waited out like a busy server (a restart), in growing steps; a
    key's minute that has nothing left, until it has, before the next photo is sent."""

    def __init__(self, base: str, values: dict[str, Any], key: str | None = None):
        self.base, self.key = base.rstrip("/"), key
        # The options as the server's multipart form takes them: files, and text fields.
        self.files = {name: (name, value) for name, value in values.items()
                      if isinstance(value, bytes)}
        self.fields = {name: str(value).lower() if isinstance(value, bool) else str(value)
                       for name, value in values.items() if not isinstance(value, bytes)}
        self._local = threading.local()
        self._spare: list[requests.Session] = []  # started by `check`, for the first thread
        # A photo's answer never came: /health is asked before the next photo is sent, or
        # a server that takes connections and never answers held each photo TIMEOUT's 300 s.
        self._silent = False
        # When the key's minute has room again (time.monotonic()), as its last answer said:
        # a photo sent before would be refused 429 after its upload, of up to 20 MB.
        self._room_at, self._room_why = 0.0, ""

    def check(self) -> None:
        """A session started now (`requests.RequestException` or `Failed` if the server
        cannot be used), kept for the first thread that sends; a key is shown to
        `GET /api/v1/account`, so a wrong one stops the run before any photo is sent."""
        session = self._start()
        if self.key:
            self._get(session, "account")
        self._spare.append(session)

    def session(self) -> requests.Session:
        """This thread's session: the one `check` started, or else a new one."""
        session = getattr(self._local, "session", None)
        if session is None:
            try:
                session = self._spare.pop()  # atomic: one thread only gets it
            except IndexError:
                session = self._start()
            self._local.session = session
        return session

    def _start(self) -> requests.Session:
        """A new session (`requests.RequestException` when the server cannot be reached)."""
        session = requests.Session()
        if self.key:
            session.headers[KEY_HEADER] = self.key  # as remove.bg's clients send theirs
        else:
            # The session's answer says where its token goes, as a script would read it.
            started = self._get(session, "session").json()
            session.headers[started["csrf_header"]] = started["csrf_token"]
            if self.base.startswith("https:"):  # flask-wtf checks it over HTTPS
                session.headers["Referer"] = f"{self.base}/"
        return session

    def _probe(self) -> None:
        """`Wait` as for a server that cannot be reached, unless it answers `/health` (any
        status: something is there) within PROBE_TIMEOUT."""
        try:
            requests.get(f"{self.base}/health", timeout=PROBE_TIMEOUT)
        except requests.RequestException as exc:
            raise Wait(PROBE_TIMEOUT[1], f"the server did not answer {self.base}/health "
                       f"after a photo's answer never came ({type(exc).__name__})",
                       down=True) from None
        self._silent = False

    def _get(self, session: requests.Session, path: str) -> requests.Response:
        """`GET /api/v1/{path}`; `Wait` for a busy or restarting server, as a photo's
        send waits; else `Failed` unless it answers 200."""
        answer = session.get(f"{self.base}{API}/{path}", timeout=TIMEOUT)
        if answer.status_code != 200:
            code, said = _problem(answer)
            problem = f"{API}/{path} answered {said}"
            _wait_if_asked(answer, problem)
            if code in ("missing_key", "invalid_key"):  # said for a script's headers
                problem += " (give the key with --key or REMOVE_BG_API_KEY)"
            raise Failed(problem)
        return answer

    def _hold_back(self, room: float | None, why: str) -> None:
        """No photo is sent for `room` seconds (`_room_in`), told `why`."""
        if room is not None and (at := time.monotonic() + room) > self._room_at:
            self._room_at, self._room_why = at, f"{why} (X-RateLimit-Remaining: 0)"

    def __call__(self, data: bytes, filename: str) -> bytes:
        # A name that is not UTF-8 (bytes the file system kept) cannot go in a form's
        # header as it is; the server does not use it.
        filename = os.fsencode(filename).decode("utf-8", "replace")
        if self._silent:
            self._probe()
        if (wait := self._room_at - time.monotonic()) > 0:
            raise Wait(wait, self._room_why, sent=False)
        try:
            answer = self.session().post(f"{self.base}{API}/remove", data=self.fields,
                                         files={"image": (filename, data), **self.files},
                                         timeout=TIMEOUT)
        except requests.ReadTimeout:  # as the front's 504: the app may still be on it
            self._local.session = None
            self._silent = True
            raise Failed(f"the server did not answer within {TIMEOUT[1]} s (it may still be "
                         "making this photo, so it is not sent again)") from None
        # An answer cut short is a connection lost too.
        except (requests.ConnectionError, requests.Timeout,
                requests.exceptions.ChunkedEncodingError) as exc:
            self._local.session = None  # a new connection, and a new session, next time
            self._local.refused = getattr(self._local, "refused", 0) + 1
            raise Wait(min(2.0 ** self._local.refused, 30.0),
                       f"the server could not be reached ({type(exc).__name__})",
                       lost=not _not_connected(exc), down=True) from None
        room = _room_in(answer)
        if answer.status_code == 200:
            self._hold_back(room, "the API key has used its counts for this minute")
            self._local.refused = 0
            if answer.headers.get("Content-Type", "").split(";")[0] not in RESULT_TYPES:
                # Another server's page (a proxy's login, a wrong --server), not a result.
                raise Failed(f"{API}/remove answered 200 with "
                             f"{answer.headers.get('Content-Type') or 'no Content-Type'}, "
                             "not an image: is --server this app's address?")
            return answer.content
        code, problem = _problem(answer)
        self._hold_back(room, problem)  # the limit a refusal names (the day's megapixels...)
        _wait_if_asked(answer, problem, lost=answer.status_code == LOST)
        if code == "csrf_failed" and not self.key:  # the session expired: a new one
            self._local.session = None
            raise Wait(1, problem)
        raise Failed(problem.replace(" :", ":"))
