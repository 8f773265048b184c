"""Employees signed in recently, per process: the feed is called on every intranet page view,
and verifying the same SSO token and looking its employee up on each of them was a tenth of the
feed's cost (bench/RESULTS.md).

An entry is kept for `signin_cache_seconds` (default 5) and never beyond the token's own
expiry, keyed by the whole token: only a token that was verified in full is ever found here.
So an employee deactivated by the HRIS (or a role taken away, which needs a new token anyway)
is refused at most that many seconds later, in every replica. 0 turns the cache off.
"""

import time
from collections import OrderedDict
from collections.abc import Callable

from app.auth.signin import SignIn

# ~1 KB an entry: a bounded memory however many employees sign in
MAX_ENTRIES = 20_000


class SignInCache:
    """Least recently used sign-ins, each until min(now + ttl, the token's `exp`)."""

    def __init__(
        self,
        ttl_seconds: float,
        *,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, SignIn]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> SignIn | None:
        if self.ttl <= 0:
            return None
        entry = self._entries.get(token)
        if entry is None:
            return None
        until, sign_in = entry
        if self._clock() >= until:
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        return sign_in

    def put(self, token: str, sign_in: SignIn) -> None:
        if self.ttl <= 0:
            return
        until = self._clock() + self.ttl
        if sign_in.expires_at is not None:
            until = min(until, sign_in.expires_at)
        self._entries[token] = (until, sign_in)
        self._entries.move_to_end(token)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
