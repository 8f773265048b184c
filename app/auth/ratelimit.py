"""Per-credential rate limiting, per API token or employee.

Without `BRANDCAST_REDIS_URL`, an in-process token bucket: with N replicas (or uvicorn
workers) a credential can make up to N times the configured rate, which still stops one
runaway script or frontend loop from starving everyone else, with no shared store. With it,
one limit shared by every replica: a sliding-window counter in Redis (the `limits` library),
`rate_limit_per_minute` per credential and minute. A Redis that does not answer within
`REDIS_TIMEOUT` lets the request through (logged): the limiter must not take the API down.
"""

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

from limits import RateLimitItemPerMinute
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from app.core.config import Settings

logger = logging.getLogger("brandcast.ratelimit")
REDIS_TIMEOUT = 0.25  # seconds

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
        """The in-process limiter, or None when rate limiting is off."""
        if settings.rate_limit_per_minute <= 0:
            return None
        return cls(settings.rate_limit_per_minute, settings.rate_limit_burst)

    async def acquire(self, key: str) -> float | None:
        return self.hit(key)

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


class SharedRateLimiter:
    """One limit per credential across replicas, counted in Redis."""

    def __init__(self, redis_url: str, per_minute: int, *, timeout: float = REDIS_TIMEOUT):
        url = redis_url if redis_url.startswith("async+") else f"async+{redis_url}"
        self._storage = storage_from_string(url)
        self._strategy = SlidingWindowCounterRateLimiter(self._storage)
        self._item = RateLimitItemPerMinute(per_minute)
        self.timeout = timeout

    async def acquire(self, key: str) -> float | None:
        """Count one request for `key`: None if allowed, else the seconds to wait."""
        try:
            allowed = await asyncio.wait_for(self._strategy.hit(self._item, key), self.timeout)
            if allowed:
                return None
            stats = await asyncio.wait_for(
                self._strategy.get_window_stats(self._item, key), self.timeout
            )
        except Exception as exc:  # Redis down or slow: let the request through
            logger.warning("the shared rate limiter is unavailable: %s", exc.__class__.__name__)
            return None
        return max(0.0, stats.reset_time - time.time())


class Limiter(Protocol):
    async def acquire(self, key: str) -> float | None: ...


def limiter_from_settings(settings: Settings) -> Limiter | None:
    """The shared limiter when `BRANDCAST_REDIS_URL` is set, else the in-process one; None
    when rate limiting is off."""
    if settings.rate_limit_per_minute <= 0:
        return None
    if settings.redis_url:
        return SharedRateLimiter(settings.redis_url, settings.rate_limit_per_minute)
    return RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)


def retry_after_header(seconds: float) -> str:
    """`Retry-After` in whole seconds, never 0 (a client would retry at once)."""
    return str(max(1, math.ceil(seconds)))
