"""k8s/: rendered with kustomize, validated against the Kubernetes API schemas, and held to
the original's contract and to what the app and the image really do."""

from __future__ import annotations

import ast
import copy
import os
import runpy
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

from app.setting_types import SECRET_VARIABLES
from app.settings import Settings
from tests import dockerfile
from tests.manifests import (
    APP,
    FRONT,
    K8S,
    ROOT,
    container,
    kustomize,
    one,
    render,
    secret_example,
)

# The oldest minor version a GKE release channel still offered when this was written, and
# the newest that kubernetes-validate knows: the manifests must hold on both.
KUBERNETES_VERSIONS = ("1.33.0", kubernetes_validate.latest_version())
SECRET_KEYS = set(SECRET_VARIABLES)  # the settings that are secrets, said in setting_types
IMAGE_NAME = "image-background-processor"  # the name kustomization.yaml's `images` replaces
# The front's side of the pod (its config, ports, probes, shutdown) is test_k8s_front.py.


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    return render()


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_kubernetes(rendered, version):
    documents = [*rendered, secret_example()]
    for doc in documents:
        kubernetes_validate.validate(doc, version, strict=True)
    kinds = sorted(d["kind"] for d in documents)
    assert kinds == ["ConfigMap", "ConfigMap", "Deployment", "HorizontalPodAutoscaler",
                     "NetworkPolicy", "PodDisruptionBudget", "Secret", "Service"]


def test_clients_reach_the_pod_at_the_fronts_port_alone(rendered):
    """gunicorn's port believes the front's X-Forwarded-For: the NetworkPolicy lets other
    pods in at the front's port only (helper 76), selecting the Deployment's own pods; and
    Google's managed Prometheus, alone, at the app's port for /metrics (helper 96)."""
    (policy,) = [d for d in rendered if d["kind"] == "NetworkPolicy"]
    (deployment,) = [d for d in rendered if d["kind"] == "Deployment"]
    assert policy["spec"]["podSelector"] == deployment["spec"]["selector"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    anyone, scraper = policy["spec"]["ingress"]
    assert "from" not in anyone  # anyone: the Service's clients
    named = {p["name"] for c in deployment["spec"]["template"]["spec"]["containers"]
             for p in c["ports"]}
    assert anyone["ports"] == [{"port": "http", "protocol": "TCP"}] and "http" in named
    assert scraper == {"from": [{"namespaceSelector": {"matchExpressions": [{
        "key": "kubernetes.io/metadata.name", "operator": "In",
        "values": ["gmp-system", "gke-gmp-system"]}]}}],
        "ports": [{"port": "app", "protocol": "TCP"}]} and "app" in named


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
    # The original's 2 replicas are the HPA's minimum: a count here would be set back by
    # every deploy, under load too.
    assert "replicas" not in deployment["spec"]
    assert one(rendered, "HorizontalPodAutoscaler")["spec"]["minReplicas"] == 2
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
        if path in (ROOT / "app/settings.py", ROOT / "app/hosting.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            # os.environ and os.getenv, not a WSGI request's environ (its headers)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                assert (node.value.id, node.attr) not in {("os", "environ"),
                                                          ("os", "getenv")}, path
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
    # Paths into the image's models folder, as this machine's (the same files).
    config = {key: dockerfile.local_models(value) for key, value in config.items()}
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


def test_rollouts_and_disruptions_keep_a_pod_serving(rendered):
    deployment = one(rendered, "Deployment")
    rolling = deployment["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0 and rolling["maxSurge"] >= 1
    assert one(rendered, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


def test_the_hpa_scales_the_deployment_on_cpu(rendered):
    deployment = one(rendered, "Deployment")
    hpa = one(rendered, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": deployment["metadata"]["name"]}
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    # Utilization is a share of the CPU request, so the request must be there.
    assert "cpu" in container(deployment)["resources"]["requests"]


def test_memory_is_reserved_as_much_as_it_is_limited(rendered):
    for spec in one(rendered, "Deployment")["spec"]["template"]["spec"]["containers"]:
        resources = spec["resources"]
        assert resources["requests"]["memory"] == resources["limits"]["memory"], spec["name"]


def test_the_app_container_holds_its_workers_at_their_memory_budget(rendered):
    from tests.system.test_memory import IDLE_SLACK, PEAK_BUDGET

    limit = container(one(rendered, "Deployment"))["resources"]["limits"]["memory"]
    assert limit.endswith("Mi")
    workers = int(one(rendered, "ConfigMap", "my-config")["data"]["WEB_CONCURRENCY"])
    master = 40 * 2**20  # gunicorn's master, measured (docs/scaling.md)
    # A job may leave a worker up to IDLE_SLACK above where it idled before, and the next
    # job's peak starts from there.
    assert int(limit[:-2]) * 2**20 >= workers * (PEAK_BUDGET + IDLE_SLACK) + master


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
