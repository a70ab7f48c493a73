"""remove.bg's own client libraries, as published, against gunicorn with the local model:
npm's `remove.bg` (1.3.0) and PyPI's `removebg` (0.04), unmodified but for their URL
constant, pointed at /v1.0/removebg with a key from API_KEYS. What each sends and gets is
the table in docs/api.md ("remove.bg's API")."""

import base64
import io
import json
import shutil
import subprocess
import time
import zipfile

import pytest
import requests
from PIL import Image

from tests.servers import BIN, ROOT, clean_env, free_port, start, stop
from tests.support import photo

KEY = "removebg-live-key-0123456789"
PHOTO = photo("chelsea")  # 451 × 300, as the photo server's /photo
NODE_CLIENT = ROOT / "node_modules" / "remove.bg"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    env = clean_env(APP_SECRET_KEY="live-test-secret-key-0123456789", PORT=str(port),
                    API_KEYS=f"client:{KEY}", URL_ALLOWED_NETWORKS="127.0.0.0/8")
    process, base = start([str(BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py")],
                          env, port, tmp_path_factory.mktemp("removebg"))
    yield base
    stop(process)


def opened(path) -> Image.Image:
    image = Image.open(path)
    image.load()
    return image


def near(pixel, colour) -> bool:
    """Within a JPEG's error of `colour`."""
    return all(abs(a - b) <= 3 for a, b in zip(pixel, colour, strict=True))


def cutout(image: Image.Image) -> None:
    """The cat kept, the floor around it dropped."""
    alpha = image.getchannel("A")
    assert alpha.getextrema() == (0, 255)
    assert alpha.getpixel((5, 5)) < 16  # a corner: background


@pytest.fixture(scope="module")
def node_calls(server, photo_server, tmp_path_factory):
    node = shutil.which("node")
    if node is None or not NODE_CLIENT.exists():
        pytest.skip("node, or npm's remove.bg (npm ci), is not installed")
    folder = tmp_path_factory.mktemp("node")
    (folder / "cat.jpg").write_bytes(PHOTO)
    done = subprocess.run(
        [node, str(ROOT / "tests" / "system" / "removebg_client.js"), str(folder / "cat.jpg"),
         f"{photo_server}/photo", str(folder), KEY, "file", "base64", "url", "wrong_key"],
        env={**clean_env(), "REMOVEBG_URL": f"{server}/v1.0/removebg",
             "NODE_PATH": str(ROOT / "node_modules")},
        cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    calls = {line["call"]: line for line in map(json.loads, done.stdout.splitlines())}
    return folder, calls


def test_node_file_upload(node_calls):
    folder, calls = node_calls
    call = calls["file"]
    assert call["ok"], call
    result = call["result"]
    # The client reads remove.bg's rate-limit headers: the key's minute (API_KEYS: 60).
    left, reset = int(result.pop("rateLimitRemaining")), int(result.pop("rateLimitReset"))
    assert result == {"creditsCharged": "0.25", "detectedType": "other", "resultWidth": "451",
                      "resultHeight": "300", "rateLimit": "60"}
    assert 0 <= left < 60 and time.time() - 60 < reset <= time.time() + 61
    image = opened(folder / "file.png")  # regular: 0.25 MP at most, and 451 × 300 is less
    assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (451, 300))
    cutout(image)


def test_node_base64_on_a_colour(node_calls):
    folder, calls = node_calls
    call = calls["base64"]
    assert call["ok"], call
    assert (call["result"]["creditsCharged"], call["result"]["resultWidth"]) == ("1", "451")
    image = opened(folder / "base64.jpg")  # auto with a colour: a JPEG
    assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (451, 300))
    assert near(image.getpixel((5, 5)), (0x81, 0xD4, 0xFA))


def test_node_by_address_cropped(node_calls):
    folder, calls = node_calls
    call = calls["url"]
    assert call["ok"], call
    image = opened(folder / "url.png")
    assert image.format == "PNG" and image.size[0] < 451  # cropped to the cat and 10 %
    assert image.size == (int(call["result"]["resultWidth"]),
                          int(call["result"]["resultHeight"]))


def test_node_wrong_key_is_rejected_with_remove_bgs_errors(node_calls):
    _, calls = node_calls
    call = calls["wrong_key"]
    assert not call["ok"]
    (error,) = call["errors"]
    assert error["code"] == "invalid_key" and "not valid" in error["title"]


@pytest.fixture
def python_client(server, monkeypatch, tmp_path):
    removebg = pytest.importorskip("removebg.removebg")
    monkeypatch.setattr(removebg, "API_ENDPOINT", f"{server}/v1.0/removebg")
    return removebg.RemoveBg(KEY, str(tmp_path / "errors.log"))


def test_python_file_upload(python_client, tmp_path):
    (tmp_path / "cat.jpg").write_bytes(PHOTO)
    python_client.remove_background_from_img_file(str(tmp_path / "cat.jpg"), size="regular")
    image = opened(tmp_path / "cat.jpg_no_bg.png")
    assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (451, 300))
    cutout(image)


def test_python_by_address_with_a_colour(python_client, photo_server, tmp_path):
    out = tmp_path / "url.jpg"
    python_client.remove_background_from_img_url(f"{photo_server}/photo", size="hd",
                                                 new_file_name=str(out), bg_color="green")
    image = opened(out)
    assert (image.format, image.size) == ("JPEG", (451, 300))
    assert near(image.getpixel((5, 5)), (0, 128, 0))


def test_python_base64_in_a_urlencoded_form(python_client, tmp_path):
    out = tmp_path / "b64.png"
    python_client.remove_background_from_base64_img(base64.b64encode(PHOTO).decode(),
                                                    new_file_name=str(out))
    image = opened(out)
    assert (image.format, image.size) == ("PNG", (451, 300))
    cutout(image)


def test_python_wrong_key_raises(server, monkeypatch, tmp_path):
    removebg = pytest.importorskip("removebg.removebg")
    monkeypatch.setattr(removebg, "API_ENDPOINT", f"{server}/v1.0/removebg")
    client = removebg.RemoveBg(KEY + "x", str(tmp_path / "errors.log"))
    (tmp_path / "cat.jpg").write_bytes(PHOTO)
    with pytest.raises(requests.HTTPError) as raised:
        client.remove_background_from_img_file(str(tmp_path / "cat.jpg"))
    assert raised.value.response.status_code == 403
    assert raised.value.response.json()["errors"][0]["code"] == "invalid_key"


def test_the_account_over_http(server):
    answer = requests.get(f"{server}/v1.0/account", headers={"X-Api-Key": KEY}, timeout=10)
    attributes = answer.json()["data"]["attributes"]
    assert attributes["api"] == {"free_calls": 0, "sizes": "all"}
    assert attributes["key"]["name"] == "client"


def test_a_zip_over_http_joins_into_the_png(server):
    sent = {"image_file": ("cat.jpg", PHOTO)}
    png = requests.post(f"{server}/v1.0/removebg", files=sent, data={"size": "full"},
                        headers={"X-Api-Key": KEY}, timeout=60)
    zipped = requests.post(f"{server}/v1.0/removebg", files=sent,
                           data={"size": "full", "format": "zip"},
                           headers={"X-Api-Key": KEY}, timeout=60)
    assert (png.status_code, zipped.status_code) == (200, 200)
    archive = zipfile.ZipFile(io.BytesIO(zipped.content))
    alpha = opened(io.BytesIO(archive.read("alpha.png")))
    assert alpha.tobytes() == opened(io.BytesIO(png.content)).getchannel("A").tobytes()
