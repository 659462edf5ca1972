"""The integers a database column holds, named once for every surface.

SQLite's INTEGER and PostgreSQL's BIGINT are signed 64-bit: an id, cursor or count from outside
(a URL path, a query string, a JSON body, a paging token, a command-line argument) beyond that
range fails in the driver as an overflow, which a caller sees as a 500 or a traceback. Each
surface refuses it first as invalid input naming its field: the API through the parameter types
of ``hanoi.api.params``, the CLI through the same bounds on its options, the services with
``is_bigint`` for integers inside bodies.
"""

from __future__ import annotations

BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1


def is_bigint(value: object) -> bool:
    """True for an ``int`` (not a ``bool``) that a 64-bit integer column can hold."""
    return isinstance(value, int) and not isinstance(value, bool) and BIGINT_MIN <= value <= BIGINT_MAX
