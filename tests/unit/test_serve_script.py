"""scripts/serve.py (`make serve`) before it starts anything: without nginx it says how to
install it and fails, rather than serving without the front."""

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
