"""gunicorn with gunicorn.conf.py as the pod runs it: a read-only root file system, so a
home folder nothing can be written to."""

from tests.servers import BIN, ROOT, clean_env, free_port, start, stop


def test_the_server_starts_without_an_error_where_nothing_can_be_written(tmp_path):
    """gunicorn 25.1 added a control socket, by default in $XDG_RUNTIME_DIR or
    ~/.gunicorn: in the pod it logged an ERROR at each start, and servers run by the same
    user elsewhere (make serve beside the tests) took each other's socket. The app does not
    use it, so it is off."""
    port = free_port()
    env = clean_env(APP_SECRET_KEY="gunicorn-test-secret-key-0123456789", PORT=str(port),
                    HOME="/proc")  # like the pod's read-only root: no folder can be made
    env.pop("XDG_RUNTIME_DIR", None)
    process, _base = start([str(BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py")],
                           env, port, tmp_path)
    stop(process)
    log = (tmp_path / "log").read_text()
    assert "Booting worker" in log
    assert not [line for line in log.splitlines() if "[ERROR]" in line or '"ERROR"' in line]
