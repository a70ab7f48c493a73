"""One price for one amount of work, wherever it comes from: the same pixels cost the same by
file, by address, behind the subject or re-rendered; refined edges cost twice; what
waiting cannot fix (a bad option, a full gallery) spends nothing, and a photo refused once
read or fetched (too many pixels, damaged, an address that failed) one count, its fee."""

import io
import zlib

import pytest
from PIL import Image

from app import create_app
from app.core.fetching.codes import refused
from app.engines.admission import Work
from tests.support import FakeEngine, Visitor, encode, left_in, photo, spend_from, use_engine

PER_MINUTE = 20
# 12,004,000 pixels: 3.0 started 4 MP blocks would be 3; a pixel row more makes it 4.
BIG = encode(Image.new("RGB", (4000, 3001), (90, 120, 150)), "PNG")
SMALL = photo(size=(64, 48))


@pytest.fixture
def priced(settings):
    app = create_app(settings.changed(upload_rate_limit=f"{PER_MINUTE} per minute",
                                      upload_rate_limit_ip="100 per minute", user_limit=10))
    use_engine(app, FakeEngine())
    app.extensions["services"].uploads.fetch = lambda url, holder=None: BIG  # the address's photo
    return app


def left(app, visitor: Visitor) -> int:
    """What the visitor's own limit has left."""
    with app.test_request_context(environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        return left_in(app.extensions["limits"], (f"visitor:{visitor.id()}", "ip:127.0.0.1"))[0]


def api(visitor: Visitor, method: str, path: str, **options):
    headers = {"X-CSRFToken": visitor.ensure_token(), "Accept": "application/json"}
    return getattr(visitor.client, method)(f"/api/v1{path}", headers=headers, **options)


@pytest.mark.parametrize("how", ["file", "address", "background", "address as JSON"])
def test_the_same_pixels_cost_the_same_however_they_come(priced, how):
    visitor = Visitor(priced.test_client())
    if how == "file":
        answer = visitor.upload_json(BIG)
    elif how == "address":
        answer = visitor.upload(None, image_url="https://photos.example/big.png",
                                headers={"Accept": "application/json"})
    elif how == "address as JSON":
        answer = api(visitor, "post", "/records", json={
            "name": "big", "image_url": "https://photos.example/big.png"})
    else:  # a 64×48 photo over the big one: 12,006,072 pixels of work
        answer = visitor.upload(SMALL, output="image", headers={"Accept": "application/json"},
                                background_image=(io.BytesIO(BIG), "behind.png"))
    assert answer.status_code == 201, answer.get_json()
    assert left(priced, visitor) == PER_MINUTE - 4


def test_refined_edges_cost_twice_and_a_new_look_half(priced):
    """24,006,000 pixels of work with refined edges: 7 counts; a new look of the same
    record, from its kept mask, half of its upload's: 4 refined (3.0015 blocks), 2 not
    (1.5), until what is left is less than a look costs."""
    visitor = Visitor(priced.test_client())
    assert visitor.upload(BIG, refine_edges="true",
                          headers={"Accept": "application/json"}).status_code == 201
    assert left(priced, visitor) == PER_MINUTE - 7
    record = visitor.record_ids()[0]
    assert api(visitor, "patch", f"/records/{record}",
               json={"output": "mask"}).status_code == 200  # edges still refined
    assert left(priced, visitor) == PER_MINUTE - 11
    assert api(visitor, "patch", f"/records/{record}",
               json={"refine_edges": False}).status_code == 200
    assert left(priced, visitor) == PER_MINUTE - 13
    renamed = api(visitor, "patch", f"/records/{record}", json={"image_name": "free"})
    assert renamed.status_code == 200  # a new name makes nothing, and costs nothing
    assert left(priced, visitor) == PER_MINUTE - 13
    for output in ("transparent", "mask", "blur"):
        assert api(visitor, "patch", f"/records/{record}",
                   json={"output": output}).status_code == 200
    assert left(priced, visitor) == PER_MINUTE - 19
    refused = api(visitor, "patch", f"/records/{record}", json={"output": "transparent"})
    assert (refused.status_code, refused.get_json()["error"]) == (429, "rate_limited")
    assert refused.get_json()["message"] == (
        "Too many uploads and edits in a short time. Please wait a minute and try again.")
    assert left(priced, visitor) == PER_MINUTE - 19


@pytest.mark.parametrize("door", ["page", "records", "remove", "edit", "background"])
def test_a_webp_result_costs_its_encodes_multiple_at_every_door(priced, door):
    """12,004,000 pixels as a WebP (`ENCODING_COST` 4): 4 × 3.001 started blocks, 13
    counts, where the PNG costs 4; a record's new look as a WebP, half of that: 7. Over a
    background, only the result is encoded: a 64×48 WebP over the big photo is 12,007,072
    pixels and 3 × 3,072 of encoding, 4 counts."""
    visitor = Visitor(priced.test_client())
    if door == "background":
        answer = visitor.upload(SMALL, output="image", format="webp",
                                headers={"Accept": "application/json"},
                                background_image=(io.BytesIO(BIG), "behind.png"))
        assert answer.status_code == 201, answer.get_json()
        assert left(priced, visitor) == PER_MINUTE - 4
        return
    if door == "page":
        answer = visitor.upload(BIG, format="webp", headers={"Accept": "application/json"})
    elif door == "records":
        answer = api(visitor, "post", "/records", data={
            "name": "big", "format": "webp", "image": (io.BytesIO(BIG), "big.png")})
    elif door == "remove":
        answer = api(visitor, "post", "/remove", data={
            "format": "webp", "image": (io.BytesIO(BIG), "big.png")})
    else:
        assert visitor.upload_json(BIG).status_code == 201
        assert left(priced, visitor) == PER_MINUTE - 4
        answer = api(visitor, "patch", f"/records/{visitor.record_ids()[0]}",
                     json={"format": "webp"})
    assert answer.status_code in (200, 201), answer.get_json()
    assert left(priced, visitor) == PER_MINUTE - (4 + 7 if door == "edit" else 13)


def test_a_new_look_as_webp_is_refused_at_its_own_price_before_any_read(priced):
    """An edit is checked at its price before a byte of the record is read: as a WebP, 7
    counts; with 6 left it is refused at once, where a PNG's price (2) would have let it
    read and decode the record, to be refused in its turn."""
    visitor = Visitor(priced.test_client())
    services = priced.extensions["services"]
    assert visitor.upload_json(BIG).status_code == 201  # 4
    record = visitor.record_ids()[0]
    for look in ("mask", "blur", "color", "transparent", "mask"):  # 2 each: 6 left
        assert api(visitor, "patch", f"/records/{record}", json={"output": look}).status_code == 200
    assert left(priced, visitor) == 6
    reads, read = [], services.records.read
    services.records.read = lambda *args: reads.append(args) or read(*args)
    refused = api(visitor, "patch", f"/records/{record}", json={"format": "webp"})
    assert (refused.status_code, refused.get_json()["error"]) == (429, "rate_limited")
    assert reads == [] and left(priced, visitor) == 6


def test_a_cropped_webps_encode_is_priced_at_most_at_the_largest_webp():
    """A crop's size is known once made, and a WebP over outputs.MAX_PIXELS is refused: the
    encode of a 49 MP photo's crop is priced at 16 MP, 3 × 16,000,000 pixels of work more."""
    from app.core.forms import OutputOptions
    from app.core.results import priced

    assert priced(OutputOptions(format="webp", crop=True), 49_000_000).extra == 48_000_000
    assert priced(OutputOptions(format="webp"), 16_000_000, 30_000_000).extra == 48_000_000
    assert priced(OutputOptions(format="webp"), 1000, 49_000_000).extra == 3000
    assert priced(OutputOptions(format="png", crop=True), 49_000_000).extra == 0


@pytest.mark.parametrize(("work", "counts"), [
    (Work(8_000_000, remade=True), 1), (Work(8_000_001, remade=True), 2),
    (Work(8_000_000), 2), (Work(4_000_000, refine=True, remade=True), 1),
    (Work(4_000_001, refine=True, remade=True), 2), (Work(1, remade=True), 1)])
def test_a_new_look_counts_one_per_started_8_megapixels(work, counts):
    assert work.counts == counts


@pytest.mark.parametrize("size", [(9000, 9000), (20000, 10000)])
def test_a_pixel_bomb_is_too_large_and_pays_only_the_fee(priced, size):
    """81 MP (over MAX_IMAGE_PIXELS) and 200 MP (past Pillow's own bomb guard) in a small
    1-bit PNG: 413 at once, never 'wait a minute', and one count taken, a refused read's
    fee (core/results.Paying), not the 21 that many pixels would cost."""
    bomb = encode(Image.new("1", size), "PNG")
    visitor = Visitor(priced.test_client())
    answer = visitor.upload_json(bomb)
    assert (answer.status_code, answer.get_json()["error"]) == (413, "invalid_image")
    assert "The limit is 50 megapixels." in answer.get_json()["message"]
    assert "Retry-After" not in answer.headers
    assert left(priced, visitor) == PER_MINUTE - 1


@pytest.mark.parametrize("door", ["page", "api", "remove"])
def test_each_refused_fetch_pays_one_count_until_the_limit_refuses_before_fetching(priced,
                                                                                   door):
    """A photo by address that fails, or is no photo, was free: one client made the server
    download 80 × 14 MB in 2.4 s (helper 79). Each now pays one count; the 21st is a 429
    before any fetch. A made upload pays its own price, no fee beside it."""
    fetched = []

    def fetch(url, holder=None):
        fetched.append(url)
        if "broken" in url:
            raise refused("url_failed", "The address answered 404.")
        return b"not a photo" if "junk" in url else BIG

    priced.extensions["services"].uploads.fetch = fetch
    visitor = Visitor(priced.test_client())

    def send(url):
        if door == "page":
            return visitor.upload(None, image_url=url, headers={"Accept": "application/json"})
        if door == "api":
            return api(visitor, "post", "/records", json={"name": "big", "image_url": url})
        return api(visitor, "post", "/remove", json={"image_url": url})

    made = send("https://photos.example/big.png")
    assert made.status_code in (200, 201) and left(priced, visitor) == PER_MINUTE - 4
    for n in range(PER_MINUTE - 4):
        answer = send(f"https://photos.example/{('broken', 'junk')[n % 2]}/{n}")
        assert (answer.status_code, answer.get_json()["error"]) == (
            (400, "url_failed"), (415, "invalid_image"))[n % 2]
        assert left(priced, visitor) == PER_MINUTE - 5 - n
    assert len(fetched) == PER_MINUTE - 3
    answer = send("https://photos.example/broken/last")
    assert (answer.status_code, answer.get_json()["error"]) == (429, "rate_limited")
    assert len(fetched) == PER_MINUTE - 3  # refused before fetching


def test_an_edits_refused_background_photo_pays_the_fee_as_an_uploads_does(priced):
    visitor = Visitor(priced.test_client())
    record = api(visitor, "post", "/records", data={
        "name": "cat", "image": (io.BytesIO(SMALL), "c.png")}).get_json()
    assert left(priced, visitor) == PER_MINUTE - 1
    for path in (f"/records/{record['id']}", "/remove"):
        junk = api(visitor, "patch" if path != "/remove" else "post", path,
                   data={"output": "image", "background_image": (io.BytesIO(b"junk"), "b.png"),
                         **({"image": (io.BytesIO(SMALL), "c.png")} if path == "/remove"
                            else {})}, content_type="multipart/form-data")
        assert (junk.status_code, junk.get_json()["error"]) == (415, "invalid_background")
    assert left(priced, visitor) == PER_MINUTE - 3


def test_a_photo_found_damaged_in_its_turn_pays_its_price_and_no_fee(priced):
    """Paid for once its turn came; the damage found at the decode adds nothing."""
    png = bytearray(BIG)  # its compressed pixels garbled, their chunk's CRC made again
    start = png.index(b"IDAT") + 4
    length = int.from_bytes(png[start - 8:start - 4], "big")
    png[start + length // 2:start + length // 2 + 64] = bytes(range(64))
    png[start + length:start + length + 4] = zlib.crc32(png[start - 4:start + length]).to_bytes(
        4, "big")
    visitor = Visitor(priced.test_client())
    answer = visitor.upload_json(bytes(png))
    assert (answer.status_code, answer.get_json()["error"]) == (400, "invalid_image")
    assert left(priced, visitor) == PER_MINUTE - 4


def test_refusals_that_waiting_cannot_fix_spend_nothing(priced):
    visitor = Visitor(priced.test_client())
    bad = visitor.upload(BIG, output="nope", headers={"Accept": "application/json"})
    assert (bad.status_code, bad.get_json()["error"]) == (400, "invalid_options")
    jpeg = visitor.upload(BIG, format="jpeg", headers={"Accept": "application/json"})
    assert jpeg.status_code == 400  # a JPEG cannot hold transparency
    assert left(priced, visitor) == PER_MINUTE


def test_a_full_gallery_spends_nothing(settings):
    app = create_app(settings.changed(upload_rate_limit="20 per minute", user_limit=1))
    use_engine(app, FakeEngine())
    visitor = Visitor(app.test_client())
    assert visitor.upload_json(SMALL).status_code == 201
    full = visitor.upload_json(BIG)
    assert (full.status_code, full.get_json()["error"]) == (409, "limit_reached")
    assert left(app, visitor) == 19


def test_work_past_a_whole_allowance_takes_the_whole_allowance(settings, limits_clock):
    """4 counts against 3 per minute: waiting would never make room for it, so it takes
    what there is, and the next upload waits (the whole minute: the clock stands still, as
    a busy machine's does not)."""
    app = create_app(settings.changed(upload_rate_limit="3 per minute", user_limit=10))
    use_engine(app, FakeEngine())
    visitor = Visitor(app.test_client())
    assert visitor.upload_json(BIG).status_code == 201
    assert left(app, visitor) == 0
    refused = visitor.upload_json(SMALL)
    assert (refused.status_code, refused.headers["Retry-After"]) == (429, "60")


def test_exactly_the_pixel_limit_is_accepted_and_one_row_more_is_not(settings):
    app = create_app(settings.changed(max_image_pixels=64 * 48))
    use_engine(app, FakeEngine())
    visitor = Visitor(app.test_client())
    assert visitor.upload_json(photo(size=(64, 48))).status_code == 201
    over = visitor.upload_json(photo(size=(64, 49)))
    assert (over.status_code, over.get_json()["message"]) == (
        413, "The image is too large (64×49). The limit is 0.003072 megapixels.")


def test_no_allowance_left_means_no_fetch_and_no_reads(priced, monkeypatch):
    """A client whose allowance is spent costs nothing more: an address is not fetched, a
    file sent (a photo, a new background photo) is not read, and a new look reads none of
    the record's bytes before it is refused."""
    from app.core import results

    visitor = Visitor(priced.test_client())
    services = priced.extensions["services"]
    fetched, reads, probed = [], [], []
    monkeypatch.setattr(results, "probe", lambda *args, probe=results.probe:
                        probed.append(args) or probe(*args))
    services.uploads.fetch = lambda url, holder=None: fetched.append(url) or BIG
    assert visitor.upload_json(BIG).status_code == 201  # 4
    record = visitor.record_ids()[0]
    for look in ("mask", "blur", "color", "transparent") * 2:  # 2 each: 20 in all
        assert api(visitor, "patch", f"/records/{record}", json={"output": look}).status_code == 200
    assert left(priced, visitor) == 0
    read = services.records.read
    services.records.read = lambda *args: reads.append(args) or read(*args)
    by_address = visitor.upload(None, image_url="https://photos.example/big.png",
                                headers={"Accept": "application/json"})
    assert (by_address.status_code, by_address.get_json()["error"]) == (429, "rate_limited")
    restyle = api(visitor, "patch", f"/records/{record}", json={"output": "mask"})
    assert (restyle.status_code, restyle.get_json()["error"]) == (429, "rate_limited")
    probed.clear()  # the uploads and restyles above, while there was an allowance
    by_file = visitor.upload_json(BIG)
    assert (by_file.status_code, by_file.get_json()["error"]) == (429, "rate_limited")
    behind = api(visitor, "patch", f"/records/{record}", content_type="multipart/form-data",
                 data={"output": "image", "background_image": (io.BytesIO(SMALL), "b.jpg")})
    assert (behind.status_code, behind.get_json()["error"]) == (429, "rate_limited")
    assert fetched == [] and reads == [] and probed == []


def test_requests_that_passed_the_check_together_are_refused_by_the_store():
    """Two requests may both find room (test) before either takes it: the store's own
    atomic hit refuses the one that no longer fits."""
    from app.core.errors import Rejected
    from app.http.limits import Limits

    limits = Limits("memory://", "3 per minute", "100 per minute")
    keys = ("visitor:a", "ip:127.0.0.1")
    spend_from(limits, keys, 3)
    limits._shared.test = lambda *args, **kwargs: True  # as if it had looked a moment ago
    with pytest.raises(Rejected) as refused:
        spend_from(limits, keys, 1)
    assert (refused.value.code, refused.value.kind) == ("rate_limited", "quota")


def test_retry_after_says_when_there_is_room_for_the_whole_job(limits_clock):
    """3 per minute: 1 count at 0 s, 2 at 2 s. At 3 s one more count has room when the
    first goes (57 s); three have room only when the 2 s ones go too (59 s): the whole
    window is said (60), never a wait after which it is refused again."""
    from app.core.errors import Rejected
    from app.http import limits as module

    clock = limits_clock
    allowance = module.Limits("memory://", "3 per minute", "100 per minute")
    keys = ("visitor:a", "ip:127.0.0.1")
    spend_from(allowance, keys, 1)
    clock.now += 2
    spend_from(allowance, keys, 2)
    clock.now += 1
    waits = []
    for counts in (1, 3):
        with pytest.raises(Rejected) as refused:
            spend_from(allowance, keys, counts)
        waits.append(refused.value.retry_after)
    assert waits == [57, 60]


@pytest.mark.parametrize(("address", "counted_as"), [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
    ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
    ("::ffff:198.51.100.4", "198.51.100.4"),
])
def test_an_ipv6_client_is_counted_by_its_64(address, counted_as):
    from app.http.limits import client_network

    assert client_network(address) == counted_as


def test_a_visitor_refused_for_its_shared_address_keeps_its_own_count(app):
    """The address is filled by others between a request's test and its take: it is taken
    first, so its refusal takes nothing from the visitor's own count."""
    from app.core.errors import Rejected
    from app.engines import Work
    from app.http import limits as module

    limits = app.extensions["limits"]
    with app.test_request_context(environ_base={"REMOTE_ADDR": "203.0.113.9"}):
        charges = module._charges(Work(10**6))
        (address,) = [charge for charge in charges if charge.key == "ip:203.0.113.9"]
        (visitor,) = [charge for charge in charges if charge.key.startswith("visitor:")]
        limits.charge([address._replace(cost=address.item.amount)])  # another visitor's
        limits._shared.test = lambda *args, **kwargs: True  # as if it had looked just before
        with pytest.raises(Rejected) as refused:
            limits.charge(charges)
    assert refused.value.code == "rate_limited"
    assert limits.window(visitor.item, visitor.key).remaining == visitor.item.amount


def test_a_work_scaled_down_is_priced_by_its_size_and_held_at_what_it_decodes():
    work = Work(250_000, held=49_750_000)
    assert (work.worked, work.counts) == (50_000_000, 1)  # the client pays for 0.25 MP
    assert work.megapixels == pytest.approx(2 + 50)  # the line waits for all of it


@pytest.mark.parametrize(("fmt", "decoded"), [("PNG", 4000 * 3001), ("JPEG", 1000 * 751)])
def test_a_removal_at_preview_size_holds_the_pixels_its_photo_decodes(priced, fmt, decoded,
                                                                     monkeypatch):
    """A PNG is decoded whole before it is scaled down; a baseline JPEG at a DCT scale
    (4000 × 3001 at 1/4 for 0.25 MP): the admission's room and wait count those pixels,
    the client's price the result's (test_admission.py: what the room lets share)."""
    admission = priced.extensions["services"].engines.admission
    seen, real = [], admission.admitted
    monkeypatch.setattr(admission, "admitted", lambda work, **kw: seen.append(work) or real(
        work, **kw))
    visitor = Visitor(priced.test_client())
    data = BIG if fmt == "PNG" else encode(Image.open(io.BytesIO(BIG)), "JPEG")
    answer = api(visitor, "post", "/remove", data={"image": (io.BytesIO(data), "a.img"),
                                                  "size": "preview"})
    assert answer.status_code == 200, answer.get_json()
    (work,) = seen
    assert work.pixels == 577 * 433 and work.worked == decoded
    assert left(priced, visitor) == PER_MINUTE - 1
