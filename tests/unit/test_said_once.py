"""Said once, on the server: the page's scripts take the server's rules, limits, defaults and
sentences as data (the JSON block the page's view writes, read by app/static/js/rules.js),
never retyped. Whatever the server can say to the page is not in any script, no limit the
server sets is written into a template or a script, and what the page says before sending
is exactly what the server would answer."""

from __future__ import annotations

import ast
import html
import io
import json
import re
from pathlib import Path

import pytest

from app import create_app
from app.core import errors as core_errors
from app.core import fields as core_fields
from app.core import forms as core_forms
from app.core.errors import human_size
from app.core.fields import NAME_MAX, URL_MAX, Rule
from app.http import errors as http_errors
from app.http import limits as http_limits
from app.settings import Settings
from app.web import records as web_records
from tests.support import Visitor, photo, use_engine

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "app" / "static" / "js").glob("*.js"))
TEMPLATES = sorted((ROOT / "app" / "templates").glob("*.html"))
FORMS = (core_forms.UploadRequest, core_forms.UploadByAddress, core_forms.OutputOptions,
         core_forms.EditFields, core_forms.EditRequest, core_forms.RenameRequest)
PLACEHOLDER = re.compile(r"\{[^}]*\}")


def _pieces(text: str, words: int) -> list[str]:
    """A sentence's fixed parts: a format string cut at its placeholders."""
    return [piece.strip() for piece in PLACEHOLDER.split(text)
            if len(piece.split()) >= words]


def _named_sentences() -> set[str]:
    """The sentences the server names: every field's Rule, every refusal and answer kept as
    a constant by the modules that answer the page."""
    rules = [rule for form in FORMS for name in form.model_fields
             for rule in [core_forms.rule_of(form, name)]]
    rules += [value for value in vars(core_fields).values() if isinstance(value, Rule)]
    texts = [rule.message for rule in rules]
    for module in (core_errors, core_fields, core_forms, http_errors, http_limits, web_records):
        texts += [value for name, value in vars(module).items()
                  if name.isupper() and isinstance(value, str)]
    texts += list(http_errors.MESSAGES.values())
    # Words only: the regex classes in fields.py (NOT_IN_NAMES, WHITESPACE...) are rules
    # the page is given too, but not sentences.
    return {piece for text in texts for piece in _pieces(text, 2) if re.search("[a-z]{2}", piece)}


def _string_parts(tree: ast.AST):
    """Each string literal (docstrings aside) as its fixed parts, in order: an f-string's
    text between its fields, a format string's between its placeholders."""
    skip = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body and isinstance(node.body[0], ast.Expr)}
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            skip.update(id(value) for value in node.values)
            parts = [value.value if isinstance(value, ast.Constant) else "" for value in
                     node.values]
            yield [piece for part in parts for piece in PLACEHOLDER.split(part)]
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in skip):
            yield PLACEHOLDER.split(node.value)


def _literal_sentences() -> set[str]:
    """Every sentence written anywhere in the server's code, so one kept inline in a
    validator counts too. A short piece after a placeholder is left out: "{name} could not
    be reached." without its subject is any English sentence's tail."""
    found = set()
    for path in (ROOT / "app").rglob("*.py"):
        for parts in _string_parts(ast.parse(path.read_text())):
            found.update(part.strip() for index, part in enumerate(parts)
                         if len(part.split()) >= (3 if index == 0 else 5)
                         and len(part.strip()) >= 12)
    return found


def test_the_server_has_sentences_to_look_for():
    named, literal = _named_sentences(), _literal_sentences()
    assert {core_errors.SUCCESS, core_errors.UNEXPECTED, core_errors.EDITED,
            core_forms.NO_PHOTO, core_fields.NEEDS_BACKDROP.message,
            http_limits.RATE_LIMITED} <= named
    assert "The file is too large. Please upload an image of at most" in literal
    assert len(literal) > 100


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_no_script_retypes_a_server_sentence(script):
    text = script.read_text()
    said = sorted(s for s in _named_sentences() | _literal_sentences() if s in text)
    assert said == [], f"{script.name} retypes what the server says: take it from rules.js"


SIZE = Settings.model_fields["max_content_length"].default  # the upload limit, by default


@pytest.mark.parametrize("source", SCRIPTS + TEMPLATES, ids=lambda path: path.name)
def test_no_limit_or_default_is_written_into_the_page(source):
    text = source.read_text()
    numbers = set(re.findall(r"(?<![\w.#-])\d+(?![\w.])", text))
    # The before/after slider's middle is 50 too: in templates only the attributes that
    # carry limits are read for NAME_MAX.
    barred = {str(URL_MAX), str(SIZE)} | ({str(NAME_MAX)} if source.suffix == ".js" else set())
    assert numbers & barred == set()
    assert human_size(SIZE) not in text
    assert core_forms.DEFAULT_BACKGROUND not in text.lower()  # a default is said once too
    limits = re.findall(r'\s(?:maxlength|minlength|data-[\w-]+)="(\d+)"', text)
    assert limits == []


def test_scripts_share_nothing_through_a_global():
    for script in SCRIPTS:
        text = script.read_text()
        assert "window.ibp" not in text and "(function ()" not in text, script.name


@pytest.mark.parametrize("source", SCRIPTS + TEMPLATES, ids=lambda path: path.name)
def test_the_page_takes_its_headers_and_renditions_from_the_rules(source):
    """The CSRF header's name and the renditions' sizes were typed into the scripts and
    the template (helper 95)."""
    text = source.read_text()
    assert "X-CSRFToken" not in text
    assert not re.search(r"(?<!\d)(?:160|320)(?!\d)", text)


def test_the_page_and_the_api_name_one_csrf_header(client):
    header = _rules(client.get("/").get_data(as_text=True))["csrf_header"]
    assert header == client.get("/api/v1/session").get_json()["csrf_header"]
    assert header in client.application.config["WTF_CSRF_HEADERS"]  # what flask-wtf reads


def _rules(page: str) -> dict:
    block = re.search(r'<script type="application/json" id="rules">(.*?)</script>', page, re.S)
    return json.loads(block.group(1))


def test_the_page_follows_the_limits_it_is_given(settings, monkeypatch):
    """Other limits, and the page says them: nothing in it was the old numbers."""
    monkeypatch.setattr("app.web.pages.NAME_MAX", 37)
    monkeypatch.setattr("app.web.pages.URL_MAX", 1234)
    app = create_app(settings.changed(max_content_length=3 * 1024 * 1024))
    page = app.test_client().get("/").get_data(as_text=True)
    rules = _rules(page)
    assert (rules["name_max"], rules["url_max"], rules["max_upload"]) == (37, 1234, 3145728)
    assert rules["messages"]["too_large"].endswith(" at most 3 MB.")
    assert page.count('maxlength="37"') == 2 and page.count('maxlength="1234"') == 1
    assert "up to 3 MB each" in page and human_size(SIZE) not in page
    assert f'maxlength="{NAME_MAX}"' not in page and str(URL_MAX) not in page


def test_the_fields_start_at_the_servers_defaults(client):
    page = client.get("/").get_data(as_text=True)
    defaults = _rules(page)["defaults"]
    assert defaults == {name: core_forms.UploadRequest.model_fields[name].default
                        for name in core_forms.OutputOptions.model_fields}
    assert f'value="{core_forms.DEFAULT_BACKGROUND}" aria-label="Background colour"' in page
    margin = re.search(r'<input[^>]*id="crop_margin"[^>]*>', page).group(0)
    assert 'min="0" max="100" value="5"' in margin  # Margin's own bounds and default


def test_refine_edges_says_what_it_costs_as_the_api_document_does(client):
    """The option's help on the page (both forms) is its description in the OpenAPI
    document: what it does and the time it adds, said once (fields.REFINE_EDGES_HELP)."""
    page = client.get("/").get_data(as_text=True)
    helps = re.findall(r'<div id="(?:result-)?refine-help"[^>]*>([^<]*)</div>', page)
    assert len(helps) == 2 and set(map(html.unescape, helps)) == {core_fields.REFINE_EDGES_HELP}
    assert "1.5 MP" in core_fields.REFINE_EDGES_HELP and "12 MP" in core_fields.REFINE_EDGES_HELP
    document = json.dumps(client.get("/api/v1/openapi.json").get_json())
    described = re.findall(r'"refine_edges": \{[^{}]*"description": ("[^"]*")', document)
    assert described and {json.loads(text) for text in described} == {
        core_fields.REFINE_EDGES_HELP}


def test_the_api_document_says_what_a_webp_adds_to_the_count_as_it_is_counted(client):
    """What the OpenAPI document tells of the format at each door is what a WebP's price
    (outputs.ENCODING_COST) makes of 4 MP: 4 counts where a PNG's is 1, 3 more."""
    from app.core.forms import OutputOptions
    from app.core.results import priced

    extra = (priced(OutputOptions(format="webp"), 4_000_000).counts
             - priced(OutputOptions(), 4_000_000).counts)
    assert extra == 3
    document = client.get("/api/v1/openapi.json").get_json()
    formats = re.findall(r'"format": \{[^{}]*?"description": ("[^"]*")', json.dumps(document))
    said = f"`webp` adds {extra} times the pixels to what the rate limits count"
    assert len(formats) >= 2 and all(said in json.loads(text) for text in formats), formats


def test_a_keys_counting_is_told_alike_by_its_429_the_document_and_the_cli(client):
    """One sentence (admission.COUNTING, made from the prices) where a key's owner reads how
    calls are counted: the API's document, `keys create --help` and the key's 429."""
    from app.cli import create_key
    from app.engines.admission import COUNTING
    from app.http.limits import KEY_MINUTE

    assert "× 2 with refined edges, plus 3 × the result's as a WebP" in COUNTING
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    said = [field["description"] for schema in schemas.values()
            for name, field in schema.get("properties", {}).items() if name == "per_minute"]
    helps = [option.help for option in create_key.params if option.name == "per_minute"]
    assert said and helps == said and said[0] == f"Rate-limit counts a minute ({COUNTING})."
    assert f"({COUNTING})" in KEY_MINUTE


def test_what_the_page_says_first_is_what_the_server_answers(settings, fake_engine):
    """The page refuses some uploads before sending them; the sentence it uses is the
    server's answer to the same upload, word for word."""
    app = create_app(settings.changed(max_content_length=50_000))
    use_engine(app, fake_engine)
    visitor = Visitor(app.test_client())
    messages = _rules(visitor.page().get_data(as_text=True))["messages"]
    json_answer = {"Accept": "application/json"}

    def answer(*args, **form):
        return visitor.upload(*args, headers=json_answer, **form).get_json()["message"]

    assert answer() == messages["no_photo"]
    assert answer(photo(size=(64, 64)), output="image") == messages["no_backdrop"]
    assert answer(photo(size=(1200, 800))) == messages["too_large"]
    assert answer(photo(size=(64, 64)), name="x" * (NAME_MAX + 1)) == messages["name"]
    created = visitor.upload(photo(size=(64, 64)), headers=json_answer)
    assert created.status_code == 201
    assert created.get_json()["message"] == core_errors.SUCCESS  # as the page's flash says
    record_id = created.get_json()["id"]
    edited = visitor.client.post(f"/edit/{record_id}", data={
        "csrf_token": visitor.ensure_token(), "output": "color",
        "background_image": (io.BytesIO(b""), "")}, content_type="multipart/form-data")
    assert visitor.flashes() == [("success", messages["edited"])] and edited.status_code == 302
    assert messages["unexpected"] == http_errors.MESSAGES[500]


def test_every_error_code_a_script_reads_is_one_the_server_answers():
    """A script that tells answers apart by their codes (wait, keep the photo) names only
    codes of the API's document, the front's included: a typo, or a code renamed on the
    server, would leave a photo dropped or never sent again without a word."""
    from app.api.schemas import ERRORS

    upload = (ROOT / "app" / "static" / "js" / "upload.js").read_text()
    lists = re.findall(r"(?:codes: |concat\()\[([^\]]*)\]", upload)
    read = [code for found in lists for code in re.findall(r'"(\w+)"', found)]
    assert len(lists) == 2 and len(read) == 12
    assert sorted(code for code in read if code not in ERRORS) == []
    # The front's waits and its timeout are among them (a restart of the app dropped the
    # photo the page said to send again: helper 66).
    assert {"app_unavailable", "too_many_requests", "app_timeout"} <= set(read)
