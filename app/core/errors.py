"""What the core says when it refuses: a stable code for programs, a sentence for people, and
what kind of problem it is. The HTTP layer turns the kind into a status code
(app/http/errors.py); nothing here knows about HTTP."""

from __future__ import annotations

# The kinds of problem, each answered with one status code by the HTTP layer.
KINDS = ("invalid", "unauthorized", "too_large", "unsupported", "not_found", "conflict",
         "quota", "failed", "timeout", "unavailable", "busy", "unexpected")

SUCCESS = "Image generated successfully"
EDITED = "Image updated"  # a result made again in a new look
ENGINE_FAILED = "Failed to generate the image"
LIMIT_REACHED = "Max limit reached. Please remove a record."
UNEXPECTED = "Something went wrong"
NOT_FOUND = "That image does not exist, or it is not yours."
BUSY = ("Too many photos are being processed right now, so this one was not started. "
        "Please try again in {wait}.")


_UNITS = ("KB", "MB", "GB", "TB")


def human_size(size: int) -> str:
    """A size as refusals write it: 15728640 -> "15 MB", 51200 -> "50 KB", 512 -> "512 bytes",
    1610612736 -> "1.5 GB". Three significant digits in the largest unit that keeps them
    under 1000: "%.3g" of 1000 or more would write an exponent ("1.02e+03 MB")."""
    if size < 1024:
        return f"{size} bytes"
    value, unit = size / 1024, 0
    while unit < len(_UNITS) - 1 and float(f"{value:.3g}") >= 1000:
        value, unit = value / 1024, unit + 1
    shown = f"{value:.3g}" if value < 1000 else f"{value:.0f}"  # past the last unit
    return f"{shown} {_UNITS[unit]}"


class Rejected(Exception):
    """A request the core will not carry out; nothing was changed."""

    def __init__(self, code: str, message: str, kind: str = "invalid",
                 retry_after: int | None = None, field: str | None = None):
        super().__init__(message)
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        self.code, self.message, self.kind = code, message, kind
        self.retry_after = retry_after  # seconds, when waiting is the fix
        self.field = field  # the request's field at fault, where a door may name it


def in_seconds(seconds: int) -> str:
    """A wait as a sentence says it: "1 second", "15 seconds"."""
    return "1 second" if seconds == 1 else f"{seconds} seconds"


def busy(retry_after: int) -> Rejected:
    return Rejected("busy", BUSY.format(wait=in_seconds(retry_after)), "busy",
                    retry_after=retry_after)


def not_found() -> Rejected:
    return Rejected("not_found", NOT_FOUND, "not_found")
