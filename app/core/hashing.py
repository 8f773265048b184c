"""One canonical JSON hash, for everything that fingerprints a value."""

import hashlib
import json
from typing import Any


def canonical_sha256(value: Any) -> str:
    """SHA-256 (hex) of `value` as canonical JSON: sorted keys, no whitespace, UTF-8 text
    (not `\\u` escapes), so that anyone can recompute it from the same value."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
