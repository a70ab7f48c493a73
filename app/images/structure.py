"""What reading a file will cost, from its structure alone: a JPEG's scans and segments and
a PNG's chunks, counted before any decoder sees the file (app/images/decoding.py's check).

A decoder's time grows with these counts as well as with the pixels, which alone have a
limit: a 470 KB progressive JPEG of 7,000 empty refinement scans took 6 s of CPU at 1/8
scale, and a 14 MB PNG of a million empty chunks 6.6 s to open (an attacker's files,
docs/security.md). Cameras and editors write 1 to about 20 scans, and PNG chunks of 8 KB or
more; the limits are far past both, and cheap to reach. Standard library only.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator

MAX_JPEG_SCANS = 100
# Cameras write 10-30 segments before the first scan (an ICC profile or extended XMP adds
# one per 64 KB); 3.7 million empty ones took Pillow 12 s of CPU and 490 MB to open.
MAX_JPEG_SEGMENTS = 1000
# Pillow walks the bytes between a JPEG's segments (stray bytes, 0xFF fill) one at a time
# when it opens the file (15 MB of them took it 5 s), and libjpeg those after its scans.
# Writers leave none.
MAX_JPEG_SKIPPED = 64 * 1024
# Markers in a JPEG's first picture, segments and scans together: cameras write tens, a
# progressive file a few hundred. They are walked one at a time in Python: 3.9 million
# restart markers, each two bytes, took 5 s.
MAX_JPEG_MARKERS = 10_000
MAX_PNG_CHUNKS = 20_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SOS, _EOI = 0xDA, 0xD9
JPEG_END = bytes((0xFF, _EOI))  # the last two bytes of a whole JPEG
# Start-of-frame markers (C4, C8 and CC are other segments); those of JPEGs coded
# arithmetically (the others are Huffman-coded).
_FRAMES = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_ARITHMETIC_FRAMES = {0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_RESTART_OR_TEM = re.compile(rb"\xff[\x01\xd0-\xd7]")
_FILL = re.compile(rb"\xff+")
# Where a scan's data ends: 0xFF (and any fill bytes, more 0xFF) and a byte that is neither
# a stuffed zero nor a restart. Fill bytes may stand before a restart inside a scan too.
# Written to start with a literal byte, which `re` finds by a fast scan: as `\xff+` it
# tried the pattern at every byte (1.9 ms for the 220 KB of a 1 MP photo's scan, 0.08 now).
_NEXT_MARKER = re.compile(rb"\xff\xff*[^\x00\xd0-\xd7\xff]")


NO_PICTURE = "holds no picture"
TOO_MANY_MARKERS = f"has more than {MAX_JPEG_MARKERS:,} markers in its picture"


def refusal(data: bytes) -> str | None:
    """Why reading `data` would cost more than its pixels do, as the rest of a sentence
    that begins "This file" ("is built of more than 100 scans"); NO_PICTURE for a JPEG in
    which no scan starts; None for a file fine to open (or not a JPEG or PNG)."""
    if data.startswith(PNG_SIGNATURE) and png_chunks(data) > MAX_PNG_CHUNKS:
        return f"is split into more than {MAX_PNG_CHUNKS:,} chunks"
    if not data.startswith(b"\xff\xd8"):
        return None
    try:
        if jpeg_scans(data) > MAX_JPEG_SCANS:
            return f"is built of more than {MAX_JPEG_SCANS} scans"
        layout = jpeg_layout(data)
    except TooManyMarkers:
        return TOO_MANY_MARKERS
    if layout is None:
        return NO_PICTURE
    if layout[0] > MAX_JPEG_SEGMENTS:
        return f"has more than {MAX_JPEG_SEGMENTS:,} segments before its picture"
    if layout[1] > MAX_JPEG_SKIPPED:
        return f"has more than {MAX_JPEG_SKIPPED // 1024} KB of stray bytes between its segments"
    return None


class TooManyMarkers(Exception):
    """A JPEG whose first picture has more than MAX_JPEG_MARKERS markers."""


def jpeg_scans(data: bytes) -> int:
    """The scans of a JPEG's first picture, the one decoded (or one past the limit).

    Every start-of-scan marker is the bytes FF DA, never data inside a scan (0xFF is
    followed by 00 there), so most files are told apart by counting those. What follows
    the picture may hold them too (a phone's motion photo ends in a video, whose random
    bytes hold one in 64 KB): past the limit, the markers are walked as libjpeg reads them."""
    markers = data.count(b"\xff\xda")
    if markers <= MAX_JPEG_SCANS:
        return markers
    scans = 0
    for marker, _, _, _ in _markers(data):
        scans += marker == _SOS
        if scans > MAX_JPEG_SCANS:
            break
    return scans


def jpeg_layout(data: bytes) -> tuple[int, int] | None:
    """(segments before a JPEG's first scan, bytes skipped between the markers of its first
    picture), counted until either is past its limit; None if no scan starts before the
    picture ends. Pillow reads each segment before the scan in Python when it opens the file, and
    keeps every APPn's bytes; it walks the skipped bytes before the scan one at a time,
    and libjpeg those after it (15 MB of fill after a scan: 0.9 s)."""
    segments = skipped = 0
    scanned = False
    for marker, _, _, before in _markers(data):
        skipped += before
        scanned = scanned or marker == _SOS
        segments += not scanned
        if segments > MAX_JPEG_SEGMENTS or skipped > MAX_JPEG_SKIPPED:
            return segments, skipped
    return (segments, skipped) if scanned else None


def jpeg_picture(data: bytes) -> tuple[int, int] | None:
    """(blocks, coded bytes) of a JPEG's first picture: the 8×8 blocks of all the components
    its frame header describes, and the bytes of its scans (the coded pixels); None if it
    is coded arithmetically, or its frame header cannot be read.

    Huffman coding spends at least one bit on each block of each component: its average
    colour, in a baseline scan or a progressive file's first. A file with fewer coded bits
    than blocks lacks most of its picture, which libjpeg fills with grey without an error:
    a 2 KB JPEG whose header says 7000×7000 was worked on as 49 MP. Arithmetic coding may
    spend less than a bit on a flat block, so it is not judged so."""
    blocks, coded = None, 0
    for marker, at, scan, _ in _markers(data):
        if marker in _ARITHMETIC_FRAMES:
            return None
        if marker in _FRAMES and blocks is None:
            blocks = _frame_blocks(data, at)
        coded += scan
    return None if blocks is None else (blocks, coded)


def _frame_blocks(data: bytes, at: int) -> int | None:
    """The blocks of every component of the frame header at `at`: each component is the
    picture scaled by its sampling factors over the largest ones (ITU T.81, A.1.1)."""
    try:
        height, width, count = struct.unpack_from(">HHB", data, at + 5)
        factors = [(data[at + 11 + 3 * i] >> 4, data[at + 11 + 3 * i] & 15)
                   for i in range(count)]
    except (struct.error, IndexError):
        return None
    most_across = max((h for h, _ in factors), default=0)
    most_down = max((v for _, v in factors), default=0)
    if not most_across or not most_down:
        return None
    return sum(_up(_up(width * h, most_across), 8) * _up(_up(height * v, most_down), 8)
               for h, v in factors)


def _up(number: int, by: int) -> int:
    return -(-number // by)


def _markers(data: bytes) -> Iterator[tuple[int, int, int, int]]:
    """The markers of a JPEG's first picture, up to its end, as libjpeg reads them: each
    segment skipped by its length and each scan's data to the next marker. With each, where
    it starts (its 0xFF), the bytes of the scan's data after it (0 but after a start of
    scan), and the bytes skipped before it (stray bytes, fill); the picture's end too.
    `TooManyMarkers` past the limit."""
    at = 2  # after the start of the picture
    for _ in range(MAX_JPEG_MARKERS):
        found = data.find(b"\xff", at)  # libjpeg skips stray bytes between segments too
        if found < 0:
            return
        # Fill bytes before a marker, skipped by `re` in C: one at a time, 15 MB took 1.4 s.
        found = _FILL.match(data, found).end() - 1
        skipped, at = found - at, found
        if data[at + 1:at + 2] == bytes((_EOI,)):  # the picture's end
            yield _EOI, at, 0, skipped
            return
        if at + 4 > len(data):
            return
        marker, start = data[at + 1], at
        if _RESTART_OR_TEM.match(data, at):  # markers without a length, counted alike
            at += 2
            yield marker, start, 0, skipped
            continue
        at += 2 + struct.unpack_from(">H", data, at + 2)[0]
        scan = 0
        if marker == _SOS:
            found = _NEXT_MARKER.search(data, at)
            scan = (found.start() if found else len(data)) - at
        yield marker, start, scan, skipped
        at += scan
    raise TooManyMarkers


def png_chunks(data: bytes) -> int:
    """A PNG's chunks up to its end (or one past the limit): lengths read, nothing else."""
    chunks, at = 0, 8  # after the signature
    while at + 8 <= len(data) and chunks <= MAX_PNG_CHUNKS:
        length, kind = struct.unpack_from(">I4s", data, at)
        chunks, at = chunks + 1, at + 12 + length
        if kind == b"IEND":
            break
    return chunks


# Formats people send that are not read here, by their first bytes, to be named in the
# refusal (helper 77: a phone's HEIC was told it was not an image).
_OTHER_FORMATS = ((b"GIF87a", "GIF"), (b"GIF89a", "GIF"), (b"II*\x00", "TIFF"),
                  (b"MM\x00*", "TIFF"))
_ISO_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"heim": "HEIC", b"heis": "HEIC",
               b"hevc": "HEIC", b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF",
               b"avis": "AVIF"}


def read_here(data: bytes) -> bool:
    """Whether `data` starts as a JPEG, PNG or WebP does: one Pillow cannot open past
    that is damaged, not another format (helper 93: a PNG cut after its header was told
    to send a PNG)."""
    return (data.startswith((PNG_SIGNATURE, b"\xff\xd8\xff"))
            or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"))


def other_format(data: bytes) -> str | None:
    """The name of a well-known image format that is not read here, from its first bytes."""
    named = next((name for magic, name in _OTHER_FORMATS if data.startswith(magic)), None)
    if data[:2] == b"BM" and data[6:10] == bytes(4):  # a BMP's reserved bytes are zeros
        named = "BMP"
    return _ISO_BRANDS.get(data[8:12]) if data[4:8] == b"ftyp" else named
