"""The templates stay ready for a Content-Security-Policy without 'unsafe-inline': no inline
scripts, event handlers, style attributes or style blocks (the browser tests also run the
page under such a policy)."""

import re
from pathlib import Path

import pytest

TEMPLATES = sorted((Path(__file__).resolve().parents[2] / "app" / "templates").glob("*.html"))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.name)
def test_nothing_inline(template):
    html = template.read_text()
    assert re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", html) == []
    assert re.findall(r"\son[a-z]+\s*=", html) == []
    assert re.findall(r"\sstyle\s*=", html) == []
    assert "<style" not in html
    assert "javascript:" not in html


def test_there_are_templates_to_check():
    assert {path.name for path in TEMPLATES} >= {"base.html", "index.html", "error.html"}
