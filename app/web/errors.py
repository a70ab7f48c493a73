"""Error pages: every failure gets a status code and a sentence a person understands."""

from __future__ import annotations

from flask import Flask, current_app, render_template
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, RequestEntityTooLarge

from app.config import human_size
from app.observability import UPLOADS
from app.storage import StorageUnavailable
from app.web.answers import back_to_page, json_error, wants_json
from app.web.protections import RATE_LIMITED

MESSAGES = {
    400: "The request could not be understood.",
    404: "There is nothing here.",
    405: "That action is not allowed here.",
    500: "Something went wrong",
}
CSRF_MESSAGE = "Your page had expired, so nothing was changed. Please try again."
STORAGE_MESSAGE = ("The database is unavailable right now, so nothing was changed. "
                   "Please try again in a minute.")
RETRY_AFTER_SECONDS = 30


def too_large(exc: RequestEntityTooLarge):
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    message = f"The file is too large. Please upload an image of at most {human_size(limit)}."
    return back_to_page(message, "danger", 413, "too_large")


def csrf_failed(exc: CSRFError):
    return back_to_page(CSRF_MESSAGE, "danger", 400, "csrf_failed")


def http_error(exc: HTTPException):
    message = MESSAGES.get(exc.code, exc.description or exc.name)
    if wants_json():
        return json_error(exc.name.lower().replace(" ", "_"), message, exc.code)
    return render_template("error.html", code=exc.code, message=message), exc.code


def unexpected_error(exc: InternalServerError):
    # Flask has already logged the traceback; the visitor gets no internals.
    if wants_json():
        return json_error("internal_error", MESSAGES[500], 500)
    return render_template("error.html", code=500, message=MESSAGES[500]), 500


def storage_unavailable(exc: StorageUnavailable):
    current_app.logger.warning("Database unavailable: %s", exc)
    if wants_json():
        response = json_error("storage_unavailable", STORAGE_MESSAGE, 503)
    else:
        response = render_template("error.html", code=503, message=STORAGE_MESSAGE), 503
    return response[0], response[1], {"Retry-After": str(RETRY_AFTER_SECONDS)}


def rate_limited(exc: RateLimitExceeded):
    UPLOADS.labels("rate_limited").inc()
    return back_to_page(RATE_LIMITED, "danger", 429, "rate_limited")


def init_app(app: Flask) -> None:
    app.register_error_handler(RateLimitExceeded, rate_limited)
    app.register_error_handler(StorageUnavailable, storage_unavailable)
    app.register_error_handler(RequestEntityTooLarge, too_large)
    app.register_error_handler(CSRFError, csrf_failed)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(InternalServerError, unexpected_error)
