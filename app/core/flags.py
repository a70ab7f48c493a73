"""Yes/no values, as every door reads them: a JSON boolean, or a word of a form's text in
any case, and the one sentence a value that is neither is refused with."""

from __future__ import annotations

from typing import Any

BOOLEAN_WORDS = {"true": True, "false": False, "1": True, "0": False, "on": True,
                 "off": False, "yes": True, "no": False}
_WORDS = list(BOOLEAN_WORDS)  # past true and false, a refusal lists "1 or 0, on or off, ..."
_OTHER_WORDS = ", ".join(f"{a} or {b}" for a, b in zip(_WORDS[2::2], _WORDS[3::2], strict=True))
# BOOLEAN_WORDS in any case, as a pattern every regex engine reads alike (no flags).
FLAG_PATTERN = "^(?:{})$".format("|".join(
    "".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in word) for word in BOOLEAN_WORDS))


def as_flag(value: Any) -> bool | None:
    """A yes/no value: a JSON boolean, or one of BOOLEAN_WORDS in any case (`requests`
    sends Python's False as "False"); None if it is neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii():
        return BOOLEAN_WORDS.get(value.lower())
    return None


def flag_refused(name: str, times: str = "") -> str:
    """The sentence for a yes/no field's value that is none of BOOLEAN_WORDS, at any door."""
    return f"{name} must be true or false (or {_OTHER_WORDS}){times}."
