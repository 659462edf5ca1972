"""How deeply a document nests, measured before anything recursive reads it.

Python's JSON and YAML readers, and much code after them (canonical JSON, the ledger, error
messages that quote a value), recurse once per level: a document of 100,000 nested arrays is a
RecursionError (a traceback on the CLI, a 500 on the API), and one of 900 levels passes the
reader only to break whatever recurses next. So every document from outside is measured first
and refused above ``MAX_DEPTH`` levels with ``InvalidInput`` naming the field and the depth.
No interchange document we read comes near it: a STIX bundle nests 5-8 levels, a MISP event
about 8, a request or an envelope fewer.

``json_depth`` measures JSON text without parsing it, in a few vectorised passes (numpy): about
half the time ``json.loads`` takes over the same bytes; ``check_json_depth`` skips even that
when the text holds fewer brackets than the limit. ``value_depth`` measures an already parsed value (YAML, or a body a
framework parsed), stopping as soon as it is too deep.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hanoi.core.errors import InvalidInput, invalid

MAX_DEPTH = 64
"""The deepest nesting of arrays and objects any document from outside may have."""

_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_QUOTE = ord('"')


def json_depth(data: bytes | bytearray | str) -> int:
    """The deepest nesting of arrays and objects in JSON text (0 for a scalar).

    Text that is not JSON gets a number too (brackets outside strings, counted); the reader
    refuses it afterwards. Escaped quotes and backslashes inside strings are taken out first,
    so the quotes left delimit strings and brackets inside strings do not count.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if len(raw) <= 4096:
        return _small_depth(raw)
    import numpy as np

    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = np.frombuffer(raw.translate(None, _NOT_STRUCTURE), dtype=np.uint8)
    # A bracket is outside every string when an even number of quotes precede it (uint8
    # cumulative sums wrap, which keeps their parity).
    outside = (np.cumsum(marks == _QUOTE, dtype=np.uint8) & 1) == 0
    step = np.zeros(256, dtype=np.int8)
    step[[ord("["), ord("{")]] = 1
    step[[ord("]"), ord("}")]] = -1
    steps = np.where(outside, step[marks], 0)
    if steps.size == 0:
        return 0
    wide = np.int32 if steps.size < 2**31 else np.int64
    return int(np.cumsum(steps, dtype=wide).max(initial=0))


def _small_depth(raw: bytes) -> int:
    # A short text: one loop costs less than setting up the vectorised passes.
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth -= 1
    return deepest


def check_json_depth(data: bytes | bytearray | str, field: str, max_depth: int = MAX_DEPTH) -> None:
    """``InvalidInput`` on ``field`` if the JSON text ``data`` nests deeper than ``max_depth``."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return  # fewer brackets than levels allowed: nothing to measure
    depth = json_depth(raw)
    if depth > max_depth:
        raise too_deep(field, depth, max_depth)


def value_depth(value: Any, stop_after: int = MAX_DEPTH) -> int:
    """The nesting depth of a parsed value (lists, tuples and mappings), without recursion;
    stops counting at ``stop_after + 1``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        level += 1
        if level > deepest:
            deepest = level
            if deepest > stop_after:
                return deepest
        stack.extend((child, level) for child in children
                     if isinstance(child, Mapping | list | tuple))
    return deepest


def check_value_depth(value: Any, field: str, max_depth: int = MAX_DEPTH) -> None:
    """``InvalidInput`` on ``field`` if a parsed value nests deeper than ``max_depth``."""
    depth = value_depth(value, max_depth)
    if depth > max_depth:
        raise invalid(field, f"nested more than {max_depth} levels deep; at most {max_depth} accepted")


def too_deep(field: str, depth: int, max_depth: int = MAX_DEPTH) -> InvalidInput:
    """The refusal of a document nested ``depth`` levels deep."""
    return invalid(field, f"nested {depth:,} levels deep; at most {max_depth} accepted")
