"""Employee sign-in against a real OpenID Connect provider (node-oidc-provider, tests/me/idp.py).

The provider issues RS256 and ES256 JWT access tokens (client_credentials with a resource
indicator); Brandcast is configured with nothing but the issuer and the audience, finds the
JWKS through the issuer's discovery document, and is checked over HTTP on the feed.
"""

import asyncio
import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.auth.jwt import trust_store
from app.core.config import Settings
from tests.me.conftest import b64url, bearer, make_jwt
from tests.me.idp import Client, Idp, free_port, new_keys, oidc_provider_dir, private_ca
from tests.receipts.helpers import World, person

FEED = "/v1/me/messages"
API = "https://brandcast.example.test/api"
INTRANET = "https://intranet.example.test/"
PAYROLL = "https://payroll.example.test/"
SHORT_LIVED = "https://brandcast.example.test/short-lived"
RESOURCES = {API: 300, INTRANET: 300, PAYROLL: 300, SHORT_LIVED: 1}
ENTRA_OID = "3f2c8a61-7d0e-4b8e-9a57-0c1d2e3f4a5b"
CLIENTS = [
    Client("E-1", "RS256"),
    Client("E-2", "ES256"),
    # what Entra ID puts in its tokens: `oid` (the user's object id) and `preferred_username`
    Client(
        "entra-app", "RS256", {"oid": ENTRA_OID, "preferred_username": "Ana.Garcia@Contoso.com"}
    ),
    # what Okta puts in its tokens: `uid` (its `00u…` user id) and `email`
    Client("okta-app", "ES256", {"uid": "00u1a2b3c4D5e6F7g8h9", "email": "Bo.Lee@Example.COM"}),
]
DEFAULT_ALGORITHMS = Settings.model_fields["jwt_algorithms"].default
NOT_ALLOWED = "The token's signing algorithm is not allowed."


@pytest.fixture(scope="session")
def provider_dir() -> Path:
    return oidc_provider_dir()


@pytest.fixture(scope="module")
def idp(provider_dir, tmp_path_factory):
    """One provider for the tests that do not change its keys."""
    provider = Idp(
        provider_dir, tmp_path_factory.mktemp("idp"), clients=CLIENTS, resources=RESOURCES
    )
    provider.start()
    yield provider
    provider.stop()


@pytest.fixture
def start_idp(provider_dir, tmp_path):
    """Providers of the test's own (rotated keys, TLS), stopped after it."""
    started: list[Idp] = []

    def _start(**options: Any) -> Idp:
        provider = Idp(provider_dir, tmp_path, clients=CLIENTS, resources=RESOURCES, **options)
        started.append(provider)
        return provider.start()

    yield _start
    for provider in started:
        provider.stop()


def only_issuer_and_audience(idp: Idp, **extra: Any) -> dict[str, Any]:
    """The settings of a deployment that names its issuer and audience and nothing else."""
    return {
        "jwt_algorithms": DEFAULT_ALGORITHMS,
        "jwt_secret": None,
        "jwt_issuer": idp.issuer,
        "jwt_audience": API,
        **extra,
    }


def _json(segment: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A token's header and claims, unverified."""
    header, payload, _ = token.split(".")
    return _json(header), _json(payload)


def assert_401(r, detail: str) -> None:
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["detail"] == detail


async def test_real_rs256_and_es256_tokens_work_with_only_issuer_and_audience(
    idp, db, admin, client_with
):
    world = World(db, admin)
    await world.people("E-1", "E-2")
    await world.message(["E-1", "E-2"], title="Welcome")
    client = await client_with(**only_issuer_and_audience(idp))

    for external_id, alg in (("E-1", "RS256"), ("E-2", "ES256")):
        token = await idp.token(external_id, API)
        header, claims = segments(token)
        assert (header["alg"], claims["iss"], claims["aud"]) == (alg, idp.issuer, API)
        assert header["kid"] in {key["kid"] for key in idp.keys}

        r = await client.get(FEED, headers=bearer(token))
        assert r.status_code == 200, r.text
        assert [item["title"] for item in r.json()["items"]] == ["Welcome"]
        me = await client.get("/v1/me", headers=bearer(token))
        assert me.status_code == 200, me.text
        assert me.json()["external_id"] == external_id


async def test_a_token_for_any_configured_audience_is_accepted(idp, employee, client_with):
    """An ID token (aud = the client) and an access token (aud = the API) on one deployment."""
    await employee("E-1")
    for audiences in (f"{API}, {INTRANET}", json.dumps([INTRANET, API])):
        client = await client_with(**only_issuer_and_audience(idp, jwt_audience=audiences))
        for resource in (API, INTRANET):
            token = await idp.token("E-1", resource)
            assert (await client.get(FEED, headers=bearer(token))).status_code == 200
        assert_401(
            await client.get(FEED, headers=bearer(await idp.token("E-1", PAYROLL))),
            "The token is meant for another audience.",
        )


def _public_pem(jwk: dict[str, Any]) -> bytes:
    def number(value: str) -> int:
        return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")

    key = rsa.RSAPublicNumbers(number(jwk["e"]), number(jwk["n"])).public_key()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _resigned(token: str, key: Any, alg: str, **header: Any) -> str:
    """The token's own claims, signed with another key (header from the token unless given)."""
    original, claims = segments(token)
    fields = {name: value for name, value in {**original, **header}.items() if name != "alg"}
    return make_jwt(claims, key=key, alg=alg, **fields)


async def test_forged_and_unusable_tokens_get_401(idp, employee, client_with):
    await employee("E-1")
    await employee("E-2")
    client = await client_with(**only_issuer_and_audience(idp, jwt_leeway_seconds=0))
    rs256 = await idp.token("E-1", API)
    es256 = await idp.token("E-2", API)
    short_lived = await idp.token("E-1", SHORT_LIVED)
    rsa_jwk = next(k for k in await idp.public_jwks() if k["kty"] == "RSA")
    pem = _public_pem(rsa_jwk)
    header, claims = rs256.split(".")[0], segments(rs256)[1]
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_ec = ec.generate_private_key(ec.SECP256R1())
    assert (await client.get(FEED, headers=bearer(rs256))).status_code == 200

    cases = [
        # signed by another key under the provider's own kid, and under an unknown one
        (_resigned(rs256, other_rsa, "RS256"), "The token's signature is not valid."),
        (_resigned(es256, other_ec, "ES256"), "The token's signature is not valid."),
        (
            _resigned(rs256, other_rsa, "RS256", kid="attacker-key"),
            "The token's signing key is not known.",
        ),
        # a real signature over other claims
        (
            f"{header}.{b64url(json.dumps({**claims, 'sub': 'E-2'}).encode())}.{rs256.split('.')[2]}",
            "The token's signature is not valid.",
        ),
        (await idp.token("E-1", PAYROLL), "The token is meant for another audience."),
        # `alg: none`, with and without the signature it had
        (_resigned(rs256, None, "none"), NOT_ALLOWED),
        (f"{b64url(json.dumps({'alg': 'none'}).encode())}.{rs256.split('.')[1]}.", NOT_ALLOWED),
        # HS256 keyed with the provider's public key, as PEM text and as its JWK
        (_resigned(rs256, pem, "HS256"), NOT_ALLOWED),
        (_resigned(rs256, pem.decode().strip(), "HS256"), NOT_ALLOWED),
        (_resigned(rs256, json.dumps(rsa_jwk), "HS256"), NOT_ALLOWED),
    ]
    for token, detail in cases:
        for path in (FEED, "/v1/me"):
            assert_401(await client.get(path, headers=bearer(token)), detail)

    # expired: the provider's one-second token, past its `exp` (no leeway configured)
    wait = segments(short_lived)[1]["exp"] - time.time() + 1.1
    await asyncio.sleep(max(wait, 0))
    assert_401(await client.get(FEED, headers=bearer(short_lived)), "The token has expired.")


async def test_a_rotated_key_is_accepted_within_seconds_without_a_restart(
    start_idp, employee, client_with
):
    await employee("E-1")
    await employee("E-2")
    idp = start_idp(keys=new_keys("2024"))
    client = await client_with(**only_issuer_and_audience(idp))
    old = await idp.token("E-1", API)
    assert (await client.get(FEED, headers=bearer(old))).status_code == 200
    assert idp.jwks_downloads() == 1

    # the provider comes back with new keys only; Brandcast keeps running
    idp.restart(keys=new_keys("2025"))
    new_rs256, new_es256 = await idp.token("E-1", API), await idp.token("E-2", API)
    assert segments(new_rs256)[0]["kid"] == "rsa-2025"
    started = time.monotonic()
    statuses = []
    while time.monotonic() - started < 15:
        r = await client.get(FEED, headers=bearer(new_rs256))
        statuses.append(r.status_code)
        if r.status_code == 200:
            break
        assert_401(r, "The token's signing key is not known.")
        await asyncio.sleep(0.1)
    accepted_after = time.monotonic() - started
    assert statuses[-1] == 200, statuses
    # an unknown kid refetches at most once per 5 s (BRANDCAST_JWT_JWKS_REFETCH_SECONDS)
    assert accepted_after < 5 + 1.5, accepted_after
    assert (await client.get(FEED, headers=bearer(new_es256))).status_code == 200
    # however many requests the unknown kid made, the key set was downloaded once more
    assert idp.jwks_downloads() == 2, (len(statuses), idp.jwks_downloads())
    # the retired key is gone from the provider's set, so from Brandcast's
    assert_401(await client.get(FEED, headers=bearer(old)), "The token's signing key is not known.")


@pytest.mark.parametrize(
    ("client_id", "claim", "field", "stored"),
    [
        pytest.param("entra-app", "oid", "external_id", {"external_id": ENTRA_OID}, id="entra-oid"),
        pytest.param(
            "entra-app",
            "preferred_username",
            "user_name",
            {"user_name": "ana.garcia@contoso.com"},
            id="entra-preferred-username",
        ),
        pytest.param(
            "okta-app", "uid", "external_id", {"external_id": "00u1a2b3c4D5e6F7g8h9"}, id="okta-uid"
        ),
        pytest.param(
            "okta-app", "email", "email", {"email": "bo.lee@example.com"}, id="okta-email"
        ),
        pytest.param("E-1", "sub", "external_id", {"external_id": "E-1"}, id="sub"),
    ],
)
async def test_the_employee_is_found_by_the_configured_claim_and_field(
    idp, db, admin, client_with, client_id, claim, field, stored
):
    world = World(db, admin)
    row = {**person(f"HR-{uuid.uuid4().hex[:6]}"), **stored}
    await world.people(row, person("HR-other"))
    client = await client_with(
        **only_issuer_and_audience(idp, jwt_employee_claim=claim, jwt_employee_field=field)
    )
    token = await idp.token(client_id, API)
    r = await client.get("/v1/me", headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json()["external_id"] == row["external_id"]

    # the same claim matched against another field names nobody
    other = "email" if field != "email" else "user_name"
    client = await client_with(
        **only_issuer_and_audience(idp, jwt_employee_claim=claim, jwt_employee_field=other)
    )
    assert_401(await client.get(FEED, headers=bearer(token)), "The token names no active employee.")


async def test_the_idps_private_ca_is_trusted_through_the_ca_bundle(
    start_idp, employee, client_with, tmp_path
):
    await employee("E-1")
    ca, cert, key = private_ca(tmp_path)
    idp = start_idp(tls=(cert, key))
    assert idp.issuer.startswith("https://127.0.0.1:")
    token = await idp.token("E-1", API, verify=trust_store(str(ca)))

    untrusted = await client_with(**only_issuer_and_audience(idp))
    r = await untrusted.get(FEED, headers=bearer(token))
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "Employee sign-in keys cannot be fetched; try again shortly."

    trusted = await client_with(**only_issuer_and_audience(idp, jwt_ca_bundle=str(ca)))
    assert (await trusted.get(FEED, headers=bearer(token))).status_code == 200


def test_the_ca_bundle_adds_to_the_usual_trust_store(tmp_path):
    ca, _, _ = private_ca(tmp_path)
    usual = trust_store(None).get_ca_certs()
    added = trust_store(str(ca)).get_ca_certs()
    names = [dict(pair[0] for pair in c["subject"]).get("commonName") for c in added]
    assert "Brandcast test IdP CA" in names
    assert len(usual) > 50  # the public CAs stay trusted
    assert len(added) == len(usual) + 1


async def test_a_discovery_document_for_another_issuer_or_none_is_a_503(
    idp, employee, client_with, caplog
):
    await employee("E-1")
    token = await idp.token("E-1", API)
    # `localhost` reaches the same provider, whose document names `127.0.0.1` as the issuer
    localhost = idp.issuer.replace("127.0.0.1", "localhost")
    nobody = f"http://127.0.0.1:{free_port()}"
    for issuer in (localhost, nobody):
        client = await client_with(**only_issuer_and_audience(idp, jwt_issuer=issuer))
        r = await client.get(FEED, headers=bearer(token))
        assert r.status_code == 503, r.text
        assert r.json()["detail"] == "Employee sign-in keys cannot be fetched; try again shortly."
    assert "names the issuer" in caplog.text
