"""The photos of a plan made by a sender in parallel threads: each output written whole
(files.Writer), an output already whole skipped, a busy answer waited out and the same
photo sent again (at most `max_wait` seconds per photo, and LOST_TIMES sends the server lost),
every failure kept with its reason;
a progress bar on stderr with the rate and the time left, and a summary at the end."""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field

import click

from app.batch.files import NOT_REGULAR, Job, Plan, Writer, is_done, is_regular, sweep
from app.batch.senders import Failed, Wait
from app.images.outputs import ACCEPTED_TEXT

Sender = Callable[[bytes, str], bytes]
# A photo the server lost this many times fails (senders.LOST): enough for the front's 502s
# through a restart of the app (Retry-After 10 s, a restart ~20-30 s), few enough that a
# photo that kills the app is not sent until --max-wait runs out.
LOST_TIMES = 5


@dataclass
class Tally:
    made: int = 0
    skipped: int = 0  # already done by an earlier run
    failed: list[tuple[str, str]] = field(default_factory=list)  # (photo, reason)
    not_images: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    left_in_model: bool = False  # a second Ctrl+C stopped waiting for the photos in it

    def summary(self) -> str:
        rate = self.made / self.seconds if self.seconds else 0.0
        lines = [f"{'Stopped' if self.interrupted else 'Done'} in {self.seconds:.1f} s: "
                 f"made {self.made} ({rate:.2f} photos/s), skipped {self.skipped} already "
                 f"made, failed {len(self.failed)}."]
        if not (self.made or self.skipped or self.failed or self.interrupted):
            lines.append(f"No {ACCEPTED_TEXT} photo was found in what was given.")
        if self.not_images:
            lines.append(f"Left alone {self.not_images} file(s) that are not "
                         f"{ACCEPTED_TEXT} images.")
        if self.failed:
            lines.append("Failed:")
            lines += [f"  {photo}: {reason}" for photo, reason in self.failed]
        return "\n".join(lines)


MIN_PAUSE = 1.0  # seconds, the least a photo waits before it is sent again


class Runner:
    def __init__(self, send: Sender, *, threads: int = 1, max_wait: float = 300.0,
                 progress: bool = True, finish_on_stop: bool = False):
        self.send, self.threads, self.max_wait = send, threads, max_wait
        self.progress, self.finish_on_stop = progress, finish_on_stop
        self.stop, self.writer = threading.Event(), Writer()
        # A server that cannot be reached is one outage for every photo, waited for once:
        # each photo waiting its own --max-wait, four at a time, took a 32-photo run 403 s
        # to give up (at 60 s), saying nothing meanwhile.
        self._down_since: float | None = None
        self._given_up = False
        self._down_lock = threading.Lock()
        self.notices: queue.Queue[str] = queue.Queue()  # said on stderr by the main thread

    def pause(self, seconds: float) -> None:
        """A wait the server asked for, cut short when the run is stopped."""
        self.stop.wait(seconds)

    def _outage(self, reason: str) -> float | None:
        """What is left of --max-wait for a server that cannot be reached, counted from the
        first photo to find it so (said then, on stderr); None once it is spent."""
        with self._down_lock:
            now = time.monotonic()
            if self._down_since is None:
                self._down_since, self._given_up = now, False
                self.notices.put(f"{reason[0].upper()}{reason[1:]}: waiting for it, up to "
                                 f"--max-wait ({self.max_wait:.0f} s).")
            left = self.max_wait - (now - self._down_since)
            if left > 0:
                return left
            if not self._given_up:
                self._given_up = True
                self.notices.put(f"Gave up waiting for the server after "
                                 f"{now - self._down_since:.0f} s: each photo left is tried "
                                 "once.")
            return None

    def _answered(self, sent_at: float) -> None:
        """An answer to a send that left at `sent_at`: the server is back, unless it left
        before the outage began (a request the server finished as it went down)."""
        with self._down_lock:
            if self._down_since is not None and sent_at > self._down_since:
                self._down_since = None
                self.notices.put("The server answers again.")

    def one(self, job: Job) -> tuple[str, str]:
        """("made" | "skipped" | "failed", the reason of a failure)."""
        sweep(job.target)
        if is_done(job.target):
            return "skipped", ""
        if not is_regular(job.source):  # replaced by a FIFO since the plan: would hang
            return "failed", NOT_REGULAR
        try:
            data = job.source.read_bytes()
        except OSError as exc:
            return "failed", f"could not be read ({exc.strerror or exc})"
        waited, lost = 0.0, 0
        while not self.stop.is_set():
            sent_at = time.monotonic()
            try:
                result = self.send(data, job.source.name)
            except Failed as exc:
                self._answered(sent_at)
                return "failed", str(exc)
            except Wait as exc:
                # At least a second: a server answering `Retry-After: 0` or a date past
                # was asked again at once, without end, since --max-wait counts what is waited.
                seconds = max(exc.seconds, MIN_PAUSE)
                if not exc.down:
                    if exc.sent:  # a wait before sending says nothing of the server
                        self._answered(sent_at)
                elif (left := self._outage(exc.reason)) is None:
                    return "failed", (f"{exc.reason} (gave up: the server has not answered "
                                      f"for --max-wait, {self.max_wait:.0f} s)")
                else:  # never past the outage's --max-wait: the run waits it all
                    seconds = min(seconds, left)
                lost += exc.lost
                if lost == LOST_TIMES:
                    return "failed", (f"{exc.reason} (the server lost this photo {lost} "
                                      "times: it may be what stops the app)")
                if waited + seconds > self.max_wait:
                    # The next wait is said too: a Retry-After may ask for more than the
                    # photo has left, and then it gives up before waiting at all.
                    return "failed", (f"{exc.reason} (gave up after waiting {waited:.0f} s "
                                      f"in all: {seconds:.0f} s more would pass "
                                      f"--max-wait, {self.max_wait:.0f} s)")
                self.pause(seconds)
                waited += seconds
                continue
            self._answered(sent_at)
            try:
                self.writer.write(job.target, result)
            except InterruptedError:
                break
            except OSError as exc:
                return "failed", f"{job.target} could not be written ({exc.strerror or exc})"
            return "made", ""
        return "stopped", ""

    def run(self, plan: Plan) -> Tally:
        tally = Tally(failed=list(plan.refused), not_images=plan.not_images)
        todo, done = queue.Queue(), queue.Queue()
        for index, job in enumerate(plan.jobs):
            todo.put((index, job))

        def work() -> None:
            while not self.stop.is_set():
                try:
                    index, job = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    outcome = self.one(job)
                except Exception as exc:  # a bug: this photo fails, the run goes on
                    outcome = ("failed", f"unexpected {type(exc).__name__}: {exc}")
                done.put((index, job, outcome))

        started, failures = time.monotonic(), []

        def count(index: int, job: Job, outcome: str, reason: str) -> None:
            if outcome == "made":
                tally.made += 1
            elif outcome == "skipped":
                tally.skipped += 1
            elif outcome == "failed":
                failures.append((index, str(job.source), reason))

        bar = click.progressbar(length=len(plan.jobs), label="Removing backgrounds",
                                file=sys.stderr, hidden=not self.progress, show_pos=True,
                                show_eta=True, item_show_func=lambda x: x)
        workers = [threading.Thread(target=work, daemon=True)
                   for _ in range(min(self.threads, len(plan.jobs)))]
        drawn = self.progress and sys.stderr.isatty()  # as the bar is

        def say() -> None:
            while not self.notices.empty():
                if drawn:  # off the bar's line, which is drawn again after
                    click.echo(err=True)
                click.echo(self.notices.get_nowait(), err=True)

        try:  # from the first thread on: a Ctrl+C as they start still cleans up
            for worker in workers:
                worker.start()
            with bar:
                for _ in plan.jobs:
                    index, job, (outcome, reason) = _next(done, say)
                    count(index, job, outcome, reason)
                    elapsed = time.monotonic() - started
                    rate = f"{tally.made / elapsed:.2f} photos/s" if elapsed else ""
                    if outcome == "skipped":
                        # Made by an earlier run, it leaves the count: counted as a step,
                        # its instant check made a resumed run's time left far too short.
                        bar.length -= 1
                        bar.finished = bar.pos >= bar.length
                        bar.current_item = rate
                        bar.render_progress()
                    else:
                        bar.update(1, rate)
                say()
        except KeyboardInterrupt:
            tally.interrupted = True
            self.stop.set()
            self.writer.abandon()  # what is being written now is deleted, not left half-way
            if self.finish_on_stop:
                tally.left_in_model = not _finish(workers)
            while not done.empty():  # finished before the stop, not yet counted
                index, job, (outcome, reason) = done.get_nowait()
                count(index, job, outcome, reason)
            say()
        tally.failed += [(shown, reason) for _, shown, reason in sorted(failures)]
        tally.seconds = time.monotonic() - started
        return tally


def _finish(workers: list[threading.Thread]) -> bool:
    """Wait for the photos being made to be done with; False when a second Ctrl+C stopped
    the wait first."""
    running = [worker for worker in workers if worker.is_alive()]
    if running:
        click.echo(f"Stopping: the {len(running)} photo(s) being made finish first "
                   "(Ctrl+C again to stop now).", err=True)
    with suppress(KeyboardInterrupt):
        for worker in running:
            while worker.is_alive():
                worker.join(0.2)
        return True
    return False


def _next(done: queue.Queue, between: Callable[[], None]):
    """The next outcome; waits in short steps, so Ctrl+C is seen at once, and calls
    `between` at each."""
    while True:
        between()
        with suppress(queue.Empty):
            return done.get(timeout=0.2)
