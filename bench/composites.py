"""Test images whose alpha is known exactly: subjects laid over backgrounds.

As in matting benchmarks (Adobe Composition-1k), each image is made as
    composite = alpha * F + (1 - alpha) * B
from a subject (foreground colours F and its alpha) and a background B, so `alpha` and `F`
are the ground truth by construction. Everything comes from scikit-image's wheel
(public-domain/CC0 photos and textures) and is drawn at any size from the same recipe, so
the 1 MP and 12 MP images differ only in resolution.

Subjects, chosen for different kinds of edge:
- retina: the fundus photo's disc on its black surround: a natural soft edge (~3 px in the
  photo). On black, photo = alpha * F exactly, so F = photo / alpha.
- horse: scikit-image's horse silhouette, smoothed, rendered 4x supersampled (exact
  coverage on the edge), filled with the cat photo's fur: crisp edges, thin legs, ears, tail.
- furry: the cat's face in a feathered ellipse with ~900 thin fur strands (narrower than a
  pixel, so their alpha is fractional) sticking out: fine structure, semi-transparent.
Backgrounds: tinted textures (brick, grass, gravel), a real photo (Hubble's deep field: dark,
busy, nothing salient), and a saturated green screen whose colour bleeds into every soft edge
(the despill case). A photo with its own subject behind (the coffee cup) was tried and left
out: both models take the cup in too (IoU 0.35-0.69), a segmentation failure no edge step
can mend, which would drown the edge figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

SUBJECTS = ("retina", "horse", "furry")
BACKGROUNDS = ("brick", "grass", "gravel", "hubble", "greenscreen")
SUBJECT_HEIGHT = 0.8  # of the canvas height


@dataclass
class Composite:
    name: str
    image: Image.Image  # the photo the app would get (RGB)
    alpha: np.ndarray  # float32 0..1, ground truth
    foreground: np.ndarray  # float32 0..255 RGB, ground-truth subject colours


def _skimage(name: str) -> np.ndarray:
    import skimage.data

    return getattr(skimage.data, name)()


def _resize(arr: np.ndarray, size: tuple[int, int], resample=Image.Resampling.LANCZOS):
    """Resize a float array (H×W or H×W×C) with Pillow's float mode, channel by channel."""
    if arr.ndim == 2:
        return np.asarray(Image.fromarray(arr.astype(np.float32), "F").resize(size, resample))
    return np.stack([_resize(arr[..., c], size, resample) for c in range(arr.shape[2])], -1)


def _unpremultiply(premultiplied: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """F from alpha*F; where alpha is too small to divide by, the nearest solid colour."""
    solid = alpha > 0.05
    colour = premultiplied / np.maximum(alpha, 1e-6)[..., None]
    _, (rows, cols) = ndimage.distance_transform_edt(~solid, return_indices=True)
    colour = np.where(solid[..., None], colour, colour[rows, cols])
    return np.clip(colour, 0, 255).astype(np.float32)


def _scale_subject(colour: np.ndarray, alpha: np.ndarray, height: int):
    """Resize a subject on premultiplied colour, as any correct image resize must."""
    width = round(alpha.shape[1] * height / alpha.shape[0])
    a = np.clip(_resize(alpha, (width, height)), 0, 1)
    premultiplied = _resize(colour * alpha[..., None], (width, height))
    return _unpremultiply(np.clip(premultiplied, 0, None), a), a


def retina(height: int):
    photo = _skimage("retina").astype(np.float32)
    luma = photo.mean(axis=2)
    # The surround is 0-3, the disc's rim 105+: a ramp between gives the rim's own softness.
    alpha = np.clip((luma - 4) / (100 - 4), 0, 1)
    alpha = ndimage.binary_fill_holes(alpha > 0) * alpha  # dark vessels inside stay opaque
    inside = ndimage.binary_erosion(alpha > 0.5, iterations=6)
    alpha = np.where(inside, 1.0, alpha).astype(np.float32)
    colour = _unpremultiply(photo, alpha)  # photo = alpha * F over black
    return _scale_subject(colour, alpha, height)


def _fill(height: int, width: int) -> np.ndarray:
    """The cat photo's fur, covering a height×width box."""
    cat = _skimage("chelsea").astype(np.float32)
    scale = max(height / cat.shape[0], width / cat.shape[1])
    size = (math.ceil(cat.shape[1] * scale), math.ceil(cat.shape[0] * scale))
    return _resize(cat, size)[:height, :width]


def horse(height: int):
    silhouette = ~_skimage("horse")  # the horse is False (black) in the file
    field = ndimage.gaussian_filter(silhouette.astype(np.float32), 1.2)
    supersample = 4 if height <= 1200 else 2
    width = round(silhouette.shape[1] * height / silhouette.shape[0])
    big = _resize(field, (width * supersample, height * supersample),
                  Image.Resampling.BICUBIC) > 0.5
    coverage = Image.fromarray(big.astype(np.uint8) * 255).reduce(supersample)
    alpha = np.asarray(coverage, np.float32) / 255
    return _fill(height, width), alpha


def furry(height: int, strands: int = 900, seed: int = 7):
    width = round(height * 1.1)
    colour = _fill(height, width)
    # The face as a feathered ellipse (defocus-like edge, 1.5 px at 1 MP).
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    cy, cx, ry, rx = 0.5 * height, 0.5 * width, 0.40 * height, 0.40 * width
    r = np.sqrt(((rows - cy) / ry) ** 2 + ((cols - cx) / rx) ** 2)
    sigma = 1.5 * height / 700
    alpha = np.clip(0.5 - (r - 1) * ry / (2.5 * sigma), 0, 1)
    # Strands drawn 4x supersampled: a 0.25-0.9 px strand covers a fraction of its pixels.
    ss = 4 if height <= 1200 else 2
    hair = Image.new("L", (width * ss, height * ss), 0)
    draw = ImageDraw.Draw(hair)
    rng = np.random.default_rng(seed)
    for _ in range(strands):
        t = rng.uniform(0, 2 * math.pi)
        length = rng.uniform(0.02, 0.09) * height
        thick = max(1, round(rng.uniform(0.25, 0.9) * height / 700 * ss))
        bend = rng.normal(0, 0.35)
        x0, y0 = cx + 0.97 * rx * math.cos(t), cy + 0.97 * ry * math.sin(t)
        points = []
        for step in range(7):  # a gently bending strand
            u = step / 6
            angle = t + bend * u
            points.append(((x0 + u * length * math.cos(angle)) * ss,
                           (y0 + u * length * math.sin(angle)) * ss))
        draw.line(points, fill=255, width=thick)
    strand_alpha = np.asarray(hair.reduce(ss), np.float32) / 255 * 0.9
    alpha = np.maximum(alpha, strand_alpha)
    # Strands take the fur colour at their root: colour of the nearest point inside the face.
    _, (rr, cc) = ndimage.distance_transform_edt(r > 0.95, return_indices=True)
    return colour[rr, cc], alpha.astype(np.float32)


def _texture(name: str, size: tuple[int, int], tint: tuple[float, float, float]):
    gray = _skimage(name).astype(np.float32)
    scale = max(size[0] / gray.shape[1], size[1] / gray.shape[0])
    big = _resize(gray, (math.ceil(gray.shape[1] * scale), math.ceil(gray.shape[0] * scale)))
    big = big[:size[1], :size[0]]
    return np.clip(big[..., None] * np.array(tint, np.float32), 0, 255)


def background(name: str, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    if name == "brick":
        return _texture("brick", size, (1.25, 0.62, 0.48))
    if name == "grass":
        return _texture("grass", size, (0.45, 1.3, 0.35))
    if name == "gravel":
        return _texture("gravel", size, (1.0, 1.0, 1.0))
    if name == "hubble":
        return _texture_photo("hubble_deep_field", size)
    if name == "greenscreen":  # a lit green screen: saturated, with a soft falloff and noise
        rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
        light = 1 - 0.25 * ((cols / width - 0.5) ** 2 + (rows / height - 0.4) ** 2)
        noise = np.random.default_rng(3).normal(0, 3, (height, width, 1))
        return np.clip(np.array([20, 190, 70], np.float32) * light[..., None] + noise, 0, 255)
    raise ValueError(name)


def _texture_photo(name: str, size: tuple[int, int]) -> np.ndarray:
    photo = _skimage(name).astype(np.float32)
    scale = max(size[0] / photo.shape[1], size[1] / photo.shape[0])
    big = _resize(photo, (math.ceil(photo.shape[1] * scale), math.ceil(photo.shape[0] * scale)))
    return big[:size[1], :size[0]]


@lru_cache(maxsize=8)
def subject(name: str, height: int):
    return {"retina": retina, "horse": horse, "furry": furry}[name](height)


def composite(subject_name: str, background_name: str,
              size: tuple[int, int] = (1152, 864)) -> Composite:
    width, height = size
    colour, a = subject(subject_name, round(height * SUBJECT_HEIGHT))
    h, w = a.shape
    # Not always dead centre: the position shifts with the background.
    shift = (BACKGROUNDS.index(background_name) - 2) * width // 16
    top, left = (height - h) // 2, (width - w) // 2 + shift
    alpha = np.zeros((height, width), np.float32)
    fg = np.zeros((height, width, 3), np.float32)
    alpha[top:top + h, left:left + w] = a
    fg[top:top + h, left:left + w] = colour
    bg = background(background_name, size)
    pixels = alpha[..., None] * fg + (1 - alpha[..., None]) * bg
    image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")
    return Composite(f"{subject_name}/{background_name}", image, alpha, fg)


