"""A fake resolver for the unit tests of photos by URL: no DNS, yet every lookup is
recorded; and the refusal a fetch must end in."""

from __future__ import annotations

import socket

import pytest

from app.core.errors import Rejected
from app.core.fetching import CODES, fetch


class Resolver:
    """A fake getaddrinfo: each call answers the next of `answers` (the last one again when
    they run out), or raises it when it is an exception."""

    def __init__(self, *answers):
        self.answers, self.calls = list(answers), []

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):
        self.calls.append((host, port))
        answer = self.answers[min(len(self.calls), len(self.answers)) - 1]
        if isinstance(answer, BaseException):
            raise answer
        return [(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (ip, port, 0, 0) if ":" in ip else (ip, port)) for ip in answer]


def refused(url, resolver=None, **options) -> Rejected:
    options.setdefault("max_bytes", 1024)
    with pytest.raises(Rejected) as caught:
        fetch(url, resolver=resolver or Resolver(), **options)
    assert caught.value.kind == CODES[caught.value.code][0]
    return caught.value
