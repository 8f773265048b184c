"""The SSRF guard and the shipped signature helper, without HTTP."""

import ipaddress
import time

import httpx
import pytest

from app.webhooks import ssrf
from app.webhooks.signing import delivery_headers
from brandcast.webhooks import sign, verify_signature

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


def test_signatures_verify_with_the_shipped_helper():
    body = b'{"id":"e1","type":"ping","created_at":"2026-01-01T00:00:00Z","data":{}}'
    now = int(time.time())
    headers = delivery_headers(event_id="e1", timestamp=now, body=body, secrets_=["whsec_a"])
    signature = headers["Brandcast-Signature"]
    assert signature == f"v1={sign('whsec_a', now, body)}"
    assert verify_signature("whsec_a", headers["Brandcast-Timestamp"], body, signature)
    assert verify_signature("whsec_a", now, body.decode(), signature)
    assert not verify_signature("whsec_b", now, body, signature)
    assert not verify_signature("whsec_a", now, body + b" ", signature)
    assert not verify_signature("whsec_a", now + 1, body, signature)
    assert not verify_signature("whsec_a", "nonsense", body, signature)
    assert not verify_signature("whsec_a", now, body, "")
    assert not verify_signature("whsec_a", now, body, "v0=" + signature[3:])


def test_stale_timestamps_are_refused_within_tolerance_only():
    body, then = b"{}", 1_700_000_000
    signature = f"v1={sign('s', then, body)}"
    assert verify_signature("s", then, body, signature, now=then + 299)
    assert not verify_signature("s", then, body, signature, now=then + 301)
    assert not verify_signature("s", then, body, signature, now=then - 301)
    assert verify_signature("s", then, body, signature, tolerance_seconds=0, now=then + 10**6)


def test_either_secret_verifies_during_a_rotation():
    body, now = b'{"a":1}', int(time.time())
    header = delivery_headers(event_id="e", timestamp=now, body=body, secrets_=["new", "old"])[
        "Brandcast-Signature"
    ]
    assert header.count("v1=") == 2
    assert verify_signature("new", now, body, header)
    assert verify_signature("old", now, body, header)
    assert not verify_signature("other", now, body, header)
