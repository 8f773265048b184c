"""The SSRF guard and the shipped signature helper, without HTTP."""

import base64
import hashlib
import hmac
import ipaddress
import secrets
import time

import httpx
import pytest
import standardwebhooks
import svix.webhooks

from app.webhooks import ssrf
from app.webhooks.signing import (
    SigningSecret,
    delivery_headers,
    from_legacy,
    is_standard_secret,
    new_secret,
    secret_key,
    to_legacy,
)
from brandcast.webhooks import sign, standard_secret, verify_signature

NONE_ALLOWED: frozenset[str] = frozenset()


@pytest.fixture
def fake_dns(monkeypatch):
    """Names resolve from this table (a real lookup must not leave the machine)."""
    table: dict[str, list[str]] = {}

    async def _lookup(host: str, _port: int) -> list[str]:
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]

    monkeypatch.setattr(ssrf, "_getaddrinfo", _lookup)
    return table


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.0.0.1/hook",
        "https://172.16.5.4/hook",
        "https://192.168.1.10/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00:ec2::254]/",
        "https://100.64.0.1/",
        "https://0.0.0.0/",
        "https://224.0.0.1/",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[64:ff9b::a00:1]/",
        "https://[fe80::1]/",
    ],
)
async def test_private_addresses_are_refused(url):
    with pytest.raises(ssrf.UnsafeURL, match="not a public address"):
        await ssrf.resolve(url, NONE_ALLOWED)


async def test_a_name_resolving_to_loopback_is_refused():
    # the real resolver: localhost is loopback on every machine
    with pytest.raises(ssrf.UnsafeURL, match=r"'localhost' resolves to (127\.0\.0\.1|::1)"):
        await ssrf.resolve("https://localhost/hook", NONE_ALLOWED)


async def test_one_private_answer_among_public_ones_is_enough_to_refuse(fake_dns):
    fake_dns["mixed.example.com"] = ["93.184.216.34", "10.1.2.3"]
    with pytest.raises(ssrf.UnsafeURL, match=r"10\.1\.2\.3"):
        await ssrf.resolve("https://mixed.example.com/", NONE_ALLOWED)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/", "must use https://"),
        ("ftp://hooks.example.com/", "absolute https:// URL"),
        ("hooks.example.com/path", "absolute https:// URL"),
        ("https://user:pw@hooks.example.com/", "credentials"),
    ],
)
async def test_malformed_or_plain_http_urls_are_refused(fake_dns, url, reason):
    fake_dns["hooks.example.com"] = ["93.184.216.34"]
    with pytest.raises(ssrf.UnsafeURL, match=reason):
        await ssrf.resolve(url, NONE_ALLOWED)


async def test_unresolvable_names_are_refused(fake_dns):
    with pytest.raises(ssrf.UnsafeURL, match="does not resolve"):
        await ssrf.resolve("https://nowhere.invalid/", NONE_ALLOWED)


async def test_public_names_pass_and_are_pinned_to_the_checked_address(fake_dns):
    fake_dns["hooks.example.com"] = ["93.184.216.34"]
    target = await ssrf.resolve("https://hooks.example.com:8443/in?x=1", NONE_ALLOWED)
    assert target.address == ipaddress.ip_address("93.184.216.34")
    assert str(target.pinned_url()) == "https://93.184.216.34:8443/in?x=1"


async def test_allow_listed_hosts_skip_the_guard_and_may_use_http():
    allowed = ssrf.allowed_hosts(" 127.0.0.1 , Localhost ")
    assert allowed == {"127.0.0.1", "localhost"}
    for url in ("http://127.0.0.1:9/x", "https://127.0.0.1/x", "http://LOCALHOST:8000/"):
        target = await ssrf.resolve(url, allowed)
        assert target.address is None
        assert target.pinned_url() == httpx.URL(url)
    with pytest.raises(ssrf.UnsafeURL):
        await ssrf.resolve("http://127.0.0.2/", allowed)


def _headers(**kw) -> dict[str, str]:
    return {k.lower(): v for k, v in delivery_headers(**kw).items()}


def test_new_secrets_are_32_random_bytes_that_stock_libraries_take():
    seen = set()
    for _ in range(500):
        secret = new_secret()
        assert secret.startswith("whsec_") and len(secret) == 50
        key = base64.b64decode(secret[6:], validate=True)
        assert len(key) == 32 and secret_key(secret) == key
        # the old secrets made this constructor raise about once in five
        assert standardwebhooks.Webhook(secret)._whsecret == key
        seen.add(key)
    assert len(seen) == 500


def test_signatures_verify_with_the_shipped_helper_and_stock_libraries():
    body = b'{"id":"e1","type":"ping","created_at":"2026-01-01T00:00:00Z","data":{}}'
    now, secret = int(time.time()), new_secret()
    headers = _headers(event_id="e1", timestamp=now, body=body, secrets_=[SigningSecret(secret)])
    assert set(headers) == {
        "content-type",
        "user-agent",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
    assert headers["webhook-id"] == "e1" and headers["webhook-timestamp"] == str(now)
    expected = hmac.new(base64.b64decode(secret[6:]), f"e1.{now}.".encode() + body, "sha256")
    assert headers["webhook-signature"] == "v1," + base64.b64encode(expected.digest()).decode()
    assert headers["webhook-signature"] == sign(secret, "e1", now, body)

    standardwebhooks.Webhook(secret).verify(body, headers)
    svix.webhooks.Webhook(secret).verify(body, headers)
    assert verify_signature(secret, body, headers)
    assert verify_signature(secret, body.decode(), headers)
    other = new_secret()
    assert not verify_signature(other, body, headers)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(other).verify(body, headers)
    assert not verify_signature(secret, body + b" ", headers)
    for name, value in [
        ("webhook-id", "e2"),
        ("webhook-timestamp", str(now + 1)),
        ("webhook-timestamp", "nonsense"),
        ("webhook-signature", ""),
        ("webhook-signature", "v2," + headers["webhook-signature"][3:]),
    ]:
        assert not verify_signature(secret, body, {**headers, name: value}), name
    for missing in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        assert not verify_signature(
            secret, body, {k: v for k, v in headers.items() if k != missing}
        )
    # header names in any case
    assert verify_signature(secret, body, {k.upper(): v for k, v in headers.items()})
    # a call in the pre-0012 form (secret, timestamp, body, signature) fails loudly
    with pytest.raises(TypeError):
        verify_signature(secret, now, body, headers["webhook-signature"])  # type: ignore[call-arg]


def test_stale_timestamps_are_refused_within_tolerance_only():
    body, then, secret = b"{}", 1_700_000_000, new_secret()
    headers = {"webhook-id": "e", "webhook-timestamp": str(then)}
    headers["webhook-signature"] = sign(secret, "e", then, body)
    assert verify_signature(secret, body, headers, now=then + 299)
    assert not verify_signature(secret, body, headers, now=then + 301)
    assert not verify_signature(secret, body, headers, now=then - 301)
    assert verify_signature(secret, body, headers, tolerance_seconds=0, now=then + 10**6)


def test_either_secret_verifies_during_a_rotation():
    body, now = b'{"a":1}', int(time.time())
    new, old = new_secret(), new_secret()
    headers = _headers(
        event_id="e",
        timestamp=now,
        body=body,
        secrets_=[SigningSecret(new), SigningSecret(old)],
    )
    first, second = headers["webhook-signature"].split(" ")
    assert first == sign(new, "e", now, body) and second == sign(old, "e", now, body)
    for secret in (new, old):
        standardwebhooks.Webhook(secret).verify(body, headers)
        svix.webhooks.Webhook(secret).verify(body, headers)
        assert verify_signature(secret, body, headers)
    assert not verify_signature(new_secret(), body, headers)


def test_a_converted_legacy_secret_keeps_the_old_key_and_the_old_headers():
    old = "whsec_" + secrets.token_urlsafe(32)  # how secrets were made before 0012
    converted = from_legacy(old)
    assert is_standard_secret(converted) and not is_standard_secret(old)
    assert secret_key(converted) == old.encode() and to_legacy(converted) == old
    assert standard_secret(old) == converted == standard_secret(converted)
    body, now = b'{"a":1}', int(time.time())
    headers = _headers(
        event_id="e", timestamp=now, body=body, secrets_=[SigningSecret(converted, legacy=True)]
    )
    # the specification's headers: the stock library with the converted string, the helper
    # with either string
    standardwebhooks.Webhook(converted).verify(body, headers)
    assert verify_signature(converted, body, headers) and verify_signature(old, body, headers)
    # and the old ones, exactly as receivers checked them before
    assert headers["brandcast-event-id"] == "e"
    assert headers["brandcast-timestamp"] == str(now)
    legacy = hmac.new(old.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers["brandcast-signature"] == f"v1={legacy}"

    # rotated: the new secret signs the spec headers only; the old headers carry the old one
    fresh = new_secret()
    headers = _headers(
        event_id="e",
        timestamp=now,
        body=body,
        secrets_=[SigningSecret(fresh), SigningSecret(converted, legacy=True)],
    )
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert headers["brandcast-signature"] == f"v1={legacy}"
    assert verify_signature(fresh, body, headers) and verify_signature(old, body, headers)


@pytest.mark.parametrize("bad", ["whsec_", "whsec_not base64!", "sk_abc", "whsec_YWJ"])
def test_secret_key_refuses_what_is_not_whsec_base64(bad):
    with pytest.raises(ValueError):
        secret_key(bad)
