"""The model choice per upload: Fast (u2netp) by default, Best quality (u2net) when asked
and installed, each loaded the first time it is needed; a model the server lacks is refused
with a sentence, and the page says it is not installed."""

import contextlib
import io
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from app import create_app
from tests.support import MODELS_DIR, Visitor, open_png, photo

API = "/api/v1"


def create(client, **form):
    token = client.get(f"{API}/session").get_json()["csrf_token"]
    return client.post(f"{API}/records", headers={"X-CSRFToken": token},
                       data={"name": "cat", "image": (io.BytesIO(photo("astronaut")), "a.jpg"),
                             **form})


def test_each_model_is_loaded_when_first_asked_for_and_recorded(app):
    engine = app.extensions["services"].engines.primary
    assert engine.installed == ("u2netp", "u2net") and engine._engines == {}
    client = app.test_client()
    fast = create(client).get_json()
    assert fast["model"] == "u2netp" and set(engine._engines) == {"u2netp"}
    best = create(client, model="u2net").get_json()
    assert best["model"] == "u2net" and set(engine._engines) == {"u2netp", "u2net"}
    # Two masks of the same photo by the two models: both real cutouts, not the same one.
    fast_alpha, best_alpha = (np.asarray(open_png(client.get(r["processed"]["url"]).data))[
        ..., 3] for r in (fast, best))
    assert fast_alpha[0, 0] < 16 and best_alpha[0, 0] < 16  # a corner: background
    assert not np.array_equal(fast_alpha, best_alpha)


def test_a_models_first_load_is_set_aside_from_what_the_line_learns(app, monkeypatch):
    """Loading a model, once a process, happens inside the upload's turn but is not its
    work: the admission does not learn it (test_admission.py: what `aside` leaves out)."""
    from app.engines import admission, local

    engine = app.extensions["services"].engines.primary
    aside, loads = [], []
    real_aside, real_load = admission.aside, local.runtimes.load

    @contextlib.contextmanager
    def noted():
        aside.append("in")
        with real_aside():
            yield
        aside.append("out")

    monkeypatch.setattr(admission, "aside", noted)
    monkeypatch.setattr(local.runtimes, "load", lambda *a: loads.append(aside[:]) or real_load(*a))
    assert create(app.test_client()).status_code == 201
    assert create(app.test_client(), model="u2net").status_code == 201
    assert create(app.test_client(), model="u2net").status_code == 201  # nothing set aside
    assert loads == [["in"], ["in", "out", "in"]]
    assert aside == ["in", "out", "in", "out"]
    assert set(engine._engines) == {"u2netp", "u2net"}


def test_an_uninstalled_model_is_refused_and_the_page_says_so(settings, tmp_path):
    shutil.copy(MODELS_DIR / "u2netp.onnx", tmp_path / "u2netp.onnx")
    app = create_app(settings.changed(bg_models_dir=str(tmp_path),
                                      upload_rate_limit="1 per minute"))
    client = app.test_client()
    response = create(client, model="u2net")
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_options", "message": (
        "The Best quality model (u2net) is not installed on this server. Please choose "
        "another.")}
    # Refused before its photo was read: no fee (core/results.Paying), the minute's one
    # upload is still there.
    assert create(client).status_code == 201
    page = Visitor(app.test_client()).page().get_data(as_text=True)
    assert re.search(r'value="u2net"[^>]*disabled', page)
    assert "not installed" in page


def test_the_default_model_is_a_setting(settings):
    app = create_app(settings.changed(bg_model="u2net"))
    record = create(app.test_client()).get_json()
    assert record["model"] == "u2net"


def test_an_edit_keeps_the_model_that_made_the_mask(app):
    client = app.test_client()
    record = create(client, model="u2net").get_json()
    token = client.get(f"{API}/session").get_json()["csrf_token"]
    edited = client.patch(f"{API}/records/{record['id']}", json={"output": "mask"},
                          headers={"X-CSRFToken": token}).get_json()
    assert edited["model"] == "u2net"
    mask = Image.open(io.BytesIO(client.get(edited["processed"]["url"]).data))
    assert mask.mode == "L"


@pytest.mark.parametrize("value", ["u2net_human_seg", "U2NET", ""])
def test_only_the_catalogues_names(app, value):
    response = create(app.test_client(), model=value)
    assert response.status_code == 400
    assert response.get_json()["message"] == "model must be one of: u2netp, u2net."


@pytest.mark.parametrize("runtime, fast, best", [("openvino", 7, 18), ("onnxruntime", 11, 22)])
def test_the_line_prices_each_models_inference_and_a_new_look_none(settings, monkeypatch,
                                                                   runtime, fast, best):
    """What the admission is told of each job, through the app with the real models: the
    photo's 512 × 512 pixels (0.262144 MP) and the fixed 2 MP, plus the model's inference
    in the runtime (OpenVINO: u2netp 7 MP's worth, u2net 18; onnxruntime: 11 and 22); a
    new look from the kept mask runs no model."""
    app = create_app(settings.changed(bg_runtime=runtime))
    line = app.extensions["services"].engines.admission
    priced, real_admitted = [], line.admitted

    def admitted(work, *args, **kwargs):
        priced.append(round(work.megapixels, 6))
        return real_admitted(work, *args, **kwargs)

    monkeypatch.setattr(line, "admitted", admitted)
    client = app.test_client()
    assert Image.open(io.BytesIO(photo("astronaut"))).size == (512, 512)
    made = create(client).get_json()
    create(client, model="u2net")
    token = client.get(f"{API}/session").get_json()["csrf_token"]
    assert client.patch(f"{API}/records/{made['id']}", json={"output": "mask"},
                        headers={"X-CSRFToken": token}).status_code == 200
    assert priced == [2 + fast + 0.262144, 2 + best + 0.262144, 2.262144]
