"""Schemathesis drives the API from its own OpenAPI document: generated requests, valid and
invalid, must never get a 5xx, nor a status, content type, header or body that the document
does not describe.

Two runs: every operation on its own (positive and negative data), and stateful sequences
that follow the document's links (create, then read, rename, fetch bytes, delete).
"""

import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    missing_required_header,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
    use_after_free,
)

from app import create_app
from app.settings import Settings
from tests.conftest import SECRET
from tests.support import FakeEngine, photo, use_engine

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance,
          # Wrong methods get 405. Not the data acceptance and rejection checks: on multipart
          # bodies schemathesis 4.32 calls a case valid whose required text parts it left ""
          # and a case invalid whose boolean `false` is, on the wire, the text "false";
          # tests/unit/test_api.py checks what is refused field by field instead.
          missing_required_header, unsupported_method]
# In sequences, also: a deleted record is gone, a created one can be fetched.
STATEFUL_CHECKS = [*CHECKS, use_after_free, ensure_resource_availability]
# Bounded and derandomised: the same cases on every run, so CI is stable and quick.
KEY = "schemathesis-key-0123456789"
SETTINGS = settings(max_examples=30, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def _app():
    # The schema is loaded when this module is collected, so the app is built here, not in a
    # fixture. A RapidAPI engine loads nothing; it is swapped for the fast stand-in at once.
    app = create_app(Settings(app_env="production", secret_key=SECRET, bg_engine="rapidapi",
                              rapidapi_key="not-used", user_limit=3, api_keys=f"bot:{KEY}"))
    use_engine(app, FakeEngine())
    return app


APP = _app()
# Real images for the upload's `image` part (its documented content types), so generated
# uploads get through the image checks to the engine and the repository.
for _fmt, _media_type in (("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")):
    schemathesis.openapi.media_type(_media_type, st.just(photo(fmt=_fmt, size=(48, 32))))
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP)


def new_visitor() -> dict:
    """Cookies and CSRF header of a fresh visitor, as a script gets them from /session."""
    client = APP.test_client()
    token = client.get("/api/v1/session").get_json()["csrf_token"]
    cookies = {name: client.get_cookie(name).value for name in ("user_id", "session")}
    return {"headers": {"X-CSRFToken": token}, "cookies": cookies}


@schema.parametrize()
@SETTINGS
def test_every_operation_answers_a_key_as_documented(case):
    """The same as a program with an API key (and no cookie), whose answers carry the
    rate-limit headers: as the document describes them, their limit reached included."""
    sent = {name: value for name, value in (case.headers or {}).items()
            if name.lower() not in ("authorization", "x-api-key", "x-csrftoken")}
    case.headers = {**sent, "X-Api-Key": KEY}
    case.validate_response(case.call(), checks=CHECKS)


@schema.parametrize()
@SETTINGS
def test_every_operation_answers_as_documented(case):
    # A fresh visitor each time, so an upload is refused for what it is, never because
    # earlier cases used up the limit (the sequences below reach it).
    visitor = new_visitor()
    # The real token replaces whatever was generated for the security header; schemathesis
    # re-checks an edited case, so it is then judged as the valid request it has become.
    case.headers = {**(case.headers or {}), **visitor.pop("headers")}
    response = case.call(**visitor)
    case.validate_response(response, checks=CHECKS)


class Workflow(schema.as_state_machine()):
    def setup(self):
        # Each sequence starts with an empty gallery, so creates succeed and links have ids.
        self.visitor = new_visitor()

    def get_call_kwargs(self, case):
        case.headers = {**(case.headers or {}), **self.visitor["headers"]}
        return {"cookies": self.visitor["cookies"]}

    def validate_response(self, response, case, additional_checks=None, **kwargs):
        case.validate_response(response, checks=STATEFUL_CHECKS)


TestWorkflow = Workflow.TestCase
TestWorkflow.settings = settings(SETTINGS, max_examples=15, stateful_step_count=6)


def test_the_document_is_valid_openapi():
    # Checked against the OpenAPI 3.0 meta-schema that schemathesis carries.
    schema.validate()
