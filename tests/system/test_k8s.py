"""k8s/: rendered with kustomize, validated against the Kubernetes API schemas, and held to
the original's contract and to what the app and the image really do."""

from __future__ import annotations

import ast
import copy
import os
import re
import runpy
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from app.config import Settings
from scripts import serve
from tests import dockerfile

ROOT = dockerfile.ROOT
K8S = ROOT / "k8s"
# The oldest minor version a GKE release channel still offered when this was written, and
# the newest that kubernetes-validate knows: the manifests must hold on both.
KUBERNETES_VERSIONS = ("1.33.0", kubernetes_validate.latest_version())
SECRET_KEYS = {"APP_SECRET_KEY", "X_RAPID_API_KEY", "MONGO_URI"}
IMAGE_NAME = "image-background-processor"  # the name kustomization.yaml's `images` replaces
APP, FRONT = "image-background-processor", "front"  # the pod's two containers
FRONT_CONFIG = "image-background-processor-front"  # the ConfigMap made from k8s/front/


def kustomize() -> list[str]:
    """The pinned kustomize that .ci/install-kustomize puts in .ci/bin, else one on PATH."""
    for candidate in (os.environ.get("KUSTOMIZE"), ROOT / ".ci/bin/kustomize",
                      shutil.which("kustomize")):
        if candidate and Path(candidate).is_file():
            return [str(candidate)]
    if os.environ.get("CI"):
        pytest.fail("kustomize is missing: .ci/run installs it with .ci/install-kustomize")
    pytest.skip("kustomize is not installed: run .ci/install-kustomize (needs Go)")


def render(folder: Path = K8S) -> list[dict]:
    result = subprocess.run([*kustomize(), "build", str(folder)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    return render()


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in docs if d["kind"] == kind
             and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, (kind, name, [d["metadata"]["name"] for d in found])
    return found[0]


def secret_example() -> dict:
    return yaml.safe_load((K8S / "secret.example.yaml").read_text())


def container(deployment: dict, name: str = APP) -> dict:
    (found,) = [c for c in deployment["spec"]["template"]["spec"]["containers"]
                if c["name"] == name]
    return found


def front_config(docs: list[dict]) -> dict:
    """The front's ConfigMap: kustomize names it with a hash of its content."""
    (found,) = [d for d in docs if d["kind"] == "ConfigMap"
                and d["metadata"]["name"].startswith(f"{FRONT_CONFIG}-")]
    return found


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_kubernetes(rendered, version):
    documents = [*rendered, secret_example()]
    for doc in documents:
        kubernetes_validate.validate(doc, version, strict=True)
    kinds = sorted(d["kind"] for d in documents)
    assert kinds == ["ConfigMap", "ConfigMap", "Deployment", "HorizontalPodAutoscaler",
                     "PodDisruptionBudget", "Secret", "Service"]


def test_strict_validation_rejects_a_misspelt_field(rendered):
    """The check above can fail: a typo that `kubectl apply` would reject is caught."""
    deployment = copy.deepcopy(one(rendered, "Deployment"))
    probe = container(deployment)["livenessProbe"]
    probe["periodSecond"] = probe.pop("periodSeconds")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


def test_every_file_in_k8s_is_rendered_or_is_the_secret_example(rendered):
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")}
    assert files == {*kustomization["resources"], "kustomization.yaml", "secret.example.yaml"}
    assert "Secret" not in {d["kind"] for d in rendered}  # never committed with values


def test_the_original_names_and_ports_are_kept(rendered):
    deployment = one(rendered, "Deployment", "image-background-processor")
    assert deployment["spec"]["replicas"] == 2
    names = [c["name"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert names == [APP, FRONT]
    # The pod's port 5000, as in the original, is now the front's.
    (port,) = container(deployment, FRONT)["ports"]
    assert port["containerPort"] == 5000

    service = one(rendered, "Service", "image-background-processor-lb")
    assert service["spec"]["type"] == "LoadBalancer"
    (service_port,) = service["spec"]["ports"]
    assert (service_port["port"], service_port["targetPort"]) == (80, 5000)

    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == {"app": "image-background-processor"}
    for selector in (service["spec"]["selector"],
                     one(rendered, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= pod_labels.items()

    one(rendered, "ConfigMap", "my-config")
    sources = container(deployment)["envFrom"]
    assert {"configMapRef": {"name": "my-config"}} in sources
    assert {"secretRef": {"name": secret_example()["metadata"]["name"]}} in sources


def _directive(text: str, name: str) -> str:
    """The value of an nginx directive in `text` (one occurrence, comments aside)."""
    (value,) = re.findall(rf"^\s*{name}\s+([^;]+);", text, re.M)
    return value


def test_ports_match_across_the_front_the_app_and_the_image(rendered):
    """Service -> front (listen.conf) -> app (upstream.conf, PORT): each hop where the next
    listens. The image on its own listens on its ENV's PORT, which it EXPOSEs."""
    deployment = one(rendered, "Deployment")
    config = one(rendered, "ConfigMap", "my-config")["data"]
    front = front_config(rendered)["data"]
    service_port = one(rendered, "Service")["spec"]["ports"][0]["targetPort"]
    assert _directive(front["listen.conf"], "listen") == str(service_port) == str(
        container(deployment, FRONT)["ports"][0]["containerPort"])
    assert _directive(front["upstream.conf"], "server") == f"127.0.0.1:{config['PORT']}"
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
    for a file just too large."""
    config = one(rendered, "ConfigMap", "my-config")["data"]
    app_limit = Settings.from_env({**config, **secret_example()["stringData"]},
                                  dotenv=False).max_content_length
    front_limit = _directive(front_config(rendered)["data"]["nginx.conf"],
                             "client_max_body_size")
    assert front_limit.endswith("m")
    front_bytes = int(front_limit[:-1]) * 1024**2
    # Room for the form around the file (name, token, multipart boundaries).
    assert app_limit + 1024**2 <= front_bytes <= 2 * app_limit


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
    app_port, front_port = int(config["PORT"]), int(_directive(front["listen.conf"], "listen"))
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
        # ...readiness through the front, so a broken front takes the pod out of service...
        (FRONT, "readinessProbe"): (front_port, "/ready"),
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


class _Recorder(dict):
    """An environment that notes every variable asked of it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked: set[str] = set()

    def get(self, key, default=None):
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.asked.add(key)
        return super().__contains__(key)


def variables_the_app_reads(monkeypatch) -> set[str]:
    """Asked of the code itself, not copied from it: Settings.from_env reads every setting
    (with a secret key and nothing else set it reaches them all), and gunicorn.conf.py,
    with MONGO_URI set so that its worker count is read too."""
    settings_env = _Recorder(APP_SECRET_KEY="x" * 32, BG_ENGINE="local")
    Settings.from_env(settings_env, dotenv=False)
    gunicorn_env = _Recorder(MONGO_URI="mongodb://db")
    monkeypatch.setattr(os, "environ", gunicorn_env)
    runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    monkeypatch.undo()
    return settings_env.asked | gunicorn_env.asked


def test_the_app_reads_the_environment_only_through_settings_and_gunicorn_conf():
    """So that the two readers above are all there is to ask."""
    for path in (ROOT / "app").rglob("*.py"):
        if path == ROOT / "app/config.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute):
                assert node.attr not in ("environ", "getenv"), path
            if isinstance(node, ast.ImportFrom) and node.module == "os":
                assert not {a.name for a in node.names} & {"environ", "getenv"}, path


def test_configmap_and_secret_provide_exactly_what_the_app_reads(rendered, monkeypatch):
    read = variables_the_app_reads(monkeypatch)
    config = set(one(rendered, "ConfigMap", "my-config")["data"])
    secret = set(secret_example()["stringData"])
    assert secret == SECRET_KEYS
    assert not config & SECRET_KEYS, "secrets belong in the Secret, not the ConfigMap"
    assert config | secret == read, {"not provided": read - config - secret,
                                     "not read by the app": (config | secret) - read}


def test_the_configmap_values_are_settings_the_app_accepts(rendered):
    config = one(rendered, "ConfigMap", "my-config")["data"]
    settings = Settings.from_env({**config, **secret_example()["stringData"]}, dotenv=False)
    assert settings.app_env == "production" and settings.mongo_uri


def test_the_configmap_sizes_the_server_as_the_image_does(rendered):
    """The pod's resources are sized for the image's worker and thread counts. PORT is the
    one difference: in the pod gunicorn listens behind the front."""
    config = one(rendered, "ConfigMap", "my-config")["data"]
    image = dockerfile.final_stage().env
    shared = set(config) & set(image) - {"PORT"}
    assert {"WEB_CONCURRENCY", "GUNICORN_THREADS", "ONNX_THREADS"} <= shared
    assert {k: config[k] for k in shared} == {k: image[k] for k in shared}


def test_the_pod_runs_locked_down_as_the_image_user(rendered):
    deployment = one(rendered, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    uid, _, gid = dockerfile.final_stage().user.partition(":")
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (
        int(uid), int(gid))
    assert pod["automountServiceAccountToken"] is False
    for spec in pod["containers"]:
        context = spec["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, spec["name"]
        assert context["allowPrivilegeEscalation"] is False, spec["name"]
        assert context["runAsNonRoot"] is True, spec["name"]
        assert context["capabilities"]["drop"] == ["ALL"], spec["name"]
    # The front runs as its image's own unprivileged user.
    front = container(deployment, FRONT)
    assert front["image"].startswith("nginxinc/nginx-unprivileged:")
    assert (front["securityContext"]["runAsUser"], front["securityContext"]["runAsGroup"]) == (
        101, 101)

    volumes = {v["name"]: v for v in pod["volumes"]}
    # The app's one writable place is TMPDIR, on an emptyDir.
    tmpdir = dockerfile.final_stage().env["TMPDIR"]
    (mount,) = container(deployment)["volumeMounts"]
    assert mount["mountPath"] == tmpdir and "emptyDir" in volumes[mount["name"]]
    # The front's: its prefix, on an emptyDir; its config is read-only.
    writable = [m for m in front["volumeMounts"] if not m.get("readOnly")]
    assert [("emptyDir" in volumes[m["name"]]) for m in writable] == [True]


def test_shutdown_lets_the_front_deliver_what_gunicorn_finishes(rendered):
    """The front stops taking connections first, while gunicorn still accepts what the
    front passes on; gunicorn then finishes within its graceful timeout, and all of it
    before the kubelet would kill anything."""
    deployment = one(rendered, "Deployment")
    config = one(rendered, "ConfigMap", "my-config")["data"]
    front_pause = container(deployment, FRONT)["lifecycle"]["preStop"]["sleep"]["seconds"]
    app_pause = container(deployment)["lifecycle"]["preStop"]["sleep"]["seconds"]
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert 0 < front_pause < app_pause
    assert app_pause + int(config["GUNICORN_GRACEFUL_TIMEOUT"]) < grace
    # nginx waits for its requests however long they take (no worker_shutdown_timeout):
    # gunicorn's graceful timeout bounds them.
    assert "worker_shutdown_timeout" not in front_config(rendered)["data"]["nginx.conf"]


def test_rollouts_and_disruptions_keep_a_pod_serving(rendered):
    deployment = one(rendered, "Deployment")
    rolling = deployment["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0 and rolling["maxSurge"] >= 1
    assert one(rendered, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


def test_the_hpa_scales_the_deployment_on_cpu_from_its_replica_count(rendered):
    deployment = one(rendered, "Deployment")
    hpa = one(rendered, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": deployment["metadata"]["name"]}
    assert hpa["spec"]["minReplicas"] == deployment["spec"]["replicas"]
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    # Utilization is a share of the CPU request, so the request must be there.
    assert "cpu" in container(deployment)["resources"]["requests"]


def test_memory_is_reserved_as_much_as_it_is_limited(rendered):
    for spec in one(rendered, "Deployment")["spec"]["template"]["spec"]["containers"]:
        resources = spec["resources"]
        assert resources["requests"]["memory"] == resources["limits"]["memory"], spec["name"]


def test_the_image_is_set_by_kustomize(rendered, tmp_path):
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    (entry,) = kustomization["images"]
    assert entry["name"] == IMAGE_NAME
    assert container(one(rendered, "Deployment"))["image"] == (
        f"{entry['newName']}:{entry['newTag']}")

    # What Cloud Build does before it deploys (cloudbuild.yaml, step set-image).
    folder = shutil.copytree(K8S, tmp_path / "k8s")
    pushed = "europe-west1-docker.pkg.dev/p/r/image-background-processor:0123abc"
    subprocess.run([*kustomize(), "edit", "set", "image", f"{IMAGE_NAME}={pushed}"],
                   cwd=folder, check=True, capture_output=True)
    assert container(one(render(folder), "Deployment"))["image"] == pushed
