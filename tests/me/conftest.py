"""Employee-token fixtures: keys, a JWT signer independent of the service's library, employees.

Tokens are signed here with `cryptography` and `hmac` directly, so the tests check the
service's verifier rather than the library against itself.
"""

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from app.core.config import Settings
from app.employees.models import Employee
from app.main import create_app
from tests.conftest import TEST_JWT_SECRET

_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_HMAC = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json_segment(obj: dict[str, Any]) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def make_jwt(claims: dict[str, Any], *, key: Any = None, alg: str = "HS256", **header: Any) -> str:
    """Sign `claims`; `key` is HMAC bytes/str, an RSA or EC private key, or None for `none`."""
    signing_input = f"{_json_segment({'alg': alg, 'typ': 'JWT', **header})}.{_json_segment(claims)}"
    msg = signing_input.encode()
    bits = alg[2:]
    if alg.lower() == "none":
        signature = b""
    elif alg.startswith("HS"):
        secret = key.encode() if isinstance(key, str) else key
        signature = hmac.new(secret, msg, _HMAC[bits]).digest()
    elif alg.startswith("RS"):
        signature = key.sign(msg, padding.PKCS1v15(), _HASHES[bits]())
    elif alg.startswith("ES"):
        r, s = decode_dss_signature(key.sign(msg, ec.ECDSA(_HASHES[bits]())))
        size = (key.curve.key_size + 7) // 8
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    else:
        raise ValueError(alg)
    return f"{signing_input}.{b64url(signature)}"


def claims(sub: str = "E-1", *, ttl: int = 300, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": sub, "iat": now, "exp": now + ttl, **extra}


def hs256(sub: str = "E-1", **extra: Any) -> str:
    """A valid token for the default test settings (HS256 with the test secret)."""
    return make_jwt(claims(sub, **extra), key=TEST_JWT_SECRET)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def public_pem(private_key: Any) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def to_jwk(private_key: Any, kid: str, alg: str | None = None) -> dict[str, Any]:
    numbers = private_key.public_key().public_numbers()
    if isinstance(private_key, rsa.RSAPrivateKey):
        jwk = {
            "kty": "RSA",
            "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        }
    else:
        size = (private_key.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384"}[private_key.curve.name]
        jwk = {
            "kty": "EC",
            "crv": crv,
            "x": b64url(numbers.x.to_bytes(size, "big")),
            "y": b64url(numbers.y.to_bytes(size, "big")),
        }
    jwk.update({"kid": kid, "use": "sig"})
    if alg:
        jwk["alg"] = alg
    return jwk


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="session")
def other_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
async def employee(db) -> Callable[..., Awaitable[Employee]]:
    """Insert an employee; keyword arguments override the defaults."""

    async def _add(external_id: str = "E-1", **fields: Any) -> Employee:
        row = Employee(
            external_id=external_id,
            email=fields.pop("email", f"{external_id.lower()}@example.com"),
            display_name=fields.pop("display_name", f"Employee {external_id}"),
            **fields,
        )
        async with db() as s, s.begin():
            s.add(row)
        return row

    return _add


@pytest.fixture
async def client_with(
    settings: Settings,
) -> AsyncIterator[Callable[..., Awaitable[httpx.AsyncClient]]]:
    """A client (no credential) for an app whose settings differ from the defaults.

    The app shares the test database with `db`, so employees arranged there are visible.
    """
    cleanups: list[tuple[LifespanManager, httpx.AsyncClient]] = []

    async def _make(**overrides: Any) -> httpx.AsyncClient:
        custom = Settings(**{**settings.model_dump(), **overrides})
        manager = LifespanManager(create_app(custom))
        await manager.__aenter__()
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        client = httpx.AsyncClient(transport=transport, base_url="http://test")
        cleanups.append((manager, client))
        return client

    yield _make
    for manager, client in reversed(cleanups):
        await client.aclose()
        await manager.__aexit__(None, None, None)


FULL_PROFILE = {
    "email": "ana.garcia@example.com",
    "display_name": "Ana García",
    "given_name": "Ana",
    "family_name": "García",
    "department": "Retail",
    "division": "Americas",
    "location": "Monterrey",
    "country": "MX",
    "job_title": "Store lead",
    "job_level": 4,
    "manager_external_id": "E-0001",
    "employment_type": "full_time",
    "customer_facing": True,
    "hire_date": date(2021, 3, 15),
    "locale": "es-MX",
    "attributes": {"store": "MTY-03", "tenure_band": 2, "union": False},
}
