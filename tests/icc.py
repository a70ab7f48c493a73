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


def profile(primaries, gamma: float, name: str = "Test RGB") -> bytes:
    """An ICC v2 display profile: `primaries` with a D65 white, each channel `gamma`."""
    xyz = _to_d50(rgb_to_xyz(primaries))
    text = name.encode("ascii") + b"\0"
    tags = {
        b"desc": _tag(b"desc", struct.pack(">I", len(text)) + text + b"\0" * 79),
        b"cprt": _tag(b"text", b"No copyright: made by the tests\0"),
        b"wtpt": _tag(b"XYZ ", b"".join(map(_s15, _D50_XYZ))),
        b"rXYZ": _tag(b"XYZ ", b"".join(map(_s15, xyz[:, 0]))),
        b"gXYZ": _tag(b"XYZ ", b"".join(map(_s15, xyz[:, 1]))),
        b"bXYZ": _tag(b"XYZ ", b"".join(map(_s15, xyz[:, 2]))),
    }
    curve = _tag(b"curv", struct.pack(">IH", 1, round(gamma * 256)))
    for channel in (b"rTRC", b"gTRC", b"bTRC"):
        tags[channel] = curve
    offset, table, data = 128 + 4 + 12 * len(tags), b"", b""
    for signature, body in tags.items():
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (struct.pack(">I", size) + b"lcms" + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ "
              + struct.pack(">6H", 2026, 12, 6, 0, 0, 0) + b"acsp" + b"\0" * 24
              + struct.pack(">I", 0) + b"".join(map(_s15, _D50_XYZ)) + b"\0" * 48)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def _srgb_encode(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear,
                    1.055 * linear ** (1 / 2.4) - 0.055)


def in_srgb(rgb, primaries, gamma: float) -> np.ndarray:
    """8-bit colours of the space (`primaries`, `gamma`) as sRGB's 8-bit colours."""
    linear = (np.asarray(rgb, np.float64) / 255.0) ** gamma
    to_srgb = np.linalg.inv(rgb_to_xyz(SRGB_PRIMARIES)) @ rgb_to_xyz(primaries)
    return np.round(_srgb_encode(linear @ to_srgb.T) * 255.0).astype(int)
