"""The original app's engine: RapidAPI's "Background Removal" (objectcut) service."""

from __future__ import annotations

import base64
import binascii
import logging
import time

import requests
from PIL import Image

from app.engines.base import EngineError, EngineTimeout, EngineUnavailable, QuotaExceeded
from app.images.decoding import InvalidImage, Photo, decode

log = logging.getLogger(__name__)
# A retry with less time than this left would only add a second failure to the first.
_MIN_ATTEMPT_SECONDS = 1.0
_ATTEMPTS = 2  # the call and one retry (`_post` says why)
# The longest wait of the service's own that is passed on to clients: a quota that opens
# again next month is better retried tomorrow than not at all.
_MAX_RETRY_AFTER = 86_400


class RapidApiEngine:
    name = "rapidapi"
    remote = True

    def __init__(self, key: str, host: str, url: str, connect_timeout: float, timeout: float,
                 session: requests.Session | None = None):
        self.url = url
        self.headers = {"X-RapidAPI-Key": key, "X-RapidAPI-Host": host}
        self.connect_timeout = connect_timeout
        self.timeout = timeout  # for the whole call, the retry included
        # A shared session keeps the TLS connection to RapidAPI open between uploads.
        self.session = session or requests.Session()

    def mask(self, photo: Photo, model: str | None = None) -> Image.Image:
        """The alpha of the service's cutout: only its matte is used, so the photo's own
        pixels keep their colours and full resolution, and every output works as with the
        local engine."""
        response = self._post({"image_base64": base64.b64encode(photo.data).decode("ascii"),
                               "output_format": "base64"})
        if response.status_code == 429:
            raise QuotaExceeded(retry_after=_retry_after(response))
        if response.status_code in (401, 403):
            log.error("RapidAPI refused the API key (HTTP %s)", response.status_code)
            raise EngineUnavailable("The background-removal service refused our API key.")
        if response.status_code >= 400:
            log.warning("RapidAPI answered HTTP %s", response.status_code)
            raise EngineError()
        return self._alpha(response)

    def _post(self, form: dict) -> requests.Response:
        """POST with one bounded retry (a timeout or a 5xx is often a passing hiccup), all
        within `timeout`: the visitor waits for one deadline, not one per attempt."""
        failure: EngineError = EngineUnavailable()
        deadline = time.monotonic() + self.timeout
        for attempt in range(_ATTEMPTS):
            remaining = deadline - time.monotonic()
            if remaining < _MIN_ATTEMPT_SECONDS:
                break
            try:
                response = self.session.post(
                    self.url, data=form, headers=self.headers,
                    timeout=(min(self.connect_timeout, remaining), remaining))
            except requests.Timeout:
                failure = EngineTimeout()
            except requests.RequestException as exc:
                log.warning("RapidAPI request failed: %s", exc)
                failure = EngineUnavailable()
            else:
                if response.status_code < 500:
                    return response
                failure = EngineUnavailable(retry_after=_retry_after(response))
            log.warning("RapidAPI attempt %d of %d failed: %s", attempt + 1, _ATTEMPTS,
                        type(failure).__name__)
        raise failure

    @staticmethod
    def _alpha(response: requests.Response) -> Image.Image:
        try:
            encoded = response.json()["response"]["image_base64"]
            cutout = decode(base64.b64decode(encoded, validate=True))
        except (ValueError, KeyError, TypeError, binascii.Error, InvalidImage):
            log.warning("RapidAPI answered without a usable image")
            raise EngineError() from None
        if cutout.mode != "RGBA":
            log.warning("RapidAPI answered with an image without transparency")
            raise EngineError()
        return cutout.getchannel("A")


def _retry_after(response: requests.Response) -> int | None:
    """The service's own Retry-After in seconds, when it gives one (a date, or a wait past
    `_MAX_RETRY_AFTER`, leaves the error's default)."""
    value = response.headers.get("Retry-After", "").strip()
    return int(value) if value.isdigit() and 0 < int(value) <= _MAX_RETRY_AFTER else None
