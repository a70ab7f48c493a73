"""One error handler for the whole app: every failure becomes a stable code, a sentence a
person understands and a status, delivered the way the front door that was asked delivers:
JSON for the API and for scripts, a flash and a redirect for the page's form (the original
app's contract), an HTML page for the rest.

The front doors (app/web, app/api, app/removebg) describe themselves with a `FrontDoor`;
nothing else here knows about any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask, current_app, flash, jsonify, redirect, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import (
    HTTPException,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
)

from app.core.errors import UNEXPECTED, Rejected
from app.http.context import brings_session
from app.http.sizes import too_large_message
from app.storage import StorageUnavailable

AUTH_SCHEME = "Bearer"  # what a 401's WWW-Authenticate asks for: a key, as a bearer token
# The status code each kind of problem the core reports is answered with.
STATUS = {"invalid": 400, "unauthorized": 401, "too_large": 413, "unsupported": 415,
          "not_found": 404, "conflict": 409, "quota": 429, "failed": 502, "timeout": 504,
          "unavailable": 503, "busy": 503, "unexpected": 500}
MESSAGES = {
    400: "The request could not be understood.",
    404: "There is nothing here.",
    405: "That action is not allowed here.",
    412: "The image is not the version named in If-Match: fetch it again without If-Match.",
    416: ("None of the range asked for is in the image (its length is in Content-Range): "
          "ask for bytes within it, or without Range."),
    500: UNEXPECTED,
}
CSRF_MESSAGE = "Your page had expired, so nothing was changed. Please try again."
# Over HTTPS the CSRF check also wants the Referer of this site: trying again will not help.
REFERRER_MESSAGES = {
    "The referrer header is missing.": (
        "Your browser did not say which page this form was sent from (the Referer header), "
        "which this site checks over HTTPS, so nothing was changed. Please allow it for this "
        "site and try again."),
    "The referrer does not match the host.": (
        "This form was sent from another site, so nothing was changed. Please use the form "
        "on this site."),
}
STORAGE_MESSAGE = ("The database is unavailable right now, so nothing was changed. "
                   "Please try again in a minute.")
STORAGE_RETRY_SECONDS = 30


@dataclass(frozen=True)
class FrontDoor:
    """How one front door answers failures."""

    name: str
    prefix: str = "/"  # the paths it answers for
    json: bool = False  # always JSON (else JSON only for clients that ask for it)
    csrf_status: int = 400
    csrf_help: str = ""  # appended to the CSRF message
    no_such_path: str = MESSAGES[404]
    # Form posts answered the original app's way: a flash message and 302 back to the
    # door's page (its prefix).
    flash_endpoints: frozenset[str] = field(default_factory=frozenset)
    # API keys (app/http/callers.py): whether this door takes them instead of the cookie and
    # the CSRF token, and whether it takes nothing else.
    keys: bool = False
    key_required: bool = False
    keyless: frozenset[str] = frozenset()  # endpoints open without a key even when required
    # A photo in base64 may come as a form's text field: text fields as large as an upload.
    photos_in_text: bool = False
    # A door with an error shape of its own (remove.bg's): the response for a problem.
    problem_body: Callable[[Problem], object] | None = None


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    status: int
    headers: dict = field(default_factory=dict)
    flash: bool = True  # whether a form post may deliver it as a flash
    field: str | None = None  # the request's field at fault, when the core said


def door() -> FrontDoor:
    doors = current_app.extensions["doors"]
    matching = [d for d in doors if request.path == d.prefix.rstrip("/")
                or request.path.startswith(d.prefix)]
    return max(matching, key=lambda d: len(d.prefix))


def wants_json() -> bool:
    if door().json or request.method in ("PUT", "PATCH", "DELETE") or request.is_json:
        return True
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == (
        "application/json")


def handle(exc: Exception):
    """Deliver the problem `exc` stands for as the door and the client expect."""
    problem, here = describe(exc), door()
    if here.problem_body is not None:
        return here.problem_body(problem)
    if wants_json():
        return (jsonify(error=problem.code, message=problem.message), problem.status,
                problem.headers)
    if problem.flash and request.endpoint in here.flash_endpoints and brings_session():
        flash(problem.message, "danger")
        return redirect(here.prefix)
    page = render_template("error.html", code=problem.status, message=problem.message)
    return page, problem.status, problem.headers


def describe(exc: Exception) -> Problem:
    """The problem an exception stands for, as this door words it."""
    if isinstance(exc, Rejected):
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
        if exc.kind == "unauthorized":
            headers["WWW-Authenticate"] = AUTH_SCHEME
        return Problem(exc.code, exc.message, STATUS[exc.kind], headers, field=exc.field)
    if isinstance(exc, StorageUnavailable):
        current_app.logger.warning("Database unavailable: %s", exc)
        return Problem("storage_unavailable", STORAGE_MESSAGE, 503,
                       {"Retry-After": str(STORAGE_RETRY_SECONDS)}, flash=False)
    if not isinstance(exc, HTTPException) or exc.code is None or exc.code >= 500:
        # Flask has logged the traceback; the visitor gets no internals.
        return Problem("internal_error", MESSAGES[500], 500, flash=False)
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    if isinstance(exc, CSRFError):
        here = door()
        message = (f"{exc.description} {here.csrf_help}" if here.csrf_help
                   else REFERRER_MESSAGES.get(exc.description, CSRF_MESSAGE))
        return Problem("csrf_failed", message, here.csrf_status)
    if isinstance(exc, RequestEntityTooLarge):
        return Problem("too_large", too_large_message(door().photos_in_text), 413)
    if isinstance(exc, MethodNotAllowed):
        allowed = sorted(set(exc.valid_methods or ()) - {"OPTIONS"})
        message = (f"{request.method} is not allowed here. Allowed: {', '.join(allowed)}."
                   if door().json else MESSAGES[405])
        return Problem("method_not_allowed", message, 405,
                       {"Allow": ", ".join(allowed)}, flash=False)
    if isinstance(exc, NotFound):
        message = door().no_such_path if request.url_rule is None else MESSAGES[404]
        return Problem("not_found", message, 404, flash=False)
    return Problem(exc.name.lower().replace(" ", "_"),
                   MESSAGES.get(exc.code, exc.description or exc.name), exc.code, headers,
                   flash=False)


def init_app(app: Flask, doors: list[FrontDoor]) -> None:
    app.extensions["doors"] = doors
    # Unexpected exceptions reach the HTTPException handler as InternalServerError, after
    # Flask has logged them.
    for exception in (HTTPException, Rejected, StorageUnavailable):
        app.register_error_handler(exception, handle)
