"""A real OpenID Connect provider for the SSO tests: node-oidc-provider on Node.js.

`oidc_provider_dir()` installs the pinned package (tests/me/oidc_provider/package-lock.json) with
`npm ci` into a cache folder once per lock file — `$BRANDCAST_TEST_CACHE`, else
`~/.cache/brandcast-tests` — and `Idp` runs `provider.mjs` from there on a free loopback port.
Without Node.js or npm, or when the install fails, the tests fail: they never skip.
"""

import base64
import hashlib
import ipaddress
import json
import os
import select
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

SOURCE = Path(__file__).parent / "oidc_provider"
INSTALL_FILES = ("package.json", "package-lock.json")
START_TIMEOUT = 20.0
INSTALL_TIMEOUT = 300


def _b64url_int(value: int, size: int | None = None) -> str:
    data = value.to_bytes(size or (value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def private_jwk(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    """The private JWK the provider signs with (RS256 for RSA, ES256 for P-256)."""
    if isinstance(key, rsa.RSAPrivateKey):
        n = key.private_numbers()
        return {
            "kty": "RSA",
            "kid": kid,
            "alg": "RS256",
            "use": "sig",
            "n": _b64url_int(n.public_numbers.n),
            "e": _b64url_int(n.public_numbers.e),
            "d": _b64url_int(n.d),
            "p": _b64url_int(n.p),
            "q": _b64url_int(n.q),
            "dp": _b64url_int(n.dmp1),
            "dq": _b64url_int(n.dmq1),
            "qi": _b64url_int(n.iqmp),
        }
    numbers = key.private_numbers()
    return {
        "kty": "EC",
        "kid": kid,
        "alg": "ES256",
        "use": "sig",
        "crv": "P-256",
        "x": _b64url_int(numbers.public_numbers.x, 32),
        "y": _b64url_int(numbers.public_numbers.y, 32),
        "d": _b64url_int(numbers.private_value, 32),
    }


def new_keys(suffix: str) -> list[dict[str, Any]]:
    """A fresh RSA and EC signing key, with kids `rsa-<suffix>` and `ec-<suffix>`."""
    return [
        private_jwk(
            rsa.generate_private_key(public_exponent=65537, key_size=2048), f"rsa-{suffix}"
        ),
        private_jwk(ec.generate_private_key(ec.SECP256R1()), f"ec-{suffix}"),
    ]


def private_ca(folder: Path) -> tuple[Path, Path, Path]:
    """A private CA (its PEM, as a company's IdP would have) and a server certificate it signed
    for 127.0.0.1: (ca.pem, server.pem, server.key)."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Brandcast test IdP CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = (folder / "ca.pem", folder / "server.pem", folder / "server.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def _cache_root() -> Path:
    configured = os.environ.get("BRANDCAST_TEST_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "brandcast-tests"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"the SSO tests run a real OpenID Connect provider and need `{name}` on PATH")
    return found


def oidc_provider_dir() -> Path:
    """A folder holding provider.mjs and its installed node_modules (installed on first use)."""
    _tool("node")
    digest = hashlib.sha256(b"".join((SOURCE / f).read_bytes() for f in INSTALL_FILES))
    target = _cache_root() / f"oidc-provider-{digest.hexdigest()[:16]}"
    if not (target / "node_modules" / "oidc-provider" / "package.json").is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".installing-"))
        for name in INSTALL_FILES:
            shutil.copyfile(SOURCE / name, staging / name)
        try:
            done = subprocess.run(
                [_tool("npm"), "ci", "--no-audit", "--no-fund", "--prefix", str(staging)],
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            shutil.rmtree(staging, ignore_errors=True)
            pytest.fail(f"`npm ci` of the OpenID Connect provider took over {INSTALL_TIMEOUT} s")
        if done.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            pytest.fail(f"`npm ci` of the OpenID Connect provider failed:\n{done.stderr[-3000:]}")
        try:
            staging.rename(target)
        except OSError:  # another run installed it meanwhile
            shutil.rmtree(staging, ignore_errors=True)
    # the script is small and may change without the lock file: refresh it every time
    fd, temporary = tempfile.mkstemp(dir=target, suffix=".mjs")
    os.close(fd)
    shutil.copyfile(SOURCE / "provider.mjs", temporary)
    os.replace(temporary, target / "provider.mjs")
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Client:
    client_id: str
    alg: str = "RS256"
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def secret(self) -> str:
        return f"secret-of-{self.client_id}"


class Idp:
    """One node-oidc-provider process; `restart(keys=...)` serves the same issuer with new keys."""

    def __init__(
        self,
        root: Path,
        workdir: Path,
        *,
        clients: list[Client],
        resources: dict[str, int],
        keys: list[dict[str, Any]] | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.root = root
        self.workdir = workdir
        self.clients = {c.client_id: c for c in clients}
        self.resources = resources
        self.keys = keys or new_keys("1")
        self.tls = tls
        self.port = free_port()
        self.issuer = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.log = workdir / f"idp-{self.port}.log"
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> "Idp":
        config: dict[str, Any] = {
            "port": self.port,
            "host": "127.0.0.1",
            "scheme": "https" if self.tls else "http",
            "keys": self.keys,
            "clients": [
                {
                    "client_id": c.client_id,
                    "client_secret": c.secret,
                    "alg": c.alg,
                    "claims": c.claims,
                }
                for c in self.clients.values()
            ],
            "resources": {uri: {"ttl": ttl} for uri, ttl in self.resources.items()},
        }
        if self.tls:
            config["tls"] = {"cert": str(self.tls[0]), "key": str(self.tls[1])}
        path = self.workdir / f"idp-{self.port}.json"
        path.write_text(json.dumps(config))
        env = {"PATH": os.environ.get("PATH", ""), "OIDC_TEST_CONFIG": str(path)}
        with self.log.open("a") as log:
            self._process = subprocess.Popen(
                [_tool("node"), str(self.root / "provider.mjs")],
                cwd=self.root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], START_TIMEOUT)
        line = self._process.stdout.readline() if ready else ""
        if not line.startswith("{"):
            self.stop()
            pytest.fail(f"the OpenID Connect provider did not start:\n{self.log.read_text()}")
        assert json.loads(line)["issuer"] == self.issuer
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()

    def restart(self, *, keys: list[dict[str, Any]]) -> None:
        """Stop, then serve the same issuer on the same port with these signing keys only."""
        self.stop()
        self.keys = keys
        self.start()

    def jwks_downloads(self) -> int:
        return self.log.read_text().count("served /jwks")

    async def token(self, client_id: str, resource: str, *, verify: Any = True) -> str:
        """A JWT access token from the token endpoint (client_credentials + resource)."""
        client = self.clients[client_id]
        async with httpx.AsyncClient(verify=verify, timeout=10) as http:
            r = await http.post(
                f"{self.issuer}/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": client.client_id,
                    "client_secret": client.secret,
                    "resource": resource,
                    "scope": "feed",
                },
            )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["token_type"] == "Bearer"
        return str(body["access_token"])

    async def public_jwks(self, *, verify: Any = True) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(verify=verify, timeout=10) as http:
            r = await http.get(f"{self.issuer}/jwks")
        assert r.status_code == 200, r.text
        return list(r.json()["keys"])
