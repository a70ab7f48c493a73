"""Who may work on a photo now, who may wait for a turn, and who is told to come back.

A process works on `slots` photos at once (each holds a photo's worth of memory and a core).
Others wait in line, first come first served, but only when they can start soon: an upload
is priced by its pixels and its model's inference (`Work.megapixels`), the wait
it would have is predicted from the work ahead of it and the time work has been taking, and
if that is longer than `max_wait` seconds, or `max_waiting` uploads already wait, it is
refused at once with the predicted wait as the time to retry. Waiting uploads hold request
threads, so this bound keeps threads free for pages, downloads and health probes; uploads
whose photo is being fetched from another server hold one too, and take places in the same
line (`place`).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from app.engines import runtimes
from app.images.outputs import ENCODING_COST
from app.metrics import UPLOADS_WAITING

# Priced megapixels of a photo: its pixels plus a fixed part (what a job costs whatever
# its size: 25-33 ms of an upload beside the model's inference, 1.5-2.0 MP's worth of its
# per-pixel work, bench/prices.py with either runtime), plus the model's own 320×320
# inference when one runs (`Work.inference`, the model's `inference_megapixels`).
_FIXED_MEGAPIXELS = 2.0
# Refined edges: the matte and the colour clean-up roughly double the per-pixel work of
# composing and encoding (docs/scaling.md). Measured for issue 20's matte through cut_out
# (u2netp, interleaved, medians of 7): the factor that prices a refined result at its time
# was 1.9-2.1 at 12 MP and 1.8-3.6 at 1.5 MP (docs/quality.md).
REFINE_FACTOR = 2.0
# Seconds per priced megapixel before any work has been measured: near the slowest machine
# measured (about 0.09; 0.016 on the machine of 2026-12-07, bench/prices.py), as a guess
# too short lets a first burst into a line it cannot serve in time. Learned as work is done.
_FIRST_GUESS = 0.08
# Weight of the newest measurement in the running estimate, for a 1 MP photo's priced work;
# larger work weighs more, as the time of more pixels (1 - 0.8 ** (priced MP / 3)): a
# 49.8 MP photo over a background, refined, took 4 s where every job before it had been
# small, and, weighed as one of them, left the estimate at 0.13 s a megapixel, 6 times
# its own 0.02 (the wait it told its neighbours: 26 s).
_LEARNING = 0.2
_LEARNED_PER = _FIXED_MEGAPIXELS + 1.0
# The rate limits count one per started 4 megapixels of work: a phone photo (12.2 MP) counts
# 4, a 49 MP one 13, so big photos cannot take a limit's worth of work each.
PIXELS_PER_COUNT = 4_000_000
# A new look of a record, from its kept mask, without the model: half an upload's count.
# Measured through the app (u2netp, medians of 5): 0.50 of the upload's time at 12 MP, 0.21
# at 1 MP; refined, 0.77 and 0.64. Priced as uploads, five looks of a phone photo used up a
# visitor's minute (helper 77).
REMADE_SHARE = 0.5
# The counting as a key's owner is told it: the API's document, `keys create --help`, a
# key's 429 (a visitor's own limit is told in docs/api.md).
COUNTING = (f"one per started {PIXELS_PER_COUNT / 1e6:g} megapixels of work: a photo's and "
            f"its background photo's, × {REFINE_FACTOR:g} with refined edges, plus "
            f"{ENCODING_COST['webp'] - 1:g} × the result's as a WebP, and × {REMADE_SHARE:g} "
            "for a new look of a record")
# Per request thread: seconds of the turn it holds that say nothing of what work takes.
_ASIDE = threading.local()


@dataclass(frozen=True)
class Work:
    """One job's size, known before it starts, and its price everywhere it is priced: a
    photo's pixels (sent, fetched or stored) plus a background photo's, whether the edges
    are refined, and whether it is `remade` from a record's kept mask (a new look), which
    the rate limits count at REMADE_SHARE; or a refused request's `fee` (core/results.py
    `Paying`), one count of a minute's limits and none of a key's megapixels."""

    pixels: int
    refine: bool = False
    remade: bool = False
    fee: bool = False
    # Pixels decoded beyond `pixels`, which the client is not charged for: a photo scaled
    # down to a removal's size is decoded whole first (a PNG or WebP), and two 50 MP PNGs
    # at size=preview shared a turn as 0.25 MP each, +811 MB (helper 87).
    held: int = 0
    # Pixels' worth of work beside the pixels' own, priced as pixels by the line and the
    # limits alike: a dearer encoder's (outputs.ENCODING_COST − 1 times the result's
    # pixels, not a background's): a 16 MP WebP was priced as a PNG and took 4-6 times
    # its CPU (helper 87).
    extra: int = 0
    # Pixels' worth of memory an encoder holds beyond the pixels' own, which the room
    # counts and the price does not: a WebP's (outputs.ENCODER_ROOM).
    buffered: int = 0
    # Megapixels' worth of the model's one inference, which any size of photo costs: the
    # runner adds it for a mask a model makes here (engines/runner.py). Left out, a 1 MP
    # upload with u2net was priced at 3 MP and took as long as 21 MP of work around the
    # model; the line over-told the wait behind a large photo by twice.
    inference: float = 0.0

    @property
    def worked(self) -> int:
        """The pixels the work holds in memory at once: the admission's room counts these."""
        return self.pixels + self.held + self.buffered

    @property
    def megapixels(self) -> float:
        """Priced megapixels: the admission's measure of work."""
        factor = REFINE_FACTOR if self.refine else 1.0
        return (_FIXED_MEGAPIXELS + self.inference
                + (factor * (self.pixels + self.held) + self.extra) / 1e6)

    @property
    def counts(self) -> int:
        """What it takes from a rate limit: one per started 4 MP of work, at least one."""
        refine = REFINE_FACTOR if self.refine else 1.0
        share = REMADE_SHARE if self.remade else 1.0
        return max(1, math.ceil((refine * self.pixels + self.extra) * share / PIXELS_PER_COUNT))


@contextmanager
def aside() -> Iterator[None]:
    """Time spent inside, within a turn, is left out of what the admission learns: a 1 MP
    photo's first upload with u2net, then with u2netp, each loading its model, took the
    estimate to 0.21 s a megapixel, where their work alone gave 0.15 (and a warm 1 MP
    upload takes 0.05)."""
    started = time.monotonic()
    try:
        yield
    finally:
        _ASIDE.seconds = getattr(_ASIDE, "seconds", 0.0) + time.monotonic() - started


class Busy(Exception):
    """No turn soon: try again in `retry_after` seconds. Nothing was done."""

    def __init__(self, retry_after: int):
        super().__init__(f"busy, retry after {retry_after} s")
        self.retry_after = retry_after


class Admission:
    def __init__(self, slots: int, max_waiting: int, max_wait: float,
                 pixels_at_once: int | None = None):
        self.slots, self.max_waiting, self.max_wait = slots, max_waiting, max_wait
        # A worker's memory is measured for one job of the largest photo over a background
        # as large (tests/system/test_memory.py). Jobs share a turn only while their pixels
        # fit in one photo's limit: half that job's, as a photo is decoded, masked and
        # refined where a background is only scaled behind it, so that two refined photos
        # of the limit never share. Two 50 MP jobs in two slots took 1.7-1.9 GB (helper 79).
        self.pixels_at_once = pixels_at_once
        self._pixels = 0  # of the jobs being worked on
        self._turns = threading.Condition()
        self._free = slots
        self._line: deque[tuple[object, float]] = deque()  # (ticket, priced MP), in order
        self._elsewhere = 0  # places held by uploads waiting on another server
        self._working = 0.0  # priced MP being worked on
        self._seconds_per_mp = _FIRST_GUESS

    def _wait(self, pixels: int = 0) -> float:
        """Seconds until a new upload of `pixels` would start: the work ahead, spread over
        the slots, or all of it when the upload has no room beside the work in hand."""
        ahead = self._working + sum(cost for _, cost in self._line)
        return ahead * self._seconds_per_mp / (self.slots if self._room(pixels) else 1)

    def check(self, work: Work) -> None:
        """`Busy` now if `work` would be refused a place in line (before anything is spent
        on it, such as the visitor's rate-limit allowance)."""
        with self._turns:  # reentrant: `admitted` calls this holding it
            if self._free == 0 or self._line or not self._room(work.worked):  # else it starts
                wait = self._wait(work.worked)
                if len(self._line) + self._elsewhere >= self.max_waiting or wait > self.max_wait:
                    raise Busy(_seconds(wait))

    @contextmanager
    def place(self) -> Iterator[None]:
        """A place in line for an upload waiting on another server (its photo being
        fetched): it holds a request thread as a waiting upload does, so it counts against
        `max_waiting`; `Busy` at once when no place is free."""
        with self._turns:
            if len(self._line) + self._elsewhere >= self.max_waiting:
                raise Busy(_seconds(self._wait()))
            self._elsewhere += 1
        try:
            yield
        finally:
            with self._turns:
                self._elsewhere -= 1
                self._turns.notify_all()

    @contextmanager
    def admitted(self, work: Work, learn: bool = True,
             pay: Callable[[Work], None] | None = None) -> Iterator[None]:
        """Do `work` inside the block, or raise `Busy` (at once when the wait would be too
        long, or if the turn does not come within twice that long). `pay` is given the
        work once it holds its place in line, so a refusal at once spends nothing.
        `learn=False` for work that is not an upload's (thumbnails of a stored image): it
        waits its turn like one, but its time says nothing of what an upload takes."""
        cost = work.megapixels
        ticket = object()
        with self._turns:
            self.check(work)
            self._line.append((ticket, cost))
        try:
            if pay is not None:
                pay(work)
            with self._turns:
                self._wait_for(ticket, work.worked)
                self._free -= 1
                self._working += cost
                self._pixels += work.worked
        finally:
            with self._turns:
                self._line.remove(next(entry for entry in self._line if entry[0] is ticket))
                self._turns.notify_all()
        started, finished = time.monotonic(), False
        _ASIDE.seconds = 0.0
        try:
            with runtimes.room_for(work.worked):  # a large job's memory, once its turn came
                yield
            finished = True
        finally:
            elapsed = max(0.0, time.monotonic() - started - _ASIDE.seconds)
            with self._turns:
                self._free += 1
                self._working -= cost
                self._pixels -= work.worked
                # Work that failed says nothing of the time work takes: a photo damaged in
                # its data fails at once, and a few sent on purpose would make the line
                # look empty.
                if learn and finished:
                    # As evidence, a job weighs by the work its pixels make: the model's
                    # inference is as long for every photo.
                    weight = 1 - (1 - _LEARNING) ** ((cost - work.inference) / _LEARNED_PER)
                    self._seconds_per_mp += weight * (elapsed / cost - self._seconds_per_mp)
                self._turns.notify_all()

    def _room(self, pixels: int) -> bool:
        return (self._pixels == 0 or self.pixels_at_once is None
                or self._pixels + pixels <= self.pixels_at_once)

    def _turn(self, ticket: object, pixels: int) -> bool:
        """Whether `ticket`'s turn has come: first in line, a slot free, and room."""
        return self._free > 0 and self._line[0][0] is ticket and self._room(pixels)

    def _wait_for(self, ticket: object, pixels: int) -> None:
        """Wait (the lock held) until `ticket`'s turn has come."""
        if self._turn(ticket, pixels):
            return
        UPLOADS_WAITING.inc()
        deadline = time.monotonic() + 2 * self.max_wait
        try:
            while not self._turn(ticket, pixels):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Busy(_seconds(self._wait()))
                self._turns.wait(remaining)
        finally:
            UPLOADS_WAITING.dec()


def _seconds(wait: float) -> int:
    return max(1, min(120, math.ceil(wait)))
