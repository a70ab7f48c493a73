"""k8s/ as the tests see it: rendered with the pinned kustomize, and the pieces of it they
ask about (a document by kind and name, a container, the front's generated ConfigMap)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.dockerfile import ROOT

K8S = ROOT / "k8s"
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


def directive(text: str, name: str) -> str:
    """The value of an nginx directive in `text` (one occurrence, comments aside)."""
    (value,) = re.findall(rf"^\s*{name}\s+([^;]+);", text, re.M)
    return value
