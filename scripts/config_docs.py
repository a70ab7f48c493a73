"""Write `.env.example` and docs/configuration.md from the settings' own declaration.

    make config-docs      (or: .venv/bin/python -m scripts.config_docs)

tests/unit/test_config.py fails when either file differs from what this writes, so a new
setting is documented the moment it is declared (app/settings.py, app/hosting.py).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from app.hosting import SERVER_VARIABLES
from app.setting_types import SECRET_VARIABLES
from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ENV_EXAMPLE = ROOT / ".env.example"
CONFIGURATION = ROOT / "docs" / "configuration.md"


def _default(field) -> str:
    extra = field.json_schema_extra or {}
    if "shown" in extra:
        return extra["shown"]
    value = field.default
    return f"{value:g}" if isinstance(value, float) else str(value)


SERVERS_NOTE = ("read by gunicorn and `make serve` from the environment only (gunicorn "
                "reads them before any of the app's code, so `.env` does not set them: "
                "`PORT=8080 make serve`). Each is a whole number of at least 1.")


def rows() -> list[tuple[str, str, str]]:
    """(variable, default, description) for the app's settings."""
    return [(field.alias, "" if field.alias in SECRET_VARIABLES else _default(field),
             field.description) for field in Settings.model_fields.values()]


def server_rows() -> list[tuple[str, str, str]]:
    """The same for gunicorn's settings."""
    return [(name, default, text) for name, (default, text) in SERVER_VARIABLES.items()]


def env_example() -> str:
    lines = ["# Copy to .env and fill in what you need. Every variable is optional except",
             "# APP_SECRET_KEY in production. Real environment variables win over this file.",
             "# Written by `make config-docs` from app/settings.py and app/hosting.py."]
    for name, default, description in rows():
        lines.append("")
        lines += textwrap.wrap(description, 88, initial_indent="# ", subsequent_indent="# ")
        lines.append(f"{name}={default}")
    lines.append("")
    lines += textwrap.wrap(f"Not here: {', '.join(name for name, _, _ in server_rows())}: "
                           + SERVERS_NOTE.replace("`", ""), 88,
                           initial_indent="# ", subsequent_indent="# ")
    return "\n".join(lines) + "\n"


def configuration_page() -> str:
    lines = ["# Configuration", "",
             "Every setting is an environment variable; for the app's own, a `.env` file in "
             "the working folder is read too (real environment variables win), and "
             "`.env.example` lists them all. "
             "In Kubernetes they come from the ConfigMap `my-config` and, for "
             f"{', '.join(f'`{n}`' for n in SECRET_VARIABLES)}, the Secret "
             "`image-background-processor-secrets` (see [deploy](deploy.md)).", "",
             "A malformed value stops the app at start-up with a sentence naming the "
             "variable, what it must be and the value it got.", "",
             "_Written by `make config-docs` from `app/settings.py` and `app/hosting.py`; "
             "do not edit by hand._", "",
             *_table(rows()), "", "## The servers", "",
             SERVERS_NOTE[0].upper() + SERVERS_NOTE[1:], "", *_table(server_rows())]
    return "\n".join(lines) + "\n"


def _table(found: list[tuple[str, str, str]]) -> list[str]:
    lines = ["| Variable | Default | What it does |", "|---|---|---|"]
    for name, default, description in found:
        shown = f"`{default}`" if default else "(empty)"
        text = description.replace("|", r"\|")
        lines.append(f"| `{name}` | {shown} | {text} |")
    return lines


def main() -> None:
    ENV_EXAMPLE.write_text(env_example())
    CONFIGURATION.parent.mkdir(exist_ok=True)
    CONFIGURATION.write_text(configuration_page())
    print(f"wrote {ENV_EXAMPLE.name} and {CONFIGURATION.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
