"""Signing deliveries: the headers a receiver checks with `brandcast.webhooks.verify_signature`."""

import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def delivery_headers(
    *, event_id: str, timestamp: int, body: bytes, secrets_: list[str]
) -> dict[str, str]:
    """The signed headers; one `v1=` per valid secret, the newest first."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "Brandcast-Webhooks/1",
        "Brandcast-Event-Id": event_id,
        "Brandcast-Timestamp": str(timestamp),
        "Brandcast-Signature": ",".join(f"v1={signature(s, timestamp, body)}" for s in secrets_),
    }
