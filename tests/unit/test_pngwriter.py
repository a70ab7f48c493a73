"""The PNG writer: every byte checked by an independent decoder (Pillow)."""

import io
import itertools
import zlib

import numpy as np
import pytest
from PIL import Image

from app.hosting import available_cpus
from app.images import pngwriter

MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def decoded(data: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(data))
    img.load()
    return np.asarray(img)


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 7, 3), (5, 1, 4), (300, 451, 4),
                                   (64, 64, 2), (3001, 700, 3)])
def test_random_pixels_round_trip(shape):
    pixels = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    data = pngwriter.encode(pixels)
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG" and img.mode == MODES[shape[2]]
    assert np.array_equal(decoded(data).reshape(shape), pixels)


def test_two_dimensional_arrays_are_greyscale():
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert np.array_equal(decoded(pngwriter.encode(pixels)), pixels)


def test_many_bands_join_into_one_valid_stream():
    # Tall enough for several 4 MB bands; the zlib stream must verify as a whole.
    pixels = np.random.default_rng(0).integers(0, 8, (4000, 1000, 4), dtype=np.uint8)
    data = pngwriter.encode(pixels)
    length = int.from_bytes(data[33:37], "big")
    assert data[37:41] == b"IDAT"
    raw = zlib.decompress(data[41:41 + length])  # raises on a bad adler32 or stream
    assert len(raw) == 4000 * (1000 * 4 + 1)
    assert np.array_equal(decoded(data), pixels)


def test_rows_on_demand():
    pixels = np.random.default_rng(1).integers(0, 256, (2500, 900, 3), dtype=np.uint8)
    seen = []

    def rows(top, bottom):
        seen.append((top, bottom))
        return pixels[top:bottom]

    assert np.array_equal(decoded(pngwriter.encode_rows(2500, 900, 3, rows)), pixels)
    # Bands are made in parallel, so in no fixed order: each row asked for once.
    bands = sorted(seen)
    assert len(bands) > 1 and bands[0][0] == 0 and bands[-1][1] == 2500
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bands))


def test_rows_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match="not 8-bit rows"):
        pngwriter.encode_rows(4, 4, 3, lambda top, bottom: np.zeros((bottom - top, 4, 4)))


def test_smaller_than_pillow_on_a_cutout():
    """Sub filter and RLE on a photo whose background is transparent zeros."""
    import skimage.data

    rgba = np.zeros((400, 600, 4), np.uint8)
    rgba[:, :300, :3] = skimage.data.coffee()[:, :300]
    rgba[:, :300, 3] = 255
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, "PNG", compress_level=1)
    assert len(pngwriter.encode(rgba)) < len(buf.getvalue())


def test_rows_are_up_filtered_and_each_band_starts_with_sub():
    """Up rows (the smallest on cutouts, bench/png_size.py); a band's first row is Sub, so
    bands made in parallel never need their neighbour's rows."""
    pixels = np.random.default_rng(2).integers(0, 256, (3000, 1000, 4), dtype=np.uint8)
    data = pngwriter.encode(pixels)
    length = int.from_bytes(data[33:37], "big")
    raw = np.frombuffer(zlib.decompress(data[41:41 + length]), np.uint8).reshape(3000, 4001)
    per_band = pngwriter.BAND_BYTES // 4001
    starts = set(range(0, 3000, per_band))
    assert len(starts) == 3
    assert [int(raw[y, 0]) for y in sorted(starts)] == [1, 1, 1]
    assert all(raw[y, 0] == 2 for y in range(3000) if y not in starts)
    # Row 1 of the first band, byte 0: red minus the red above it, mod 256.
    assert raw[1, 1] == (int(pixels[1, 0, 0]) - int(pixels[0, 0, 0])) % 256
    assert np.array_equal(decoded(data), pixels)


def test_every_chunk_carries_its_own_crc():
    """Checked here, not by Pillow, which does not verify an IDAT's CRC."""
    data = pngwriter.encode(np.random.default_rng(3).integers(0, 256, (2000, 700, 4),
                                                              dtype=np.uint8))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, kinds = 8, []
    while at < len(data):
        length, kind = int.from_bytes(data[at:at + 4], "big"), data[at + 4:at + 8]
        body = data[at + 8:at + 8 + length]
        assert int.from_bytes(data[at + 8 + length:at + 12 + length], "big") == zlib.crc32(
            kind + body)
        kinds.append(kind)
        at += 12 + length
    assert at == len(data) and kinds == [b"IHDR", b"IDAT", b"IEND"]


def test_the_file_is_held_at_most_twice_while_it_is_written():
    """The bands' bytes and the file joined from them, never the stream and its chunk as
    copies besides (four copies of a 49.8 MP result's 22 MB before)."""
    import tracemalloc

    pixels = np.random.default_rng(4).integers(0, 256, (16000, 1000, 4), dtype=np.uint8)
    tracemalloc.start()
    try:
        data = pngwriter.encode(pixels)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Random bytes do not compress: the file is the pixels' size (64 MB). The bound leaves
    # room for each thread's band at work (its rows, filtered and compressed: 3 bands),
    # but not for a third copy of the file.
    assert len(data) > pixels.nbytes
    assert peak < 2 * len(data) + 3 * pngwriter.BAND_BYTES * available_cpus(), peak >> 20


def test_every_encoder_the_png_bench_compares_writes_the_pixels_back():
    # bench/png_size.py builds PNGs of its own from the writer's parts (the writer before
    # ISA-L, zlib-ng's levels); a change to those parts once broke it unseen.
    from bench.png_size import candidates, exact

    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (97, 131, 4), dtype=np.uint8)
    pixels[:40, :, 3] = 0
    pixels[:40, :, :3] = 0
    for name, encode in candidates().items():
        data = encode(pixels)
        assert Image.open(io.BytesIO(data)).size == (131, 97), name
        if "lossy" not in name:
            assert exact(data, pixels), name


def test_isal_runs_on_its_own_threads_never_on_the_shared_pool(monkeypatch):
    """ISA-L leaves the vector registers' upper halves dirty, and the pool's threads also
    make the model's input and the refined matte with Pillow: its compressor and checksum
    run only on the writer's deflate threads (bench/wide.py: a 65,500 × 762 photo's upload
    5 times as long when they did not)."""
    import threading

    threads = []
    real = pngwriter.isal_zlib

    class Spy:
        Z_FINISH, Z_SYNC_FLUSH, DEFLATED = real.Z_FINISH, real.Z_SYNC_FLUSH, real.DEFLATED

        @staticmethod
        def compressobj(*args):
            threads.append(("compress", threading.current_thread().name))
            return real.compressobj(*args)

        @staticmethod
        def adler32(data):
            threads.append(("adler32", threading.current_thread().name))
            return real.adler32(data)

    monkeypatch.setattr(pngwriter, "isal_zlib", Spy)
    pixels = np.random.default_rng(2).integers(0, 8, (3000, 1000, 4), dtype=np.uint8)
    made_on = []

    def rows(top, bottom):
        made_on.append(threading.current_thread().name)
        return pixels[top:bottom]

    assert np.array_equal(decoded(pngwriter.encode_rows(3000, 1000, 4, rows)), pixels)
    bands = len(pngwriter.bands_of(3000, 4001))
    assert bands == 3
    assert sorted(kind for kind, _ in threads) == ["adler32"] * bands + ["compress"] * bands
    assert {name.split("_")[0] for _, name in threads} == {"deflate"}
    assert {name.split("_")[0] for name in made_on} == {"png"}  # the rows: on the pool
