"""The templates stay ready for a Content-Security-Policy without 'unsafe-inline': no inline
scripts, event handlers, style attributes or style blocks (the browser tests also run the
page under such a policy). A JSON data block is no script: the browser never runs it."""

import json
import re
from pathlib import Path

import pytest

TEMPLATES = sorted((Path(__file__).resolve().parents[2] / "app" / "templates").glob("*.html"))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.name)
def test_nothing_inline(template):
    html = template.read_text()
    inline = re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", html)
    assert [tag for tag in inline if 'type="application/json"' not in tag] == []
    assert re.findall(r"\son[a-z]+\s*=", html) == []
    assert re.findall(r"\sstyle\s*=", html) == []
    assert "<style" not in html
    assert "javascript:" not in html


def test_there_are_templates_to_check():
    assert {path.name for path in TEMPLATES} >= {"base.html", "index.html", "error.html"}


FAST = {"name": "u2netp", "label": "Fast", "installed": True}
BEST = {"name": "u2net", "label": "Best quality", "installed": True}


def rules_of(html: str) -> dict:
    """The rules the page's view wrote into the page for its scripts."""
    block = re.search(r'<script type="application/json" id="rules">(.*?)</script>', html, re.S)
    return json.loads(block.group(1))


def _page(app, **extra) -> str:
    """index.html as the page's view renders it, plus `extra` (what the backend adds)."""
    from flask import render_template

    rules = rules_of(app.test_client().get("/").get_data(as_text=True))
    with app.test_request_context("/"):
        return render_template("index.html", records=[], user_limit=2, demo_storage=False,
                               rules=rules, **extra)


def _model_inputs(html: str) -> list[str]:
    return re.findall(r'<input[^>]*name="model"[^>]*>', html)


def test_without_a_list_of_models_there_is_no_choice(app):
    html = _page(app)
    assert _model_inputs(html) == [] and "Model</legend>" not in html


def test_the_model_choice_marks_what_is_not_installed(app):
    html = _page(app, models=[FAST, {**BEST, "installed": False}], default_model="u2netp")
    fast, best = _model_inputs(html)
    assert 'value="u2netp"' in fast and fast.endswith(" checked>")
    assert 'value="u2net"' in best and best.endswith(" disabled>")
    assert re.search(r'for="model-u2net">Best quality <span class="not-installed">'
                     r'\(not installed\)</span></label>', html)
    assert re.search(r'for="model-u2netp">Fast</label>', html)


def test_the_default_model_is_chosen_only_when_installed(app):
    chosen = _page(app, models=[FAST, BEST], default_model="u2net")
    assert [tag.endswith(" checked>") for tag in _model_inputs(chosen)] == [False, True]
    # A default that is not installed cannot be chosen: the first installed one is.
    fallback = _page(app, models=[{**BEST, "installed": False}, FAST], default_model="u2net")
    assert [tag.endswith(" checked>") for tag in _model_inputs(fallback)] == [False, True]
