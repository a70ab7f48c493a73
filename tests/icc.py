"""ICC profiles for tests, made from a colour space's primaries (no profile file is
shipped), and the colours a photo in such a space has in sRGB, worked out here with numpy
(not by littlecms, which the app uses), so a test of the app's conversion is not the
conversion checking itself."""

from __future__ import annotations

import struct

import numpy as np

D65 = (0.3127, 0.3290)
SRGB_PRIMARIES = ((0.640, 0.330), (0.300, 0.600), (0.150, 0.060))
# Apple's Display P3 (what an iPhone's JPEG carries), and Adobe RGB (1998) (a camera's
# other choice): both wider than sRGB, with a D65 white.
DISPLAY_P3 = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
ADOBE_RGB = ((0.640, 0.330), (0.210, 0.710), (0.150, 0.060))
_D50_XYZ = np.array([0.9642, 1.0, 0.8249])
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614],
                      [-0.7502, 1.7135, 0.0367],
                      [0.0389, -0.0685, 1.0296]])


def _xyz(xy: tuple[float, float]) -> np.ndarray:
    x, y = xy
    return np.array([x / y, 1.0, (1 - x - y) / y])


def rgb_to_xyz(primaries, white=D65) -> np.ndarray:
    """The matrix from linear RGB to XYZ, white at Y = 1."""
    columns = np.stack([_xyz(xy) for xy in primaries], axis=1)
    scale = np.linalg.solve(columns, _xyz(white))
    return columns * scale


def _to_d50(matrix: np.ndarray, white=D65) -> np.ndarray:
    """Bradford-adapted to D50, the white ICC profiles state their primaries under."""
    cone = _BRADFORD @ _xyz(white), _BRADFORD @ _D50_XYZ
    adapt = np.linalg.inv(_BRADFORD) @ np.diag(cone[1] / cone[0]) @ _BRADFORD
    return adapt @ matrix


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _tag(kind: bytes, body: bytes) -> bytes:
    data = kind + b"\0\0\0\0" + body
    return data + b"\0" * (-len(data) % 4)


def _text_tags(name: str) -> dict[bytes, bytes]:
    text = name.encode("ascii") + b"\0"
    return {b"desc": _tag(b"desc", struct.pack(">I", len(text)) + text + b"\0" * 79),
            b"cprt": _tag(b"text", b"No copyright: made by the tests\0"),
            b"wtpt": _tag(b"XYZ ", b"".join(map(_s15, _D50_XYZ)))}


def _assemble(space: bytes, tags: dict[bytes, bytes]) -> bytes:
    offset, table, data = 128 + 4 + 12 * len(tags), b"", b""
    for signature, body in tags.items():
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (struct.pack(">I", size) + b"lcms" + bytes([2, 0x10, 0, 0]) + b"mntr" + space
              + b"XYZ " + struct.pack(">6H", 2026, 12, 6, 0, 0, 0) + b"acsp" + b"\0" * 24
              + struct.pack(">I", 0) + b"".join(map(_s15, _D50_XYZ)) + b"\0" * 48)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def _gamma(gamma: float) -> bytes:
    return _tag(b"curv", struct.pack(">IH", 1, round(gamma * 256)))


def profile(primaries, gamma: float, name: str = "Test RGB") -> bytes:
    """An ICC v2 display profile: `primaries` with a D65 white, each channel `gamma`."""
    xyz = _to_d50(rgb_to_xyz(primaries))
    tags = _text_tags(name)
    for column, channel in enumerate((b"r", b"g", b"b")):
        tags[channel + b"XYZ"] = _tag(b"XYZ ", b"".join(map(_s15, xyz[:, column])))
    for channel in (b"rTRC", b"gTRC", b"bTRC"):
        tags[channel] = _gamma(gamma)
    return _assemble(b"RGB ", tags)


def grey_profile(gamma: float, name: str = "Test grey") -> bytes:
    """An ICC v2 grey display profile: one tone curve, `gamma` (Photoshop's grey is 1.8
    or 2.2 so)."""
    return _assemble(b"GRAY", {**_text_tags(name), b"kTRC": _gamma(gamma)})


def with_float_tag(primaries, gamma: float) -> bytes:
    """`profile(primaries, gamma)` with a D2B1 tag beside, which littlecms reads first for
    relative colorimetric conversion: a floating-point pipeline of straight (gamma 1)
    curves and the primaries' matrix."""
    xyz = _to_d50(rgb_to_xyz(primaries))
    segment = _tag(b"parf", struct.pack(">HH4f", 0, 0, 1.0, 1.0, 0.0, 0.0))
    curve = _tag(b"curf", struct.pack(">HH", 1, 0)) + segment
    curves = (b"cvst\0\0\0\0" + struct.pack(">HH", 3, 3)
              + b"".join(struct.pack(">II", 12 + 24 + k * len(curve), len(curve))
                         for k in range(3)) + curve * 3)
    matrix = _tag(b"matf", struct.pack(">HH12f", 3, 3, *xyz.ravel(), 0.0, 0.0, 0.0))
    elements = (curves, matrix)
    offsets, at = b"", 16 + 8 * len(elements)
    for element in elements:
        offsets += struct.pack(">II", at, len(element))
        at += len(element)
    pipeline = b"mpet\0\0\0\0" + struct.pack(">HHI", 3, 3, len(elements)) + offsets
    tags = {b"D2B1": pipeline + b"".join(elements)}
    rgb = profile(primaries, gamma)
    count = int.from_bytes(rgb[128:132], "big")
    for entry in range(count):
        at = 132 + 12 * entry
        signature, offset, size = rgb[at:at + 4], *struct.unpack(">II", rgb[at + 4:at + 12])
        tags[signature] = rgb[offset:offset + size]
    return _assemble(b"RGB ", tags)


def _srgb_encode(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear,
                    1.055 * linear ** (1 / 2.4) - 0.055)


def in_srgb(rgb, primaries, gamma: float) -> np.ndarray:
    """8-bit colours of the space (`primaries`, `gamma`) as sRGB's 8-bit colours."""
    linear = (np.asarray(rgb, np.float64) / 255.0) ** gamma
    to_srgb = np.linalg.inv(rgb_to_xyz(SRGB_PRIMARIES)) @ rgb_to_xyz(primaries)
    return np.round(_srgb_encode(linear @ to_srgb.T) * 255.0).astype(int)


def grey_in_srgb(levels, gamma: float) -> np.ndarray:
    """8-bit grey levels of a grey space of `gamma` as sRGB's 8-bit levels."""
    linear = (np.asarray(levels, np.float64) / 255.0) ** gamma
    return np.round(_srgb_encode(linear) * 255.0).astype(int)
