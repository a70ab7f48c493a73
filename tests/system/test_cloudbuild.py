"""cloudbuild.yaml, checked as far as it can be without Google Cloud: its structure, its
substitutions, the order of its steps, and that it deploys the image it pushed."""

import re

import pytest
import yaml

from tests.system.test_k8s import IMAGE_NAME, K8S, ROOT

# Substitutions Cloud Build provides itself (https://cloud.google.com/build/docs/configuring-builds/substitute-variable-values).
BUILT_IN = {"PROJECT_ID", "PROJECT_NUMBER", "BUILD_ID", "LOCATION", "TRIGGER_NAME",
            "COMMIT_SHA", "SHORT_SHA", "REVISION_ID", "BRANCH_NAME", "TAG_NAME", "REPO_NAME",
            "REPO_FULL_NAME", "SERVICE_ACCOUNT_EMAIL", "SERVICE_ACCOUNT"}
IMAGE = "${_REGION}-docker.pkg.dev/$PROJECT_ID/${_REPOSITORY}/${_IMAGE}:$SHORT_SHA"


@pytest.fixture(scope="module")
def build():
    return yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())


def steps_text(build) -> str:
    return yaml.safe_dump({k: v for k, v in build.items() if k != "substitutions"})


def test_every_step_names_a_builder_and_a_unique_id(build):
    ids = []
    for step in build["steps"]:
        assert set(step) <= {"id", "name", "args", "entrypoint", "env", "dir", "waitFor",
                             "secretEnv", "timeout", "script"}, step
        assert isinstance(step["name"], str) and step["name"], step
        ids.append(step["id"])
    assert len(ids) == len(set(ids))
    # Without waitFor, each step waits for all before it: tests gate the build and deploy.
    assert not any("waitFor" in step for step in build["steps"])
    assert ids.index("test") < ids.index("build") < ids.index("push") < ids.index(
        "set-image") < ids.index("deploy") < ids.index("rollout")


def test_substitutions_used_are_declared_and_declared_ones_used(build):
    used = set(re.findall(r"\$\{?(\w+)\}?", steps_text(build)))
    declared = set(build["substitutions"])
    assert {"_REGION", "_CLUSTER", "_REPOSITORY", "_IMAGE"} <= declared
    assert all(name.startswith("_") for name in declared)
    assert used - BUILT_IN == declared


def test_the_image_pushed_is_the_image_deployed(build):
    by_id = {step["id"]: step for step in build["steps"]}
    assert IMAGE in by_id["build"]["args"][1]
    assert by_id["push"]["args"] == ["push", IMAGE]
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["images"][0]["name"] == IMAGE_NAME
    assert f"kustomize edit set image {IMAGE_NAME}={IMAGE}" in by_id["set-image"]["args"][-1]
    assert by_id["deploy"]["args"] == ["apply", "-f", "rendered.yaml"]
    assert "> ../rendered.yaml" in by_id["set-image"]["args"][-1]
    assert build["images"] == [IMAGE]


def test_the_tests_and_the_deploy_use_the_repository_kustomize(build):
    by_id = {step["id"]: step for step in build["steps"]}
    assert by_id["kustomize"]["args"] == [".ci/install-kustomize"]
    assert (ROOT / ".ci/install-kustomize").is_file()
    assert "CI=true" in by_id["test"]["env"]  # the k8s tests fail, not skip, without it
    command = by_id["test"]["args"][-1]
    assert command.startswith("make test-quick lint && ")
    assert "tests/system/test_k8s.py" in command


def test_both_kubectl_steps_know_the_cluster(build):
    for step in build["steps"]:
        if step["name"].endswith("/kubectl"):
            env = dict(item.split("=", 1) for item in step["env"])
            assert env == {"CLOUDSDK_COMPUTE_ZONE": "${_CLUSTER_LOCATION}",
                           "CLOUDSDK_CONTAINER_CLUSTER": "${_CLUSTER}"}
