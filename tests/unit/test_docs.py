"""The docs hold together: README.md stays a front page, every relative link in it and in
docs/ leads to a file and heading that exist, and the benchmarks find the blocks they write."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Pages written on other branches, linked before they are merged: a link to one of these is
# fine while the file is missing; once it exists, its headings are checked like any other.
EXPECTED = {ROOT / "docs" / name for name in ("front.md", "models.md", "quality.md")}
README_MAX_LINES = 300

FENCE = re.compile(r"^(```|~~~).*?^\1\s*$", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def prose(text: str) -> str:
    """`text` without code blocks and inline code, where a bracket is not a link."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, markup and punctuation dropped,
    spaces turned into hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "").lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found, seen = set(), {}
    for heading in HEADING.findall(FENCE.sub("", page.read_text())):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[str]:
    return [target for target in LINK.findall(prose(page.read_text()))
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]  # http:, mailto: ...


def test_the_readme_is_a_front_page():
    lines = len((ROOT / "README.md").read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines"


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            if linked not in EXPECTED:
                broken.append(f"{target}: no such file")
            continue
        if anchor and (linked.suffix != ".md" or anchor not in anchors(linked)):
            broken.append(f"{target}: no such heading")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert links(page), "a page without links: is the link pattern still right?"
    assert broken_links(page) == []


def test_the_checker_finds_what_is_broken(tmp_path):
    """A missing file or heading is found; code is not a link; web links are not checked;
    an expected page may be missing, and its headings count once it exists."""
    (tmp_path / "other.md").write_text("# Other\n```\n# not a heading\n```\n## Twice\n## Twice\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n## The `make` targets, again!\n"
        "[a](#title) [b](#the-make-targets-again) [c](other.md#twice-1) [d](other.md)\n"
        "[e](#nope) [f](missing.md) [g](other.md#not-a-heading) `[h](code.md)`\n"
        "```\n[i](fenced.md)\n```\n[j](https://example.com/x.md) ![k](other.md)\n")
    assert links(page) == ["#title", "#the-make-targets-again", "other.md#twice-1", "other.md",
                           "#nope", "missing.md", "other.md#not-a-heading", "other.md"]
    assert broken_links(page) == ["#nope: no such heading", "missing.md: no such file",
                                  "other.md#not-a-heading: no such heading"]
    assert slug("Deploy: the container and GKE") == "deploy-the-container-and-gke"
    assert slug("Tests against a [real](x.md) database") == "tests-against-a-real-database"


# Where each benchmark writes its table (bench/*.py --write), by block name.
BENCH_BLOCKS = [("performance.md", "engine"), ("performance.md", "server"),
                ("reliability.md", "load"), ("reliability.md", "load-embedded")]


@pytest.mark.parametrize(("page", "block"), BENCH_BLOCKS)
def test_each_benchmark_finds_its_block(page, block):
    text = (ROOT / "docs" / page).read_text()
    start, end = f"<!-- bench:{block}:start -->", f"<!-- bench:{block}:end -->"
    assert text.count(start) == 1 and text.count(end) == 1
    assert text.index(start) < text.index(end)
