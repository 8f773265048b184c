"""Per-credential rate limiting: an in-process token bucket per API token or employee.

The limit is per process: with N replicas (or uvicorn workers) behind a load balancer a
credential can make up to N times the configured rate. That is the intent: the limiter stops
one runaway script or frontend loop from starving everyone else, cheaply and without a shared
store; a hard global quota belongs to the gateway in front of the service.
"""

import math
import time
from collections.abc import Callable

from app.core.config import Settings

# Beyond this many live buckets the least recently used one is dropped (it starts over full),
# so a flood of distinct credentials cannot grow memory without bound (~300 bytes a bucket).
MAX_BUCKETS = 50_000


class RateLimiter:
    """Token buckets keyed by credential: `rate` tokens a second, at most `burst` saved up.

    Buckets live in a dict kept in least-recently-used order; an idle bucket refills to full,
    which is the same as having none, so idle ones are dropped from the front as calls go by.
    """

    __slots__ = ("_buckets", "_clock", "_idle_after", "burst", "max_buckets", "rate")

    def __init__(
        self,
        per_minute: int,
        burst: int,
        *,
        max_buckets: int = MAX_BUCKETS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0 or burst <= 0:
            raise ValueError("per_minute and burst must be positive")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_buckets = max_buckets
        self._clock = clock
        self._idle_after = self.burst / self.rate  # time for an empty bucket to refill
        # key -> (tokens left, time of last update)
        self._buckets: dict[str, tuple[float, float]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> "RateLimiter | None":
        """The configured limiter, or None when rate limiting is off."""
        if settings.rate_limit_per_minute <= 0:
            return None
        return cls(settings.rate_limit_per_minute, settings.rate_limit_burst)

    def hit(self, key: str) -> float | None:
        """Take one token for `key`: None if allowed, else the seconds until one is free."""
        now = self._clock()
        buckets = self._buckets
        entry = buckets.pop(key, None)
        if entry is None:
            tokens = self.burst
        else:
            tokens = min(self.burst, entry[0] + (now - entry[1]) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        buckets[key] = (tokens, now)  # re-inserted: the dict stays in LRU order
        self._evict(now)
        return None if allowed else (1.0 - tokens) / self.rate

    def _evict(self, now: float) -> None:
        buckets = self._buckets
        horizon = now - self._idle_after
        while buckets:
            oldest = next(iter(buckets))
            if buckets[oldest][1] > horizon and len(buckets) <= self.max_buckets:
                return
            del buckets[oldest]

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after_header(seconds: float) -> str:
    """`Retry-After` in whole seconds, never 0 (a client would retry at once)."""
    return str(max(1, math.ceil(seconds)))
