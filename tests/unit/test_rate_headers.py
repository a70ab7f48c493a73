"""remove.bg's X-RateLimit-* headers: where a key's minute stands, on every answer to a call
with a valid key (refused ones too), at both doors that take keys, and in the document."""

import io
import math
import time

import pytest
from PIL import Image

from app.http.limits import KEY_MINUTE, RATE_HEADERS
from tests.support import encode, made_key

KEY = "headers-key-0123456789"
LIMIT, REMAINING, RESET = RATE_HEADERS


@pytest.fixture
def settings(settings):
    return settings.changed(api_keys=f"bot:{KEY}")


@pytest.fixture
def three(keyed):
    """A key of 3 counts a minute, made by `flask keys create`."""
    return made_key(keyed, "few", "--per-minute", "3")


def png(width: int = 64, height: int = 48) -> bytes:
    return encode(Image.new("RGB", (width, height), (200, 30, 10)), "PNG")


def api(client, key, data=None):
    return client.post("/api/v1/remove", headers={"X-Api-Key": key},
                       data={"image": (io.BytesIO(data or png()), "a.png")})


def removebg(client, key, data=None):
    return client.post("/v1.0/removebg", headers={"X-Api-Key": key},
                       data={"image_file": (io.BytesIO(data or png()), "a.png")})


def timed(call):
    """The answer, and the clock's whole seconds either side of it."""
    before = time.time()
    answer = call()
    return answer, math.ceil(before), math.ceil(time.time())


def stood(answer) -> tuple[int, int, int]:
    return tuple(int(answer.headers[name]) for name in RATE_HEADERS)


@pytest.mark.parametrize("door", [api, removebg])
def test_each_call_counts_down_to_the_429_and_the_reset_is_the_first_calls_minute(
        keyed, three, door):
    client = keyed.test_client()
    first, early, late = timed(lambda: door(client, three))
    assert first.status_code == 200
    limit, left, reset = stood(first)
    assert (limit, left) == (3, 2)
    assert early + 60 <= reset <= late + 60  # the first count goes a minute after it came
    assert [stood(door(client, three)) for _ in range(2)] == [(3, 1, reset), (3, 0, reset)]
    refused = door(client, three)
    assert refused.status_code == 429
    assert stood(refused) == (3, 0, reset)
    # Retry-After and the reset say the same moment.
    assert abs(time.time() + int(refused.headers["Retry-After"]) - reset) <= 1


def test_a_refusals_reset_is_the_limits_own_moment(keyed, three, monkeypatch):
    """Told as now + Retry-After, in whole seconds each, a 429's reset was a second past
    the one told before it when the first count's minute ended just under a whole second,
    and this test's first one failed now and then when the machine was slow."""
    clock = [1_000_000.9]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    client = keyed.test_client()
    assert [stood(api(client, three)) for _ in range(3)] == [
        (3, 2, 1_000_061), (3, 1, 1_000_061), (3, 0, 1_000_061)]
    clock[0] = 1_000_001.5  # 59.4 s to go: Retry-After 60, and now + 60 is 1_000_061.5
    refused = api(client, three)
    assert (refused.status_code, refused.headers["Retry-After"]) == (429, "60")
    assert stood(refused) == (3, 0, 1_000_061)


def test_a_photo_of_two_counts_takes_two_and_a_refused_photo_its_fee(keyed):
    """4,002,000 pixels are two counts (one per started 4 MP); a photo that cannot be read
    pays one, as the limits count it."""
    client = keyed.test_client()
    assert stood(api(client, KEY, png(2001, 2000)))[:2] == (60, 58)
    damaged = api(client, KEY, png()[:60])
    assert damaged.status_code == 400
    assert stood(damaged)[:2] == (60, 57)


def test_the_doors_share_one_count(keyed, three):
    client = keyed.test_client()
    assert stood(api(client, three))[1] == 2
    assert stood(removebg(client, three))[1] == 1
    assert stood(client.get("/v1.0/account", headers={"X-Api-Key": three}))[1] == 1
    assert stood(client.get("/api/v1/account", headers={"X-Api-Key": three}))[1] == 1


def test_a_key_with_nothing_used_may_call_now(keyed, three):
    client = keyed.test_client()
    answer, early, late = timed(
        lambda: client.get("/api/v1/account", headers={"Authorization": f"Bearer {three}"}))
    limit, left, reset = stood(answer)
    assert (limit, left) == (3, 3)
    assert early <= reset <= late


def test_the_key_limits_sentence_and_the_headers_agree(keyed, three):
    client = keyed.test_client()
    for _ in range(3):
        removebg(client, three)
    refused = api(client, three)
    assert refused.get_json()["message"] == KEY_MINUTE.format(limit=int(refused.headers[LIMIT]))


def test_no_headers_without_a_valid_key(keyed, client):
    """A visitor (the page, the API with a token) and a wrong key get none: the headers
    speak of a key's limits only."""
    assert not set(RATE_HEADERS) & set(client.get("/").headers)
    token = client.get("/api/v1/session").get_json()["csrf_token"]
    answer = client.post("/api/v1/remove", headers={"X-CSRFToken": token},
                         data={"image": (io.BytesIO(png()), "a.png")})
    assert answer.status_code == 200
    assert not set(RATE_HEADERS) & set(answer.headers)
    wrong = api(client, "not-a-key-0123456789")
    assert wrong.status_code == 401
    assert not set(RATE_HEADERS) & set(wrong.headers)


def test_the_document_names_the_headers_on_each_keyed_answer_but_a_wrong_keys(client):
    document = client.get("/api/v1/openapi.json").get_json()
    keyed = keyless = 0
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            named = {status: set(RATE_HEADERS) <= set(answer.get("headers", {}))
                     for status, answer in operation["responses"].items()}
            if path == "/openapi.json":
                keyless += 1
                assert not any(named.values()), (path, method)
            else:
                keyed += 1
                # All but a wrong key's 401 and a visitor's 403 (its CSRF token).
                missing = {status for status, has in named.items() if not has}
                assert missing == {"401", "403"} & set(named) and "401" in missing, path
                assert {name: operation["responses"]["429"]["headers"][name]["description"]
                        for name in RATE_HEADERS} == RATE_HEADERS
                if "206" in named:  # a download's range and conditions too
                    assert named["206"] and named["304"]
    assert (keyless, keyed) == (1, 10)  # the document itself; every other operation


@pytest.fixture
def capped(keyed):
    """A key of 60 counts a minute and 2 megapixels a day."""
    return made_key(keyed, "capped", "--per-minute", "60", "--megapixels-per-day", "2")


@pytest.mark.parametrize("door, status", [(api, 429), (removebg, 402)])
def test_a_call_refused_for_the_days_cap_shows_no_room_until_its_retry_after(
        keyed, capped, door, status):
    """Two 1 MP photos spend the day's 2 megapixels with 58 of the minute's counts left: a
    client pacing by the headers alone must not be told it has room (helper 91)."""
    client = keyed.test_client()
    assert [stood(door(client, capped, png(1000, 1000)))[1] for _ in range(2)] == [59, 58]
    refused, early, late = timed(lambda: door(client, capped, png(1000, 1000)))
    assert refused.status_code == status
    wait = int(refused.headers["Retry-After"])
    assert 86_000 < wait <= 86_400
    limit, left, reset = stood(refused)
    assert (limit, left) == (60, 0)
    # The limit's own moment, rounded up: Retry-After is it from now, rounded up too, so
    # the reset may be up to a second before now + Retry-After, never after.
    assert early + wait - 1 <= reset <= late + wait
    assert stood(client.get("/api/v1/account", headers={"X-Api-Key": capped}))[1] == 58


def test_a_job_larger_than_what_is_left_shows_no_room_until_its_retry_after(keyed, three):
    """Two counts used of three: a photo of two counts is refused, told to wait for a whole
    minute (when the newest count goes), and the headers say the same."""
    client = keyed.test_client()
    assert [stood(api(client, three))[1] for _ in range(2)] == [2, 1]
    refused, early, late = timed(lambda: api(client, three, png(2001, 2000)))
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert stood(refused)[:2] == (3, 0)
    assert early + wait - 1 <= stood(refused)[2] <= late + wait
