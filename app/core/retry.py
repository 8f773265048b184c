"""Retry timing shared by the jobs that send things out (webhooks, e-mails, chat posts)."""

import random
from collections.abc import Callable


def backoff(
    attempt: int,
    *,
    base_seconds: float,
    max_delay_seconds: float,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds before the next try after `attempt` failures: exponential, capped, with jitter
    (between half and all of it) so that many failed sends do not retry in step."""
    ceiling = min(max_delay_seconds, base_seconds * 2.0 ** max(0, attempt - 1))
    return ceiling / 2 + rng() * ceiling / 2
