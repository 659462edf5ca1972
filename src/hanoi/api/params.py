"""Integer parameter types shared by every route: a path or query integer is bounded to what
the database holds (``hanoi.core.bounds``), so a too-large one is a 422 naming the parameter,
never an overflow in the driver (a 500). A test walks the OpenAPI document and holds every
integer parameter of every route to these bounds."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from hanoi.core.bounds import BIGINT_MAX, BIGINT_MIN

RowId = Annotated[int, Field(ge=1, le=BIGINT_MAX, description="A row id (1 to 2^63-1)")]
"""The id of a stored row (a hash, a report, a match)."""

Cursor = Annotated[int, Field(ge=BIGINT_MIN, le=BIGINT_MAX, description="A position to read after "
                              "(-2^63 to 2^63-1)")]
"""A position to read after (a ledger sequence number). Any 64-bit number: an entry someone
inserted below 1 must stay readable, page after page."""

Count = Annotated[int, Field(ge=1, le=BIGINT_MAX, description="How many (1 to 2^63-1)")]
"""A number of items asked for whose own ceiling the service applies (e.g. TAXII ``limit``)."""
