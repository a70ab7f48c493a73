"""The API's OpenAPI 3.1 document, generated: paths and methods from the API's routes,
what each takes and returns from the models the code validates and answers with, its error
codes and their status codes from one table (app/api/schemas.py ERRORS).

A route describes itself with `@operation(...)`; nothing else here is written by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app.api.schemas import ERRORS, FRONT_ERRORS, RESULT_TYPES, Error
from app.core.forms import FILES
from app.http.callers import CSRF_HEADER, KEY_HEADER
from app.http.errors import AUTH_SCHEME
from app.http.limits import DAILY_QUOTA, RATE_HEADERS
from app.http.records_json import CONTENT_TYPES

VERSION = "1.1.0"
JSON = "application/json"


@dataclass(frozen=True)
class Operation:
    id: str
    summary: str
    description: str = ""
    body: tuple[tuple[str, type[BaseModel]], ...] = ()  # (media type, model) each
    query: type[BaseModel] | None = None
    status: int = 200
    # a model, "image"/"thumbnail"/"result" (a removal's: zip too) or nothing; or a tuple
    # of them: one answer, by Accept
    returns: type[BaseModel] | str | tuple | None = None
    returns_description: str = "OK"
    headers: dict = field(default_factory=dict)  # on success: name -> description
    errors: tuple[str, ...] = ()
    csrf: bool = False  # an unsafe method: needs the X-CSRFToken header, or an API key
    keys: bool = True  # takes an API key (all but the document itself)
    key_needed: bool = False  # only with a key, whatever API_REQUIRE_KEY says
    storage: bool = True  # reads or writes records: may meet a database outage
    links: tuple[str, ...] = ()  # operations that take this answer's `id` as `record_id`
    # Bytes with an ETag, served as app/http/downloads.py does: If-Match, If-None-Match and
    # a byte Range, so 206, 304, 412 and 416 besides the 200.
    conditional: bool = False
    path: dict = field(default_factory=dict)  # each path parameter -> (description, schema)


KEY_DESCRIPTION = ("An API key from the server's operator (`flask keys create`, or "
                   "`API_KEYS`): the call then needs no cookie and no CSRF token, and its "
                   "records and limits are the key's.")


DESCRIPTION = (
    "Upload a photo, get it back with the background removed, and manage the results: "
    "the web page's features for programs. A visitor is known by the signed `user_id` "
    f"cookie, a program by its API key (`Authorization: Bearer KEY` or `{KEY_HEADER}`); "
    "every record belongs to one visitor or key, and others' records answer 404. "
    f"Without a key, unsafe methods need the `{CSRF_HEADER}` header with a token from "
    "`GET /session` (and that call's cookies). Every error answers JSON "
    "`{\"error\": \"<code>\", \"message\": \"...\"}`: `error` is stable, "
    "`message` is for people. Codes: "
    + "; ".join(f"`{code}` ({', '.join(map(str, statuses))}): {meaning}"
                for code, (meaning, statuses) in ERRORS.items()) + ".")


def operation(**details) -> callable:
    """Describe the route below for the document."""
    def describe(view):
        view.operation = Operation(**details)
        return view
    return describe


def document(app: Flask, prefix: str) -> dict:
    paths: dict = {}
    # Each model the operations name, by mode, and the one `$ref` dict that stands for it
    # wherever it is named: filled in once the models' schemas are generated.
    refs: dict = {(Error, "serialization"): {}}
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if not rule.rule.startswith(prefix) or not hasattr(view, "operation"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule[len(prefix):])
        item = paths.setdefault(path, {})
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            item[method.lower()] = _operation(view.operation, rule.arguments, refs,
                                              app.extensions["services"].settings)
    keys, top = models_json_schema(sorted(refs, key=lambda m: m[0].__name__),
                                   ref_template="#/components/schemas/{model}")
    for model, ref in refs.items():
        ref.update(keys[model])
    return _files_as_3_1({
        "openapi": "3.1.0",
        "info": {"title": "image-background-processor API", "version": VERSION,
                 "description": DESCRIPTION},
        "servers": [{"url": prefix}],
        "paths": paths,
        "components": {
            "schemas": top["$defs"],
            "securitySchemes": {
                "csrfToken": {
                    "type": "apiKey", "in": "header", "name": CSRF_HEADER,
                    "description": "From `GET /session`; valid with that call's cookies."},
                "apiKey": {"type": "apiKey", "in": "header", "name": KEY_HEADER,
                           "description": KEY_DESCRIPTION},
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": KEY_DESCRIPTION}},
        },
    })


def _files_as_3_1(node):
    """A file part as OpenAPI 3.1 says it (bytes of a media type, no JSON type), not 3.0's
    `type: string, format: binary`, which pydantic writes for bytes: a 3.1 validator took
    that for text and refused every upload (helper 75, openapi-core)."""
    if isinstance(node, dict):
        if node.get("format") == "binary":
            node = {**{k: v for k, v in node.items() if k not in ("format", "type")},
                    "contentMediaType": "application/octet-stream"}
        return {key: _files_as_3_1(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_files_as_3_1(item) for item in node]
    return node


def _operation(op: Operation, arguments: set[str], refs: dict, settings) -> dict:
    out: dict = {"operationId": op.id, "summary": op.summary}
    if op.description:
        out["description"] = op.description
    parameters = []
    for name in sorted(arguments):
        description, schema = op.path[name]
        parameters.append({"name": name, "in": "path", "required": True,
                           "schema": {"type": "string"} | schema, "description": description})
    if op.query is not None:
        schema = op.query.model_json_schema()
        for name, prop in schema["properties"].items():
            # An absent parameter is the `None` of the model: not a value to send.
            given = next(alt for alt in prop.get("anyOf", [prop]) if alt.get("type") != "null")
            parameters.append({"name": name, "in": "query", "required": False,
                               "schema": {k: v for k, v in given.items() if k != "title"},
                               "description": prop.get("description", "")})
    if parameters:
        out["parameters"] = parameters
    if op.keys:
        # Either scheme of a key, or, where a visitor may call (unsafe methods) a CSRF
        # token or (safe ones) nothing.
        keyed = [{"apiKey": []}, {"bearer": []}]
        visitor = [] if op.key_needed or settings.api_require_key else [
            {"csrfToken": []} if op.csrf else {}]
        out["security"] = visitor + keyed
    if op.body:
        out["requestBody"] = {"required": True, "content": {}}
        for media_type, model in op.body:
            content = {"schema": refs.setdefault((model, "validation"), {})}
            if media_type == "multipart/form-data":
                # Every other part is text: said, since a validator took the parts of a
                # field of several types (crop's, size's) for bytes (helper 100, openapi-core).
                content["encoding"] = {
                    name: {"contentType": ", ".join(CONTENT_TYPES) if name in FILES
                           else "text/plain"} for name in model.model_fields}
            out["requestBody"]["content"][media_type] = content
    responses = {str(op.status): _success(op, refs), **_errors(op)}
    if op.conditional:
        responses |= _conditional(responses[str(op.status)])
    for status in responses if op.keys else ():
        if status not in ("401", "403"):  # else no valid key was sent
            # Answers to a call with a key: what a program paces itself by.
            responses[status].setdefault("headers", {}).update(
                {name: {"required": False, "schema": {"type": "integer"}, "description": text}
                 for name, text in RATE_HEADERS.items()})
    out["responses"] = dict(sorted(responses.items()))
    return out


def _conditional(success: dict) -> dict:
    """The 206 and 304 of an operation that answers `success` with an ETag."""
    partial = {"description": "The bytes of the one range asked for in `Range` (several "
                              "ranges, or a `Range` that cannot be read, get the 200)",
               "content": success["content"],
               "headers": {"Content-Range": _header("`bytes <first>-<last>/<length>`")}}
    not_modified = {"description": "The `If-None-Match` ETag is this version: no body",
                    "headers": {"ETag": _header("The version of these bytes")}}
    return {"206": partial, "304": not_modified}


def _header(description: str) -> dict:
    return {"required": True, "schema": {"type": "string"}, "description": description}


def _success(op: Operation, refs: dict) -> dict:
    answer: dict = {"description": op.returns_description}
    for returns in op.returns if isinstance(op.returns, tuple) else (op.returns,):
        if returns is None:
            continue
        content = answer.setdefault("content", {})
        if isinstance(returns, type):
            content[JSON] = {"schema": refs.setdefault((returns, "serialization"), {})}
        elif returns in ("image", "thumbnail", "result"):
            types = {"image": CONTENT_TYPES, "thumbnail": ("image/webp",),
                     "result": RESULT_TYPES}[returns]
            # Bytes, not a JSON value: OpenAPI 3.1 leaves the schema out.
            content.update({ct: {} for ct in types})
        elif returns == "document":
            content[JSON] = {"schema": {"type": "object"}}
    if op.headers:
        answer["headers"] = {name: _header(text) for name, text in op.headers.items()}
    if op.links:
        answer["links"] = {f"{target[0].upper()}{target[1:]}": {
            "operationId": target, "parameters": {"record_id": "$response.body#/id"}}
            for target in op.links}
    return answer


def _errors(op: Operation) -> dict:
    codes = [*op.errors, "internal_error", *FRONT_ERRORS]
    if op.keys:
        codes += ["missing_key", "invalid_key"]
    if op.csrf:
        codes.append("csrf_failed")
    if op.storage:
        codes.append("storage_unavailable")
    if op.conditional:
        codes += ["precondition_failed", "requested_range_not_satisfiable"]
    by_status: dict[int, list[str]] = {}
    for code in dict.fromkeys(codes):
        for status in ERRORS[code][1]:
            by_status.setdefault(status, []).append(code)
    responses = {}
    for status, found in sorted(by_status.items()):
        schema = {"allOf": [{"$ref": "#/components/schemas/Error"},
                            {"properties": {"error": {"enum": found}}}]}
        responses[str(status)] = {
            "description": "; ".join(f"`{code}`: {ERRORS[code][0]}" for code in found),
            "content": {JSON: {"schema": schema}}}
        if status in (429, 502, 503, 504):
            retry = _header("Seconds to wait before trying again; on a 429, absent only "
                            "for `daily_quota` when the photo alone counts more than the "
                            "whole day's, which waiting would not help.")
            # The front's 502 and 504 say it; the app's own (engine_failed) do not; nor
            # does a key's photo over its whole day.
            never = status == 429 and DAILY_QUOTA in found
            responses[str(status)]["headers"] = {
                "Retry-After": retry | {"required": status in (429, 503) and not never}}
        if status == 401:
            responses[str(status)]["headers"] = {"WWW-Authenticate": _header(
                f"`{AUTH_SCHEME}`: send a key as `Authorization: {AUTH_SCHEME} KEY` or in "
                f"{KEY_HEADER}.")}
        if status == 416:
            responses[str(status)]["headers"] = {
                "Content-Range": _header("`bytes */<length>`: the length of the bytes")}
    return responses

