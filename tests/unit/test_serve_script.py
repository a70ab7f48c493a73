"""scripts/serve.py (`make serve`) before it starts anything: without nginx it says how to
install it and fails, rather than serving without the front."""

import socket
import sys
from pathlib import Path

import pytest

from scripts import serve


def test_without_nginx_it_says_how_to_install_it_and_fails(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("NGINX", str(tmp_path / "no-nginx-here"))
    assert serve.main([]) == 2
    message = capsys.readouterr().err
    assert "nginx is not installed" in message
    assert "Debian/Ubuntu: sudo apt-get install nginx" in message
    assert "macOS:         brew install nginx" in message


def test_the_front_files_for_this_machine(tmp_path):
    config = serve.write_front_config(tmp_path, "127.0.0.1", 5000, 41234, ["127.0.0.5"])
    assert config.resolve() == serve.NGINX_CONF
    folder = config.parent
    assert (folder / "listen.conf").read_text().splitlines()[-1] == "listen 127.0.0.1:5000;"
    assert (folder / "upstream.conf").read_text().splitlines()[-1] == (
        "server 127.0.0.1:41234;")
    assert (folder / "trusted-lbs.conf").read_text().splitlines()[-1] == "127.0.0.5/32 1;"
    ipv6 = serve.write_front_config(tmp_path / "v6", "::1", 8080, 41234)
    assert (ipv6.parent / "listen.conf").read_text().splitlines()[-1] == "listen [::1]:8080;"
    assert (ipv6.parent / "trusted-lbs.conf").read_text().splitlines()[1:] == []


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
def test_a_log_file_shared_by_both_servers_loses_no_line(tmp_path, monkeypatch):
    """`make serve > serve.log`: gunicorn writes through the descriptor it inherits, nginx
    opens /dev/stdout anew and appends; each must append, or one overwrites the other."""
    path = tmp_path / "serve.log"
    with open(path, "w") as log:
        monkeypatch.setattr(sys, "stdout", log)
        monkeypatch.setattr(sys, "stderr", log)
        serve._share_output_safely()
        with open(f"/proc/self/fd/{log.fileno()}", "a") as nginx:  # as nginx opens it
            nginx.write("a line from nginx\n")
        log.write("a line from gunicorn\n")
    assert path.read_text() == "a line from nginx\na line from gunicorn\n"


def test_a_free_port_is_below_the_kernels_range_for_outgoing_connections(tmp_path,
                                                                           monkeypatch):
    """A port from bind(0) is one a client's connection can take before the server binds it
    (CI failed once on a port a database pool held): the ports handed out stay below
    ip_local_port_range, and none twice."""
    ports_range = tmp_path / "ip_local_port_range"
    ports_range.write_text("11000\t60999\n")
    monkeypatch.setattr(serve, "_given", set())
    monkeypatch.setattr(serve, "EPHEMERAL_RANGE", ports_range)
    # 200 of 1,000 ports: drawn at random without remembering, two would all but surely meet.
    ports = [serve.free_port() for _ in range(200)]
    assert all(10000 <= port < 11000 for port in ports)
    assert len(set(ports)) == 200


def test_a_port_in_use_is_not_handed_out(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        offered = iter([port, port, port + 1])
        monkeypatch.setattr(serve.random, "randrange", lambda low, high: next(offered))
        # Taken on 127.0.0.1 only: the probe on 0.0.0.0 conflicts with it all the same.
        assert serve.free_port() == port + 1
        with pytest.raises(serve.ServeError,
                           match=rf"cannot listen on 127\.0\.0\.1:{port}: Address already in use"):
            serve._check_free("127.0.0.1", port)
