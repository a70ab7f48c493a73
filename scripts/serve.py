"""`make serve`: the pod's stack on this machine. gunicorn (gunicorn.conf.py) serves the app
on a loopback port, and the front, nginx with k8s/front/nginx.conf, faces clients on PORT.

    python -m scripts.serve [--trust-lb CIDR ...]

HOST (default 127.0.0.1) and PORT (default 5000) say where the front listens. Both servers
log to this terminal. Ctrl-C or SIGTERM stops the front first, gracefully (it stops
accepting and finishes what it has), then gunicorn, gracefully too: the order the pod uses.
"""

from __future__ import annotations

import argparse
import fcntl
import ipaddress
import os
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from app.hosting import ConfigError, server_setting

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "k8s" / "front" / "nginx.conf"
# Debian puts nginx in /usr/sbin, which is not on an ordinary user's PATH.
NGINX_PLACES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/opt/homebrew/bin/nginx",
                "/usr/local/bin/nginx")
INSTALL_HINT = (
    "nginx is not installed. `make serve` runs the app behind nginx, as the pod does "
    "(docs/front.md). Install it:\n"
    "  Debian/Ubuntu: sudo apt-get install nginx\n"
    "  macOS:         brew install nginx\n"
    "or set NGINX to an nginx binary. (`make run` serves the app without the front.)"
)


def stop_seconds() -> int:
    """How long each server may take to finish what it is doing once asked to stop: the
    front passes on the app's answers, so it may need as long as the app."""
    return server_setting("GUNICORN_GRACEFUL_TIMEOUT") + 5


# How long each may take to start: gunicorn's workers load the model first.
APP_START_SECONDS, FRONT_START_SECONDS = 120, 10


class ServeError(Exception):
    """Why the stack could not start, in a sentence for the terminal."""


def find_nginx() -> str | None:
    """NGINX if set (and nothing else), else nginx on PATH or where packages put it."""
    chosen = os.environ.get("NGINX")
    candidates = [chosen] if chosen else [shutil.which("nginx"), *NGINX_PLACES]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_given: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A port to listen on, outside the range the kernel hands to outgoing connections: a
    port the kernel picks with bind(0) comes from that range, and a client's connection (a
    database pool, a browser) can take it before the server binds it, which failed CI once.
    Never the same port twice in one process, since nothing holds it between the calls."""
    try:
        low, high = map(int, EPHEMERAL_RANGE.read_text().split()[:2])
    except (OSError, ValueError):
        low, high = 32768, 60999  # Linux's default
    # Below the range if there is room there (not among the well-known ports), else above.
    span = next((span for span in ((max(low - 20000, 10000), low), (high + 1, 65536))
                 if span[1] - span[0] >= 1000), None)
    # Probed on the wildcard address, as gunicorn in the container binds: that conflicts
    # with a socket on the port whichever address it holds.
    wildcard = "::" if ":" in host else "0.0.0.0"  # noqa: S104 (a probe, closed at once)
    for _ in range(100 if span else 0):
        port = random.randrange(*span)  # noqa: S311 (not a secret)
        if port not in _given and _bind_error(wildcard, port) is None:
            _given.add(port)
            return port
    while True:  # a crowded machine: the kernel's choice, still never twice
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        if port not in _given:
            _given.add(port)
            return port


def _bind_error(host: str, port: int) -> str | None:
    """Why a server could not listen there now, or None if it could."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        # As nginx and gunicorn bind: a port that only has connections closing on it is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.strerror
        return None


def _check_free(host: str, port: int) -> None:
    error = _bind_error(host, port)
    if error:
        raise ServeError(f"cannot listen on {_address(host, port)}: {error}. "
                         "Set PORT (or HOST) to a free one.")


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def write_front_config(folder: Path, host: str, port: int, app_port: int,
                       trusted_lbs: list[str] = ()) -> Path:
    """The front's files for this machine in `folder`: nginx.conf (a link to the one in the
    repository) and the three data files it includes, as k8s/front/pod/ has them for the
    pod. Returns the path to pass to nginx -c."""
    conf = folder / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "nginx.conf").symlink_to(NGINX_CONF)
    note = "# Written by scripts/serve.py for `make serve`.\n"
    (conf / "listen.conf").write_text(f"{note}listen {_address(host, port)};\n")
    (conf / "upstream.conf").write_text(f"{note}server 127.0.0.1:{app_port};\n")
    (conf / "trusted-lbs.conf").write_text(note + "".join(
        f"{ipaddress.ip_network(cidr, strict=False)} 1;\n" for cidr in trusted_lbs))
    return conf / "nginx.conf"


def nginx_command(nginx: str, config: Path, prefix: Path) -> list[str]:
    return [nginx, "-e", "stderr", "-p", f"{prefix}/", "-c", str(config),
            "-g", "daemon off;"]


def _die_with_parent() -> None:
    """Run in each child before it starts: if this script is killed outright, the child
    is asked to stop rather than left running (Linux only)."""
    os.setsid()  # its own process group: Ctrl-C reaches this script, which stops it in order
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(command, env=env, preexec_fn=_die_with_parent)  # noqa: S603 (our own commands)


def _share_output_safely() -> None:
    """When our output is a file (`make serve > serve.log`), make every write to it an
    append: gunicorn writes through the descriptor it inherits, at that descriptor's offset,
    while nginx opens /dev/stdout anew and appends; without this, gunicorn's lines overwrite
    nginx's."""
    for stream in (sys.stdout, sys.stderr):
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a real descriptor
            continue
        if stat.S_ISREG(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
            return response.status == 200
    except OSError:
        return False


def _wait_healthy(process: subprocess.Popen, url: str, seconds: float, name: str,
                  stopping: list) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not stopping:
        if process.poll() is not None:
            raise ServeError(f"{name} exited during start-up (see its messages above).")
        if _healthy(url):
            return
        time.sleep(0.2)
    if stopping:
        raise ServeError("stopped while starting.")
    raise ServeError(f"{name} did not answer {url} within {seconds:.0f} s.")


def _stop(process: subprocess.Popen | None, sig: int, seconds: float) -> None:
    """Ask `process` to stop with `sig`; after `seconds`, end it and its children (each
    server is the leader of its own process group)."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trust-lb", action="append", default=[], metavar="CIDR",
                        help="a range of HTTP load balancers whose X-Forwarded-For entries "
                             "are trusted (docs/front.md); repeatable")
    parser.add_argument("--app-port", type=int, default=0,
                        help="gunicorn's loopback port (default: a free one)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    host = os.environ.get("HOST", "127.0.0.1")
    try:
        port, stopping_within = server_setting("PORT"), stop_seconds()
    except ConfigError as exc:
        print(f"make serve: {exc}", file=sys.stderr)
        return 2
    nginx = find_nginx()
    if nginx is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2

    _share_output_safely()
    stopping = []

    def on_signal(signum, frame):
        stopping.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    app = front = None
    with tempfile.TemporaryDirectory(prefix="ibp-front-") as tmp:
        folder = Path(tmp)
        if os.geteuid() == 0:
            # As root, nginx's workers run as an unprivileged user that must reach the
            # temporary folders it creates in here.
            folder.chmod(0o755)
        app_port = args.app_port or free_port()
        config = write_front_config(folder, host, port, app_port, args.trust_lb)
        # The front is the one proxy in front of the app: it sets X-Forwarded-For itself.
        app_env = {**os.environ, "TRUSTED_PROXIES": "1", "PORT": str(app_port)}
        try:
            _check_free(host, port)
            _check_free("127.0.0.1", app_port)
            app = _spawn([str(Path(sys.executable).parent / "gunicorn"),
                          "--config", str(ROOT / "gunicorn.conf.py"),
                          "--bind", f"127.0.0.1:{app_port}"], app_env)
            _wait_healthy(app, f"http://127.0.0.1:{app_port}/health", APP_START_SECONDS,
                          "gunicorn", stopping)
            front = _spawn(nginx_command(nginx, config, folder), dict(os.environ))
            _wait_healthy(front, f"http://{_address(host, port)}/_front/health",
                          FRONT_START_SECONDS, "nginx (the front)", stopping)
            print(f"Serving on http://{_address(host, port)}/ (nginx in front of gunicorn "
                  f"on 127.0.0.1:{app_port}); Ctrl-C stops both.", file=sys.stderr,
                  flush=True)
            while not stopping:
                for name, process in (("gunicorn", app), ("nginx (the front)", front)):
                    if process.poll() is not None:
                        raise ServeError(f"{name} exited with code {process.returncode}.")
                time.sleep(0.2)
            return 0
        except ServeError as exc:
            if not stopping:
                print(f"make serve: {exc}", file=sys.stderr)
                return 1
            return 0
        finally:
            # The front first: it stops accepting and finishes its requests, which gunicorn
            # is still there to answer; then gunicorn finishes whatever is left.
            _stop(front, signal.SIGQUIT, stopping_within)
            _stop(app, signal.SIGTERM, stopping_within)


if __name__ == "__main__":
    sys.exit(main())
