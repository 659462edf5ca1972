"""Progress reports from long loops, for whoever shows them (the CLI's progress bars).

A job reports ``(done, total)`` through a callback; the callback is optional everywhere, so a
job run by the API or a test reports nothing and pays nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

ProgressCallback = Callable[[int, int], None]
T = TypeVar("T")

EVERY = 10_000  # items between two reports: a report is cheap, not free


def counted(items: Iterable[T], total: int, report: ProgressCallback, every: int = EVERY) -> Iterator[T]:
    """``items`` unchanged, calling ``report(done, total)`` every ``every`` items and at the end."""
    done = 0
    for done, item in enumerate(items, start=1):
        yield item
        if done % every == 0:
            report(done, total)
    report(done, total)
