"""Photos by URL, the URLs: what is not a plain http(s) URL with a host is refused, before
any lookup, with its sentence; what is accepted is read one way only."""

from __future__ import annotations

import pytest

from app.core.fetching.targets import parse
from tests.fake_network import Resolver, refused


@pytest.mark.parametrize(("url", "message"), [
    ("file:///etc/passwd", "Photos can only be fetched from addresses starting with http:// "
                           "or https://, not file:."),
    ("ftp://photos.example/cat.jpg", "Photos can only be fetched from addresses starting "
                                     "with http:// or https://, not ftp:."),
    ("gopher://127.0.0.1:6379/_INFO", "Photos can only be fetched from addresses starting "
                                      "with http:// or https://, not gopher:."),
    ("javascript:alert(1)", "Photos can only be fetched from addresses starting with "
                            "http:// or https://, not javascript:."),
    ("data:image/png;base64,iVBORw0KGgo=", "Photos can only be fetched from addresses "
                                           "starting with http:// or https://, not data:."),
    ("photos.example/cat.jpg",
     "Please give the photo's full address, starting with http:// or https://."),
    ("//photos.example/cat.jpg",
     "Please give the photo's full address, starting with http:// or https://."),
    ("http://user:secret@photos.example/",
     "Addresses with a user name or password (user:pass@) are not accepted."),
    ("http://user@photos.example/",
     "Addresses with a user name or password (user:pass@) are not accepted."),
    ("http://photos.example@127.0.0.1/",
     "Addresses with a user name or password (user:pass@) are not accepted."),
    ("http://", "The address has no host name; give a full address such as "
                "https://example.com/photo.jpg."),
    ("http:photos.example/cat.jpg", "The address has no host name; give a full address "
                                    "such as https://example.com/photo.jpg."),
    ("http:///cat.jpg", "The address has no host name; give a full address such as "
                        "https://example.com/photo.jpg."),
    ("https://:443/", "The address has no host name; give a full address such as "
                      "https://example.com/photo.jpg."),
    ("http://photos.example:0/", "The port in the address must be a number from 1 to 65535."),
    ("http://photos.example:65536/",
     "The port in the address must be a number from 1 to 65535."),
    ("http://photos.example:http/",
     "The host and port in the address (photos.example:http) could not be read."),
    ("http://[::1]x/", "The host and port in the address ([::1]x) could not be read."),
    ("http://[fe80::1%25eth0]/", "[fe80::1%25eth0] is not a valid IPv6 address."),
    ("http://[1.2.3.4]/", "[1.2.3.4] is not a valid IPv6 address."),
    ("http://photos..example/", "photos..example is not a valid host name."),
    ("http://photos.exa!mple/", "photos.exa!mple is not a valid host name."),
    ("http://bad\u2024dot.example/", "bad\u2024dot.example is not a valid host name."),
    ("http://photos.example/a b.jpg", "The address contains spaces, invisible characters "
                                      "or backslashes, which a web address cannot have."),
    ("http://photos.example\\@127.0.0.1/", "The address contains spaces, invisible "
                                           "characters or backslashes, which a web address "
                                           "cannot have."),
    ("http://127.0.0.1\x00.photos.example/", "The address contains spaces, invisible "
                                             "characters or backslashes, which a web address "
                                             "cannot have."),
    ("http://photos\u200b.example/", "The address contains spaces, invisible characters or "
                                     "backslashes, which a web address cannot have."),
    ("", "Please give the photo's address, starting with http:// or https://."),
    ("   ", "Please give the photo's address, starting with http:// or https://."),
    (None, "Please give the photo's address, starting with http:// or https://."),
    (b"http://photos.example/", "Please give the photo's address, starting with http:// or "
                                "https://."),
    ("http://photos.example/" + "a" * 2030, "The address is longer than 2048 characters."),
])
def test_an_address_that_is_not_a_plain_http_url_is_refused(url, message):
    resolver = Resolver(["93.184.215.14"])
    error = refused(url, resolver)
    assert (error.code, error.message) == ("invalid_url", message)
    assert resolver.calls == []


@pytest.mark.parametrize("host", [
    "2130706433", "0x7f000001", "0x7f.1", "0177.0.0.1", "127.1", "127.0.1", "0x7F.0.0.1",
    "017700000001", "127.000.000.001", "1.2.3.4.5", "photos.example.0x", "photos.123",
    "２１３０７０６４３３",  # fullwidth digits: UTS 46 makes them the number above
])
def test_a_number_a_browser_or_inet_aton_would_read_as_an_address_is_refused(host):
    """Written as one address, read as another (0x7f.1 is 127.0.0.1 to inet_aton and to
    browsers): refused before anything resolves it."""
    resolver = Resolver(["93.184.215.14"])
    error = refused(f"http://{host}/cat.jpg", resolver)
    shown = "2130706433" if host.startswith("２") else host.lower()
    assert (error.code, error.message) == (
        "invalid_url", f"The host {shown} is a numeric address in an unusual form; write it "
                       "as four decimal numbers (such as 93.184.215.14) or use a host name.")
    assert resolver.calls == []


def test_a_host_is_read_one_way_for_resolving_the_host_header_and_the_request_line():
    target = parse("HTTPS://Photos.EXAMPLE.:8443/fotó1.jpg?q=ä&x=%20#fragment")
    assert (target.host, target.name, target.port, target.https) == (
        "photos.example.", "photos.example", 8443, True)
    assert target.host_header == "photos.example:8443"
    assert target.path == "/fot%C3%B31.jpg?q=%C3%A4&x=%20"
    assert parse("http://bücher.example/").host == "xn--bcher-kva.example"
    assert parse("http://ｐｈｏｔｏｓ。example/").host == "photos.example"
    v6 = parse("http://[2606:4700:0::1111]:80")
    assert (v6.host, v6.host_header, v6.path, str(v6.literal)) == (
        "2606:4700:0::1111", "[2606:4700:0::1111]", "/", "2606:4700::1111")
    assert parse("https://93.184.215.14:443/a").host_header == "93.184.215.14"


@pytest.mark.parametrize("host, said", [
    ("猫" * 1000, "猫" * 99 + "…"), ("猫" * 100, "猫" * 100), ("a" * 300 + ".com", "a" * 99 + "…")])
def test_a_host_is_quoted_in_its_refusal_to_100_characters(host, said):
    """The whole host was quoted: the page's refusal of 1,000 characters of it, flashed in
    its session cookie, took the answer's headers past the front's 4 KB (a 502; helper 67)."""
    error = refused(f"http://{host}/a.jpg", Resolver(["93.184.215.14"]))
    assert (error.code, error.message) == ("invalid_url", f"{said} is not a valid host name.")


def test_the_pages_refusal_of_a_long_host_fits_in_its_cookie(visitor):
    """Without the script, the refusal is a flash kept in the session cookie until shown."""
    response = visitor.client.post("/", data={
        "name": "cat", "csrf_token": visitor.ensure_token(),
        "image_url": "http://" + "猫" * 1000 + "/a.jpg"})
    assert response.status_code == 302
    assert len(response.headers["Set-Cookie"]) < 1500
    assert visitor.flashes() == [("danger", "猫" * 99 + "… is not a valid host name.")]
