"""POST /api/v1/remove: one call per photo, the result answered and stored nowhere; sized
before the work and priced by the pixels worked on; in the OpenAPI document."""

import base64
import io
import zipfile

import pytest
from PIL import Image

from app import create_app
from app.http.limits import RATE_HEADERS
from tests.support import ApiClient, FakeEngine, Visitor, assert_error, encode, photo, use_engine
from tests.unit.test_prices import BIG, PER_MINUTE, left

SIZE = ("size must be preview (about 0.25 megapixels), full, or a number of megapixels from "
        "0.01 to 1000, such as 2 or 0.5.")
PHOTO = photo(size=(1000, 800))


@pytest.fixture
def app(settings):
    app = create_app(settings.changed(upload_rate_limit=f"{PER_MINUTE} per minute",
                                      upload_rate_limit_ip="100 per minute", user_limit=2))
    use_engine(app, FakeEngine())
    return app


def remove(client: ApiClient, data: bytes | None = PHOTO, headers=None, **fields):
    form = dict(fields)
    if data is not None:
        form["image"] = (io.BytesIO(data), "cat.jpg")
    return client.http.post("/api/v1/remove", data=form, content_type="multipart/form-data",
                            headers=client.headers(**(headers or {})))


def test_the_bytes_answer_with_their_type_and_size(app):
    answer = remove(ApiClient(app.test_client()))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.mimetype == "image/png"
    result = Image.open(io.BytesIO(answer.data))
    assert (result.format, result.mode, result.size) == ("PNG", "RGBA", (1000, 800))
    assert result.getpixel((900, 400))[3] == 0 and result.getpixel((100, 400))[3] == 255
    assert (answer.headers["X-Width"], answer.headers["X-Height"]) == ("1000", "800")
    assert answer.headers["X-Model"] == "fake"
    assert float(answer.headers["X-Processing-Seconds"]) >= 0


def test_json_when_asked_holds_the_same_bytes(app):
    client = ApiClient(app.test_client())
    raw = remove(client, output="color", background="#102030", format="jpeg")
    answer = remove(client, output="color", background="#102030", format="jpeg",
                    headers={"Accept": "application/json"})
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    body = answer.get_json()
    assert set(body) == {"image_base64", "content_type", "width", "height", "model", "seconds"}
    assert (body["content_type"], body["width"], body["height"], body["model"]) == (
        "image/jpeg", 1000, 800, "fake")
    assert base64.b64decode(body["image_base64"]) == raw.data
    assert raw.mimetype == "image/jpeg"


@pytest.mark.parametrize("size, expected", [("preview", (559, 447)), ("0.1", (353, 282)),
                                            ("full", (1000, 800)), ("2", (1000, 800))])
def test_a_size_scales_down_keeping_the_aspect_and_never_enlarges(app, size, expected):
    answer = remove(ApiClient(app.test_client()), size=size)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert Image.open(io.BytesIO(answer.data)).size == expected
    assert (answer.headers["X-Width"], answer.headers["X-Height"]) == tuple(map(str, expected))
    width, height = expected
    assert width * height <= {"preview": 250_000, "0.1": 100_000}.get(size, 800_000)
    assert abs(width / height - 1.25) < 0.01


@pytest.mark.parametrize("size", ["big", "0", "-1", "1001", "", "1e3", "2\n"])
def test_a_bad_size_is_refused_with_the_sentence(app, size):
    body = assert_error(remove(ApiClient(app.test_client()), size=size), 400,
                        "invalid_options")
    assert body["message"] == SIZE


def test_nothing_is_stored_so_no_gallery_limit_applies(app):
    client = ApiClient(app.test_client())
    for _ in range(3):  # USER_LIMIT is 2
        assert remove(client, size="preview").status_code == 200
    session = client.http.get("/api/v1/session").get_json()
    assert (session["user_limit"], session["record_count"]) == (2, 0)
    assert client.list() == []


def test_the_rate_limit_is_spent_by_the_pixels_worked_on(app):
    visitor = Visitor(app.test_client())
    api = ApiClient(visitor.client)
    assert remove(api, BIG).status_code == 200  # 12,003,000 pixels: 4 counts
    assert left(app, visitor) == PER_MINUTE - 4
    assert remove(api, BIG, size="preview").status_code == 200  # 250,000 pixels: 1
    assert left(app, visitor) == PER_MINUTE - 5
    assert remove(api, BIG, size="bad").status_code == 400  # refused before: nothing
    assert left(app, visitor) == PER_MINUTE - 5


@pytest.mark.parametrize("how", ["json", "urlencoded", "multipart"])
def test_by_address(app, how):
    fetched = []
    app.extensions["services"].uploads.fetch = lambda url, holder=None: fetched.append(url) or PHOTO
    client = ApiClient(app.test_client())
    fields = {"image_url": "https://photos.example/cat.jpg", "size": "preview"}
    if how == "json":
        answer = client.http.post("/api/v1/remove", json={**fields, "size": 0.1},
                                  headers=client.headers())
        expected = (353, 282)
    else:
        answer = client.http.post("/api/v1/remove", data=fields, headers=client.headers(),
                                  content_type=("multipart/form-data" if how == "multipart"
                                                else "application/x-www-form-urlencoded"))
        expected = (559, 447)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert fetched == ["https://photos.example/cat.jpg"]
    assert Image.open(io.BytesIO(answer.data)).size == expected


def test_refusals_are_the_apis_errors(app):
    client = ApiClient(app.test_client())
    assert_error(remove(client, None), 400, "missing_image")
    assert_error(remove(client, name="cat"), 400, "invalid_body")  # no name here
    assert_error(client.http.post("/api/v1/remove", data=b"x", content_type="text/plain",
                                  headers=client.headers()), 415, "unsupported_media_type")
    assert_error(app.test_client().post("/api/v1/remove", data={"image": (
        io.BytesIO(PHOTO), "cat.jpg")}), 403, "csrf_failed")
    bad = encode(Image.new("RGB", (4, 4)), "BMP")
    assert_error(remove(client, bad), 415, "invalid_image")


def test_the_document_describes_it(app):
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    operation = doc["paths"]["/remove"]["post"]
    assert set(operation["requestBody"]["content"]) == {
        "multipart/form-data", "application/json", "application/x-www-form-urlencoded"}
    answer = operation["responses"]["200"]
    assert {"image/png", "image/jpeg", "image/webp", "application/zip",
            "application/json"} == set(answer["content"])
    assert set(answer["headers"]) == {"X-Width", "X-Height", "X-Model",
                                      "X-Processing-Seconds", *RATE_HEADERS}
    schemas = doc["components"]["schemas"]
    assert "size" in schemas["RemoveRequest"]["properties"]
    assert "name" not in schemas["RemoveByAddress"]["properties"]
    assert "409" not in operation["responses"]  # no gallery limit


def unzipped(data: bytes) -> tuple[Image.Image, Image.Image]:
    """remove.bg's zip: (color.jpg, alpha.png), nothing else in it."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.namelist() == ["color.jpg", "alpha.png"]
    colours = Image.open(io.BytesIO(archive.read("color.jpg")))
    alpha = Image.open(io.BytesIO(archive.read("alpha.png")))
    assert (colours.format, colours.mode, alpha.format, alpha.mode) == ("JPEG", "RGB", "PNG",
                                                                        "L")
    return colours, alpha


def jpeg_of(image: Image.Image) -> Image.Image:
    """What the compositor's JPEG (quality 90) makes of `image`'s colours."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=90, optimize=True)
    return Image.open(buf)


@pytest.mark.parametrize("fields", [{}, {"crop": "true", "size": "preview"}])
def test_a_zip_is_the_png_split_in_colours_and_alpha(app, fields):
    client = ApiClient(app.test_client())
    png = Image.open(io.BytesIO(remove(client, **fields).data))
    answer = remove(client, format="zip", **fields)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.mimetype == "application/zip"
    assert (answer.headers["X-Width"], answer.headers["X-Height"]) == tuple(
        map(str, png.size))
    colours, alpha = unzipped(answer.data)
    assert colours.size == alpha.size == png.size
    assert alpha.tobytes() == png.getchannel("A").tobytes()  # lossless: exactly the PNG's
    assert colours.tobytes() == jpeg_of(png).tobytes()  # the PNG's colours, as a JPEG
    assert len(answer.data) < len(remove(client, **fields).data)


def test_a_zip_of_an_opaque_result_has_an_opaque_alpha(app):
    client = ApiClient(app.test_client())
    fields = {"output": "color", "background": "#102030"}
    png = Image.open(io.BytesIO(remove(client, **fields).data))
    colours, alpha = unzipped(remove(client, format="zip", **fields).data)
    assert alpha.getextrema() == (255, 255)
    assert colours.tobytes() == jpeg_of(png).tobytes()


def test_a_zip_by_address_as_json(app):
    app.extensions["services"].uploads.fetch = lambda url, holder=None: PHOTO
    client = ApiClient(app.test_client())
    answer = client.http.post("/api/v1/remove", json={
        "image_url": "https://photos.example/cat.jpg", "format": "zip"},
        headers=client.headers(Accept="application/json"))
    body = answer.get_json()
    assert body["content_type"] == "application/zip"
    unzipped(base64.b64decode(body["image_base64"]))


def test_the_mask_has_no_colours_to_zip(app):
    body = assert_error(remove(ApiClient(app.test_client()), output="mask", format="zip"),
                        400, "invalid_options")
    assert body["message"] == ("A zip holds a result's colours and its alpha, and the mask "
                               "has no colours: choose png, webp or jpeg for output mask.")


def test_a_background_photo_by_address(app):
    green = encode(Image.new("RGB", (50, 40), (10, 200, 30)), "PNG")
    photos = {"https://photos.example/cat.jpg": PHOTO, "https://photos.example/lawn.png": green}
    fetched = []
    app.extensions["services"].uploads.fetch = (
        lambda url, holder=None: fetched.append(url) or photos[url])
    client = ApiClient(app.test_client())
    answer = client.http.post("/api/v1/remove", json={
        "image_url": "https://photos.example/cat.jpg", "output": "image",
        "background_image_url": "https://photos.example/lawn.png"}, headers=client.headers())
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert fetched == list(photos)
    result = Image.open(io.BytesIO(answer.data))
    assert (result.mode, result.size) == ("RGB", (1000, 800))
    assert result.getpixel((900, 400)) == (10, 200, 30)  # the background, where the cat is not
    with_file = remove(client, output="image", background_image_url="https://photos.example/"
                       "lawn.png")  # multipart: the photo as a file, its background by address
    assert with_file.data == answer.data


def test_a_background_photo_is_one_photo_given_one_way(app):
    client = ApiClient(app.test_client())
    body = assert_error(remove(client, output="image", background_image=(
        io.BytesIO(PHOTO), "lawn.jpg"), background_image_url="https://photos.example/l.png"),
        400, "invalid_body")
    assert body["message"] == ("Send the background photo as a file (background_image) or an "
                               "address (background_image_url), not both.")
    body = assert_error(client.http.post("/api/v1/remove", json={
        "image_url": "https://photos.example/cat.jpg", "output": "image"},
        headers=client.headers()), 400, "invalid_options")
    assert body["message"] == ("Output image puts a photo of yours behind the subject: send it "
                               "as background_image, with multipart/form-data, or its address "
                               "as background_image_url.")
    assert_error(remove(client, output="image", background_image_url="ftp://x.example/a.png"),
                 400, "invalid_url")


def _cut(data: bytes) -> bytes:
    """Whole in its header and structure, damaged in its data: what the check passes."""
    return data[: len(data) * 2 // 3]


def _progressive(size=(400, 300)) -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(photo(size=size))).save(buf, "JPEG", progressive=True)
    return buf.getvalue()


def test_a_damaged_background_photo_found_at_its_decode_says_it_is_the_backgrounds(app):
    """A progressive JPEG is checked by its structure only: its damage is found when the
    work decodes it, and the answer still names the background photo."""
    client = ApiClient(app.test_client())
    body = assert_error(remove(client, output="image", background_image=(
        io.BytesIO(_cut(_progressive())), "lawn.jpg")), 400, "invalid_background")
    assert body["message"] == ("The background photo could not be used. The image file is "
                               "damaged or incomplete. Please upload a whole JPEG, PNG or "
                               "WebP image.")


class _Remote(FakeEngine):
    """A web service that cannot read what it is sent."""

    name = "remote"
    remote = True


@pytest.mark.parametrize(("data", "status", "code"), [
    (_cut(_progressive()), 400, "invalid_image"),  # the sender's: the photo is damaged
    (_progressive(), 502, "engine_failed"),  # the service's: the photo is whole
])
def test_a_remote_engines_failure_on_a_damaged_photo_is_the_senders_400(settings, data, status,
                                                                         code):
    from app.engines import EngineError

    app = create_app(settings)
    engine = use_engine(app, _Remote(error=EngineError("the service could not read it")))
    assert_error(remove(ApiClient(app.test_client()), data), status, code)
    assert engine.calls == 1


def test_a_remote_failure_is_told_apart_in_a_turn_of_the_line(monkeypatch):
    """Deciding whether a photo the service could not read is damaged decodes it (a PNG
    whole), so it waits for a turn like any work; when the line is full, the service's
    failure is the answer and nothing is decoded outside the line."""
    from contextlib import ExitStack

    from app.core import results
    from app.core.forms import OutputOptions
    from app.engines import Admission, EngineError, EngineRunner, EngineTimeout, Work
    from app.images.decoding import Photo, probe
    from tests.support import free

    line = Admission(slots=1, max_waiting=0, max_wait=60)
    others = ExitStack()
    decoded, priced = [], []
    admitted = line.admitted

    def priced_admitted(work, **kwargs):
        priced.append(work)
        return admitted(work, **kwargs)

    monkeypatch.setattr(line, "admitted", priced_admitted)

    def spy(data, **kwargs):  # no other work may start while it decodes
        with pytest.raises(results.Busy):
            line.check(Work(1))
        decoded.append(kwargs)
        return decode(data, **kwargs)

    decode = results.decode
    monkeypatch.setattr(results, "decode", spy)
    damaged = _cut(_progressive())

    class Busying(_Remote):
        def mask(self, photo, model=None):  # another upload takes the only turn meanwhile
            if taken:
                others.enter_context(line.admitted(Work(1)))
            return super().mask(photo, model)

    photo_pixels = probe(damaged, 10**8).pixels
    for taken, error, raised, told in (
            (False, EngineError("the service could not read it"), results.InvalidImage, True),
            (True, EngineError("the service could not read it"), EngineError, True),
            # Timed out, down or out of quota: the photo played no part, no turn is taken.
            (False, EngineTimeout("no answer"), EngineTimeout, False)):
        decoded.clear()
        priced.clear()
        engine = Busying(error=error)
        with others, pytest.raises(raised):
            results.cut_out(EngineRunner(engine, admission=line),
                            Photo(damaged, probe(damaged, 10**8)),
                            OutputOptions(refine_edges=True), pay=free)
        assert engine.calls == 1
        assert decoded == ([{"reduce_by": 8}] if told and not taken else [])
        # The service is asked before any turn: the one asked for is the check's, priced as
        # the photo's decode alone (not as the refined upload), after the other upload's.
        assert priced == [Work(1)] * taken + [Work(photo_pixels)] * told


def test_a_client_sending_every_documented_default_gets_what_it_asked_for(app):
    """Generated clients send each field's `default`: a colour alone asks for output color,
    so neither the output's default nor the colour's is one (helper 100)."""
    client = ApiClient(app.test_client())
    schema = client.http.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    defaults = {name: prop["default"] for name, prop in schema["RemoveRequest"]["properties"]
                .items() if "default" in prop}
    assert set(defaults) == {"crop", "crop_margin", "format", "refine_edges", "size"}
    assert not [model for model in ("UploadRequest", "UploadByAddress", "RemoveByAddress")
                if {"output", "background"} & {name for name, prop in schema[model][
                    "properties"].items() if "default" in prop}]
    answer = remove(client, **{name: str(value) for name, value in defaults.items()},
                    background="#00ff00")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    result = Image.open(io.BytesIO(answer.data))
    assert (result.mode, result.getpixel((900, 400))) == ("RGB", (0, 255, 0))
