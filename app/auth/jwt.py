"""Employee SSO tokens: every JWT check lives here, so python-jose can be swapped in one place.

A token is checked before the library sees it (size, header, `crit`, algorithm allow-list), the
key is chosen here by algorithm family and `kid` (an HMAC secret only for HS*, a public key only
for RS*/ES*), and the library then verifies signature and claims with explicit algorithms and
issuer; the audience (one of several) is checked here. Key objects are built once and reused:
this runs on every feed request.

Public keys come from a PEM, a JWKS URL, or the JWKS the issuer's OpenID Connect discovery
document names (`<issuer>/.well-known/openid-configuration`), fetched over the usual trust
store plus `BRANDCAST_JWT_CA_BUNDLE`.
"""

import asyncio
import binascii
import json
import logging
import ssl
import time
from base64 import urlsafe_b64decode
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from time import monotonic
from typing import Any
from urllib.parse import unquote, urlparse

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jose import jwk
from jose import jwt as jose_jwt
from jose.backends.base import Key
from jose.exceptions import ExpiredSignatureError, JOSEError, JWTClaimsError

from app.core.config import HMAC_JWT_ALGORITHMS, Settings, check_fetch_url
from app.core.errors import ServiceUnavailable, Unauthorized

logger = logging.getLogger("brandcast.jwt")

MAX_TOKEN_LENGTH = 8 * 1024
JWKS_MAX_AGE = 600.0  # keys removed from the JWKS stop verifying within this time
JWKS_TIMEOUT = httpx.Timeout(3.0)
JWKS_MAX_BYTES = 1024 * 1024

# Which JWK key type (and EC curve) each public-key algorithm needs.
_KEY_TYPE = {
    "RS256": "RSA",
    "RS384": "RSA",
    "RS512": "RSA",
    "ES256": "EC",
    "ES384": "EC",
    "ES512": "EC",
}
_CURVE = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_CURVE_OF = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


class JWTConfigError(ValueError):
    """The configured key material cannot be used (unreadable, wrong type)."""


def _b64_json(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(urlsafe_b64decode(padded.encode("ascii")))


def read_header(token: str) -> dict[str, Any]:
    """The token's protected header, checked for size and shape but not trusted."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise Unauthorized("The token is too large.")
    parts = token.split(".")
    # an empty signature is left to the algorithm check, which names the real problem (`none`)
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise Unauthorized("The token is not a signed JWT.")
    try:
        header = _b64_json(parts[0])
    except (ValueError, UnicodeError, binascii.Error):
        raise Unauthorized("The token's header cannot be read.") from None
    if not isinstance(header, dict):
        raise Unauthorized("The token's header cannot be read.")
    return header


def _claims_unverified(token: str) -> dict[str, Any]:
    try:
        claims = _b64_json(token.split(".")[1])
    except (ValueError, UnicodeError, binascii.Error, IndexError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _load_public_key(value: str) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """PEM text (public key or certificate) or a path to a file holding it."""
    try:
        data = (
            value.encode() if value.lstrip().startswith("-----BEGIN") else Path(value).read_bytes()
        )
    except OSError as exc:
        raise JWTConfigError(f"BRANDCAST_JWT_PUBLIC_KEY: cannot read {value!r}") from exc
    key: object
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            key = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = load_pem_public_key(data)
    except ValueError as exc:
        raise JWTConfigError("BRANDCAST_JWT_PUBLIC_KEY is not a PEM public key") from exc
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise JWTConfigError("BRANDCAST_JWT_PUBLIC_KEY must be an RSA or EC public key")
    return key


def _fits(alg: str, key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> bool:
    if _KEY_TYPE[alg] == "RSA":
        return isinstance(key, rsa.RSAPublicKey)
    return (
        isinstance(key, ec.EllipticCurvePublicKey) and _CURVE_OF.get(key.curve.name) == _CURVE[alg]
    )


def trust_store(ca_bundle: str | None) -> ssl.SSLContext:
    """What httpx trusts by default (certifi, or `SSL_CERT_FILE`/`SSL_CERT_DIR`), plus the CA
    certificates in `ca_bundle`: a private IdP's CA is added, nothing is replaced."""
    context = httpx.create_ssl_context()
    if ca_bundle:
        try:
            context.load_verify_locations(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise JWTConfigError(f"BRANDCAST_JWT_CA_BUNDLE: cannot load {ca_bundle!r}") from exc
    return context


class _JWKS:
    """A JWKS document, fetched lazily, kept for `JWKS_MAX_AGE`, refetched on an unknown `kid`
    at most once per `refetch_interval` seconds. With `discovery_url` (and no `url`) the JWKS
    URL is read from the issuer's discovery document, re-read with each full refresh and after
    a failed fetch."""

    def __init__(
        self,
        url: str | None,
        *,
        refetch_interval: float,
        discovery_url: str | None = None,
        issuer: str | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.url = url
        self.refetch_interval = refetch_interval
        self._discovery_url = discovery_url
        self._issuer = issuer
        self._verify = verify
        self._discovered = False  # `url` came from a discovery document still considered fresh
        self._jwks: dict[str | None, dict[str, Any]] = {}
        self._keys: dict[tuple[str | None, str], Key] = {}
        self._loaded_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()

    async def key_for(self, kid: Any, alg: str) -> Key:
        if kid is not None and not isinstance(kid, str):
            raise Unauthorized("The token's key id is not valid.")
        now = monotonic()
        if self._loaded_at is None or now - self._loaded_at >= JWKS_MAX_AGE:
            await self._refresh(full=True)
        found = self._find(kid)
        if found is None and await self._refresh(full=False):
            found = self._find(kid)
        if found is None:
            raise Unauthorized("The token's signing key is not known.")
        kid, entry = found
        cached = self._keys.get((kid, alg))
        if cached is None:
            cached = self._keys[(kid, alg)] = _jwk_key(entry, alg)
        return cached

    def _find(self, kid: str | None) -> tuple[str | None, dict[str, Any]] | None:
        if kid is None:
            # A token without `kid` is only unambiguous when the set holds a single key.
            return next(iter(self._jwks.items())) if len(self._jwks) == 1 else None
        entry = self._jwks.get(kid)
        return (kid, entry) if entry is not None else None

    async def _refresh(self, *, full: bool) -> bool:
        """Fetch the document unless one was tried recently; True when keys were replaced.

        `full` (the cached set is missing or too old) also re-reads the discovery document."""
        attempted = self._attempted_at
        async with self._lock:
            if self._attempted_at != attempted:
                return True  # another request refreshed while this one waited
            now = monotonic()
            if attempted is not None and now - attempted < self.refetch_interval:
                if self._loaded_at is None:
                    raise ServiceUnavailable("Employee sign-in keys are not available yet.")
                return False
            self._attempted_at = now
            source = self.url
            try:
                if self._discovery_url is not None and (full or not self._discovered):
                    source = self._discovery_url
                    self.url = await self._discover()
                    self._discovered = True
                source = self.url
                assert source is not None
                jwks = _parse_jwks(await self._fetch(source))
            except (OSError, httpx.HTTPError, ValueError) as exc:
                self._discovered = False  # the JWKS may have moved: ask the issuer again
                logger.warning("JWKS fetch from %s failed: %s", source, exc)
                if self._loaded_at is None:
                    raise ServiceUnavailable(
                        "Employee sign-in keys cannot be fetched; try again shortly."
                    ) from None
                return False  # keep serving with the keys we have
            self._jwks, self._keys, self._loaded_at = jwks, {}, now
            return True

    async def _discover(self) -> str:
        """The `jwks_uri` of the issuer's discovery document (OpenID Connect Discovery 1.0)."""
        assert self._discovery_url is not None
        try:
            document = json.loads(await self._fetch(self._discovery_url))
        except ValueError:
            raise ValueError(f"{self._discovery_url} is not a JSON document") from None
        if not isinstance(document, dict):
            raise ValueError(f"{self._discovery_url} is not a discovery document")
        if document.get("issuer") != self._issuer:
            # §4.3: the document must name the very issuer it was asked for
            raise ValueError(
                f"the discovery document names the issuer {document.get('issuer')!r}, "
                f"not BRANDCAST_JWT_ISSUER {self._issuer!r}"
            )
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise ValueError("the discovery document has no jwks_uri")
        check_fetch_url("the discovered jwks_uri", jwks_uri)
        return jwks_uri

    async def _fetch(self, url: str) -> bytes:
        if url.startswith("file://"):
            path = Path(unquote(urlparse(url).path))
            return await asyncio.to_thread(path.read_bytes)
        async with httpx.AsyncClient(
            timeout=JWKS_TIMEOUT, follow_redirects=False, verify=self._verify
        ) as client:
            response = await client.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            if len(response.content) > JWKS_MAX_BYTES:
                raise ValueError("document too large")
            return response.content


def _parse_jwks(raw: bytes) -> dict[str | None, dict[str, Any]]:
    document = json.loads(raw)
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document")
    keys: dict[str | None, dict[str, Any]] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("kty") not in ("RSA", "EC"):
            continue  # symmetric keys never come from a JWKS here
        kid = entry.get("kid")
        keys[kid if isinstance(kid, str) else None] = entry
    return keys


def _jwk_key(entry: Mapping[str, Any], alg: str) -> Key:
    if entry.get("kty") != _KEY_TYPE[alg] or entry.get("alg", alg) != alg:
        raise Unauthorized("The token's algorithm does not match its signing key.")
    if _KEY_TYPE[alg] == "EC" and entry.get("crv") != _CURVE[alg]:
        raise Unauthorized("The token's algorithm does not match its signing key.")
    try:
        return jwk.construct(dict(entry), alg)
    except JOSEError:
        raise Unauthorized("The token's signing key is not usable.") from None


class JWTVerifier:
    """Verifies employee tokens against one deployment's keys and rules."""

    def __init__(self, settings: Settings) -> None:
        allowed = settings.jwt_algorithm_list
        self.algorithms = frozenset(allowed)
        self.issuer = settings.jwt_issuer
        self.audiences = frozenset(settings.jwt_audience_list)
        self.options = {
            "require_exp": True,
            # checked here against every configured audience (python-jose takes only one, and
            # its `require_aud` turns its own check back on)
            "verify_aud": False,
            "require_iss": self.issuer is not None,
            # at_hash binds an ID token to an access token we never receive
            "verify_at_hash": False,
            "leeway": settings.jwt_leeway_seconds,
        }
        self._hmac: dict[str, Key] = {}
        self._pem: dict[str, Key] | None = None
        try:
            if settings.jwt_secret:
                for alg in self.algorithms & HMAC_JWT_ALGORITHMS:
                    self._hmac[alg] = jwk.construct(settings.jwt_secret, alg)
            if settings.jwt_public_key:
                public_key = _load_public_key(settings.jwt_public_key)
                self._pem = {
                    alg: jwk.construct(public_key, alg)
                    for alg in self.algorithms - HMAC_JWT_ALGORITHMS
                    if _fits(alg, public_key)
                }
        except JOSEError as exc:
            raise JWTConfigError(f"the configured JWT key cannot be used: {exc}") from exc
        self._jwks: _JWKS | None = None
        discovery_url = settings.jwt_discovery_url
        if settings.jwt_jwks_url or discovery_url:
            self._jwks = _JWKS(
                settings.jwt_jwks_url,
                refetch_interval=settings.jwt_jwks_refetch_seconds,
                discovery_url=discovery_url,
                issuer=settings.jwt_issuer,
                verify=trust_store(settings.jwt_ca_bundle),
            )

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims once signature, algorithm and time/issuer/audience claims check out."""
        header = read_header(token)
        if "crit" in header:
            raise Unauthorized("The token has critical header extensions; they are not supported.")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise Unauthorized("The token's signing algorithm is not allowed.")
        key = await self._key_for(alg, header.get("kid"))
        try:
            claims: dict[str, Any] = jose_jwt.decode(
                token, key, algorithms=[alg], options=self.options, issuer=self.issuer
            )
        except ExpiredSignatureError:
            raise Unauthorized("The token has expired.") from None
        except JOSEError as exc:
            # Say which check failed in our own words, never the library's.
            claims = _claims_unverified(token)
            problem = self._missing_claim(claims)
            if problem is None and isinstance(exc, JWTClaimsError):
                problem = self._claims_problem(claims)
            raise Unauthorized(problem or "The token's signature is not valid.") from None
        except (TypeError, ValueError, OverflowError):
            # the library lets odd claim types through (`"exp": [1]`, `"nbf": Infinity`)
            raise Unauthorized("The token's claims are not valid.") from None
        if self.audiences:
            if "aud" not in claims:
                raise Unauthorized("The token names no audience (`aud`).")
            if not self._meant_for_us(claims["aud"]):
                raise Unauthorized("The token is meant for another audience.")
        return claims

    def _meant_for_us(self, aud: Any) -> bool:
        """`aud` (one string or a list of them) names at least one configured audience."""
        if isinstance(aud, str):
            return aud in self.audiences
        return isinstance(aud, list) and any(
            isinstance(a, str) and a in self.audiences for a in aud
        )

    async def _key_for(self, alg: str, kid: Any) -> Key:
        if alg in HMAC_JWT_ALGORITHMS:
            key = self._hmac.get(alg)
        elif self._pem is not None:
            key = self._pem.get(alg)
            if key is None:
                raise Unauthorized("The token's algorithm does not match the configured key.")
        elif self._jwks is not None:
            key = await self._jwks.key_for(kid, alg)
        else:
            key = None
        if key is None:
            raise Unauthorized("Employee tokens signed this way are not accepted here.")
        return key

    def _missing_claim(self, claims: dict[str, Any]) -> str | None:
        if "exp" not in claims:
            return "The token has no expiry (`exp`)."
        if self.issuer is not None and "iss" not in claims:
            return "The token names no issuer (`iss`)."
        if self.audiences and "aud" not in claims:
            return "The token names no audience (`aud`)."
        return None

    def _claims_problem(self, claims: dict[str, Any]) -> str:
        now = time.time()
        leeway = self.options["leeway"]
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and nbf > now + leeway:
            return "The token is not valid yet."
        if self.issuer is not None and claims.get("iss") != self.issuer:
            return "The token was issued by an unexpected issuer."
        if self.audiences and not self._meant_for_us(claims.get("aud")):
            return "The token is meant for another audience."
        return "The token's claims are not valid."


def sign_hs256(settings: Settings, claims: dict[str, Any], *, ttl: timedelta) -> str:
    """Sign `claims` (plus `iat`, `exp`, and the configured `iss`/`aud`) with the HS256 secret."""
    if not settings.jwt_secret:
        raise JWTConfigError("no HS256 secret is configured (set BRANDCAST_JWT_SECRET)")
    now = int(time.time())
    payload = {**claims, "iat": now, "exp": now + int(ttl.total_seconds())}
    if settings.jwt_issuer:
        payload["iss"] = settings.jwt_issuer
    if settings.jwt_audience_list:
        payload["aud"] = settings.jwt_audience_list[0]
    token: str = jose_jwt.encode(payload, settings.jwt_secret, algorithm="HS256")
    return token


# words that mark a secret copied from a walkthrough, a test or a sample configuration
_DEVELOPMENT_WORDS = ("dev", "test", "example", "sample", "secret", "change", "walkthrough")


def describe_sso(settings: Settings) -> tuple[str, list[str]]:
    """How employee tokens are checked, in words for the start-up log, and warnings."""
    algorithms = ",".join(settings.jwt_algorithm_list)
    warnings: list[str] = []
    if settings.jwt_public_key:
        source = "a public key (BRANDCAST_JWT_PUBLIC_KEY)"
    elif settings.jwt_jwks_url:
        source = f"the JWKS at {settings.jwt_jwks_url}"
    elif settings.jwt_discovery_url:
        source = f"the issuer's discovery ({settings.jwt_discovery_url})"
    elif settings.jwt_secret and HMAC_JWT_ALGORITHMS & set(settings.jwt_algorithm_list):
        source = "a shared secret (BRANDCAST_JWT_SECRET)"
        lowered = settings.jwt_secret.lower()
        if any(word in lowered for word in _DEVELOPMENT_WORDS) or len(set(lowered)) < 16:
            warnings.append(
                "HS256 is on with what looks like a development secret: employee tokens can be "
                "forged by anyone who knows it; use a long random BRANDCAST_JWT_SECRET, or "
                "RS256/ES256 with your identity provider's keys"
            )
    else:
        return "off (no key configured: employee tokens are refused)", warnings
    return f"{algorithms} with {source}", warnings
