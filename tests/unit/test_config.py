"""Settings from the environment: defaults, validation and the engine choice."""

from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from flask.cli import FlaskGroup

from app import MEMORY_LIMITS, create_app
from app.http.sizes import human_size
from app.settings import ConfigError, Settings

KEY = "k" * 32


def from_env(**env):
    return Settings.from_env({k: str(v) for k, v in env.items()}, dotenv=False)


def test_defaults():
    settings = from_env(APP_SECRET_KEY=KEY)
    assert settings.user_limit == 2
    assert settings.max_content_length == 15 * 1024 * 1024
    assert settings.engine == "local"
    assert settings.mongo_uri == ""
    assert settings.bg_model == "u2netp"


def test_production_without_a_secret_key_fails_with_a_clear_message():
    with pytest.raises(ConfigError, match="APP_SECRET_KEY is not set"):
        from_env()
    with pytest.raises(ConfigError, match="APP_SECRET_KEY is not set"):
        create_app({})


def test_development_generates_a_temporary_key_and_says_so(caplog):
    assert from_env(APP_ENV="development").secret_key == ""
    app = create_app({"APP_ENV": "development"})
    assert len(app.secret_key) == 64
    assert create_app({"APP_ENV": "development"}).secret_key != app.secret_key
    assert "APP_SECRET_KEY is not set: using a temporary key" in caplog.text


SERVING_WARNINGS = ("APP_SECRET_KEY is not set: using a temporary key",
                    "MONGO_URI is not set: using demo storage in memory")


def test_flask_run_warns_of_a_temporary_key_and_memory_storage(caplog):
    with click.Context(click.Command("run"), info_name="run"):
        create_app({"APP_ENV": "development"})
    assert [w for w in SERVING_WARNINGS if w in caplog.text] == list(SERVING_WARNINGS)


@pytest.mark.parametrize(("env", "storage", "warned"), [
    ("production", "memory://", True), ("production", "redis://127.0.0.1:1", False),
    ("development", "memory://", False)])
def test_production_warns_of_rate_limits_counted_per_worker(caplog, env, storage, warned):
    """The ConfigMap's memory:// splits every limit by the workers and pods (helper 96)."""
    with click.Context(click.Command("run"), info_name="run"):
        create_app(Settings(secret_key=KEY, app_env=env, ratelimit_storage_uri=storage))
    assert (MEMORY_LIMITS in caplog.messages) is warned


def test_other_flask_commands_do_not_warn_of_what_only_serving_uses(caplog):
    """`flask remove-bg` (and `keys`) load the app as FlaskGroup does, inside the group's
    own context: a cookie key and the gallery's storage mean nothing to them."""
    group = FlaskGroup(create_app=lambda: create_app({"APP_ENV": "development"}))
    result = CliRunner().invoke(group, ["remove-bg", "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
    assert [w for w in SERVING_WARNINGS if w in caplog.text + result.output] == []


def test_settings_built_in_code_are_checked_like_the_environment():
    with pytest.raises(ConfigError, match="BG_ENGINE must be one of auto, local or rapidapi, "
                                          "not 'bogus'"):
        Settings(secret_key=KEY, bg_engine="bogus")
    with pytest.raises(ConfigError, match="USER_LIMIT must be a whole number of at least 1"):
        Settings(secret_key=KEY).changed(user_limit=0)
    with pytest.raises(ConfigError, match="APP_SECRET_KEY is not set"):
        Settings()
    with pytest.raises(ConfigError) as told:
        Settings(secret_key=KEY).changed(bg_models_dir=Path("/srv/models"))
    assert str(told.value) == ("BG_MODELS_DIR must be a valid string, not "
                               "PosixPath('/srv/models').")
    with pytest.raises(ConfigError) as told:
        Settings(secret_key=KEY, api_require_key="maybe")
    assert str(told.value) == "API_REQUIRE_KEY must be true or false, not 'maybe'."


@pytest.mark.parametrize("key", ["short", "k" * 15])
def test_a_key_under_16_characters_is_refused(key):
    with pytest.raises(ConfigError) as refused:
        from_env(APP_SECRET_KEY=key)
    assert str(refused.value) == "APP_SECRET_KEY is too short: use at least 16 characters."


def test_a_key_of_16_characters_is_taken():
    assert from_env(APP_SECRET_KEY="k" * 16).secret_key == "k" * 16


def test_engine_is_rapidapi_when_a_key_is_set_and_bg_engine_overrides():
    assert from_env(APP_SECRET_KEY=KEY, X_RAPID_API_KEY="abc").engine == "rapidapi"
    assert from_env(APP_SECRET_KEY=KEY, X_RAPID_API_KEY="abc", BG_ENGINE="local").engine == "local"
    with pytest.raises(ConfigError, match="needs X_RAPID_API_KEY"):
        from_env(APP_SECRET_KEY=KEY, BG_ENGINE="rapidapi")
    with pytest.raises(ConfigError, match="BG_ENGINE must be one of"):
        from_env(APP_SECRET_KEY=KEY, BG_ENGINE="magic")


@pytest.mark.parametrize("raw, expected", [("15MB", 15 * 1024**2), ("512kb", 512 * 1024),
                                           ("1048576", 1048576), (" 2 m ", 2 * 1024**2)])
def test_max_content_length_accepts_sizes(raw, expected):
    assert from_env(APP_SECRET_KEY=KEY, MAX_CONTENT_LENGTH=raw).max_content_length == expected


@pytest.mark.parametrize("name, raw", [("MAX_CONTENT_LENGTH", "lots"), ("MAX_CONTENT_LENGTH", "0"),
                                       ("USER_LIMIT", "two"), ("USER_LIMIT", "0"),
                                       ("RAPIDAPI_TIMEOUT", "-1"), ("APP_ENV", "staging")])
def test_malformed_values_name_the_variable(name, raw):
    with pytest.raises(ConfigError, match=name):
        from_env(APP_SECRET_KEY=KEY, **{name: raw})


def test_a_missing_model_file_is_reported_at_start_with_the_fix(tmp_path):
    with pytest.raises(ConfigError) as caught:
        from_env(APP_SECRET_KEY=KEY, BG_MODELS_DIR=tmp_path)
    assert str(caught.value) == (
        f"The u2netp model (Fast) cannot be used: {tmp_path / 'u2netp.onnx'} is missing. "
        f"Fetch it with `python -m scripts.models --dir {tmp_path} u2netp`.")


def test_a_damaged_default_model_stops_the_app_and_another_is_not_offered(tmp_path):
    import shutil

    from tests.support import MODELS_DIR

    shutil.copy(MODELS_DIR / "u2netp.onnx", tmp_path / "u2netp.onnx")
    size = (MODELS_DIR / "u2net.onnx").stat().st_size
    with open(tmp_path / "u2net.onnx", "wb") as damaged:  # the right size, wrong bytes
        damaged.truncate(size)
    app = create_app({"APP_SECRET_KEY": KEY, "BG_MODELS_DIR": str(tmp_path)})
    assert app.extensions["services"].engines.models() == ("u2netp",)
    with pytest.raises(ConfigError, match=r"The u2net model \(Best quality\) cannot be used"):
        create_app({"APP_SECRET_KEY": KEY, "BG_MODELS_DIR": str(tmp_path), "BG_MODEL": "u2net"})


def test_the_rapidapi_url_follows_the_host():
    settings = from_env(APP_SECRET_KEY=KEY, X_RAPID_API_HOST="example.test")
    assert settings.rapidapi_url == "https://example.test/remove"


def test_dotenv_is_read_but_the_environment_wins(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(f"APP_SECRET_KEY={KEY}\nUSER_LIMIT=5\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("APP_SECRET_KEY", raising=False)
    monkeypatch.setenv("USER_LIMIT", "3")
    settings = Settings.from_env()
    assert settings.secret_key == KEY
    assert settings.user_limit == 3


@pytest.mark.parametrize("size, said", [
    (512, "512 bytes"), (1023, "1023 bytes"), (1024, "1 KB"), (50_000, "48.8 KB"),
    (15 * 1024**2, "15 MB"), (1000 * 1024, "0.977 MB"), (1000 * 1024**2, "0.977 GB"),
    (1024**3, "1 GB"), (3 * 1024**3 // 2, "1.5 GB"), (20 * 1024**3, "20 GB"),
    (1024**4, "1 TB"), (5000 * 1024**4, "5000 TB"),
])
def test_human_size(size, said):
    """Never an exponent: a 1 GB photo at an address was "1.02e+03 MB"."""
    assert human_size(size) == said


def test_the_documented_configuration_is_what_the_code_declares():
    """`.env.example` and docs/configuration.md are written from the declaration; a setting
    added without `make config-docs` fails here."""
    from scripts.config_docs import CONFIGURATION, ENV_EXAMPLE, configuration_page, env_example

    assert ENV_EXAMPLE.read_text() == env_example()
    assert CONFIGURATION.read_text() == configuration_page()


def test_the_example_file_is_accepted_as_it_is(tmp_path):
    """Copied to .env with a key filled in, the example starts the app's settings."""
    from scripts.config_docs import ENV_EXAMPLE

    values = dict(line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines()
                  if line and not line.startswith("#"))
    settings = Settings.from_env({**values, "APP_SECRET_KEY": KEY}, dotenv=False)
    assert settings == from_env(APP_SECRET_KEY=KEY)


@pytest.mark.parametrize("args", [["keys", "list"], ["--help"], ["routes"]])
def test_a_wrong_setting_under_a_flask_command_is_its_sentence_not_a_traceback(args):
    """`API_KEYS=me:short flask keys list` printed a Python traceback ending in the
    ConfigError, and `flask --help` still did (Flask lists the app's commands inside
    `except Exception`); a script author needs the sentence, and exit status 1."""
    from click.testing import CliRunner
    from flask.cli import FlaskGroup

    group = FlaskGroup(create_app=lambda: create_app(
        {"APP_ENV": "development", "API_KEYS": "me:short"}))
    result = CliRunner().invoke(group, args)
    assert (result.exit_code, result.output) == (1, (
        "Error: API_KEYS must be NAME:KEY pairs with keys of at least 16 characters (the key "
        "of 'me' is shorter).\n"))
    with pytest.raises(ConfigError):  # outside a command (gunicorn, tests): as raised
        create_app({"APP_ENV": "development", "API_KEYS": "me:short"})


def test_a_wrong_setting_after_a_reload_leaves_the_reloader_running(monkeypatch):
    """Under `flask run --debug`, Flask keeps its reloader up for the fix when loading
    the app fails with an Exception; an exit would end the development server."""
    import click

    monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")  # werkzeug's mark of the reloaded child
    with click.Context(click.Command("run")), pytest.raises(click.ClickException) as told:
        create_app({"APP_ENV": "development", "API_KEYS": "me:short"})
    assert told.value.message.startswith("API_KEYS must be NAME:KEY pairs")


@pytest.mark.parametrize("name, raw, expected", [
    ("UPLOAD_QUEUE", "0", "UPLOAD_QUEUE must be a whole number of at least 1, not '0'."),
    ("BG_ENGINE_FALLBACK", "remote",
     "BG_ENGINE_FALLBACK must be one of empty, none or local, not 'remote'."),
    ("RATELIMIT_STORAGE_URI", "foo://", "RATELIMIT_STORAGE_URI must be memory://, or the "
     "address of a shared store such as redis://host:6379, not 'foo://'."),
    ("RATELIMIT_STORAGE_URI", "redis//host", "RATELIMIT_STORAGE_URI must be memory://, or the "
     "address of a shared store such as redis://host:6379, not 'redis//host'."),
    # A secret's value is never written out, even when it is wrong.
    ("MONGO_URI", "http://user:pa55word@host", "MONGO_URI must be a MongoDB connection string, "
     "mongodb://… or mongodb+srv://… (Invalid URI scheme: URI must begin with 'mongodb://' or "
     "'mongodb+srv://')."),
])
def test_a_value_a_library_would_trip_over_is_refused_at_start_in_one_sentence(name, raw,
                                                                               expected):
    """UPLOAD_QUEUE=0 left no place for a photo being fetched (every one was refused busy);
    the others stopped the app with a library's traceback that did not name them."""
    with pytest.raises(ConfigError) as caught:
        from_env(APP_SECRET_KEY=KEY, **{name: raw})
    assert str(caught.value) == expected


@pytest.mark.parametrize("name, value", [("UPLOAD_QUEUE", "1"), ("BG_ENGINE_FALLBACK", ""),
                                         ("RATELIMIT_STORAGE_URI", "redis://localhost:6379"),
                                         ("MONGO_URI", "mongodb://localhost:27017/db"),
                                         ("MONGO_URI", "mongodb+srv://cluster.example/db")])
def test_the_values_next_to_them_are_taken(name, value):
    assert getattr(from_env(APP_SECRET_KEY=KEY, **{name: value}), name.lower()) == (
        int(value) if value.isdigit() else value)


@pytest.mark.parametrize("name, raw, expected", [
    ("PORT", "65535", 65535), ("PORT", "1", 1), ("GUNICORN_THREADS", " 12 ", 12),
    ("PORT", "65536", "PORT must be a whole number of at least 1 and at most 65535, not "
                      "'65536'."),
    ("PORT", "0", "PORT must be a whole number of at least 1 and at most 65535, not '0'."),
    ("GUNICORN_THREADS", "x", "GUNICORN_THREADS must be a whole number of at least 1, not 'x'."),
    ("GUNICORN_TIMEOUT", "-5", "GUNICORN_TIMEOUT must be a whole number of at least 1, not "
                               "'-5'."),
])
def test_a_servers_setting_is_a_whole_number_or_a_sentence_naming_it(monkeypatch, name, raw,
                                                                      expected):
    """gunicorn.conf.py read them with int(): a traceback ending in "invalid literal for
    int()", which named no variable."""
    from app.hosting import server_setting

    monkeypatch.setenv(name, raw)
    if isinstance(expected, int):
        assert server_setting(name) == expected
    else:
        with pytest.raises(ConfigError) as caught:
            server_setting(name)
        assert str(caught.value) == expected


def test_gunicorn_stops_at_a_bad_setting_with_the_sentence_alone(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {"PATH": "/usr/bin:/bin", "GUNICORN_THREADS": "x"}
    done = subprocess.run([str(Path(sys.executable).parent / "gunicorn"), "--config",
                           str(root / "gunicorn.conf.py"), "--check-config"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (
        1, "gunicorn.conf.py: GUNICORN_THREADS must be a whole number of at least 1, not "
           "'x'.\n")
