"""The shape of the code, checked: the three front doors (the page, the API, remove.bg's API)
are siblings over one HTTP-free core, engines only make masks, and no module grows past 300
lines."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
HTTP = ("flask", "flask_wtf", "limits", "werkzeug", "itsdangerous")


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of the file (also inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules(*parts: str):
    for part in parts:
        target = APP / part
        yield from ([target] if target.suffix == ".py" else sorted(target.rglob("*.py")))


DOORS = ("web", "api", "removebg")  # the page, the JSON API, remove.bg's API


@pytest.mark.parametrize("door", DOORS)
def test_the_front_doors_never_import_each_other(door):
    others = tuple(f"app.{other}" for other in DOORS if other != door)
    for path in modules(door):
        assert not any(name == other or name.startswith(f"{other}.")
                       for name in imports(path) for other in others), path


# The settings check a rate limit's syntax, and its store's scheme, with the library that
# reads them (as MONGO_URI's with pymongo's parser): they use nothing else of it.
ALLOWED = {"setting_types.py": {"limits"}}


@pytest.mark.parametrize("part", ["core", "engines", "images", "storage", "settings.py",
                                  "setting_types.py", "model_files.py", "services.py",
                                  "metrics.py", "hosting.py"])
def test_below_the_front_doors_nothing_knows_http(part):
    for path in modules(part):
        used = {name.split(".")[0] for name in imports(path)} - ALLOWED.get(part, set())
        assert not used & set(HTTP), (path, used & set(HTTP))
        assert not any(name.startswith(("app.http", *(f"app.{door}" for door in DOORS)))
                       for name in imports(path)), path


def test_engines_make_masks_and_never_compose():
    for path in modules("engines"):
        assert not any(name.startswith("app.images.compose") for name in imports(path)), path


def test_what_gunicorns_master_imports_loads_nothing_heavy():
    """gunicorn.conf.py imports app.hosting in the master, before forking workers."""
    code = ("import sys, app.hosting; heavy = {'flask', 'numpy', 'onnxruntime', 'openvino', "
            "'PIL', 'pymongo', 'pydantic'} & set(sys.modules); print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], cwd=APP.parent, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_module_is_small():
    sizes = {path.relative_to(APP): len(path.read_text().splitlines())
             for path in APP.rglob("*.py")}
    assert max(sizes.values()) <= 300, {p: n for p, n in sizes.items() if n > 300}


@pytest.mark.parametrize("module", ["app.core.fields", "app.core.forms", "app.images.outputs",
                                    "app.model_files"])
def test_reading_a_rule_loads_no_image_library(module):
    """The rules and the choices they offer are declared apart from the compositor, so
    the forms (and the OpenAPI document made of them) load no numpy, Pillow or ISA-L."""
    code = (f"import sys, {module}; heavy = {{'numpy', 'PIL', 'isal', 'onnxruntime', "
            "'openvino', 'pymongo', 'flask'} & set(sys.modules); print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], cwd=APP.parent, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_app_never_imports_build_tooling():
    """Fetching weights is build tooling (scripts/models.py), as are the benchmarks: the
    app reaches neither."""
    for path in APP.rglob("*.py"):
        assert not any(name.split(".")[0] in ("scripts", "bench") for name in imports(path)), path
