"""The hand-made mutants (scripts/mutants.py) still stand for the code: each one's line is
in its file exactly once. A line changed by a refactor left two of them mutating nothing,
counted as killed until the next run said "stale" (found on 2026-12-07). The mutation run
itself leaves this file out (scripts/mutants.py `IGNORED`): every mutant fails it."""

from pathlib import Path

from scripts.mutants import MUTANTS

ROOT = Path(__file__).resolve().parents[2]


def test_every_mutants_line_is_in_its_file_once():
    counts = {m.id: (ROOT / m.file).read_text().count(m.old) for m in MUTANTS}
    assert {name: n for name, n in counts.items() if n != 1} == {}


def test_every_mutant_has_its_own_name():
    names = [m.id for m in MUTANTS]
    assert len(names) == len(set(names))
