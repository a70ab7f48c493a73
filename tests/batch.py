"""The batch command's tests' shared parts: a folder of photos as people keep them, the
command run in-process, and what it printed and wrote."""

import io
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from PIL import Image

from tests.support import photo

DAMAGED = ("The image file is damaged or incomplete. Please upload a whole JPEG, PNG or WebP "
           "image.")


def tree(root: Path) -> Path:
    """A folder of photos as people keep them: nested, one PNG without an extension, a text
    file, and a text file named .jpg (a damaged photo is added by the tests that need one)."""
    src = root / "src"
    (src / "trip" / "day 2").mkdir(parents=True)
    (src / "a.jpg").write_bytes(photo(size=(320, 240)))
    (src / "trip" / "b.webp").write_bytes(photo("astronaut", "WEBP", size=(200, 200)))
    (src / "trip" / "day 2" / "c").write_bytes(photo("coffee", "PNG", size=(300, 200)))
    (src / "notes.txt").write_text("not a photo")
    (src / "trip" / "fake.jpg").write_text("not a photo either")
    return src


def invoke(app, *args):
    return app.test_cli_runner().invoke(args=["remove-bg", *map(str, args), "--no-progress"])


SUMMARY = re.compile(r"(Done|Stopped) in [0-9.]+ s: made ([0-9]+) \([0-9.]+ photos/s\), "
                     r"skipped ([0-9]+) already made, failed ([0-9]+)\.")


def tally(result) -> tuple[int, int, int]:
    """(made, skipped, failed) from the summary's first line, which must be whole."""
    found = SUMMARY.fullmatch(result.stdout.splitlines()[0])
    assert found, result.stdout
    return tuple(int(n) for n in found.groups()[1:])


def outputs(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


class FakeServer:
    """Answers POST /api/v1/remove from `answers` in turn (status, headers), a PNG on 200,
    nothing at all on 0 (the connection closed, as by a worker that died with the photo),
    half a PNG on "cut" (the connection closed mid-answer), a web page on "page", nothing
    for `hang` seconds on "hang" (then the connection closed); and GET
    /api/v1/session from `sessions` in turn (None: as usual), then 200 with a token; GET
    /health nothing for `hang` seconds if `health_hangs`, else 200.
    Records each request's time, path and headers, and each POST's body."""

    def __init__(self, answers, sessions=(), hang=2.0, health_hangs=False):
        self.answers, self.sessions, self.requests = list(answers), list(sessions), []
        self.hang, self.health_hangs = hang, health_hangs
        self.bodies = []
        png = io.BytesIO()
        Image.new("RGBA", (8, 8), (1, 2, 3, 255)).save(png, "PNG")
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, headers, body):
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def refuse(self, status, headers):
                self.reply(status, {"Content-Type": "application/json", **headers},
                           json.dumps({"error": "rate_limited",
                                       "message": "Too many uploads."}).encode())

            def do_GET(self):
                owner.requests.append((time.monotonic(), "GET", self.path, dict(self.headers)))
                if self.path == "/health" and owner.health_hangs:
                    time.sleep(owner.hang)
                    self.close_connection = True
                    return
                if self.path == "/api/v1/session" and owner.sessions:
                    answer = owner.sessions.pop(0)  # None: as usual
                    if answer is not None:
                        return self.refuse(*answer)
                # The session's answer names the token's header, as the app's does.
                body = ({"csrf_token": "token-1", "csrf_header": "X-CSRFToken"}
                        if self.path == "/api/v1/session" else {"name": "batch"})
                self.reply(200, {"Content-Type": "application/json",
                                 "Set-Cookie": "session=s1; Path=/"}, json.dumps(body).encode())

            def do_POST(self):
                owner.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append((time.monotonic(), "POST", self.path, dict(self.headers)))
                status, headers = owner.answers.pop(0) if owner.answers else (200, {})
                if status == 0:
                    self.close_connection = True
                elif status == 200:
                    self.reply(200, {"Content-Type": "image/png", **headers}, png.getvalue())
                elif status == "cut":
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(png.getvalue()), png.getvalue()[:20]))
                    self.close_connection = True
                elif status == "hang":
                    time.sleep(owner.hang)
                    self.close_connection = True
                elif status == "page":
                    self.reply(200, {"Content-Type": "text/html"}, b"<html>Sign in</html>")
                else:
                    self.refuse(status, headers)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_port}"

    def send_one(self, app, tmp_path, *args):
        """`flask remove-bg` of one photo to this server, which is then stopped: the photo's
        path and the command's result."""
        source = tmp_path / "cat.jpg"
        source.write_bytes(photo(size=(64, 48)))
        result = invoke(app, source, "--out", tmp_path / "out", "--server", self.base, *args)
        self.server.shutdown()
        return source, result

    def posts(self):
        return [r for r in self.requests if r[1] == "POST"]
