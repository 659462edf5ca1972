"""Time in one place: aware UTC datetimes and their RFC 3339 text form."""

from __future__ import annotations

from datetime import UTC, datetime

DURATION_PATTERN = r"^(?:[1-9][0-9]{0,7}m|[1-9][0-9]{0,5}h|[1-9][0-9]{0,4}d|[1-9][0-9]{0,3}w)$"
"""A duration as people write one (``30m``, ``12h``, ``7d``, ``2w``): a whole number of minutes,
hours, days or weeks, at most about two centuries (so adding it to now stays a date), without
leading zeros. The API documents exactly this pattern; the services accept exactly it."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat(t: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a ``Z``: sortable as text, stable in hashes."""
    if t.tzinfo is None:
        raise ValueError("naive datetime")
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 / ISO 8601 time; a time without zone is taken as UTC. ``ValueError``
    for anything else, a time outside the years UTC can hold included."""
    t = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    try:
        return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+05:00 is before the first UTC moment there is
        raise ValueError(f"{text!r} lies outside the years 1-9999 in UTC") from None
