"""The kinds of value settings take, each checked once and saying what it must be, and the
sentence a bad one is reported with (it names the variable)."""

from __future__ import annotations

import re
from typing import Annotated, Any, get_args

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError

from app.hosting import ConfigError
from app.model_files import PROJECT

# Whose values are never written out: not in .env.example, not in an error about them.
SECRET_VARIABLES = ("APP_SECRET_KEY", "X_RAPID_API_KEY", "MONGO_URI", "API_KEYS")
# Secrets shorter than this can be guessed: APP_SECRET_KEY, and each key in API_KEYS.
SHORTEST_SECRET = 16
_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?b?)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2,
               "g": 1024**3, "gb": 1024**3}


def _size(value: Any) -> Any:
    """15MB, 512kb or a number of bytes, as people write sizes in configuration."""
    if isinstance(value, str):
        match = _SIZE.match(value)
        if not match or int(match.group(1)) == 0:
            raise ValueError("a size such as 15MB or 15728640")
        return int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "").lower()]
    return value


def rate(value: str) -> str:
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError:
        raise ValueError("a rate such as '20 per minute' or '100/hour'") from None
    return value


def networks(value: str) -> str:
    """URL_ALLOWED_NETWORKS: comma-separated CIDRs, checked by the fetcher's own parser."""
    from app.core.fetching import parse_networks

    parse_networks(value)
    return value


def key_pairs(value: str) -> dict[str, str]:
    """API_KEYS: comma-separated NAME:KEY pairs, each name and key once."""
    from app.storage.keys import NAME, NAME_RULE

    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, colon, key = item.partition(":")
        name, key = name.strip(), key.strip()
        if not colon or not key:
            raise ValueError("comma-separated NAME:KEY pairs (a key after each name and ':')")
        if not NAME.fullmatch(name):
            raise ValueError(f"NAME:KEY pairs with valid names ({name!r}: {NAME_RULE})")
        if len(key) < SHORTEST_SECRET:
            raise ValueError(f"NAME:KEY pairs with keys of at least {SHORTEST_SECRET} characters "
                             f"(the key of {name!r} is shorter)")
        if name in pairs or key in pairs.values():
            raise ValueError(f"NAME:KEY pairs, each name and key once ({name!r} repeats)")
        pairs[name] = key
    return pairs


def mongo_uri(value: str) -> str:
    """MONGO_URI: empty, or a MongoDB connection string pymongo can read (a mongodb+srv://
    one is only checked for its scheme: reading it asks DNS, which start-up does not)."""
    if not value or value.startswith("mongodb+srv://"):
        return value
    from pymongo.errors import PyMongoError
    from pymongo.uri_parser import parse_uri

    try:
        parse_uri(value)
    except PyMongoError as exc:
        raise ValueError(f"a MongoDB connection string, mongodb://… or mongodb+srv://… "
                         f"({exc})") from None
    return value


def storage_uri(value: str) -> str:
    """RATELIMIT_STORAGE_URI: a storage the limits library knows by its scheme."""
    from limits.storage import SCHEMES

    scheme = value.partition("://")[0]
    if "://" not in value or scheme.startswith("async+") or scheme not in SCHEMES:
        raise ValueError("memory://, or the address of a shared store such as "
                         "redis://host:6379")
    return value


def _keys(value: str) -> str:
    key_pairs(value)
    return value


Size = Annotated[int, BeforeValidator(_size), Field(gt=0)]
KeyPairs = Annotated[str, AfterValidator(_keys)]
Seconds = Annotated[float, Field(allow_inf_nan=False)]  # a number: no nan, no inf
Rate = Annotated[str, AfterValidator(rate)]
Networks = Annotated[str, AfterValidator(networks)]
MongoUri = Annotated[str, AfterValidator(mongo_uri)]
StorageUri = Annotated[str, AfterValidator(storage_uri)]
# The documented default ("models") reads the same on every machine; the value used is absolute.
FromProject = AfterValidator(lambda value: str(PROJECT / value) if value else value)
Lowered = BeforeValidator(lambda value: value.lower() if isinstance(value, str) else value)
Uppered = BeforeValidator(lambda value: value.upper() if isinstance(value, str) else value)


def explain(exc: ValidationError, values: dict, fields: dict) -> str:
    """The first problem as a sentence naming the variable, what it must be and the value."""
    error = exc.errors()[0]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, ConfigError):
        return str(cause)
    name = str(error["loc"][0]) if error["loc"] else ""
    field = fields.get(name) or next((f for f in fields.values() if f.alias == name), None)
    if field is None:
        return f"Unknown setting {name!r}."
    raw = values.get(field.alias, values.get(name))
    shown = "" if field.alias in SECRET_VARIABLES else f", not {raw!r}"
    return f"{field.alias} must be {_expected(field, error, cause)}{shown}."


def _expected(field, error: dict, cause: Any) -> str:
    if isinstance(cause, ValueError):
        return str(cause)  # our own validators say what they expect
    if error["type"] == "literal_error":
        *others, last = [choice or "empty" for choice in get_args(field.annotation)]
        return f"one of {', '.join(others)} or {last}"
    if field.annotation in (int, float):
        kind = "a whole number" if field.annotation is int else "a number"
        low = next((meta.ge for meta in field.metadata if hasattr(meta, "ge")), None)
        return f"{kind} of at least {low}" if low is not None else kind
    if field.annotation is bool:
        return "true or false"
    # pydantic's sentence for what only code can pass (a Path: "Input should be a ...").
    return error["msg"].removeprefix("Input should be ")
