"""A urlencoded form read within its bounds: its fields counted and decoded without a list
of its separators or of its escapes, and its escaped text checked to be UTF-8.

Werkzeug reads such a form with urllib's parse_qsl, which splits the whole body at each
"&" and each value at each "%": at remove.bg's door, whose form may be as large as an
upload (a photo in base64), 15 MB of "%41" held
1.1 GB for 6.6 s, and 15 MB of "&" 151 MiB. Here a value is decoded in slices, each in
numpy, and the same fields come out (tests/unit/test_form_parsing.py compares them).
"""

from __future__ import annotations

import codecs
import re
from itertools import islice

import numpy as np
import werkzeug.urls  # noqa: F401  (it registers the "werkzeug.url_quote" error handler)

_PART = re.compile(rb"[^&]+")
# Starting with a literal byte, so that `re` skips to each "%" by a fast scan: as
# `(?:%..)+` it tried the pattern at every byte (228 ms for 13 MB of base64, 10 now). At
# most 4,096 escapes a match: `re` keeps a frame for each repeat, and one run of 5 MB held
# 358 MiB (Python 3.10 has no possessive repeat); a longer run is read in pieces.
_HIGH_ESCAPES = re.compile(rb"%[89A-Fa-f][0-9A-Fa-f](?:%[89A-Fa-f][0-9A-Fa-f]){0,4095}")
_SLICE = 1 << 20  # bytes of a value decoded at once: a few MB of numpy's arrays at most
_NOT_HEX = 255
_HEX_VALUE = np.full(256, _NOT_HEX, np.uint8)
for _value, _digits in enumerate(zip(b"0123456789abcdef", b"0123456789ABCDEF", strict=True)):
    _HEX_VALUE[list(_digits)] = _value


def escapes_are_utf8(raw: bytes) -> bool:
    """Whether each run of %-escaped bytes over 127 is UTF-8: Werkzeug keeps a run that is
    not as its characters ("%FF" as a name), where raw bytes that are not UTF-8 are
    refused. An escaped byte beside a raw one over 127 cannot be UTF-8 either, and the raw
    one is refused already."""
    utf8, end = None, -1
    try:
        for piece in _HIGH_ESCAPES.finditer(raw):
            if piece.start() != end:  # a new run: the last one must have ended whole
                if utf8 is not None:
                    utf8.decode(b"", final=True)
                utf8 = codecs.getincrementaldecoder("utf-8")()
            utf8.decode(bytes.fromhex(piece.group().replace(b"%", b"").decode("ascii")))
            end = piece.end()
        if utf8 is not None:
            utf8.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def fields(raw: bytes, limit: int) -> list[tuple[str, str]]:
    """(name, value) of each of the first `limit` fields, as Werkzeug's parser reads them
    (a field without "=" has an empty value; an escaped run that is not UTF-8 stays as its
    escapes); ValueError if the body's raw bytes are not UTF-8."""
    raw.decode()
    found = []
    for part in islice(_PART.finditer(raw), limit):
        name, _, value = part.group().partition(b"=")
        found.append((_text(name), _text(value)))
    return found


def _text(raw: bytes) -> str:
    return unquoted(raw).decode("utf-8", "werkzeug.url_quote")


def unquoted(raw: bytes) -> bytes:
    """`raw` with "+" as a space and each %XX as its byte, as urllib's unquote_to_bytes
    makes it, slice by slice; a slice never ends inside an escape."""
    pieces, at = [], 0
    while at < len(raw):
        end = min(at + _SLICE, len(raw))
        if end < len(raw):
            cut = raw.rfind(b"%", end - 2, end)
            end = cut if cut > at else end
        pieces.append(_unquoted_slice(raw[at:end]))
        at = end
    return b"".join(pieces)


def _unquoted_slice(raw: bytes) -> bytes:
    data = np.frombuffer(raw, np.uint8)
    out = np.where(data == ord("+"), np.uint8(ord(" ")), data)
    at = np.flatnonzero(data[:-2] == ord("%"))  # two bytes after it, or it is left as it is
    high, low = _HEX_VALUE[data[at + 1]], _HEX_VALUE[data[at + 2]]
    escape = (high != _NOT_HEX) & (low != _NOT_HEX)  # two escapes never overlap
    at = at[escape]
    out[at] = high[escape] * 16 + low[escape]
    keep = np.ones(len(out), bool)
    keep[at + 1] = keep[at + 2] = False
    return out[keep].tobytes()
