"""The front's side of the pod (k8s/deployment.yaml, k8s/front/): its config is the one
`make serve` runs and nginx accepts it; ports line up from the Service through the front to
the app; the app trusts exactly the front; probes ask real listeners; the front stops first."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from app.core.errors import human_size
from app.http.sizes import FILE_TOO_LARGE
from app.settings import Settings
from scripts import serve
from tests import dockerfile
from tests.front import nginx_map
from tests.manifests import (
    APP,
    FRONT,
    K8S,
    ROOT,
    container,
    directive,
    front_config,
    one,
    render,
    secret_example,
)


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    return render()


def test_ports_match_across_the_front_the_app_and_the_image(rendered):
    """Service -> front (listen.conf) -> app (upstream.conf, PORT): each hop where the next
    listens. The image on its own listens on its ENV's PORT, which it EXPOSEs."""
    deployment = one(rendered, "Deployment")
    config = one(rendered, "ConfigMap", "my-config")["data"]
    front = front_config(rendered)["data"]
    service_port = one(rendered, "Service")["spec"]["ports"][0]["targetPort"]
    assert directive(front["listen.conf"], "listen") == str(service_port) == str(
        container(deployment, FRONT)["ports"][0]["containerPort"])
    assert directive(front["upstream.conf"], "server") == f"127.0.0.1:{config['PORT']}"
    assert int(config["PORT"]) == container(deployment)["ports"][0]["containerPort"]
    assert int(config["PORT"]) != service_port  # the app is not where clients connect
    image = dockerfile.final_stage()
    assert image.expose == [image.env["PORT"]]


def test_the_front_config_in_the_pod_is_the_one_make_serve_runs(rendered):
    """One source: the ConfigMap holds k8s/front/nginx.conf byte for byte (the file
    scripts/serve.py links to), beside the pod's three files, and the front container
    reads it from there."""
    deployment = one(rendered, "Deployment")
    front = front_config(rendered)["data"]
    assert front["nginx.conf"] == serve.NGINX_CONF.read_text()
    assert serve.NGINX_CONF == K8S / "front" / "nginx.conf"
    for name in ("listen.conf", "upstream.conf", "trusted-lbs.conf"):
        assert front[name] == (K8S / "front" / "pod" / name).read_text()
        assert f"include {name};" in front["nginx.conf"]
    assert set(front) == {"nginx.conf", "listen.conf", "upstream.conf", "trusted-lbs.conf"}

    spec = container(deployment, FRONT)
    command = spec["command"]
    config_path = Path(command[command.index("-c") + 1])
    prefix = command[command.index("-p") + 1]
    assert command[0] == "nginx" and command[-2:] == ["-g", "daemon off;"]
    mounts = {m["name"]: m for m in spec["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    (config_mount,) = [m for m in mounts.values() if m["mountPath"] == str(config_path.parent)]
    assert config_mount["readOnly"] is True
    assert volumes[config_mount["name"]]["configMap"]["name"] == (
        front_config(rendered)["metadata"]["name"])
    (prefix_mount,) = [m for m in mounts.values() if m["mountPath"].rstrip("/")
                       == prefix.rstrip("/")]
    assert "emptyDir" in volumes[prefix_mount["name"]]


def _nginx_accepts(files: dict[str, str], folder: Path) -> None:
    """`nginx -t` on these files, laid out as the pod mounts them (Debian's nginx, the
    oldest the config is written for)."""
    nginx = serve.find_nginx()
    if nginx is None:
        if os.environ.get("CI") or os.environ.get("REQUIRE_FRONT") == "1":
            pytest.fail("nginx is missing: .ci/run installs it")
        pytest.skip("nginx is not installed (Debian/Ubuntu: apt-get install nginx)")
    for name, text in files.items():
        (folder / name).write_text(text)
    result = subprocess.run([nginx, "-t", "-e", "stderr", "-p", f"{folder}/",
                             "-c", str(folder / "nginx.conf")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_the_pods_front_config_is_valid_nginx(rendered, tmp_path):
    _nginx_accepts(front_config(rendered)["data"], tmp_path)


def test_the_documented_files_for_a_google_load_balancer_are_valid_nginx(rendered, tmp_path):
    """docs/front.md gives listen.conf and trusted-lbs.conf for a GKE Ingress or Gateway;
    with them in place of the pod's, nginx must still accept the config."""
    docs = (ROOT / "docs" / "front.md").read_text()
    blocks = {m.group(1): m.group(0) for m in re.finditer(
        r"^# ([\w-]+\.conf)\b[^\n]*\n(?:.*\n)*?(?=```)", docs, re.M)}
    assert set(blocks) == {"trusted-lbs.conf", "listen.conf"}
    assert "35.191.0.0/16 1;" in blocks["trusted-lbs.conf"]
    assert "130.211.0.0/22 1;" in blocks["trusted-lbs.conf"]
    _nginx_accepts({**front_config(rendered)["data"], **blocks}, tmp_path)


def test_the_front_lets_the_app_answer_its_own_upload_limit(rendered):
    """nginx refuses bodies over client_max_body_size itself: that must be above the app's
    MAX_CONTENT_LENGTH, so the app's own message (with its limit) is what a visitor gets
    for a file just too large; and for a far larger one, the front says the same sentence,
    with the app's limit, not its own (a visitor told 20 MB was then told 15)."""
    config = one(rendered, "ConfigMap", "my-config")["data"]
    # Paths into the image's models folder, as this machine's (the same files).
    config = {key: dockerfile.local_models(value) for key, value in config.items()}
    app_limit = Settings.from_env({**config, **secret_example()["stringData"]},
                                  dotenv=False).max_content_length
    front_limit = directive(front_config(rendered)["data"]["nginx.conf"],
                             "client_max_body_size")
    assert front_limit.endswith("m")
    front_bytes = int(front_limit[:-1]) * 1024**2
    # Room for the form around the file (name, token, multipart boundaries).
    assert app_limit + 1024**2 <= front_bytes <= 2 * app_limit
    said = nginx_map("front_error_message")[413]
    assert said == FILE_TOO_LARGE.format(size=human_size(app_limit))


def test_the_app_trusts_exactly_the_one_proxy_in_front_of_it(rendered):
    """The front sets X-Forwarded-For to a list that ends with the client's address (it
    appends the peer, or, behind a trusted load balancer, keeps the chain up to the client):
    one hop for the app to trust."""
    config = one(rendered, "ConfigMap", "my-config")["data"]
    assert config["TRUSTED_PROXIES"] == "1"
    nginx_conf = front_config(rendered)["data"]["nginx.conf"]
    assert re.search(r"^\s*proxy_set_header X-Forwarded-For \$forwarded_for;", nginx_conf, re.M)
    # The shipped Service passes client connections through (L4): no balancer is trusted.
    trusted = [line for line in front_config(rendered)["data"]["trusted-lbs.conf"].splitlines()
               if line.strip() and not line.lstrip().startswith("#")]
    assert trusted == []
    assert one(rendered, "Service")["spec"]["externalTrafficPolicy"] == "Local"


def _probe_port(deployment: dict, name: str, probe: dict) -> int:
    port = probe["httpGet"]["port"]
    if isinstance(port, int):
        return port
    (named,) = [p for p in container(deployment, name)["ports"] if p.get("name") == port]
    return named["containerPort"]


def test_probes_ask_real_listeners_paths_that_answer_200(rendered, client):
    deployment = one(rendered, "Deployment")
    config = one(rendered, "ConfigMap", "my-config")["data"]
    front = front_config(rendered)["data"]
    app_port, front_port = int(config["PORT"]), int(directive(front["listen.conf"], "listen"))
    probes = {}
    for name in (APP, FRONT):
        spec = container(deployment, name)
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            if kind in spec:
                probes[(name, kind)] = (_probe_port(deployment, name, spec[kind]),
                                        spec[kind]["httpGet"]["path"])
    assert probes == {
        # The app's liveness goes straight to gunicorn...
        (APP, "startupProbe"): (app_port, "/health"),
        (APP, "livenessProbe"): (app_port, "/health"),
        # ...readiness through the front, so a broken front takes the pod out of service
        # (not the shared database: down, it would take every pod out at once)...
        (FRONT, "readinessProbe"): (front_port, "/health"),
        # ...and the front's own liveness is answered by nginx alone.
        (FRONT, "livenessProbe"): (front_port, "/_front/health"),
    }
    for path in ("/health", "/ready"):
        assert client.get(path).status_code == 200, path
    assert re.search(r"location = /_front/health \{[^}]*return 200 ", front["nginx.conf"])
    # Seconds, not tens of them: /health is answered without any work.
    for name in (APP, FRONT):
        for kind in ("livenessProbe", "readinessProbe"):
            if kind in container(deployment, name):
                assert container(deployment, name)[kind]["timeoutSeconds"] <= 3


def test_shutdown_lets_the_front_deliver_what_gunicorn_finishes(rendered):
    """The front stops taking connections first, while gunicorn still accepts what the
    front passes on; gunicorn then finishes within its graceful timeout, and all of it
    before the kubelet would kill anything."""
    deployment = one(rendered, "Deployment")
    config = one(rendered, "ConfigMap", "my-config")["data"]
    front_pause = container(deployment, FRONT)["lifecycle"]["preStop"]["sleep"]["seconds"]
    app_pause = container(deployment)["lifecycle"]["preStop"]["sleep"]["seconds"]
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    # GKE's passthrough load balancer sees a node's pod gone after 3 failed checks 8 s
    # apart: until then it sends new connections, which a quitted front refused.
    assert 24 <= front_pause < app_pause
    assert app_pause + int(config["GUNICORN_GRACEFUL_TIMEOUT"]) < grace
    # nginx waits for its requests however long they take (no worker_shutdown_timeout):
    # gunicorn's graceful timeout bounds them.
    assert "worker_shutdown_timeout" not in front_config(rendered)["data"]["nginx.conf"]
