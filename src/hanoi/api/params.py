"""Parameter types shared by every route, so the OpenAPI document says exactly what a route
takes (a fuzzer holds the API to it: tests/fuzz.py).

Integers are bounded to what the database holds (``hanoi.core.bounds``), so a too-large one is a
422 naming the parameter, never an overflow in the driver (a 500); a test walks the OpenAPI
document and holds every integer parameter of every route to these bounds. Enumerations, times,
durations and member ids are documented from the same constants the services check them with."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Query
from pydantic import Field

from hanoi.core.bounds import BIGINT_MAX, BIGINT_MIN
from hanoi.core.clock import DURATION_PATTERN
from hanoi.core.members import MEMBER_ID

RowId = Annotated[int, Field(ge=1, le=BIGINT_MAX, description="A row id (1 to 2^63-1)")]
"""The id of a stored row (a hash, a report, a match)."""

Cursor = Annotated[int, Field(ge=BIGINT_MIN, le=BIGINT_MAX, description="A position to read after "
                              "(-2^63 to 2^63-1)")]
"""A position to read after (a ledger sequence number). Any 64-bit number: an entry someone
inserted below 1 must stay readable, page after page."""

Count = Annotated[int, Field(ge=1, le=BIGINT_MAX, description="How many (1 to 2^63-1)")]
"""A number of items asked for whose own ceiling the service applies (e.g. TAXII ``limit``)."""


def one_of(values: Iterable[str], description: str, default: Any = None) -> Any:
    """A query parameter taking one of ``values``: documented as that enumeration and held to
    it here (an empty or other text is a 422 naming the parameter, not "no filter")."""
    names = list(values)
    return Query(default, description=description, pattern="^(?:" + "|".join(map(re.escape, names)) + ")$",
                 json_schema_extra={"enum": names})


RFC3339 = (r"^(000[2-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
           r"-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
           r"(\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")
"""An RFC 3339 date-time as the API takes times: years 0002-9998 (any offset then stays within
what ``parse_time`` holds in UTC) and no leap second."""


def since(description: str = "Only what was reported since this RFC 3339 time") -> Any:
    """A time to read from: an RFC 3339 date-time (an empty or other text is a 422)."""
    return Query(None, description=description, pattern=RFC3339, json_schema_extra={"format": "date-time"})


def duration(default: str, description: str) -> Any:
    """A duration such as ``7d``: exactly ``DURATION_PATTERN``, which ``parse_duration`` accepts."""
    return Query(default, description=description, pattern=DURATION_PATTERN)


def member_id(description: str) -> Any:
    """A member id (``MEMBER_ID``: what a member may be called), optional."""
    return Query(None, description=description, pattern=MEMBER_ID.pattern)
