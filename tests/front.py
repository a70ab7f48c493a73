"""The front's tests' shared pieces: the stack `make serve` runs (scripts/serve.py) on
loopback ports, clients from loopback addresses of their own, nginx's settings and both
servers' JSON log lines. Without nginx the tests skip and say why; under CI (`CI` or
`REQUIRE_FRONT=1`, which `.ci/run` sets) a missing nginx fails them instead."""

from __future__ import annotations

import json
import os
import re
import sys

import pytest
import requests
from requests.adapters import HTTPAdapter

from scripts import serve
from tests.servers import clean_env, free_port, start

REQUIRED = (os.environ.get("REQUIRE_FRONT") == "1"
            or os.environ.get("CI", "").lower() in ("1", "true", "yes"))
NGINX_CONF = serve.NGINX_CONF.read_text()
SECRET = "front-test-secret-key-0123456789"
# Every group of clients comes from its own loopback address, so the per-address limits
# (nginx's and the app's) tell them apart; the poller and page visits use 127.0.0.1.
SLOW_HEADERS_FROM, SLOW_BODIES_FROM = "127.0.0.2", "127.0.0.3"
UNTRUSTED_PEER, LOAD_BALANCER = "127.0.0.4", "127.0.0.5"
CROWD_FROM, UPLOADER_FROM, NEIGHBOUR = "127.0.0.6", "127.0.0.7", "127.0.0.8"
HEAVY_FROM = "127.0.0.9"
# The app's per-address upload limit in this stack: a third try within the minute is 429.
UPLOADS_PER_ADDRESS = 2


def nginx_map(variable: str) -> dict[int | str, str]:
    """`map $status $<variable>` of the front's nginx.conf: status (or "default") -> value,
    unquoted."""
    block = re.search(rf"map \$status \${variable} \{{(.*?)\}}", NGINX_CONF, re.S).group(1)
    pairs = re.findall(r'^\s*(\d+|default)\s+("[^"]*"|\S+);', block, re.M)
    return {int(status) if status.isdigit() else status: value.strip('"')
            for status, value in pairs}


def nginx_setting(name: str) -> str:
    (value,) = re.findall(rf"^\s*{name}\s+([^;]+);", NGINX_CONF, re.M)
    return value


def seconds(name: str) -> float:
    value = nginx_setting(name)
    assert value.endswith("s"), value
    return float(value[:-1])


def nginx_or_skip() -> str:
    nginx = serve.find_nginx()
    if nginx is None:
        reason = "nginx is not installed (Debian/Ubuntu: apt-get install nginx)"
        if REQUIRED:
            pytest.fail(f"{reason}, but the front tests must run here (CI / REQUIRE_FRONT=1).",
                        pytrace=False)
        pytest.skip(reason)
    return nginx


class _From(HTTPAdapter):
    """Connections from a given loopback address."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def session_from(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", _From(address))
    return session


def start_stack(folder, **extra):
    nginx_or_skip()
    port, app_port = free_port(), free_port()
    env = clean_env(APP_SECRET_KEY=SECRET, PORT=str(port), BG_ENGINE="local",
                    **{"UPLOAD_RATE_LIMIT_IP": f"{UPLOADS_PER_ADDRESS} per minute", **extra})
    command = [sys.executable, "-m", "scripts.serve", "--app-port", str(app_port),
               "--trust-lb", LOAD_BALANCER]
    # As long as `make serve` itself waits for both servers.
    process, base = start(command, env, port, folder,
                          seconds=serve.APP_START_SECONDS + serve.FRONT_START_SECONDS + 10)
    return process, base, f"http://127.0.0.1:{app_port}"


def log_lines(log, logger: str) -> list[dict]:
    """The JSON lines one logger wrote: "front" (nginx) or "app.http.observability". Every
    line that looks like one must be whole: nginx and gunicorn share the log file."""
    lines = []
    for line in log.read_text(errors="replace").splitlines():
        if '"logger"' in line:
            entry = json.loads(line)
            if entry.get("logger") == logger:
                lines.append(entry)
    return lines
