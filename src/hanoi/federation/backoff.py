"""Retry delays for the outbox delivery worker: exponential backoff with full jitter.

After the n-th failed attempt the worker waits a uniformly random time in
``[0, min(cap, base * 2**(n-1)))`` ("full jitter", as in AWS's backoff analysis), so many
nodes retrying against one recovering peer spread out instead of arriving together. Pure: the
random source is an argument.
"""

from __future__ import annotations

import math
from typing import Protocol

from hanoi.core.errors import invalid

# 2**62 times any sane base already exceeds any cap; stop doubling there to avoid overflow.
_MAX_DOUBLINGS = 62


class RandomSource(Protocol):
    """Anything with ``random() -> float`` in ``[0, 1)``, e.g. ``random.Random``."""

    def random(self) -> float: ...


def backoff_ceiling(attempt: int, base: float, cap: float) -> float:
    """The upper bound of the delay after failed attempt number ``attempt`` (1-based)."""
    if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
        raise invalid("attempt", "must be an integer >= 1 (the number of failed attempts)")
    if not (math.isfinite(base) and base > 0):
        raise invalid("base", "must be a positive number of seconds")
    if not (math.isfinite(cap) and cap >= base):
        raise invalid("cap", "must be a number of seconds no smaller than base")
    return min(cap, base * float(2 ** min(attempt - 1, _MAX_DOUBLINGS)))


def next_attempt_delay(attempt: int, base: float, cap: float, rng: RandomSource) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1 after the first failure): uniform
    in ``[0, min(cap, base * 2**(attempt-1)))``."""
    return rng.random() * backoff_ceiling(attempt, base, cap)
