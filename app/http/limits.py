"""Upload rate limits, per visitor and per client address, shared by every route that makes
a result (uploads, and edits that change how a result looks) and by both doors, so moving
from the page to the API does not start a fresh count.

The core asks for the allowance (`spend`) once it knows what the work will cost (the
photo's pixels, fetched or sent, and a background's: `Work.counts`) and before any of it
starts; what it refuses earlier (a bad field, a full gallery) spends nothing, but for one
count once the photo was read or fetched (too many pixels, a damaged file: `Work.fee`).
Counters live where RATELIMIT_STORAGE_URI says, over a moving window (the last minute,
hour or day, as the settings say).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from flask import Flask, Response, current_app, g, has_request_context, request
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from limits.util import WindowStats

from app.core.errors import Rejected
from app.engines.admission import COUNTING, Work
from app.http.callers import MISSING, Account, caller
from app.http.context import services
from app.http.visitor import current_visitor
from app.metrics import KEY_MEGAPIXELS
from app.storage.keys import ApiKey, today

log = logging.getLogger(__name__)
RATE_LIMITED = ("Too many uploads and edits in a short time. Please wait a minute and try "
                "again.")
KEY_MINUTE = ("This API key has used its {limit} counts for this minute (" + COUNTING
              + "). Please wait and try again.")
DAILY_QUOTA = "daily_quota"  # a key's megapixels for the day: waiting a minute will not do
KEY_DAY = ("This API key has used its {limit} megapixels for the last 24 hours (a photo counts "
           "one per started megapixel). Please wait, or ask the server's operator for a larger "
           "allowance.")
KEY_DAY_WHOLE = ("This photo counts {cost} megapixels (one per started megapixel, a "
                 "background photo's included), more than this API key's {limit} for a whole "
                 "day. Please send a smaller photo, or ask the server's operator for a "
                 "larger allowance.")
# remove.bg's headers, which its clients read (its Ruby gem's RateLimitInfo): where a key's
# minute stands, on every answer to a call with a valid key, at every door that takes keys.
RATE_HEADERS = {
    "X-RateLimit-Limit": "The API key's counts a minute (its `per_minute`).",
    "X-RateLimit-Remaining": "What the key has left of them over the last minute as this "
                             "call ends (calls ending together may say the same); 0 when the "
                             "call was refused for want of room (a 402 or 429 with "
                             "Retry-After).",
    "X-RateLimit-Reset": "When the oldest count used goes and one more is free, in Unix "
                         "time (whole seconds, rounded up); now if none is used; when a "
                         "refused call may be sent again (its Retry-After).",
}
# A dead shared store is looked for again after these many seconds, doubling each time.
_RECHECK_FIRST, _RECHECK_MOST = 1.0, 60.0


class Charge(NamedTuple):
    """What a request takes from one limit."""

    item: RateLimitItem
    key: str  # whose count: "visitor:<id>", "ip:<network>", "key:<name>:minute"
    cost: int
    full: str = RATE_LIMITED  # the sentence when there is no room
    code: str = "rate_limited"
    # The sentence for a cost over the whole limit, refused with no wait (it never fits);
    # None: such a cost takes the whole limit (a count a minute bounds a pace, not a job).
    whole: str | None = None


def _refusal(limiter, charge: Charge) -> Rejected:
    """429 with the wait until there is room: when the oldest count goes, if one count
    more is all it needs; else the whole window (when the newest goes at the latest)."""
    stats = limiter.get_window_stats(charge.item, charge.key)
    until = (stats.reset_time if charge.cost <= stats.remaining + 1
             else time.time() + charge.item.get_expiry())
    wait = max(1, math.ceil(until - time.time()))
    if has_request_context():  # the moment itself, for X-RateLimit-Reset
        g.refused_until = until
    return Rejected(charge.code, charge.full, "quota", retry_after=wait)


class Limits:
    """Both limits over one store. A shared store that is down must not stop uploads: each
    process then counts in its own memory (limits per process, not per cluster) and looks
    for the store again, at growing intervals, until it is back."""

    def __init__(self, uri: str, per_visitor: str, per_address: str):
        options = ({"socket_connect_timeout": 0.3, "socket_timeout": 0.3}
                   if uri.startswith(("redis://", "rediss://")) else {})
        self._shared = MovingWindowRateLimiter(storage_from_string(uri, **options))
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._dead_since: float | None = None
        self._recheck = _RECHECK_FIRST
        self._lock = threading.Lock()
        self.items = (parse(per_visitor), parse(per_address))

    def charge(self, charges: list[Charge], take: bool = True) -> None:
        """Take each charge's cost from its limit (never more than a whole allowance: a
        request that could never fit would be told to wait for nothing; or, for a charge
        with its `whole` sentence, refused with no wait), or `Rejected` 429 with the wait
        until the limit that is full has room, and nothing taken; `take=False` only asks."""
        return self._asked(lambda limiter: self._charge(limiter, charges, take))

    def window(self, item: RateLimitItem, key: str) -> WindowStats:
        """What `item` has left for `key` and when its oldest count goes, in the store
        counted in now (this process's memory, as for a charge, while the shared store is
        down)."""
        return self._asked(lambda limiter: limiter.get_window_stats(item, key))

    def _asked(self, ask: Callable[[MovingWindowRateLimiter], Any]) -> Any:
        """`ask` of the shared store, or of this process's memory once it breaks off."""
        for limiter in self._limiters():
            try:
                return ask(limiter)
            except Rejected:
                raise
            except Exception:  # the shared store broke off: count here from now on
                self._died()

    def _charge(self, limiter: MovingWindowRateLimiter, charges: list[Charge], take: bool):
        for charge in charges:
            if charge.whole and charge.cost > charge.item.amount:
                # A key's whole day charged for a 50 MP job on a 5 MP cap (helper 93).
                raise Rejected(charge.code, charge.whole, "quota")
        capped = [charge._replace(cost=min(charge.cost, charge.item.amount))
                  for charge in charges]
        for charge in capped:
            if not limiter.test(charge.item, charge.key, cost=charge.cost):
                raise _refusal(limiter, charge)
        # hit() checks again, atomically in the store: of requests that passed test()
        # together, those that no longer fit are refused here.
        for charge in capped if take else ():
            if not limiter.hit(charge.item, charge.key, cost=charge.cost):
                raise _refusal(limiter, charge)

    def _limiters(self) -> list[MovingWindowRateLimiter]:
        with self._lock:
            if self._dead_since is None:
                return [self._shared, self._local]
            if time.monotonic() - self._dead_since < self._recheck:
                return [self._local]
            self._dead_since = time.monotonic()
            self._recheck = min(2 * self._recheck, _RECHECK_MOST)
        if not self._shared.storage.check():  # False, never raising, for a store that is down
            return [self._local]
        with self._lock:
            self._dead_since, self._recheck = None, _RECHECK_FIRST
        log.info("Rate limit storage recovered")
        return [self._shared, self._local]

    def _died(self) -> None:
        with self._lock:
            if self._dead_since is None:
                log.warning("Rate limit storage unreachable - falling back to in-memory "
                            "storage")
                self._dead_since = time.monotonic()


class RequestAllowance:
    """The core's `Allowance` for the request being served: for a visitor, the visitor's
    and the client address's limits (a new cookie does not reset the second); for a
    program, its API key's own limits, whichever address it calls from."""

    def check(self, work: Work) -> None:
        _limits().charge(_charges(work), take=False)

    def spend(self, work: Work) -> None:
        _limits().charge(_charges(work))
        key = caller()
        if key is not None and not work.fee:  # a key's usage: what was made for it
            services().keys.used(key, work.pixels / 1e6)
            KEY_MEGAPIXELS.labels(key.name).inc(work.pixels / 1e6)

    def holder(self) -> str:
        key = caller()
        return _address() if key is None else f"key:{key.name}"


allowance = RequestAllowance()


def _limits() -> Limits:
    return current_app.extensions["limits"]


def _charges(work: Work) -> list[Charge]:
    key = caller()
    if key is None:
        per_visitor, per_address = _limits().items
        # The address's first: other visitors fill it between the test and the take, and a
        # charge taken before one refused is not given back (the store has no way to).
        return [Charge(per_address, _address(), work.counts),
                Charge(per_visitor, f"visitor:{current_visitor()}", work.counts)]
    charges = [_minute(key, work.counts)]
    if key.megapixels_per_day and not work.fee:
        # One per started megapixel, as the counts are one per started 4 MP: a photo of
        # 0.1 MP is not free.
        charges.append(_daily(key, max(1, math.ceil(work.pixels / 1e6))))
    return charges


def _address() -> str:
    """The count of the client's network, which a new cookie does not reset."""
    return f"ip:{client_network(request.remote_addr)}"


def _minute(key: ApiKey, cost: int) -> Charge:
    return Charge(parse(f"{key.per_minute} per minute"), f"key:{key.name}:minute", cost,
                  KEY_MINUTE.format(limit=key.per_minute))


def _daily(key: ApiKey, cost: int) -> Charge:
    limit = key.megapixels_per_day
    return Charge(parse(f"{limit} per day"), f"key:{key.name}:day", cost,
                  KEY_DAY.format(limit=limit), DAILY_QUOTA,
                  KEY_DAY_WHOLE.format(cost=cost, limit=limit))


def account() -> Account:
    """The calling key, its usage today and what its daily cap still allows, counted as
    the limit counts (so a client that sees some left is not refused); `Rejected` 401
    when no key was sent."""
    key = caller()
    if key is None:
        raise Rejected("missing_key", MISSING, "unauthorized")
    day = today()
    left = None
    if key.megapixels_per_day:
        daily = _daily(key, 0)
        left = _limits().window(daily.item, daily.key).remaining
    return Account(key, day, services().keys.usage(key, day), left)


def client_network(address: str | None) -> str:
    """Who a client address stands for: itself, or for IPv6 its /64, which one subscriber
    holds whole (counting each of its addresses apart would hand out fresh allowances)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or ""
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _rate_headers(response: Response) -> Response:
    """RATE_HEADERS on every answer to a call with a valid key, refused ones too."""
    key = caller()
    if key is None:
        return response
    minute = _minute(key, 0)
    window = _limits().window(minute.item, minute.key)
    left, reset = window.remaining, window.reset_time
    if left >= key.per_minute:  # nothing used: nothing to wait for (not a minute from now)
        reset = time.time()
    wait = response.headers.get("Retry-After", type=int)
    if response.status_code in (402, 429) and wait is not None:
        # Refused for a limit, whichever (the day's megapixels, a fetch in flight, a job
        # larger than what is left): no room until then, as the refusal says. A client
        # pacing by the headers alone saw room and was refused all day (helper 91). The
        # limit's own moment where it says one: now + the whole seconds of Retry-After
        # could be a second past the Reset the call before was told.
        left, reset = 0, g.get("refused_until", time.time() + wait)
    response.headers.update(zip(RATE_HEADERS, (key.per_minute, left, math.ceil(reset)),
                                strict=True))
    return response


def init_app(app: Flask) -> None:
    settings = app.extensions["services"].settings
    app.extensions["limits"] = Limits(settings.ratelimit_storage_uri,
                                      settings.upload_rate_limit,
                                      settings.upload_rate_limit_ip)
    app.after_request(_rate_headers)
