"""Read the Dockerfile's final stage, so tests and benchmarks run what the image runs.

There is no container engine on these machines: instead of building the image, its CMD is
started with its ENV, from a folder laid out by its COPY lines (minus `.dockerignore`), with
the image's virtualenv standing in for this one. Nothing here repeats a value by hand.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
# Where the image keeps its virtualenv (the build stage's `python -m venv` target).
IMAGE_VENV = "/opt/venv"
# This machine's models folder stands in for the image's (its ENV's BG_MODELS_DIR): the same
# files, fetched by the same command (`make models`).
MODELS_DIR = Path(os.environ.get("BG_MODELS_DIR") or ROOT / "models")
# Settings of this machine, not of the app: on some processors OpenBLAS needs them.
MACHINE_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


@dataclass
class Stage:
    name: str
    base: str
    env: dict[str, str] = field(default_factory=dict)
    copies: list[tuple[list[str], str]] = field(default_factory=list)  # (sources, destination)
    # COPY --from=<stage>: (stage, sources, destination)
    copies_from: list[tuple[str, list[str], str]] = field(default_factory=list)
    workdir: str = "/"
    user: str = ""
    expose: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    healthcheck_options: dict[str, str] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    result, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, rest = current.partition(" ")
        result.append((keyword.upper(), rest.strip()))
        current = ""
    return result


def _expand(value: str, env: dict[str, str]) -> str:
    """Substitute $NAME and ${NAME}; a name the Dockerfile does not set (the base image's
    PATH) is left for `image_env` to fill in."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)",
                  lambda m: env.get(m.group(1) or m.group(2), m.group(0)), value)


def stages(path: Path = DOCKERFILE) -> list[Stage]:
    args: dict[str, str] = {}
    result: list[Stage] = []
    for keyword, rest in instructions(path.read_text()):
        if keyword == "ARG" and not result:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) > 2 and words[1].upper() == "AS" else ""
            result.append(Stage(name=name, base=_expand(words[0], args)))
        elif not result:
            continue
        elif keyword == "ENV":
            stage = result[-1]
            # Every value in one ENV line sees the variables as they were before it.
            before = dict(stage.env)
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                stage.env[key] = _expand(value, before)
        elif keyword == "COPY":
            words = shlex.split(rest)
            paths = [w for w in words if not w.startswith("--")]
            source = [w.partition("=")[2] for w in words if w.startswith("--from=")]
            if source:  # from another stage, not from the build context
                result[-1].copies_from.append((source[0], paths[:-1], paths[-1]))
            else:
                result[-1].copies.append((paths[:-1], paths[-1]))
        elif keyword == "WORKDIR":
            result[-1].workdir = rest
        elif keyword == "USER":
            result[-1].user = rest
        elif keyword == "EXPOSE":
            result[-1].expose.extend(rest.split())
        elif keyword == "CMD":
            result[-1].cmd = json.loads(rest)
        elif keyword == "HEALTHCHECK":
            options = dict(re.findall(r"--([\w-]+)=(\S+)", rest))
            result[-1].healthcheck_options = options
            result[-1].healthcheck = json.loads(rest[rest.index("CMD") + 3:])
        elif keyword == "RUN":
            result[-1].runs.append(rest)
    return result


def final_stage(path: Path = DOCKERFILE) -> Stage:
    return stages(path)[-1]


def dockerignore(root: Path = ROOT) -> list[str]:
    lines = (root / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(relative: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes."""
    result = False
    parts = relative.split("/")
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        plain = pattern.removeprefix("**/")
        # A pattern matches a path or any folder above it.
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatchcase(part, plain) for part in parts)
        else:
            hit = any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes)
        if hit:
            result = not negate
    return result


def lay_out(stage: Stage, target: Path, root: Path = ROOT) -> Path:
    """Copy what the stage's COPY lines put in its WORKDIR (after `.dockerignore`) to
    `target`; returns `target`, which stands for the WORKDIR."""
    patterns = dockerignore(root)
    for sources, destination in stage.copies:
        for source in sources:
            src = root / source.rstrip("/")
            files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
            for file in files:
                relative = file.relative_to(root).as_posix()
                if ignored(relative, patterns):
                    continue
                if destination.endswith("/") and src.is_file():
                    out = target / destination / file.name
                elif src.is_file():
                    out = target / destination
                else:
                    out = target / destination / file.relative_to(src)
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, out)
    return target


def local_models(value: str, stage: Stage | None = None) -> str:
    """A path in the image's models folder (its BG_MODELS_DIR) as this machine's."""
    image_models = (stage or final_stage()).env.get("BG_MODELS_DIR")
    if image_models and (value == image_models or value.startswith(image_models + "/")):
        return str(MODELS_DIR) + value[len(image_models):]
    return value


def image_env(stage: Stage, **extra: str) -> dict[str, str]:
    """The stage's ENV as this machine can run it: the image's virtualenv is this one, its
    models folder is this machine's, and the base image's PATH is this machine's."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    env = {k: os.environ[k] for k in MACHINE_VARIABLES if k in os.environ}
    env.update(base)
    for key, value in stage.env.items():
        env[key] = local_models(_expand(value, base).replace(IMAGE_VENV, sys.prefix), stage)
    env.update(extra)
    return env
