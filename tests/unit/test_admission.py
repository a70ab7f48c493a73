"""Admission: a turn now, a short wait in line, or `Busy` at once with when to retry; uploads
priced by their pixels. Threads are coordinated with events, never with sleeps."""

import threading

import pytest

from app.engines import admission as module
from app.engines.admission import Admission, Busy, Work

MP = 1_000_000
FIRST = module._FIRST_GUESS  # seconds per priced megapixel before any work is measured


class Holder(threading.Thread):
    """Takes a turn for `pixels` and keeps it until released."""

    def __init__(self, gate: Admission, pixels: int, held: int = 0):
        super().__init__(daemon=True)
        self.gate, self.pixels, self.held = gate, pixels, held
        self.inside, self.release, self.error = threading.Event(), threading.Event(), None

    def run(self):
        try:
            with self.gate.admitted(Work(self.pixels, held=self.held)):
                self.inside.set()
                self.release.wait(30)
        except Busy as exc:
            self.error = exc
            self.inside.set()


def holding(gate, pixels):
    holder = Holder(gate, pixels)
    holder.start()
    return holder


def waiting_count(gate):
    with gate._turns:
        return len(gate._line)


def wait_until(condition):
    done = threading.Event()
    for _ in range(3000):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError("condition never became true")


def test_a_free_slot_is_taken_at_once():
    gate = Admission(slots=1, max_waiting=0, max_wait=0)
    with gate.admitted(Work(MP)):
        pass


def test_work_is_priced_by_its_pixels_and_refined_edges_cost_twice():
    assert [Work(pixels).megapixels for pixels in (0, MP, 49 * MP)] == [2.0, 3.0, 51.0]
    assert Work(12 * MP, refine=True).megapixels == 26.0


def test_extra_work_is_priced_as_pixels_beside_refined_edges_and_not_held_ones():
    assert Work(12 * MP, extra=36 * MP).megapixels == 50.0  # 2 + 12 + 36
    assert Work(12 * MP, refine=True, extra=36 * MP).megapixels == 62.0  # 2 + 24 + 36
    assert Work(MP, held=3 * MP, extra=3 * MP).megapixels == 9.0  # 2 + 4 + 3


@pytest.mark.parametrize(("work", "counts"), [
    (Work(4_000_000, extra=12_000_000), 4), (Work(4_000_000, extra=12_000_001), 5),
    (Work(1_000_000, refine=True, extra=2_000_000), 1),  # 2 × 1 MP + 2 MP: one block
    (Work(1_000_000, refine=True, extra=2_000_001), 2),
    (Work(2_000_000, remade=True, extra=6_000_000), 1),  # (2 + 6) MP × 0.5: one block
    (Work(2_000_000, remade=True, extra=6_000_001), 2),
    (Work(1, extra=3, held=40 * MP), 1)])
def test_extra_work_counts_as_pixels_in_the_started_blocks(work, counts):
    assert work.counts == counts


@pytest.mark.parametrize(("pixels", "refine", "counts"), [
    (0, False, 1), (1, False, 1), (4_000_000, False, 1), (4_000_001, False, 2),
    (4000 * 3000, False, 3), (4000 * 3001, False, 4), (49_700_000, False, 13),
    (2_000_000, True, 1), (2_000_001, True, 2), (4000 * 3000, True, 6)])
def test_a_rate_limit_counts_one_per_started_4_megapixels_of_work(pixels, refine, counts):
    assert Work(pixels, refine).counts == counts


def test_others_wait_in_line_and_go_in_order():
    gate = Admission(slots=1, max_waiting=2, max_wait=60)
    first = holding(gate, MP)
    first.inside.wait(10)
    second, third = Holder(gate, MP), Holder(gate, MP)
    second.start()
    wait_until(lambda: waiting_count(gate) == 1)
    third.start()
    wait_until(lambda: waiting_count(gate) == 2)
    first.release.set()
    second.inside.wait(10)
    assert second.inside.is_set() and not third.inside.is_set()  # first come, first served
    second.release.set()
    third.inside.wait(10)
    third.release.set()
    for holder in (first, second, third):
        holder.join(10)
        assert holder.error is None


@pytest.mark.parametrize("second, together", [(20 * MP, True), (20 * MP + 1, False)])
def test_jobs_share_a_turn_only_while_their_pixels_fit_in_the_largest_ones(second, together):
    """Two slots, room for 50 MP: a 30 MP job and one of exactly 20 MP run at once; one a
    pixel larger waits with a slot free, and starts when the first ends (helper 79: two
    50 MP jobs in one worker's slots took it to 1.7-1.9 GB)."""
    gate = Admission(slots=2, max_waiting=1, max_wait=60, pixels_at_once=50 * MP)
    first = holding(gate, 30 * MP)
    first.inside.wait(10)
    other = holding(gate, second)
    if together:
        other.inside.wait(10)
    else:
        wait_until(lambda: waiting_count(gate) == 1)
        assert not other.inside.wait(0.2) and gate._free == 1
        first.release.set()
        other.inside.wait(10)
    assert other.inside.is_set() and gate._pixels == (30 * MP + second if together else second)
    first.release.set()
    other.release.set()
    for holder in (first, other):
        holder.join(10)
        assert holder.error is None
    assert gate._pixels == 0 and gate._free == 2


def test_a_job_without_room_is_told_the_wait_for_all_the_work_in_hand():
    """Beside a 40 MP job (42 priced MP, 3.36 s at 0.08 s each) in one of two slots, a 1 MP
    job starts at once; a 20 MP one has no room, so its wait is all 3.36 s, not half, and a
    3 s bound refuses it."""
    gate = Admission(slots=2, max_waiting=10, max_wait=3, pixels_at_once=50 * MP)
    big = holding(gate, 40 * MP)
    big.inside.wait(10)
    with gate.admitted(Work(MP), learn=False):  # its time would change the estimate
        pass
    assert gate._wait() == pytest.approx(42 * FIRST / 2) == pytest.approx(1.68)
    assert gate._wait(20 * MP) == pytest.approx(3.36)
    with pytest.raises(Busy) as caught, gate.admitted(Work(20 * MP)):
        pass
    assert caught.value.retry_after == 4
    big.release.set()
    big.join(10)


def test_a_job_larger_than_the_room_runs_alone_and_one_without_a_place_is_told_at_once():
    gate = Admission(slots=2, max_waiting=0, max_wait=60, pixels_at_once=50 * MP)
    big = holding(gate, 60 * MP)
    big.inside.wait(10)
    small = holding(gate, 1)  # a slot free, but no room, and no place in line: told at once
    small.join(10)  # not after waiting out its turn (2 × max_wait)
    assert not small.is_alive() and isinstance(small.error, Busy)
    big.release.set()
    big.join(10)
    with gate.admitted(Work(25 * MP)), gate.admitted(Work(25 * MP)):
        assert gate._pixels == 50 * MP


def test_a_full_line_answers_busy_at_once_with_the_predicted_wait():
    gate = Admission(slots=1, max_waiting=1, max_wait=60)
    first = holding(gate, MP)
    first.inside.wait(10)
    second = holding(gate, MP)
    wait_until(lambda: waiting_count(gate) == 1)
    with pytest.raises(Busy) as caught, gate.admitted(Work(MP)):
        pass
    # Two 1 MP uploads ahead (3 priced MP each) at the first guess of 0.08 s per MP: 0.48 s,
    # told as the least wait, a second.
    assert (FIRST, caught.value.retry_after) == (0.08, 1)
    first.release.set()
    second.inside.wait(10)
    second.release.set()
    for holder in (first, second):
        holder.join(10)


def test_a_big_photo_ahead_makes_a_small_one_come_back_later():
    """The wait is the pixels ahead, not the count: behind a 49 MP photo (51 priced MP,
    4.08 s at 0.08 s each) a 4 s bound refuses; behind a 1 MP one (0.24 s) it waits."""
    gate = Admission(slots=1, max_waiting=10, max_wait=4)
    big = holding(gate, 49 * MP)
    big.inside.wait(10)
    assert gate._wait() == pytest.approx(51 * FIRST) == pytest.approx(4.08)
    with pytest.raises(Busy) as caught, gate.admitted(Work(MP)):
        pass
    assert caught.value.retry_after == 5
    big.release.set()
    big.join(10)
    small = holding(gate, MP)
    small.inside.wait(10)
    waiter = holding(gate, MP)
    wait_until(lambda: waiting_count(gate) == 1)
    small.release.set()
    waiter.inside.wait(10)
    waiter.release.set()
    for holder in (small, waiter):
        holder.join(10)
    assert waiter.error is None


def test_a_turn_that_does_not_come_in_time_is_busy(monkeypatch):
    gate = Admission(slots=1, max_waiting=1, max_wait=0.05)
    holder = holding(gate, 0)
    holder.inside.wait(10)
    monkeypatch.setattr(module, "_FIXED_MEGAPIXELS", 0.0)  # a wait predicted as none
    gate._working = 0.0
    with pytest.raises(Busy), gate.admitted(Work(0)):
        pass
    assert waiting_count(gate) == 0  # it left the line
    holder.release.set()
    holder.join(10)  # before the next test fakes the clock its turn's end reads


def test_the_time_per_megapixel_is_learned_from_the_work(monkeypatch):
    clock = iter([100.0, 103.0])  # a 1 MP upload (3 priced MP) that took 3 s: 1 s per MP
    monkeypatch.setattr(module.time, "monotonic", lambda: next(clock))
    gate = Admission(slots=1, max_waiting=0, max_wait=60)
    with gate.admitted(Work(MP)):
        pass
    assert gate._seconds_per_mp == pytest.approx(FIRST + 0.2 * (1.0 - FIRST))


def test_the_models_inference_is_priced_but_teaches_as_the_pixels_work_does(monkeypatch):
    """A 1 MP photo whose mask u2net makes (18 MP's worth of inference): 21 priced MP, and
    what it took (4.2 s: 0.2 s per MP) learned with a 1 MP photo's weight, 0.2."""
    clock = iter([100.0, 104.2])
    monkeypatch.setattr(module.time, "monotonic", lambda: next(clock))
    work = Work(MP, inference=18.0)
    assert (work.megapixels, work.counts, work.worked) == (21.0, 1, MP)  # priced, not paid
    gate = Admission(slots=1, max_waiting=0, max_wait=60)
    with gate.admitted(work):
        pass
    assert gate._seconds_per_mp == pytest.approx(FIRST + 0.2 * (0.2 - FIRST))


def test_larger_work_teaches_the_time_per_megapixel_more(monkeypatch):
    """As the time of more pixels: a 4 MP photo's 6 priced MP weigh as two 1 MP photos'
    (1 - 0.8 ** 2 = 0.36), and a 49.8 MP photo over a background, refined, almost alone."""
    clock = iter([100.0, 103.0, 200.0, 204.0])  # 6 MP in 3 s (0.5 s per MP); 201.2 MP in 4 s
    monkeypatch.setattr(module.time, "monotonic", lambda: next(clock))
    gate = Admission(slots=1, max_waiting=0, max_wait=60)
    with gate.admitted(Work(4 * MP)):
        pass
    learned = FIRST + 0.36 * (0.5 - FIRST)
    assert gate._seconds_per_mp == pytest.approx(learned)
    with gate.admitted(Work(2 * 49_800_000, refine=True)):  # 201.2 priced MP
        pass
    weight = 1 - 0.8 ** (201.2 / 3)
    assert gate._seconds_per_mp == pytest.approx(learned + weight * (4 / 201.2 - learned))
    assert gate._seconds_per_mp == pytest.approx(4 / 201.2, rel=1e-5)


def test_time_set_aside_in_a_turn_is_not_learned(monkeypatch):
    """A model loaded on its first use (LocalModels.engine) says nothing of what a photo
    takes: 3 s of work learned, 20 s of loading not."""
    clock = iter([100.0, 101.0, 121.0, 123.0])
    monkeypatch.setattr(module.time, "monotonic", lambda: next(clock))
    gate = Admission(slots=1, max_waiting=0, max_wait=60)
    with gate.admitted(Work(MP)), module.aside():
        pass
    learned = FIRST + 0.2 * (1.0 - FIRST)
    assert gate._seconds_per_mp == pytest.approx(learned)
    clock = iter([200.0, 203.0])  # the next turn on this thread: all of its 3 s learned
    with gate.admitted(Work(MP)):
        pass
    assert gate._seconds_per_mp == pytest.approx(learned + 0.2 * (1.0 - learned))


def test_work_that_failed_does_not_teach_the_time_per_megapixel(monkeypatch):
    """A photo damaged in its data fails in a moment: learned, a few of them sent on purpose
    would make the line look empty whatever waits in it."""
    clock = iter([100.0, 100.01])
    monkeypatch.setattr(module.time, "monotonic", lambda: next(clock))
    gate = Admission(slots=1, max_waiting=0, max_wait=60)
    with pytest.raises(ValueError), gate.admitted(Work(MP)):
        raise ValueError("damaged")
    assert gate._seconds_per_mp == FIRST  # the first guess, unchanged
    assert gate._free == 1  # and the turn given back


def test_work_that_is_not_an_upload_does_not_teach_the_time_per_megapixel(monkeypatch):
    """Thumbnails of a stored photo are priced at its pixels but decoded at a fraction:
    their quick turns must not make uploads look quicker than they are."""
    clock = iter([100.0, 100.1])
    monkeypatch.setattr(module.time, "monotonic", lambda: next(clock))
    gate = Admission(slots=1, max_waiting=0, max_wait=60)
    with gate.admitted(Work(12 * MP), learn=False):
        pass
    assert gate._seconds_per_mp == FIRST  # the first guess, unchanged


@pytest.mark.parametrize("max_image_pixels", [1_000_000, 50_000_000])
def test_a_workers_room_is_its_largest_photo(settings, max_image_pixels):
    """The app's line holds its jobs to the pixels of one of the largest photos taken."""
    from app.engines import build_runner

    runner = build_runner(settings.changed(engine_concurrency=2,
                                           max_image_pixels=max_image_pixels))
    assert (runner.admission.slots, runner.admission.pixels_at_once) == (2, max_image_pixels)


def test_a_webps_encoder_holds_room_so_two_of_the_largest_never_share_a_turn():
    """Two 16 MP WebPs of random-bit transparency at once took a worker past its budget
    (helper 90): each holds 1.6 times its pixels of the room, and is priced as before."""
    from app.core.forms import OutputOptions
    from app.core.results import priced

    webp = priced(OutputOptions(format="webp"), 16 * MP)
    assert (webp.worked, webp.megapixels, webp.counts) == (25_600_000, 66.0, 16)
    assert priced(OutputOptions(format="webp", crop=True), 49 * MP).worked == 58_600_000
    gate = Admission(slots=2, max_waiting=0, max_wait=60, pixels_at_once=50 * MP)
    holder = Holder(gate, webp.pixels, held=webp.buffered)
    holder.start()
    holder.inside.wait(10)
    with pytest.raises(Busy):
        gate.check(webp)
    with pytest.raises(Busy):
        gate.check(priced(OutputOptions(), 24_400_001))
    gate.check(priced(OutputOptions(), 24_400_000))  # a PNG of the room left may start
    holder.release.set()
    holder.join(10)
    gate.check(webp)


def test_the_room_counts_the_pixels_a_job_holds_not_the_ones_it_is_priced_at():
    """Two 50 MP PNGs at size=preview: priced 0.25 MP each, decoded whole. They shared a
    turn (+811 MB, helper 87); now the second has no room beside the first."""
    gate = Admission(slots=2, max_waiting=0, max_wait=60, pixels_at_once=50_000_000)
    preview = Work(250_000, held=49_750_000)
    # Beside the first: another preview; beside a 1 MP upload, whose room it would share.
    for first, fits in ((preview, Work(0)), (Work(1_000_000), Work(49_000_000))):
        holder = Holder(gate, first.pixels, held=first.held)
        holder.start()
        holder.inside.wait(10)
        with pytest.raises(Busy):
            gate.check(preview)
        gate.check(fits)  # what fits beside it may still start
        holder.release.set()
        holder.join(10)
    gate.check(preview)
