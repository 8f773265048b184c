"""Verify Brandcast webhook signatures (standard library only, so receivers can copy it).

Every delivery carries three headers:

- `Brandcast-Event-Id`: the event's id; deliveries are at least once, so de-duplicate on it.
- `Brandcast-Timestamp`: Unix seconds when this attempt was signed.
- `Brandcast-Signature`: `v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`; while a
  rotated-out secret is still valid (24 hours) there are two, comma-separated:
  `v1=<signed with the new secret>,v1=<signed with the old one>`.

Verify over the raw request body, before parsing the JSON.
"""

import hashlib
import hmac
import time

__all__ = ["sign", "verify_signature"]


def sign(secret: str, timestamp: int | str, body: bytes | str) -> str:
    """The hex HMAC-SHA256 of `"<timestamp>.<body>"` under `secret`."""
    raw = body.encode() if isinstance(body, str) else body
    message = str(timestamp).encode() + b"." + raw
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    timestamp: int | str,
    body: bytes | str,
    signature_header: str,
    tolerance_seconds: int = 300,
    *,
    now: float | None = None,
) -> bool:
    """True when one `v1=` signature in the header matches and the timestamp is recent.

    `tolerance_seconds` bounds the clock difference (and so how long a captured request can
    be replayed); 0 turns the age check off.
    """
    try:
        ts = int(str(timestamp).strip())
    except ValueError:
        return False
    current = time.time() if now is None else now
    if tolerance_seconds and abs(current - ts) > tolerance_seconds:
        return False
    expected = sign(secret, ts, body)
    matched = False
    for part in (signature_header or "").split(","):
        scheme, _, value = part.strip().partition("=")
        # compare every candidate, so timing does not tell which one matched
        if scheme == "v1" and hmac.compare_digest(value.strip(), expected):
            matched = True
    return matched
