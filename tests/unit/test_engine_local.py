"""The local U²-Net-p engine on real photos."""

import shutil

import numpy as np
import pytest
from PIL import Image

from app.engines import runtimes
from app.engines.local import LocalEngine
from tests.support import cutout, encode, model_path, open_png, photo_array

# (background corners as (x, y) fractions, a point on the subject)
SCENES = {
    "chelsea": ([(0, 0), (1, 0)], (0.5, 0.5)),  # a cat; its body reaches the bottom edge
    "astronaut": ([(0, 0), (1, 0)], (0.5, 0.5)),  # a person
    "rocket": ([(0, 0), (1, 0), (0, 1), (1, 1)], (0.5, 0.5)),  # an object against sky
    "coffee": ([(0, 0), (1, 0), (0, 1), (1, 1)], (0.5, 0.5)),  # an object on a table
}


def cut(engine, data):
    return cutout(engine, data, max_pixels=50_000_000)


@pytest.mark.parametrize("name", SCENES)
def test_background_corners_are_transparent_and_the_subject_opaque(engine, name):
    data = encode(photo_array(name), quality=95)
    img = open_png(cut(engine, data).data)
    alpha = np.asarray(img.getchannel("A"))
    h, w = alpha.shape
    corners, subject = SCENES[name]
    for fx, fy in corners:
        assert alpha[round(fy * (h - 1)), round(fx * (w - 1))] < 16, (name, fx, fy)
    assert alpha[round(subject[1] * (h - 1)), round(subject[0] * (w - 1))] > 240


@pytest.mark.parametrize("name", ["chelsea", "astronaut", "coffee"])
def test_the_inside_of_the_subject_is_fully_opaque(engine, name):
    """The model's sure subject comes out a hair under its maximum: truncated to 8 bits it
    was 254 nearly throughout, so every cutout let 1/255 of its background show through."""
    alpha = np.asarray(open_png(cut(engine, encode(photo_array(name), quality=95)).data)
                       .getchannel("A"))
    h, w = alpha.shape
    assert alpha[round(0.5 * (h - 1)), round(0.5 * (w - 1))] == 255
    assert np.count_nonzero(alpha == 255) > 5 * np.count_nonzero(alpha == 254)


class _Given:
    """A model whose output is given, so the mask's levels are known exactly."""

    input_size = (4, 2)

    def __init__(self, output):
        self.output = np.asarray(output, dtype=np.float32)

    def infer(self, batch):
        return self.output[np.newaxis, np.newaxis]


def test_the_models_output_becomes_256_equal_levels():
    """Each level 1/256 of the range: the top one is 255 (not the maximum alone), and the
    faintest background stays 0 (rounding would have made it 1)."""
    engine = LocalEngine.__new__(LocalEngine)
    engine.model = _Given([[0.0, 0.0039, 0.0040, 0.5], [0.9960, 0.9961, 0.999, 1.0]])
    engine.input_size = engine.model.input_size
    mask = engine.predict(Image.new("RGB", (8, 4), (90, 120, 30)))
    assert np.asarray(mask).tolist() == [[0, 0, 1, 128], [254, 255, 255, 255]]


def test_the_model_sees_the_whole_photo_as_rembg_feeds_it(engine):
    """The model's input is the full decode scaled by LANCZOS, as rembg makes it: a
    half-size JPEG decode (DCT scaling) took the mask's IoU against rembg's down to 0.72
    for this 1 MP photo with u2net (tests/system/test_engine_quality.py)."""
    from app.images.decoding import Photo, decode, probe

    data = encode(Image.fromarray(photo_array("rocket")).resize((1152, 768)), quality=92)
    whole = decode(data)
    fed = []
    real = engine.model.infer
    engine.model.infer = lambda batch: fed.append(batch) or real(batch)
    try:
        mask = engine.mask(Photo(data, probe(data, 10**8)))
    finally:
        del engine.model.infer
    small = np.asarray(whole.resize((320, 320), Image.Resampling.LANCZOS), np.float32)
    small /= small.max()
    expected = ((small - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]).transpose(2, 0, 1)
    assert len(fed) == 1
    np.testing.assert_allclose(fed[0][0], expected, atol=1e-5)
    assert mask.size == (320, 320)


def test_full_resolution_and_unchanged_colours(engine):
    source = Image.fromarray(photo_array("coffee")).resize((1200, 800))
    data = encode(source, "PNG")
    result = cut(engine, data)
    img = open_png(result.data)
    assert img.size == (1200, 800) == (result.width, result.height)
    assert img.mode == "RGBA"
    pixels, original = np.asarray(img), np.asarray(source)
    visible = pixels[..., 3] > 0
    assert 0.2 < visible.mean() < 0.9
    assert np.array_equal(pixels[visible][:, :3], original[visible])
    assert not pixels[~visible].any()  # fully transparent pixels carry no colour


def test_exif_orientation_is_applied_before_the_cutout(engine):
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(photo_array("rocket"), "JPEG", exif=exif)
    img = open_png(cut(engine, data).data)
    assert img.size == (427, 640)


def test_transparent_input_stays_transparent(engine):
    rgba = Image.fromarray(photo_array("coffee")).convert("RGBA")
    rgba.putalpha(Image.new("L", rgba.size, 0).point(lambda _: 0))
    alpha = np.asarray(open_png(cut(engine, encode(rgba, "PNG")).data).getchannel("A"))
    assert alpha.max() == 0


@pytest.mark.parametrize("runtime", runtimes.RUNTIMES)
def test_the_model_is_loaded_once_per_process(runtime):
    path = model_path()
    assert runtimes.load(path, runtime) is runtimes.load(path, runtime)
    assert LocalEngine(path, runtime).model is LocalEngine(path, runtime).model
    assert LocalEngine(path, runtime).model is not LocalEngine(path, runtime, threads=1).model


def test_another_model_file_can_be_used(tmp_path):
    copy = tmp_path / "my-u2net.onnx"
    shutil.copy(model_path(), copy)
    engine = LocalEngine(str(copy))
    assert engine.model is not runtimes.load(model_path())
    assert engine.input_size == (320, 320)
    result = cut(engine, encode(photo_array("rocket")))
    assert (result.width, result.height) == (640, 427)


def test_gunicorn_gives_each_worker_its_share_of_the_cores(monkeypatch):
    import runpy
    from pathlib import Path

    from app.hosting import available_cpus

    conf = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"
    monkeypatch.setenv("MONGO_URI", "mongodb://db.example/")
    monkeypatch.setenv("WEB_CONCURRENCY", "2")
    monkeypatch.delenv("ENGINE_CONCURRENCY", raising=False)
    settings = runpy.run_path(str(conf))
    assert settings["raw_env"] == [f"ENGINE_CONCURRENCY={max(1, available_cpus() // 2)}"]
    monkeypatch.setenv("ENGINE_CONCURRENCY", "3")
    assert "raw_env" not in runpy.run_path(str(conf))
