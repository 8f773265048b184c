"""Signing deliveries as the Standard Webhooks specification says.

- Secrets are `whsec_` + base64 of 32 random bytes; the HMAC key is those bytes.
- Every delivery carries `webhook-id` (the event id: the same on every retry and redelivery),
  `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`: `v1,<base64
  HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, one per valid secret, space-separated, the
  newest first. Stock receiver libraries (`standardwebhooks`, `svix`) verify them.

Subscriptions from before the switch (migration 0012) had secrets whose HMAC key was the UTF-8
bytes of the whole string; their secret was re-encoded so that the spec key is those same
bytes, and while such a converted ("legacy") secret signs, deliveries also carry the old
`Brandcast-*` headers, so receivers that still verify the old way keep working.
"""

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the specification asks for at least 24


@dataclass(frozen=True)
class SigningSecret:
    secret: str
    legacy: bool = False  # converted from the old scheme: also sign the old headers with it


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret: its base64 part, decoded strictly."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the part after whsec_ is not base64") from exc
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def is_standard_secret(secret: str) -> bool:
    try:
        secret_key(secret)
    except ValueError:
        return False
    return True


def from_legacy(old: str) -> str:
    """The Standard Webhooks form of a pre-0012 secret: the same HMAC key (the old string's
    UTF-8 bytes), base64-encoded after `whsec_`."""
    return SECRET_PREFIX + base64.b64encode(old.encode()).decode()


def to_legacy(secret: str) -> str:
    """The pre-0012 string a converted secret came from (for the migration's downgrade)."""
    return secret_key(secret).decode()


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def legacy_signature(key: bytes, timestamp: int, body: bytes) -> str:
    """The pre-0012 scheme: hex HMAC-SHA256 of `"<timestamp>.<body>"`."""
    return "v1=" + hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def delivery_headers(
    *, event_id: str, timestamp: int, body: bytes, secrets_: list[SigningSecret]
) -> dict[str, str]:
    """The signed headers; one signature per valid secret, the newest first."""
    keys = [(secret_key(s.secret), s.legacy) for s in secrets_]
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Brandcast-Webhooks/1",
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(k, event_id, timestamp, body) for k, _ in keys),
    }
    legacy = [k for k, is_legacy in keys if is_legacy]
    if legacy:
        headers["Brandcast-Event-Id"] = event_id
        headers["Brandcast-Timestamp"] = str(timestamp)
        headers["Brandcast-Signature"] = ",".join(
            legacy_signature(k, timestamp, body) for k in legacy
        )
    return headers
