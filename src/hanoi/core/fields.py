"""Small parsers for settings and records given as mappings (a policy file, a review, a
partner): each appends a ``Problem`` naming the field instead of raising, so a caller reports
every problem at once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hanoi.core.errors import InvalidInput, Problem


def text(data: Mapping[str, Any], key: str, where: str, problems: list[Problem],
          required: bool = True) -> str:
    v = data.get(key)
    if v is None and not required:
        return ""
    if not isinstance(v, str) or (required and not v.strip()):
        problems.append(Problem(f"{where}{key}", "must be a non-empty text"))
        return ""
    return v.strip()


def boolean(data: Mapping[str, Any], key: str, where: str, problems: list[Problem],
          default: bool = False) -> bool:
    v = data.get(key, default)
    if not isinstance(v, bool):
        problems.append(Problem(f"{where}{key}", "must be true or false"))
        return default
    return v


def text_list(data: Mapping[str, Any], key: str, where: str,
              problems: list[Problem]) -> tuple[str, ...]:
    v = data.get(key) or []
    if not isinstance(v, list | tuple) or not all(isinstance(x, str) and x.strip() for x in v):
        problems.append(Problem(f"{where}{key}", "must be a list of non-empty texts"))
        return ()
    return tuple(x.strip() for x in v)


def unknown_keys(data: Mapping[str, Any], known: Iterable[str], where: str,
             problems: list[Problem]) -> None:
    for k in sorted(set(data) - set(known), key=str):
        problems.append(Problem(f"{where}{k}", "is not a known setting"))


def raise_problems(problems: list[Problem], what: str) -> None:
    if problems:
        raise InvalidInput(f"{what} is not valid: " + "; ".join(str(p) for p in problems),
                           problems)
