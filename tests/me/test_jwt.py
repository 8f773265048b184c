"""Employee SSO tokens: every way a JWT can be wrong, and the ways it can be right."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import get_args

import pytest
from pydantic import ValidationError
from sqlalchemy import inspect as sa_inspect

from app.auth import jwt as jwt_module
from app.auth.signin import scopes_for_roles
from app.core.config import EmployeeField, Settings, SettingsError, load_settings
from app.core.principal import Scope
from tests.conftest import TEST_JWT_SECRET
from tests.me.conftest import bearer, claims, hs256, make_jwt, public_pem, to_jwk

NOT_ALLOWED = "The token's signing algorithm is not allowed."


async def _me(client, token: str):
    return await client.get("/v1/me", headers=bearer(token))


def _assert_401(r, detail: str) -> None:
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["detail"] == detail


# --- HS256 (the test settings' default) ------------------------------------------------------


async def test_hs256_token_signs_the_employee_in(anon, employee):
    await employee("E-1")
    r = await _me(anon, hs256("E-1"))
    assert r.status_code == 200
    assert r.json()["external_id"] == "E-1"


def _tampered() -> str:
    header, _payload, signature = hs256("E-1").split(".")
    return ".".join([header, hs256("E-2").split(".")[1], signature])


@pytest.mark.parametrize(
    ("make_token", "detail"),
    [
        pytest.param(lambda: make_jwt(claims(), alg="none"), NOT_ALLOWED, id="alg-none"),
        pytest.param(lambda: make_jwt(claims(), alg="None"), NOT_ALLOWED, id="alg-None"),
        pytest.param(
            lambda: make_jwt(claims(), key=TEST_JWT_SECRET, alg="HS512"),
            NOT_ALLOWED,
            id="alg-not-listed",
        ),
        pytest.param(
            lambda: make_jwt(claims(), key="another-secret-that-is-long-enough-to-use!"),
            "The token's signature is not valid.",
            id="bad-signature",
        ),
        pytest.param(_tampered, "The token's signature is not valid.", id="tampered-payload"),
        pytest.param(
            lambda: make_jwt(claims(ttl=-3600), key=TEST_JWT_SECRET),
            "The token has expired.",
            id="expired",
        ),
        pytest.param(
            lambda: make_jwt(claims(nbf=int(time.time()) + 3600), key=TEST_JWT_SECRET),
            "The token is not valid yet.",
            id="not-yet-valid",
        ),
        pytest.param(
            lambda: make_jwt({"sub": "E-1", "iat": int(time.time())}, key=TEST_JWT_SECRET),
            "The token has no expiry (`exp`).",
            id="missing-exp",
        ),
        pytest.param(
            lambda: make_jwt(claims(exp="tomorrow"), key=TEST_JWT_SECRET),
            "The token's claims are not valid.",
            id="exp-not-a-number",
        ),
        pytest.param(
            lambda: make_jwt(claims(), key=TEST_JWT_SECRET, crit=["exp"]),
            "The token has critical header extensions; they are not supported.",
            id="crit-header",
        ),
        pytest.param(
            lambda: make_jwt(claims(padding="x" * 9000), key=TEST_JWT_SECRET),
            "The token is too large.",
            id="oversized",
        ),
        pytest.param(lambda: "not-a-jwt", "The token is not a signed JWT.", id="garbage"),
        pytest.param(lambda: "a.b.c.d", "The token is not a signed JWT.", id="four-segments"),
        pytest.param(lambda: "%%%.e30.c2ln", "The token's header cannot be read.", id="bad-header"),
        pytest.param(
            lambda: make_jwt({"iat": 1, "exp": int(time.time()) + 60}, key=TEST_JWT_SECRET),
            "The token does not name an employee in its `sub` claim.",
            id="no-subject",
        ),
        pytest.param(
            lambda: make_jwt(claims(exp=[1]), key=TEST_JWT_SECRET),
            "The token's claims are not valid.",
            id="exp-a-list",
        ),
        pytest.param(
            lambda: make_jwt(claims(nbf=float("inf")), key=TEST_JWT_SECRET),
            "The token's claims are not valid.",
            id="nbf-infinite",
        ),
        pytest.param(
            lambda: make_jwt(claims(iat=None), key=TEST_JWT_SECRET),
            "The token's claims are not valid.",
            id="iat-null",
        ),
        pytest.param(
            lambda: hs256(sub=["E-1"]),
            "The token's claims are not valid.",
            id="subject-not-a-string",
        ),
    ],
)
async def test_bad_tokens_get_401(anon, employee, make_token, detail):
    await employee("E-1")
    _assert_401(await _me(anon, make_token()), detail)


async def test_clock_skew_within_leeway_is_tolerated(anon, employee):
    await employee("E-1")
    now = int(time.time())
    assert (await _me(anon, hs256(exp=now - 10))).status_code == 200
    assert (await _me(anon, hs256(nbf=now + 10))).status_code == 200


async def test_unknown_and_inactive_employees_get_401(anon, employee):
    await employee("E-1", active=False)
    _assert_401(await _me(anon, hs256("E-1")), "The token names no active employee.")
    _assert_401(await _me(anon, hs256("E-404")), "The token names no active employee.")


async def test_employee_claim_email_matches_case_insensitively(client_with, employee):
    await employee("E-1", email="ana.garcia@example.com")
    await employee("E-2", email="other@example.com", active=False)
    client = await client_with(jwt_employee_claim="email")

    r = await _me(client, hs256("ignored", email="Ana.Garcia@Example.COM"))
    assert r.status_code == 200
    assert r.json()["external_id"] == "E-1"
    _assert_401(
        await _me(client, hs256("E-2", email="other@example.com")),
        "The token names no active employee.",
    )
    # the subject alone does not sign anyone in when the claim is `email`
    _assert_401(
        await _me(client, hs256("E-1")), "The token does not name an employee in its `email` claim."
    )


async def test_issuer_and_audience_are_enforced_when_configured(client_with, employee):
    await employee("E-1")
    client = await client_with(jwt_issuer="https://sso.example.com", jwt_audience="brandcast")
    good = {"iss": "https://sso.example.com", "aud": "brandcast"}

    assert (await _me(client, hs256(**good))).status_code == 200
    assert (
        await _me(client, hs256(**{**good, "aud": ["intranet", "brandcast"]}))
    ).status_code == 200
    for token, detail in [
        (
            hs256(**{**good, "iss": "https://evil.example.com"}),
            "The token was issued by an unexpected issuer.",
        ),
        (hs256(aud="brandcast"), "The token names no issuer (`iss`)."),
        (hs256(**{**good, "aud": "payroll"}), "The token is meant for another audience."),
        (hs256(**{**good, "aud": ["payroll"]}), "The token is meant for another audience."),
        (hs256(iss="https://sso.example.com"), "The token names no audience (`aud`)."),
    ]:
        _assert_401(await _me(client, token), detail)


async def test_audience_in_token_is_fine_when_none_is_configured(anon, employee):
    await employee("E-1")
    assert (await _me(anon, hs256(aud="anything", iss="anyone"))).status_code == 200


# --- RS256 / ES256 with a PEM public key --------------------------------------------------------


async def test_rs256_with_pem_text_and_pem_file(
    client_with, employee, rsa_key, other_rsa_key, tmp_path
):
    await employee("E-1")
    pem = public_pem(rsa_key)
    path = tmp_path / "sso.pem"
    path.write_text(pem)
    for source in (pem, str(path)):
        client = await client_with(jwt_algorithms="RS256", jwt_secret=None, jwt_public_key=source)
        r = await _me(client, make_jwt(claims(), key=rsa_key, alg="RS256"))
        assert r.status_code == 200, r.text
        _assert_401(
            await _me(client, make_jwt(claims(), key=other_rsa_key, alg="RS256")),
            "The token's signature is not valid.",
        )


async def test_hmac_token_keyed_with_the_public_key_is_refused(client_with, employee, rsa_key):
    """The classic confusion: an HS256 token whose HMAC secret is the server's public key PEM."""
    await employee("E-1")
    pem = public_pem(rsa_key)
    # the shared secret stays configured too: it must not turn HS256 back on
    client = await client_with(jwt_algorithms="RS256", jwt_public_key=pem)
    for key in (pem, pem.encode(), pem.strip()):
        _assert_401(await _me(client, make_jwt(claims(), key=key, alg="HS256")), NOT_ALLOWED)
    # an HS256 token with the real shared secret is refused as well: HS256 is not listed
    _assert_401(await _me(client, hs256()), NOT_ALLOWED)


async def test_listed_algorithm_with_the_wrong_key_type_is_refused(
    client_with, employee, rsa_key, ec_key
):
    await employee("E-1")
    client = await client_with(jwt_algorithms="RS256,ES256", jwt_public_key=public_pem(rsa_key))
    _assert_401(
        await _me(client, make_jwt(claims(), key=ec_key, alg="ES256")),
        "The token's algorithm does not match the configured key.",
    )
    assert (await _me(client, make_jwt(claims(), key=rsa_key, alg="RS256"))).status_code == 200


async def test_es256_with_pem(client_with, employee, ec_key):
    await employee("E-1")
    client = await client_with(jwt_algorithms="ES256", jwt_public_key=public_pem(ec_key))
    assert (await _me(client, make_jwt(claims(), key=ec_key, alg="ES256"))).status_code == 200


async def test_unreadable_public_key_is_a_503_not_a_crash(client_with, employee, tmp_path):
    await employee("E-1")
    client = await client_with(jwt_algorithms="RS256", jwt_public_key=str(tmp_path / "missing.pem"))
    r = await _me(client, make_jwt(claims(), key=b"x" * 32, alg="HS256"))
    assert r.status_code == 503
    assert r.json()["detail"] == "Employee sign-in is not configured correctly."


async def test_asymmetric_algorithm_without_keys_is_refused(anon, client_with, employee, rsa_key):
    await employee("E-1")
    client = await client_with(jwt_algorithms="RS256", jwt_secret=None)
    _assert_401(
        await _me(client, make_jwt(claims(), key=rsa_key, alg="RS256")),
        "Employee tokens signed this way are not accepted here.",
    )


# --- JWKS --------------------------------------------------------------------------------------


def _write_jwks(path, *jwks) -> str:
    path.write_text(json.dumps({"keys": list(jwks)}))
    return path.as_uri()


async def test_es256_via_jwks_file(client_with, employee, ec_key, rsa_key, tmp_path):
    await employee("E-1")
    url = _write_jwks(
        tmp_path / "jwks.json", to_jwk(rsa_key, "rsa-1", "RS256"), to_jwk(ec_key, "ec-1", "ES256")
    )
    client = await client_with(jwt_algorithms="RS256,ES256", jwt_secret=None, jwt_jwks_url=url)

    assert (
        await _me(client, make_jwt(claims(), key=ec_key, alg="ES256", kid="ec-1"))
    ).status_code == 200
    assert (
        await _me(client, make_jwt(claims(), key=rsa_key, alg="RS256", kid="rsa-1"))
    ).status_code == 200
    for token, detail in [
        (
            make_jwt(claims(), key=ec_key, alg="ES256", kid="nope"),
            "The token's signing key is not known.",
        ),
        (make_jwt(claims(), key=ec_key, alg="ES256"), "The token's signing key is not known."),
        (make_jwt(claims(), key=ec_key, alg="ES256", kid=7), "The token's key id is not valid."),
        # the kid names an RSA key but the token claims ES256 (and the reverse)
        (
            make_jwt(claims(), key=ec_key, alg="ES256", kid="rsa-1"),
            "The token's algorithm does not match its signing key.",
        ),
        (
            make_jwt(claims(), key=rsa_key, alg="RS256", kid="ec-1"),
            "The token's algorithm does not match its signing key.",
        ),
        (
            make_jwt(claims(ttl=-3600), key=ec_key, alg="ES256", kid="ec-1"),
            "The token has expired.",
        ),
        (make_jwt(claims(), key=TEST_JWT_SECRET, alg="HS256", kid="ec-1"), NOT_ALLOWED),
    ]:
        _assert_401(await _me(client, token), detail)


async def test_jwks_key_alg_must_agree_with_the_token(client_with, employee, rsa_key, tmp_path):
    await employee("E-1")
    url = _write_jwks(tmp_path / "jwks.json", to_jwk(rsa_key, "k", "RS512"))
    client = await client_with(jwt_algorithms="RS256,RS512", jwt_secret=None, jwt_jwks_url=url)
    _assert_401(
        await _me(client, make_jwt(claims(), key=rsa_key, alg="RS256", kid="k")),
        "The token's algorithm does not match its signing key.",
    )
    assert (
        await _me(client, make_jwt(claims(), key=rsa_key, alg="RS512", kid="k"))
    ).status_code == 200


async def test_single_key_jwks_accepts_tokens_without_kid(client_with, employee, ec_key, tmp_path):
    await employee("E-1")
    url = _write_jwks(tmp_path / "jwks.json", to_jwk(ec_key, "only"))
    client = await client_with(jwt_algorithms="ES256", jwt_secret=None, jwt_jwks_url=url)
    assert (await _me(client, make_jwt(claims(), key=ec_key, alg="ES256"))).status_code == 200


async def test_rotated_key_is_picked_up_by_a_rate_limited_refetch(
    client_with, employee, ec_key, other_ec_key, tmp_path, monkeypatch
):
    await employee("E-1")
    clock = [1000.0]
    monkeypatch.setattr(jwt_module, "monotonic", lambda: clock[0])
    path = tmp_path / "jwks.json"
    url = _write_jwks(path, to_jwk(ec_key, "2024"))
    client = await client_with(jwt_algorithms="ES256", jwt_secret=None, jwt_jwks_url=url)
    old = make_jwt(claims(), key=ec_key, alg="ES256", kid="2024")
    new = make_jwt(claims(), key=other_ec_key, alg="ES256", kid="2025")

    assert (await _me(client, old)).status_code == 200  # first fetch
    _write_jwks(path, to_jwk(ec_key, "2024"), to_jwk(other_ec_key, "2025"))

    clock[0] += 3  # within 5 s of the last fetch: an unknown kid does not trigger another
    for _ in range(20):
        _assert_401(await _me(client, new), "The token's signing key is not known.")
    clock[0] += 2.5  # 5.5 s after the last fetch: the unknown kid makes one refetch
    assert (await _me(client, new)).status_code == 200
    assert (await _me(client, old)).status_code == 200

    # a retired key keeps verifying until the cached document is older than its maximum age
    _write_jwks(path, to_jwk(other_ec_key, "2025"))
    clock[0] += 60
    assert (await _me(client, old)).status_code == 200
    clock[0] += jwt_module.JWKS_MAX_AGE
    _assert_401(await _me(client, old), "The token's signing key is not known.")
    assert (await _me(client, new)).status_code == 200


async def test_unreachable_jwks_is_a_503_and_keeps_cached_keys(
    client_with, employee, ec_key, tmp_path, monkeypatch
):
    await employee("E-1")
    clock = [1000.0]
    monkeypatch.setattr(jwt_module, "monotonic", lambda: clock[0])
    path = tmp_path / "jwks.json"
    client = await client_with(jwt_algorithms="ES256", jwt_secret=None, jwt_jwks_url=path.as_uri())
    token = make_jwt(claims(), key=ec_key, alg="ES256", kid="k")

    r = await _me(client, token)  # no document yet
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"

    _write_jwks(path, to_jwk(ec_key, "k"))
    clock[0] += 31
    assert (await _me(client, token)).status_code == 200

    path.write_text("not json")  # a broken document later does not drop the keys we hold
    clock[0] += jwt_module.JWKS_MAX_AGE
    assert (await _me(client, token)).status_code == 200


# --- settings and role mapping ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"jwt_algorithms": "none"}, "'NONE' is not allowed"),
        ({"jwt_algorithms": "RS256,none"}, "'NONE' is not allowed"),
        ({"jwt_algorithms": "PS256"}, "'PS256' is not allowed"),
        ({"jwt_algorithms": " , "}, "must name at least one algorithm"),
        ({"jwt_algorithms": "HS256,RS256", "jwt_public_key": "k.pem"}, "HMAC algorithm"),
        ({"jwt_algorithms": "HS256", "jwt_jwks_url": "https://sso/jwks"}, "HMAC algorithm"),
        ({"jwt_public_key": "k.pem", "jwt_jwks_url": "https://sso/jwks"}, "not both"),
        ({"jwt_jwks_url": "http://sso/jwks"}, "https:// or file://"),
        ({"jwt_jwks_url": "http://10.0.0.8/jwks"}, "http:// only for a loopback host"),
        ({"jwt_jwks_url": "ftp://sso/jwks"}, "BRANDCAST_JWT_JWKS_URL must be"),
        ({"jwt_issuer": "http://sso.example.com"}, "BRANDCAST_JWT_ISSUER must be an https://"),
        ({"jwt_issuer": "http://127.0.0.1.example.com"}, "BRANDCAST_JWT_ISSUER"),
        ({"jwt_issuer": "sso.example.com"}, "BRANDCAST_JWT_ISSUER must be an https://"),
        ({"jwt_issuer": "https://sso", "jwt_algorithms": "HS256,RS256"}, "HMAC algorithm"),
        ({"jwt_algorithms": "HS256", "jwt_secret": "short"}, "at least 32 bytes"),
        ({"jwt_audience": " , "}, "BRANDCAST_JWT_AUDIENCE names no audience"),
        ({"jwt_audience": "[1]"}, "BRANDCAST_JWT_AUDIENCE must be a JSON list of strings"),
        ({"jwt_audience": "[oops"}, "BRANDCAST_JWT_AUDIENCE is not a valid JSON list"),
        ({"jwt_ca_bundle": "/nowhere/ca.pem"}, "BRANDCAST_JWT_CA_BUNDLE: cannot load"),
        ({"jwt_employee_field": "oid"}, "'external_id', 'email' or 'user_name'"),
        ({"jwt_jwks_refetch_seconds": 0}, "greater than or equal to 0.5"),
    ],
)
def test_unsafe_jwt_settings_are_refused(overrides, message):
    with pytest.raises(ValidationError, match=message):
        Settings(**overrides)


def test_jwt_settings_are_normalized():
    assert Settings(jwt_algorithms=" rs256 , ES256").jwt_algorithm_list == ("RS256", "ES256")
    assert Settings(jwt_audience="a, b,a").jwt_audience_list == ("a", "b")
    assert Settings(jwt_audience='["api://x", "client"]').jwt_audience_list == ("api://x", "client")
    assert Settings().jwt_audience_list == ()
    # the discovery document sits under the issuer, with or without its trailing slash
    for issuer in ("https://sso.example.com/tenant/v2.0", "https://sso.example.com/tenant/v2.0/"):
        assert Settings(jwt_issuer=issuer).jwt_discovery_url == (
            "https://sso.example.com/tenant/v2.0/.well-known/openid-configuration"
        )
    # an explicit key source, or HMAC alone, means no discovery
    assert (
        Settings(jwt_issuer="https://sso", jwt_jwks_url="https://sso/k").jwt_discovery_url is None
    )
    assert Settings(jwt_issuer="dev", jwt_algorithms="HS256").jwt_discovery_url is None
    # which column the employee claim is matched against, when not said
    assert Settings().jwt_employee_lookup == "external_id"
    assert Settings(jwt_employee_claim="email").jwt_employee_lookup == "email"
    assert Settings(jwt_employee_claim="upn", jwt_employee_field="email").jwt_employee_lookup == (
        "email"
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.12.0.1/realms/dev",
        "http://[::1]:9000/",
        "http://localhost:8080/realms/dev",
        "http://LOCALHOST.",
        "https://sso.example.com",
    ],
)
def test_plain_http_is_accepted_for_a_loopback_issuer_or_jwks(url):
    assert Settings(jwt_issuer=url).jwt_discovery_url.startswith(url.rstrip("/"))
    assert Settings(jwt_jwks_url=url).jwt_jwks_url == url


BRANDCAST = str(Path(sys.executable).with_name("brandcast"))  # the installed command
BAD_ISSUER = {"BRANDCAST_JWT_ISSUER": "http://sso.example.com"}


@pytest.mark.parametrize(
    "command",
    [
        pytest.param([BRANDCAST, "migrate"], id="brandcast-migrate"),
        pytest.param([BRANDCAST, "serve", "--port", "1"], id="brandcast-serve"),
        pytest.param(
            [sys.executable, "-m", "uvicorn", "app.main:app_from_env", "--factory", "--port", "1"],
            id="uvicorn",
        ),
    ],
)
def test_a_setting_error_is_one_line_naming_the_variable(command, tmp_path):
    env = {**os.environ, **BAD_ISSUER, "BRANDCAST_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "brandcast: BRANDCAST_JWT_ISSUER must be an https:// URL (http:// only for a loopback "
        "host: 127.0.0.0/8, ::1, localhost), not 'http://sso.example.com'"
    ], done.stderr
    assert not (tmp_path / "x.db").exists()  # refused before touching the database


def test_every_setting_error_names_its_variable():
    with pytest.raises(SettingsError) as caught:
        load_settings(jwt_leeway_seconds="soon", rate_limit_burst=0)
    assert str(caught.value) == (
        "BRANDCAST_JWT_LEEWAY_SECONDS: Input should be a valid integer, unable to parse string "
        "as an integer; BRANDCAST_RATE_LIMIT_BURST: Input should be greater than or equal to 1"
    )


async def test_several_audiences_each_sign_in(client_with, employee):
    await employee("E-1")
    for setting in ("brandcast-api, intranet-client", '["brandcast-api", "intranet-client"]'):
        client = await client_with(jwt_audience=setting)
        for aud in ("brandcast-api", "intranet-client", ["other", "intranet-client"]):
            assert (await _me(client, hs256(aud=aud))).status_code == 200
        for aud in ("payroll", ["payroll", "hr"], [], 7, ["brandcast-api-x"]):
            _assert_401(
                await _me(client, hs256(aud=aud)), "The token is meant for another audience."
            )
        _assert_401(await _me(client, hs256()), "The token names no audience (`aud`).")


@pytest.mark.parametrize(
    ("claim", "field", "value"),
    [
        pytest.param("oid", "external_id", "7e0b4c1a-entra-object-id", id="entra-oid"),
        pytest.param("preferred_username", "user_name", "Ana.Garcia@Contoso.com", id="entra-upn"),
        pytest.param("upn", "email", "ANA@EXAMPLE.COM", id="upn-as-email"),
        pytest.param("sub", "external_id", "00u1a2b3c4D5e6F7g8h9", id="okta-sub"),
        pytest.param("email", None, "Ana@Example.com", id="email-default-field"),
    ],
)
async def test_the_employee_claim_is_matched_against_the_chosen_field(
    client_with, employee, claim, field, value
):
    stored = {
        "external_id": "7e0b4c1a-entra-object-id" if claim == "oid" else "00u1a2b3c4D5e6F7g8h9",
        "email": "ana@example.com",
        "user_name": "ana.garcia@contoso.com",
    }
    await employee(stored.pop("external_id"), **stored)
    await employee("E-other", user_name="someone.else@contoso.com")
    client = await client_with(jwt_employee_claim=claim, jwt_employee_field=field)

    def token(named: object) -> str:
        return make_jwt({**claims("ignored"), claim: named}, key=TEST_JWT_SECRET)

    r = await _me(client, token(value))
    assert r.status_code == 200, r.text
    assert r.json()["email"] == "ana@example.com"
    _assert_401(
        await _me(client, token(value + "x")),
        "The token names no active employee.",
    )
    _assert_401(
        await _me(client, token(["a"])),
        # the library itself refuses a `sub` that is not a string
        "The token's claims are not valid."
        if claim == "sub"
        else f"The token does not name an employee in its `{claim}` claim.",
    )


async def test_external_ids_match_exactly_and_names_case_insensitively(client_with, employee):
    await employee("Ab-1", email="ab@example.com", user_name="ab.user")
    by_id = await client_with(jwt_employee_claim="sub", jwt_employee_field="external_id")
    _assert_401(await _me(by_id, hs256("AB-1")), "The token names no active employee.")
    assert (await _me(by_id, hs256("Ab-1"))).status_code == 200
    by_name = await client_with(jwt_employee_claim="sub", jwt_employee_field="user_name")
    assert (await _me(by_name, hs256("AB.User"))).status_code == 200


async def test_an_unknown_kid_refetches_once_per_interval(
    client_with, employee, ec_key, other_ec_key, tmp_path, monkeypatch
):
    await employee("E-1")
    clock = [1000.0]
    monkeypatch.setattr(jwt_module, "monotonic", lambda: clock[0])
    fetches: list[str] = []
    original = jwt_module._JWKS._fetch

    async def counted(self, url):
        fetches.append(url)
        return await original(self, url)

    monkeypatch.setattr(jwt_module._JWKS, "_fetch", counted)
    path = tmp_path / "jwks.json"
    url = _write_jwks(path, to_jwk(ec_key, "a"))
    client = await client_with(
        jwt_algorithms="ES256", jwt_secret=None, jwt_jwks_url=url, jwt_jwks_refetch_seconds=2
    )
    assert (
        await _me(client, make_jwt(claims(), key=ec_key, alg="ES256", kid="a"))
    ).status_code == 200
    assert len(fetches) == 1
    unknown = make_jwt(claims(), key=other_ec_key, alg="ES256", kid="b")
    for _ in range(40):  # 40 requests over 4 s with a kid nobody knows: 2 refetches
        clock[0] += 0.1
        _assert_401(await _me(client, unknown), "The token's signing key is not known.")
    assert len(fetches) == 3, fetches


def test_roles_map_to_scopes():
    editor = {
        Scope.MESSAGES_READ,
        Scope.MESSAGES_WRITE,
        Scope.AUDIENCES_READ,
        Scope.AUDIENCES_WRITE,
        Scope.RECEIPTS_READ,
    }
    assert scopes_for_roles(["comms_editor"]) == editor
    assert scopes_for_roles("comms_editor, comms_admin") == editor | {Scope.ADMIN}
    assert scopes_for_roles("reader") == frozenset()
    assert scopes_for_roles(None) == frozenset()
    assert scopes_for_roles([1, {"x": 1}]) == frozenset()


async def test_every_column_an_employee_claim_can_match_is_indexed(app):
    """Sign-in runs on every uncached employee request: its lookup must never scan the table."""

    def leading_columns(sync_conn) -> set[str]:
        inspector = sa_inspect(sync_conn)
        found = inspector.get_indexes("employees") + inspector.get_unique_constraints("employees")
        return {entry["column_names"][0] for entry in found if entry["column_names"]}

    async with app.state.db.engine.connect() as conn:
        indexed = await conn.run_sync(leading_columns)
    assert set(get_args(EmployeeField)) <= indexed
