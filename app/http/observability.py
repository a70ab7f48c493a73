"""Logs a machine can read, a request id that ties them together, and Prometheus metrics."""

from __future__ import annotations

import ipaddress
import logging
import re
import sys
import time
import uuid

from flask import Flask, Response, abort, g, has_request_context, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from pythonjsonlogger.json import JsonFormatter

from app.http.callers import caller
from app.http.context import services
from app.metrics import REQUEST_SECONDS, REQUESTS

log = logging.getLogger(__name__)
# A caller's X-Request-ID is kept when it looks like an id, so a trace can cross services.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _with_request_id(record: logging.LogRecord) -> bool:
    record.request_id = g.get("request_id", "-") if has_request_context() else "-"
    return True


def configure_logging(json_logs: bool, level: str = "INFO") -> None:
    """One handler on the root logger: JSON lines in production, text in development."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_with_request_id)
    if json_logs:
        # "severity", the field Cloud Logging reads a line's level from: without it, every
        # line on stderr was an ERROR there, and an alert on errors meant nothing (helper 96).
        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "severity", "name": "logger"}))
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_ibp", False)]:
        root.removeHandler(old)
    handler._ibp = True
    root.addHandler(handler)
    root.setLevel(level)


def _start() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    g.started = time.perf_counter()


def _finish(response: Response) -> Response:
    elapsed = time.perf_counter() - g.get("started", time.perf_counter())
    endpoint = request.url_rule.rule if request.url_rule else "unmatched"
    REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
    REQUEST_SECONDS.labels(endpoint).observe(elapsed)
    response.headers["X-Request-ID"] = g.get("request_id", "")
    key = caller()  # its name: a log never holds a key
    log.info("%s %s %s%s", request.method, request.path, response.status_code,
             f" key={key.name}" if key else "",
             extra={"method": request.method, "path": request.path,
                    "status": response.status_code, "duration_ms": round(elapsed * 1000, 1),
                    **({"api_key": key.name} if key else {})})
    return response


def metrics() -> Response:
    """Prometheus text format; across gunicorn workers when PROMETHEUS_MULTIPROC_DIR is set.

    Only for clients on private networks (a Prometheus in the cluster, a developer on
    loopback): traffic and error rates are nobody else's business.
    """
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        abort(404)
    if not (address.is_private or address.is_loopback):
        abort(404)
    if services().settings.prometheus_multiproc_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), content_type=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
    app.add_url_rule("/metrics", "metrics", metrics)
