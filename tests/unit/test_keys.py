"""API keys: made, listed and revoked by `flask keys`, kept as hashes, sent in a header and
never read from elsewhere, needing no cookie or CSRF token, with their own limits and a
count of what they used."""

import io
import logging
import threading

import pytest
from PIL import Image

from app import create_app
from app.hosting import ConfigError
from app.http.callers import EMPTY, INVALID, MISSING, NOT_BEARER, TWO_IN_ONE, TWO_KEYS
from app.http.limits import KEY_DAY, KEY_DAY_WHOLE, KEY_MINUTE, RATE_LIMITED
from app.settings import Settings
from app.storage.embedded import embedded_database
from app.storage.keys import KeyBook, KeyExists, digest
from tests.support import encode, made_key, use_engine

GIVEN = "given-key-0123456789"  # in API_KEYS
API = "/api/v1"


def png(width: int = 64, height: int = 48) -> bytes:
    return encode(Image.new("RGB", (width, height), (200, 30, 10)), "PNG")


def remove(client, data: bytes | None = None, **headers):
    return client.post(f"{API}/remove", data={"image": (io.BytesIO(data or png()), "a.png")},
                       headers=headers)


@pytest.fixture
def settings(settings):
    return settings.changed(api_keys=f"bot:{GIVEN}", upload_rate_limit_ip="2 per minute")


@pytest.fixture
def made(keyed):
    """A key made by `flask keys create`, and its secret as printed."""
    return made_key(keyed, "shop", "--per-minute", "3", "--megapixels-per-day", "5")


# The book: hashes only, names once, usage counted atomically.

def test_a_made_key_is_kept_as_its_hash_and_found_by_it():
    book = KeyBook(embedded_database("keys-a"), {})
    key, secret = book.create("shop", 5, 10)
    assert secret.startswith("ibp_") and len(secret) == 47 and key.shown == secret[:12]
    stored = book._keys.find_one({"name": "shop"})
    assert secret not in repr(stored) and stored["digest"] == digest(secret)
    found = book.find(secret)
    assert (found.name, found.shown, found.visitor, found.per_minute,
            found.megapixels_per_day) == ("shop", secret[:12], key.visitor, 5, 10)
    assert book.find(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert book.find("") is None


def test_a_name_is_taken_once_even_after_revoking():
    book = KeyBook(embedded_database("keys-b"), {"ops": GIVEN})
    book.ensure_indexes()
    _, secret = book.create("shop")
    with pytest.raises(KeyExists):
        book.create("shop")
    with pytest.raises(KeyExists):
        book.create("ops")  # a name of API_KEYS
    assert book.revoke("shop") is True
    assert book.revoke("shop") is False and book.find(secret) is None
    with pytest.raises(KeyExists):
        book.create("shop")
    assert [key.name for key, _ in book.list()] == ["ops"]


def test_usage_counted_from_many_threads_loses_nothing():
    book = KeyBook(embedded_database("keys-c"), {})
    key, _ = book.create("shop")
    threads = [threading.Thread(target=book.used, args=(key, 0.25)) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert book.usage(key) == type(book.usage(key))(40, 10.0)


@pytest.mark.parametrize(("value", "says"), [
    ("bot", "comma-separated NAME:KEY pairs"),
    ("bot:", "comma-separated NAME:KEY pairs"),
    ("bot:" + "k" * 15, "keys of at least 16 characters"),
    ("b@d:" + GIVEN, "valid names"),
    (f"a:{GIVEN},a:{GIVEN}x", "each name and key once"),
    (f"a:{GIVEN},b:{GIVEN}", "each name and key once"),
])
def test_api_keys_setting_is_checked_and_never_echoed(value, says):
    with pytest.raises(ConfigError) as error:
        Settings(app_env="development", api_keys=value)
    assert says in str(error.value)
    assert value.partition(":")[2] == "" or value.partition(":")[2] not in str(error.value)


def test_sixteen_characters_is_enough():
    assert Settings(app_env="development", api_keys="a:" + "k" * 16).key_pairs == {
        "a": "k" * 16}


# At the door.

@pytest.mark.parametrize("headers", [{"X-Api-Key": GIVEN}, {"Authorization": f"Bearer {GIVEN}"},
                                     {"Authorization": f"bearer   {GIVEN} "},
                                     {"X-Api-Key": GIVEN, "Authorization": f"Bearer {GIVEN}"}])
def test_a_key_needs_no_cookie_and_no_csrf_token(keyed, headers):
    client = keyed.test_client()
    answer = remove(client, **headers)
    assert answer.status_code == 200 and answer.headers["X-Width"] == "64"
    assert "Set-Cookie" not in answer.headers


def test_requests_in_one_app_context_carry_no_caller_over(keyed):
    """Requests served inside one app context share its `g`: a visitor's refused form left
    its token due, and the next call with a key was asked for a token; a key's call left
    the key, and the next visitor's call ran as that key."""
    client = keyed.test_client()
    with keyed.app_context():
        refused = client.post(f"{API}/records", data=b"a=b", headers={
            "Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"})
        assert refused.status_code == 415
        assert remove(client, **{"X-Api-Key": GIVEN}).status_code == 200
        account = client.get(f"{API}/account")
        assert (account.status_code, account.get_json()["error"]) == (401, "missing_key")


def test_a_keys_session_has_no_token_and_sets_no_cookie(keyed):
    """A key needs no CSRF token, and a token lives in a cookie (docs/api.md: a call with a
    key sets no cookie); a visitor's session still gets both."""
    client = keyed.test_client()
    keyed_session = client.get(f"{API}/session", headers={"X-Api-Key": GIVEN})
    assert keyed_session.status_code == 200 and keyed_session.get_json()["csrf_token"] is None
    assert "Set-Cookie" not in keyed_session.headers
    visitor = client.get(f"{API}/session")
    assert visitor.get_json()["csrf_token"] and "Set-Cookie" in visitor.headers


@pytest.mark.parametrize(("headers", "message"), [
    ({"X-Api-Key": "not-a-key-of-ours-at-all"}, INVALID),
    ({"X-Api-Key": ""}, EMPTY),  # a script's $KEY unset: not "unknown or revoked"
    ({"X-Api-Key": " , "}, EMPTY),
    ({"Authorization": "Bearer "}, EMPTY),
    ({"Authorization": "Basic Ym90OnNlY3JldA=="}, NOT_BEARER),
    ({"Authorization": f"Bearer {GIVEN}", "X-Api-Key": GIVEN + "x"}, TWO_KEYS),
])
def test_a_bad_key_is_401_with_a_sentence_and_nothing_done(keyed, fake_engine, headers,
                                                          message):
    answer = remove(keyed.test_client(), **headers)
    assert (answer.status_code, answer.get_json()) == (401, {"error": "invalid_key",
                                                             "message": message})
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert fake_engine.calls == 0


@pytest.mark.parametrize(("sent", "status"), [
    (f"{GIVEN}, {GIVEN}", 200), (f"{GIVEN},{GIVEN} ", 200), (f"{GIVEN}, {GIVEN}x", 401),
    (f",{GIVEN}", 200), (f"{GIVEN}, ", 200), (f"{GIVEN},,x{GIVEN}", 401)])
def test_x_api_key_sent_twice_is_one_key_if_both_are_the_same(keyed, fake_engine, sent,
                                                             status):
    """A header sent twice reaches the app as one, its values joined by a comma (as
    gunicorn and the WSGI spec join them)."""
    answer = keyed.test_client().post(
        f"{API}/remove", data={"image": (io.BytesIO(png()), "a.png")},
        environ_overrides={"HTTP_X_API_KEY": sent})
    assert answer.status_code == status
    assert fake_engine.calls == (1 if status == 200 else 0)
    if status == 401:
        assert answer.get_json() == {"error": "invalid_key", "message": TWO_IN_ONE}


def test_a_key_is_never_read_from_the_query_or_a_cookie(keyed, fake_engine):
    client = keyed.test_client()
    client.set_cookie("X-Api-Key", GIVEN)
    client.set_cookie("api_key", GIVEN)
    answer = client.post(f"{API}/remove?api_key={GIVEN}&key={GIVEN}",
                         data={"image": (io.BytesIO(png()), "a.png")})
    assert (answer.status_code, answer.get_json()["error"]) == (403, "csrf_failed")
    assert client.get(f"{API}/account?api_key={GIVEN}").status_code == 401
    assert fake_engine.calls == 0


def test_the_page_reads_no_key(keyed, fake_engine):
    """A key is for programs at the API: the page's form still needs its CSRF token."""
    answer = keyed.test_client().post("/", data={"name": "x", "image": (io.BytesIO(png()),
                                                                        "a.png")},
                                      headers={"X-Api-Key": GIVEN, "Accept": "application/json"})
    assert (answer.status_code, answer.get_json()["error"]) == (400, "csrf_failed")
    assert fake_engine.calls == 0


def test_csrf_enabled_false_turns_the_check_off_as_flask_wtf_documents(keyed, fake_engine):
    """Flask-WTF's switch for tests and benchmarks; the check stays on everywhere else."""
    keyed.config["WTF_CSRF_ENABLED"] = False
    answer = keyed.test_client().post("/", data={"name": "x", "image": (io.BytesIO(png()),
                                                                        "a.png")},
                                      headers={"Accept": "application/json"})
    assert answer.status_code == 201
    assert fake_engine.calls == 1


def test_a_keys_records_are_its_own(keyed):
    client = keyed.test_client()
    made = client.post(f"{API}/records", data={"name": "mine", "image": (io.BytesIO(png()),
                                                                         "a.png")},
                       headers={"X-Api-Key": GIVEN})
    assert made.status_code == 201 and "Set-Cookie" not in made.headers
    listed = keyed.test_client().get(f"{API}/records", headers={"Authorization":
                                                                f"Bearer {GIVEN}"})
    assert [r["image_name"] for r in listed.get_json()["records"]] == ["mine"]
    assert keyed.test_client().get(f"{API}/records").get_json()["records"] == []
    record = made.get_json()["id"]
    assert client.get(f"{API}/records/{record}").status_code == 404  # no key: not the key's


def test_required_keys_close_the_api_but_its_document(settings, fake_engine):
    app = create_app(settings.changed(api_require_key=True))
    use_engine(app, fake_engine)
    client = app.test_client()
    for path in ("/session", "/records", "/account"):
        answer = client.get(API + path)
        assert (answer.status_code, answer.get_json()) == (401, {"error": "missing_key",
                                                                 "message": MISSING}), path
    assert remove(client).status_code == 401
    # A wrong path or method is told so, as with a key: the paths are in the document.
    assert [(answer.status_code, answer.get_json()["error"]) for answer in (
        client.get(f"{API}/nothing"), client.put(f"{API}/records"),
        client.get(f"{API}/nothing", headers={"X-Api-Key": GIVEN}))] == [
        (404, "not_found"), (405, "method_not_allowed"), (404, "not_found")]
    document = client.get(f"{API}/openapi.json").get_json()
    # Its document says so: a key, in either scheme, for every operation (it offered a
    # CSRF token, or nothing, beside them: helper 65).
    securities = [operation.get("security") for item in document["paths"].values()
                  for operation in item.values()]
    assert securities.count(None) == 1  # the document itself
    assert all(security == [{"apiKey": []}, {"bearer": []}] for security in securities
               if security is not None), securities
    assert client.get("/").status_code == 200
    assert remove(client, **{"X-Api-Key": GIVEN}).status_code == 200


# Limits and usage.

def test_a_keys_limit_is_its_own_to_the_count(keyed, made):
    """--per-minute 3: three calls (at one count each) pass, the fourth is refused with the
    key's sentence; the address's limit of 2 is not the key's."""
    client = keyed.test_client()
    assert [remove(client, **{"X-Api-Key": made}).status_code for _ in range(3)] == [200] * 3
    refused = remove(client, **{"X-Api-Key": made})
    assert (refused.status_code, refused.get_json()) == (
        429, {"error": "rate_limited", "message": KEY_MINUTE.format(limit=3)})
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert remove(client, **{"X-Api-Key": GIVEN}).status_code == 200  # another key


def test_the_megapixels_a_day_to_the_pixel(keyed, made):
    """--megapixels-per-day 5: a photo of exactly 5,000,000 pixels takes it all."""
    client = keyed.test_client()
    assert remove(client, png(2500, 2000), **{"X-Api-Key": made}).status_code == 200
    refused = remove(client, png(10, 10), **{"X-Api-Key": made})
    assert (refused.status_code, refused.get_json()) == (
        429, {"error": "daily_quota", "message": KEY_DAY.format(limit=5)})
    assert 86_000 < int(refused.headers["Retry-After"]) <= 86_400


def test_a_photo_over_the_whole_day_is_refused_without_a_wait(keyed, made):
    """A cost over the whole cap was charged as the whole cap: a 5 MP key made 12 MP,
    then 25 MP, on a fresh day (helper 93). Now it never fits, so no Retry-After; the day
    is left as it was, and one pixel less than one over still fits."""
    client = keyed.test_client()
    for width, height, cost in ((2500, 2001, 6), (4000, 3000, 12)):
        refused = remove(client, png(width, height), **{"X-Api-Key": made})
        assert (refused.status_code, refused.get_json()) == (
            429, {"error": "daily_quota", "message": KEY_DAY_WHOLE.format(cost=cost, limit=5)})
        assert "Retry-After" not in refused.headers
    assert client.get(f"{API}/account", headers={"X-Api-Key": made}).get_json()[
        "megapixels_left"] == 5
    assert remove(client, png(2500, 2000), **{"X-Api-Key": made}).status_code == 200


def test_one_pixel_over_a_megapixel_costs_one_more(keyed, made):
    """1 MP, then 4,002,000 pixels (5 started megapixels: 6 in all) is refused; 4 MP fits."""
    client = keyed.test_client()
    assert remove(client, png(1000, 1000), **{"X-Api-Key": made}).status_code == 200
    assert remove(client, png(2000, 2001), **{"X-Api-Key": made}).status_code == 429
    assert remove(client, png(2000, 2000), **{"X-Api-Key": made}).status_code == 200


def test_visitors_keep_their_own_limits(keyed):
    """The address's limit (2 a minute here) still holds callers without a key."""
    visitor = keyed.test_client()
    token = visitor.get(f"{API}/session").get_json()["csrf_token"]
    answers = [remove(visitor, **{"X-CSRFToken": token}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].get_json()["message"] == RATE_LIMITED


def test_usage_counts_what_was_made_and_nothing_refused(keyed, made):
    client = keyed.test_client()
    assert remove(client, png(100, 50), **{"X-Api-Key": made}).status_code == 200
    assert remove(client, b"not an image", **{"X-Api-Key": made}).status_code == 415
    account = client.get(f"{API}/account", headers={"X-Api-Key": made}).get_json()
    assert account["name"] == "shop" and account["key_prefix"] == made[:12]
    assert (account["per_minute"], account["megapixels_per_day"]) == (3, 5)
    assert account["megapixels_left"] == 4  # 0.005 MP counts one started megapixel
    assert (account["today"]["calls"], account["today"]["megapixels"]) == (1, 0.005)
    listed = keyed.test_cli_runner().invoke(args=["keys", "list"]).output.splitlines()
    row = next(line.split() for line in listed if line.startswith("shop "))
    assert row[:4] == ["shop", made[:12] + "…", "3", "5"] and row[-2:] == ["1", "0.005"]
    given = next(line.split() for line in listed if line.startswith("bot "))
    assert given[1:5] == [GIVEN[:4] + "…", "60", "-", "API_KEYS"]


def test_logs_name_the_key_and_never_hold_it(keyed, made, caplog):
    with caplog.at_level(logging.INFO):
        remove(keyed.test_client(), Authorization=f"Bearer {made}")
    assert "key=shop" in caplog.text and made not in caplog.text
    assert made[4:] not in caplog.text


# The commands.

def test_revoked_keys_are_refused_at_once(keyed, made):
    runner = keyed.test_cli_runner()
    assert runner.invoke(args=["keys", "revoke", "shop"]).output == "Revoked the key 'shop'.\n"
    answer = remove(keyed.test_client(), **{"X-Api-Key": made})
    assert (answer.status_code, answer.get_json()["message"]) == (401, INVALID)
    again = runner.invoke(args=["keys", "revoke", "shop"])
    assert again.exit_code == 1 and "There is no live key named 'shop'" in again.output


def test_create_refuses_a_taken_or_bad_name(keyed, made):
    runner = keyed.test_cli_runner()
    taken = runner.invoke(args=["keys", "create", "shop"])
    assert taken.exit_code == 1 and "already a key named 'shop'" in taken.output
    bad = runner.invoke(args=["keys", "create", "-bad name"])
    assert bad.exit_code == 2
    # A trailing line break (a name pasted with its newline) is no part of a name.
    newline = runner.invoke(args=["keys", "create", "bot\n"])
    assert newline.exit_code == 2 and "'bot\\n': a key's name is" in newline.output
    zero = runner.invoke(args=["keys", "create", "z", "--per-minute", "0"])
    assert zero.exit_code == 2


def test_without_mongodb_keys_are_not_made_in_a_memory_that_vanishes(app):
    result = app.test_cli_runner().invoke(args=["keys", "create", "shop"])
    assert result.exit_code == 1 and "MONGO_URI is not set" in result.output
    assert "API_KEYS" in result.output
    listed = app.test_cli_runner().invoke(args=["keys", "list"])
    assert listed.exit_code == 0 and listed.output.splitlines()[1].startswith("bot ")


def test_the_document_describes_keys(client):
    document = client.get(f"{API}/openapi.json").get_json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiKey"] == {**schemes["apiKey"], "in": "header", "name": "X-Api-Key"}
    assert schemes["bearer"]["scheme"] == "bearer"
    account = document["paths"]["/account"]["get"]
    assert account["security"] == [{"apiKey": []}, {"bearer": []}]  # a visitor's is a 401
    assert document["paths"]["/records"]["get"]["security"] == [{}, {"apiKey": []},
                                                               {"bearer": []}]
    assert "401" in account["responses"]
    # Every 401 says the header it comes with (helper 103: not in the document).
    unauthorized = [answers["401"] for path in document["paths"].values()
                    for op in path.values() for answers in [op["responses"]] if "401" in answers]
    assert len(unauthorized) > 5
    assert all(list(answer["headers"]) == ["WWW-Authenticate"]
               and answer["headers"]["WWW-Authenticate"]["required"] for answer in unauthorized)
    assert document["paths"]["/remove"]["post"]["security"][0] == {"csrfToken": []}
    assert "security" not in document["paths"]["/openapi.json"]["get"]
