"""Outbox retry delays: exponential growth, a cap, and full jitter."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanoi.core.errors import InvalidInput
from hanoi.federation.backoff import backoff_ceiling, next_attempt_delay


class Fixed:
    """A random source that always returns the same number."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def test_ceiling_doubles_from_base_until_the_cap() -> None:
    assert [backoff_ceiling(n, 1.0, 60.0) for n in range(1, 9)] == [
        1.0,
        2.0,
        4.0,
        8.0,
        16.0,
        32.0,
        60.0,
        60.0,
    ]


def test_delay_spans_zero_to_the_ceiling() -> None:
    assert next_attempt_delay(3, 2.0, 100.0, Fixed(0.0)) == 0.0
    assert next_attempt_delay(3, 2.0, 100.0, Fixed(0.5)) == 4.0
    assert next_attempt_delay(3, 2.0, 100.0, Fixed(0.999)) == pytest.approx(7.992)


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert backoff_ceiling(10_000, 0.5, 3600.0) == 3600.0
    assert 0 <= next_attempt_delay(10**9, 0.5, 3600.0, random.Random(1)) < 3600.0


def test_jitter_spreads_retries_apart() -> None:
    rng = random.Random(7)
    delays = [next_attempt_delay(6, 1.0, 300.0, rng) for _ in range(200)]
    assert all(0 <= d < 32.0 for d in delays)
    assert len(set(delays)) == 200
    # Full jitter: both halves of the range are used, not a narrow band near the ceiling.
    assert min(delays) < 8.0 and max(delays) > 24.0


@given(
    attempt=st.integers(1, 200),
    base=st.floats(0.001, 100.0),
    extra=st.floats(0.0, 10_000.0),
    seed=st.integers(0, 2**32),
)
def test_delay_is_always_within_bounds(attempt: int, base: float, extra: float, seed: int) -> None:
    cap = base + extra
    ceiling = backoff_ceiling(attempt, base, cap)
    assert min(base, cap) <= ceiling <= cap
    assert ceiling == min(cap, base * 2 ** (attempt - 1))
    delay = next_attempt_delay(attempt, base, cap, random.Random(seed))
    assert 0.0 <= delay <= ceiling


@pytest.mark.parametrize(
    ("attempt", "base", "cap", "field"),
    [
        (0, 1.0, 10.0, "attempt"),
        (-1, 1.0, 10.0, "attempt"),
        (True, 1.0, 10.0, "attempt"),
        (1, 0.0, 10.0, "base"),
        (1, float("nan"), 10.0, "base"),
        (1, 5.0, 1.0, "cap"),
        (1, 1.0, float("inf"), "cap"),
    ],
)
def test_invalid_parameters(attempt: int, base: float, cap: float, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        next_attempt_delay(attempt, base, cap, random.Random(0))
    assert exc.value.problems[0].field == field
