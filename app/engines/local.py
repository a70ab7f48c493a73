"""The offline engine: U²-Net-family salient-object model, run by OpenVINO or onnxruntime
(runtimes.py).

Pre-processing matches how the model was trained and how rembg feeds it (the whole photo,
LANCZOS to the model's input size, divide by the image's own maximum, ImageNet mean/std);
measured against rembg, cheaper steps there (bilinear, dividing by 255, a half-size JPEG
decode) visibly degrade the mask. The full decode is the one the result is composed from.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from app import model_files
from app.engines import admission, runtimes
from app.images.decoding import Photo
from app.images.pngwriter import POOL
from app.images.resample import SPLIT_PIXELS, across_threads

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class LocalEngine:
    name = "local"
    remote = False

    def __init__(self, model_path: str, runtime: str = runtimes.RUNTIMES[0], threads: int = 0,
                 streams: int = 1):
        self.model = runtimes.load(model_path, runtime, threads, streams)
        self.input_size = self.model.input_size

    def mask(self, photo: Photo, model: str | None = None) -> Image.Image:
        """The model's mask for `photo`, at the model's input size (`model`: this one)."""
        # From the full decode, which the result needs anyway: a half-size JPEG decode (DCT
        # scaling) took the mask's IoU against rembg's down to 0.72 for a 1 MP photo with
        # u2net and 0.95 at 12 MP, to save 35-40 ms at 12 MP (docs/performance.md).
        return self.predict(photo.full())

    def predict(self, img: Image.Image) -> Image.Image:
        """The model's mask for a decoded image, as an L image of the model's input size."""
        rgb = img if img.mode == "RGB" else img.convert("RGB")  # a copy: only if needed
        if rgb.width * rgb.height >= SPLIT_PIXELS:
            # Pillow's own pixels, on two cores: at 12 MP this resize is the longest step
            # before the model (92 ms on one here, 60 on two).
            small = across_threads(rgb, self.input_size, Image.Resampling.LANCZOS, POOL)
        else:
            small = rgb.resize(self.input_size, Image.Resampling.LANCZOS)
        return self.predict_resized(small)

    def predict_resized(self, small: Image.Image) -> Image.Image:
        """The model's mask for an RGB image already at the model's input size."""
        arr = np.asarray(small, dtype=np.float32)
        arr /= max(float(arr.max()), 1.0)
        arr = (arr - MEAN) / STD
        batch = arr.transpose(2, 0, 1)[np.newaxis]  # either runtime copies it in as it needs
        pred = self.model.infer(batch)[0, 0]
        low, high = float(pred.min()), float(pred.max())
        pred = (pred - low) / (high - low) if high > low else np.zeros_like(pred)
        # 256 equal bins, the top one 255: truncating `pred * 255` gave 255 to the maximum
        # alone, and the model's sure subject, a hair under it, was 254 throughout (a cutout
        # never quite opaque). Rounding would also lift the faintest background to 1 (2% more
        # PNG at 12 MP); here it stays 0 as before.
        return Image.fromarray(np.minimum(pred * 256, 255).astype(np.uint8), "L")


class LocalModels:
    """The engine the app runs: the models in one folder, each file loaded the first
    time an upload asks for that model (u2net holds about 200 MB more than u2netp with
    onnxruntime, 400 MB with OpenVINO: a process that never uses it never pays for it),
    then kept for the process's life."""

    name = "local"
    remote = False

    def __init__(self, folder: str, default: str, installed: tuple[str, ...], *,
                 runtime: str = runtimes.RUNTIMES[0], threads: int = 0, streams: int = 1):
        self.folder, self.default, self.installed = folder, default, installed
        self.runtime, self.threads, self.streams = runtime, threads, streams
        self._engines: dict[str, LocalEngine] = {}
        # Chosen now, as start-up checked them: a file that appears later is not read.
        self._files = {name: str(model_files.model_file(folder, name, runtime))
                       for name in installed}

    def engine(self, model: str | None = None) -> LocalEngine:
        name = model or self.default
        if name not in self._engines:
            # Two first uploads at once may both build one: runtimes.load gives them the same
            # loaded model, so the second is only a small wrapper.
            with admission.aside():  # once a process: not what a photo takes
                self._engines.setdefault(name, LocalEngine(self._files[name], self.runtime,
                                                           self.threads, self.streams))
        return self._engines[name]

    def mask(self, photo: Photo, model: str | None = None) -> Image.Image:
        return self.engine(model).mask(photo)

    def inference_megapixels(self, model: str | None = None) -> float:
        """What the admission prices `model`'s inference at, in this runtime
        (model_files.Model)."""
        return model_files.MODELS[model or self.default].inference_megapixels(self.runtime)
