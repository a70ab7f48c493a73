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


def ports_range(tmp_path, monkeypatch, text: str):
    path = tmp_path / "ip_local_port_range"
    path.write_text(text)
    monkeypatch.setattr(serve, "EPHEMERAL_RANGE", path)
    monkeypatch.setattr(serve, "_given", set())


@pytest.mark.parametrize(("kernels", "lowest", "highest"), [
    ("31000\t60999\n", 11000, 30999),  # a common range: below it
    ("1024\t60999\n", 61000, 65535),  # no room below: above it
])
def test_a_free_port_is_outside_the_kernels_range_for_outgoing_connections(
        tmp_path, monkeypatch, kernels, lowest, highest):
    """A port from bind(0) is one a client's connection can take before the server binds it
    (CI failed once on a port a database pool held): the ports handed out stay out of
    ip_local_port_range, and none twice."""
    ports_range(tmp_path, monkeypatch, kernels)
    ports = [serve.free_port() for _ in range(300)]
    assert all(lowest <= port <= highest for port in ports)
    assert len(set(ports)) == 300


def test_with_no_room_outside_the_range_the_kernel_chooses_still_never_twice(tmp_path,
                                                                            monkeypatch):
    ports_range(tmp_path, monkeypatch, "1024\t65535\n")
    chosen = iter([40001, 40001, 40002])

    class Socket:  # what bind(0) gives: the same port twice in a row, as it may
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

        def bind(self, address):
            pass

        def getsockname(self):
            return ("127.0.0.1", next(chosen))

    monkeypatch.setattr(serve.socket, "socket", Socket)
    assert [serve.free_port(), serve.free_port()] == [40001, 40002]


def test_an_unreadable_range_is_taken_as_linuxs_default(tmp_path, monkeypatch):
    ports_range(tmp_path, monkeypatch, "")
    assert all(12768 <= serve.free_port() < 32768 for _ in range(50))


def test_a_port_in_use_on_any_address_is_not_handed_out(tmp_path, monkeypatch):
    ports_range(tmp_path, monkeypatch, "32768\t60999\n")
    with socket.socket() as taken:
        # Taken on 127.0.0.2 only: a probe on the server's own 127.0.0.1 would pass it by.
        taken.bind(("127.0.0.2", 0))
        taken.listen()
        port = taken.getsockname()[1]
        offered = [port, port]
        draw = serve.random.randrange
        monkeypatch.setattr(serve.random, "randrange",
                            lambda *span: offered.pop() if offered else draw(*span))
        assert serve.free_port() not in (port, None) and offered == []
        with pytest.raises(serve.ServeError,
                           match=rf"cannot listen on 127\.0\.0\.2:{port}: Address already in use"):
            serve._check_free("127.0.0.2", port)
