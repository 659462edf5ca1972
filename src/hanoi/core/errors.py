"""Domain errors: what went wrong, in which field, and which rule refused it.

The API turns these into RFC 9457 problem+json and the CLI into one line per problem, so a
service raises one of these and never an HTTP or CLI error itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hanoi.core.citations import RULES


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem with one field: the message, and the rule (if a legal rule refused it)."""

    field: str
    message: str
    rule: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"field": self.field, "message": self.message}
        if self.rule:
            out["rule"] = self.rule
            out["citation"] = RULES[self.rule].citation
        return out

    def __str__(self) -> str:
        cite = f" [{self.rule}, {RULES[self.rule].citation}]" if self.rule else ""
        return f"{self.field}: {self.message}{cite}"


@dataclass
class HanoiError(Exception):
    """Base of every error a user can cause. ``status`` is the HTTP status it maps to."""

    detail: str
    problems: list[Problem] = field(default_factory=list)
    rule: str | None = None
    status: int = 400
    title: str = "Bad request"

    def __post_init__(self) -> None:
        Exception.__init__(self, self.detail)

    def __str__(self) -> str:
        return self.detail


class InvalidInput(HanoiError):
    """One or more fields are missing or invalid (HTTP 422)."""

    def __init__(self, detail: str, problems: list[Problem] | None = None, rule: str | None = None):
        super().__init__(detail, problems or [], rule, 422, "Invalid input")


class NotFound(HanoiError):
    def __init__(self, detail: str, field_name: str = "id"):
        super().__init__(detail, [Problem(field_name, detail)], None, 404, "Not found")


class Conflict(HanoiError):
    """The request conflicts with the current state (duplicate, illegal transition)."""

    def __init__(self, detail: str, problems: list[Problem] | None = None, rule: str | None = None):
        super().__init__(detail, problems or [], rule, 409, "Conflict")


class Forbidden(HanoiError):
    def __init__(self, detail: str, rule: str | None = "AUTH-ROLE"):
        super().__init__(detail, [], rule, 403, "Forbidden")


class Unauthorized(HanoiError):
    def __init__(self, detail: str):
        super().__init__(detail, [], None, 401, "Unauthorized")


class Throttled(HanoiError):
    """Too many attempts in a short time: refused without looking further (HTTP 429).
    ``retry_after`` is the number of seconds until the next attempt is considered."""

    def __init__(self, detail: str, retry_after: int):
        super().__init__(detail, [], None, 429, "Too many requests")
        self.retry_after = retry_after


class NotReady(HanoiError):
    """This node cannot serve now (its database unreachable, its schema behind): HTTP 503."""

    def __init__(self, detail: str, problems: list[Problem] | None = None):
        super().__init__(detail, problems or [], None, 503, "Service unavailable")


class TooLarge(HanoiError):
    def __init__(self, detail: str, field_name: str = "body"):
        super().__init__(detail, [Problem(field_name, detail)], None, 413, "Payload too large")


def invalid(field_name: str, message: str, rule: str | None = None) -> InvalidInput:
    """Shortcut for a single-field validation error."""
    return InvalidInput(f"{field_name}: {message}", [Problem(field_name, message, rule)], rule)
