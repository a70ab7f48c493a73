"""Check an upload (`probe`), and decode it the right way up (`Photo`, `decode`)."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from app.images import colour, orientation, structure
from app.images.outputs import ACCEPTED_TEXT

# A JPEG with extra pictures after the first (phones add gain maps and previews this way):
# Pillow opens it as MPO; it is a JPEG photo.
ACCEPTED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp",
                    "MPO": "image/jpeg"}
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}

# A camera's EXIF fits a JPEG's 64 KB segment; a PNG's or WebP's may be any size, and
# Pillow unpacks it whole to find the orientation (14 MB took 5.6 s and 330 MB).
MAX_EXIF_BYTES = 65_535
# The longest side taken, a JPEG's own: the mask is scaled through a width × 320 step and
# refining walks rows in Python: 10,000,000 × 1 (29 KB, priced as 10 MP) took 3.7 GB and
# 23 s of CPU; 65,535 × 1 takes 0.7 s and 22 MB, 1 × 65,535 refined 1.2 s.
MAX_PHOTO_SIDE = 65_535
# Pillow reads a WebP with libwebp's animation decoder: two canvases and the frame's bytes
# beside the pixels while it decodes, 16 bytes a pixel against a JPEG's 4 (785 MB at 50 MP).
# A 50 MP WebP photo over a 50 MP WebP background took a worker to 1,534 MiB (helper 79).
MAX_WEBP_PIXELS = 25_000_000
# Anything Pillow can raise on a damaged file while decoding it.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError,
                  Image.DecompressionBombError)
# Pillow inflates a PNG's text at each opening (three an upload), by default up to 64 MB: 63
# chunks of 1 KB inflating to 1 MB each took a 1×1 PNG's check 0.42 s. A photo's is a few KB.
PngImagePlugin.MAX_TEXT_MEMORY = MAX_PNG_TEXT = 4 * 1024 * 1024


class InvalidImage(ValueError):
    """Not an image we can use: `message` is for the visitor, and `kind` says why: `invalid`
    (damaged, empty), `unsupported` (not a still JPEG/PNG/WebP) or `too_large`."""

    KINDS = ("invalid", "unsupported", "too_large")

    def __init__(self, message: str, kind: str = "invalid"):
        super().__init__(message)
        self.message, self.kind = message, kind


@dataclass(frozen=True)
class ImageInfo:
    """What an upload is, with width and height as displayed (EXIF orientation applied)."""

    format: str
    content_type: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def probe(data: bytes, max_pixels: int, stored: bool = False) -> ImageInfo:
    """Check that `data` is a whole, still JPEG/PNG/WebP within `max_pixels`; describe it.

    The pixel check reads the header, so a small file declaring a huge image (a decompression
    bomb) is refused unallocated. Nothing here decodes at full size, since every request
    thread runs it: a baseline JPEG is decoded at 1/8 scale (a progressive one not at all), a
    PNG's chunks are checked uninflated, a WebP's container is parsed as it opens; a JPEG's
    scans and a PNG's chunks are counted first. Damage missed here is an `InvalidImage` when
    the engine decodes it, in its turn. A `stored` photo (a record's) has no WebP limit."""
    if not data:
        raise InvalidImage("The file is empty. Please choose a photo to upload.")
    # Counted before Pillow opens the file, which reads a PNG's chunks up to its pixels.
    costly = structure.refusal(data)
    if costly == structure.NO_PICTURE:
        raise _damaged()
    if costly:
        raise _too_complex(costly)
    try:
        # Pillow's JPEG plugin opens an MPO itself: it needs no format of its own here.
        img = Image.open(io.BytesIO(data), formats=["JPEG", "PNG", "WEBP"])
    except UnidentifiedImageError:
        if structure.read_here(data):
            raise _damaged() from None
        named = structure.other_format(data)
        raise InvalidImage((f"{named} images cannot be read here" if named else "That file "
                            "is not an image we can read") + f". Please upload a "
                           f"{ACCEPTED_TEXT} image.", kind="unsupported") from None
    except Image.DecompressionBombError:
        raise _too_many_pixels(max_pixels) from None
    except _DECODE_ERRORS as exc:
        raise _unreadable(exc) from None

    with img:
        width, height = img.size
        if width * height > max_pixels:
            raise _too_many_pixels(max_pixels, width, height)
        if img.format == "WEBP" and width * height > MAX_WEBP_PIXELS and not stored:
            raise InvalidImage(f"This WebP image is too large ({width}×{height}). A WebP may "
                               f"have at most {MAX_WEBP_PIXELS / 1e6:g} megapixels here: "
                               "please send it as a JPEG or PNG, or smaller.", kind="too_large")
        if max(width, height) > MAX_PHOTO_SIDE:
            raise InvalidImage(f"The image is too long ({width}×{height}). A side may be at "
                               f"most {MAX_PHOTO_SIDE:,} pixels.", kind="too_large")
        if getattr(img, "is_animated", False) and img.format != "MPO":
            raise InvalidImage("Animated images are not supported. Please upload a still "
                               "photo.", kind="unsupported")
        try:
            if len(img.info.get("exif", b"")) > MAX_EXIF_BYTES:
                raise _too_complex("carries more than 64 KB of EXIF metadata")
            turned = orientation.of(img)
            fmt = img.format
            if fmt in ("JPEG", "MPO") and _lacks_its_picture(data):
                raise _damaged()
            if fmt in ("JPEG", "MPO"):
                # A progressive JPEG keeps every coefficient of the whole photo whatever
                # the scale it is decoded at (280 MB at 48 MP): it is decoded only once,
                # by the engine, in its turn.
                if not img.info.get("progressive"):
                    img.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                    img.load()
            elif fmt == "PNG":
                with Image.open(io.BytesIO(data)) as fresh:  # verify() wants a fresh image
                    fresh.verify()
        except InvalidImage:
            raise
        except _DECODE_ERRORS as exc:
            raise _unreadable(exc) from None

    if turned in orientation.SWAPS_AXES:
        width, height = height, width
    return ImageInfo("JPEG" if fmt == "MPO" else fmt, ACCEPTED_FORMATS[fmt], width, height)


class Photo:
    """A checked upload: its bytes, what `probe` found, and its pixels decoded once, when
    first needed (the model's input, the result and the renditions all come from it)."""

    def __init__(self, data: bytes, info: ImageInfo):
        self.data, self.info = data, info
        self.decoded_pixels = info.pixels  # what its decode holds
        self._full: Image.Image | None = None

    def full(self) -> Image.Image:
        """RGB, or RGBA when the upload has transparency; `InvalidImage` if damaged."""
        if self._full is None:
            self._full = decode(self.data)
        return self._full

    def release(self) -> None:
        """Forget the decoded pixels: a job's turn ends with its memory, not its request."""
        self._full = None

    def at_least(self, longest: int) -> Image.Image:
        """The full decode box-reduced by the largest factor (8, 4, 2) that leaves its longest
        side `longest` px or more: half the cost of decoding a JPEG again at that DCT scale."""
        side = max(self.info.width, self.info.height)
        by = next((k for k in (8, 4, 2) if -(-side // k) >= longest), 1)
        return self.full().reduce(by) if by > 1 else self.full()


class ScaledPhoto(Photo):
    """A checked photo worked on smaller, at `width` × `height` (its `info`, so the work is
    priced by the pixels actually worked on): decoded at a cheaper JPEG scale where the
    format allows, then scaled down. Never larger than the photo."""

    def __init__(self, photo: Photo, width: int, height: int):
        super().__init__(photo.data, replace(photo.info, width=width, height=height))
        self._reduce_by = max(1, min(photo.info.width // width, photo.info.height // height))
        # A baseline JPEG decodes at a DCT scale (1/2, 1/4, 1/8), anything else whole.
        baseline = photo.info.format == "JPEG" and structure.jpeg_scans(photo.data) == 1
        by = max(k for k in (1, 2, 4, 8) if k <= self._reduce_by) if baseline else 1
        self.decoded_pixels = -(-photo.info.width // by) * -(-photo.info.height // by)

    def full(self) -> Image.Image:
        if self._full is None:
            whole = decode(self.data, reduce_by=self._reduce_by)
            size = (self.info.width, self.info.height)
            self._full = whole if whole.size == size else whole.resize(
                size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        return self._full


def scaled(photo: Photo, max_pixels: int) -> Photo:
    """`photo`, or a `ScaledPhoto` of the same aspect within `max_pixels`."""
    width, height = photo.info.width, photo.info.height
    if width * height <= max_pixels:
        return photo
    factor = (max_pixels / (width * height)) ** 0.5
    new_width, new_height = max(1, int(width * factor)), max(1, int(height * factor))
    while new_width * new_height > max_pixels and max(new_width, new_height) > 1:
        if new_width >= new_height:  # a float's rounding: one row or column less
            new_width -= 1
        else:
            new_height -= 1
    return ScaledPhoto(photo, new_width, new_height)


def sniff(data: bytes) -> tuple[str, int, int]:
    """Type and size from the header, for stored bytes; unknown ones: octet stream, 0×0."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            mime = Image.MIME.get(img.format or "", "application/octet-stream")
            return mime, img.width, img.height
    except (UnidentifiedImageError, *_DECODE_ERRORS):
        return "application/octet-stream", 0, 0


def decode(data: bytes, reduce_by: int = 1, at_least: int = 1) -> Image.Image:
    """Decode to an RGB or RGBA image in sRGB (colour.py), the right way up.

    With `reduce_by` > 1, a JPEG may be decoded at a DCT scale of up to 1/`reduce_by`
    (1/2, 1/4 or 1/8) but no smaller than `at_least` pixels a side, which skips most of
    the decoding work; other formats decode whole.
    """
    try:
        img = Image.open(io.BytesIO(data))
        turned = orientation.of(img)
        if reduce_by > 1:
            # Pillow picks the scale by dividing each side by the size asked for, rounding
            # down: asked for half of an odd side rounded up, it decoded the whole photo.
            img.draft("RGB", (max(img.width // reduce_by, at_least),
                              max(img.height // reduce_by, at_least)))
        img.load()
        if img.format == "WEBP":  # its animation decoder, canvases and frame bytes let go:
            img = img._new(img.im)  # 390 MB kept beside a 50 MP photo's pixels (helper 79)
        img = orientation.upright(img, turned)  # a PNG's eXIf found only now: left out
        return colour.in_srgb(colour.visible(to_rgb_or_rgba(img)), stored=img)
    except _DECODE_ERRORS:
        raise _damaged() from None


def decode_mask(data: bytes) -> Image.Image:
    """A mask kept with a record (a greyscale PNG this app wrote) as an L image."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.convert("L")
    except _DECODE_ERRORS:
        raise _damaged() from None


_BAND_ROWS = 256


def to_rgb_or_rgba(img: Image.Image) -> Image.Image:
    """Normalise any Pillow mode to RGB, or RGBA when the image has transparency."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # Pillow clips 16-bit to 8-bit on convert("L"): scaled instead, a 16-bit PNG by its
        # own scale (dark or not), in bands of rows (whole float64 copies of 50 MP: 1.2 GB).
        arr = np.asarray(img)
        wide = img.mode.startswith("I;16") or (img.mode != "F" and arr.max() > 255)
        top = 65535.0 if wide else max(float(arr.max()), 1.0)
        grey = np.empty(arr.shape, np.uint8)
        for top_row in range(0, arr.shape[0], _BAND_ROWS):
            band = arr[top_row:top_row + _BAND_ROWS].astype(np.float64)
            np.multiply(band, 255.0 / top, out=band)
            grey[top_row:top_row + _BAND_ROWS] = np.clip(band, 0, 255, out=band)
        img = Image.fromarray(grey, "L")
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    target = "RGBA" if has_alpha else "RGB"
    return img if img.mode == target else img.convert(target)


def _too_many_pixels(max_pixels: int, width: int | None = None, height: int | None = None):
    size = f" ({width}×{height})" if width else ""
    return InvalidImage(f"The image is too large{size}. The limit is {max_pixels / 1e6:g} "
                        "megapixels.", kind="too_large")


def _lacks_its_picture(data: bytes) -> bool:
    """Fewer coded bits than the 8×8 blocks its frame header gives (structure.py)."""
    try:
        picture = structure.jpeg_picture(data)
    except structure.TooManyMarkers:
        raise _too_complex(structure.TOO_MANY_MARKERS) from None
    return picture is not None and picture[1] * 8 < picture[0]


def _too_complex(what: str) -> InvalidImage:
    return InvalidImage(f"This file {what}, far more than cameras and image editors write. "
                        "Please save it again as an ordinary image.", kind="unsupported")


def _unreadable(exc: Exception) -> InvalidImage:
    """Pillow's refusal as the visitor's: a chunk or all the text over its MAX_TEXT_CHUNK or
    MAX_TEXT_MEMORY (a PNG's text or colour profile, inflated), or damage."""
    if "MAX_TEXT_CHUNK" in str(exc):
        return _too_complex(f"has a text or colour-profile chunk of more than "
                            f"{PngImagePlugin.MAX_TEXT_CHUNK // 2**20} MB")
    if "MAX_TEXT" in str(exc):
        return _too_complex(f"holds more than {MAX_PNG_TEXT // 2**20} MB of text")
    return _damaged()


def _damaged():
    return InvalidImage(f"The image file is damaged or incomplete. Please upload a whole "
                        f"{ACCEPTED_TEXT} image.")
