"""Verify Brandcast webhooks: Standard Webhooks, with the standard library only.

Brandcast signs as the Standard Webhooks specification says, so the stock library of your
language verifies its deliveries (`pip install standardwebhooks`, `npm install
standardwebhooks`, or `svix`): `Webhook(secret).verify(raw_body, headers)`. This module does
the same check without a dependency, for receivers that would rather copy a few lines:

- `webhook-id`: the event id; deliveries are at least once, so de-duplicate on it.
- `webhook-timestamp`: Unix seconds when this attempt was signed.
- `webhook-signature`: `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<raw body>")>`, where the
  key is the base64-decoded part of the secret after `whsec_`; while a rotated-out secret is
  still valid (24 hours) there are two, space-separated, the newest first.

Verify over the raw request body, before parsing the JSON.

A secret from before Brandcast followed the specification (`whsec_` + 43 URL-safe characters)
works here as it is: its key was, and still is, the UTF-8 bytes of the whole string.
`standard_secret(old)` gives the form that stock libraries take for it.
"""

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

__all__ = ["sign", "signing_key", "standard_secret", "verify_signature"]

PREFIX = "whsec_"


def signing_key(secret: str) -> bytes:
    """The HMAC key: the base64 after `whsec_`; for a pre-specification secret (not base64
    after `whsec_`) the UTF-8 bytes of the whole string, as it always was."""
    if secret.startswith(PREFIX):
        try:
            key = base64.b64decode(secret[len(PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if key:
            return key
    return secret.encode()


def standard_secret(secret: str) -> str:
    """`secret` in the form Standard Webhooks libraries take (unchanged if it already is)."""
    return PREFIX + base64.b64encode(signing_key(secret)).decode()


def sign(secret: str, msg_id: str, timestamp: int | str, body: bytes | str) -> str:
    """`v1,<base64 HMAC-SHA256 of "<msg_id>.<timestamp>.<body>">` under `secret`'s key."""
    raw = body.encode() if isinstance(body, str) else body
    content = f"{msg_id}.{timestamp}.".encode() + raw
    digest = hmac.new(signing_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_signature(
    secret: str,
    body: bytes | str,
    headers: Mapping[str, str],
    *,
    tolerance_seconds: int = 300,
    now: float | None = None,
) -> bool:
    """True when one `v1` signature in `webhook-signature` matches and `webhook-timestamp` is
    recent. `headers` is the request's headers (any case).

    `tolerance_seconds` bounds the clock difference (and so how long a captured request can
    be replayed); 0 turns the age check off.
    """
    h = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, header = (
        h.get("webhook-id"),
        h.get("webhook-timestamp"),
        h.get("webhook-signature"),
    )
    if not (msg_id and stamp and header):
        return False
    try:
        ts = int(stamp.strip())
    except ValueError:
        return False
    current = time.time() if now is None else now
    if tolerance_seconds and abs(current - ts) > tolerance_seconds:
        return False
    expected = sign(secret, msg_id, ts, body).encode()
    matched = False
    for candidate in header.split(" "):
        version, _, value = candidate.partition(",")
        # compare every candidate, so timing does not tell which one matched
        if version == "v1" and hmac.compare_digest(f"v1,{value}".encode(), expected):
            matched = True
    return matched
