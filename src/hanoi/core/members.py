"""Members (the organisations a node deals with) and their standing: pure rules.

A member is identified by a short id, belongs to a State (ISO 3166-1 alpha-2; user-assigned
codes are accepted so tests and exercises can use fictional States), and has a standing that
only a recorded safeguards assessment may change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import pycountry

from hanoi.core.citations import RULES
from hanoi.core.clock import isoformat, parse_time
from hanoi.core.errors import InvalidInput, Problem


class MemberKind(StrEnum):
    CENTRAL_AUTHORITY = "central-authority"
    CONTACT_POINT = "contact-point"
    LAW_ENFORCEMENT = "law-enforcement"
    PROSECUTOR = "prosecutor"
    CERT = "cert"
    HOTLINE = "hotline"
    PLATFORM = "platform"


class StateStatus(StrEnum):
    PARTY = "party"
    SIGNATORY = "signatory"
    NON_PARTY = "non-party"


class Standing(StrEnum):
    GOOD = "good"
    CONCERNS = "concerns"
    SUSPENDED = "suspended"


# ISO 3166-1 keeps these alpha-2 codes for user assignment (AA, QM-QZ, XA-XZ, ZZ).
USER_ASSIGNED = frozenset(
    ["AA", "ZZ"] + [f"Q{c}" for c in "MNOPQRSTUVWXYZ"] + [f"X{c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"]
)
MEMBER_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def country_name(code: str) -> str:
    if code in USER_ASSIGNED:
        return f"user-assigned ({code})"
    c = pycountry.countries.get(alpha_2=code)
    return c.name if c else code


def check_country(code: Any, field_name: str = "country") -> tuple[str | None, Problem | None]:
    """Upper-cased valid alpha-2 code, or the problem with it."""
    if not isinstance(code, str) or not re.fullmatch(r"[A-Za-z]{2}", code.strip()):
        return None, Problem(field_name, f"{code!r} is not an ISO 3166-1 alpha-2 code (two letters)",
                             "MEMBER-STATE")
    up = code.strip().upper()
    if up in USER_ASSIGNED or pycountry.countries.get(alpha_2=up) is not None:
        return up, None
    return None, Problem(field_name, f"{up!r} is not an assigned ISO 3166-1 alpha-2 code",
                         "MEMBER-STATE")


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:64] or "member"


@dataclass(frozen=True, slots=True)
class Contact:
    name: str
    role: str = ""
    email: str = ""
    phone: str = ""


@dataclass(frozen=True, slots=True)
class MemberDraft:
    """A validated member ready to store (keys are validated by ``hanoi.core.keys``)."""

    id: str
    name: str
    kind: MemberKind
    country: str
    state_status: StateStatus
    endpoint: str | None
    languages: tuple[str, ...]
    available_24_7: bool
    contacts: tuple[Contact, ...]
    other_treaties: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind.value,
            "country": self.country,
            "state_status": self.state_status.value,
            "endpoint": self.endpoint,
            "languages": list(self.languages),
            "available_24_7": self.available_24_7,
            "contacts": [_contact_dict(c) for c in self.contacts],
            "other_treaties": list(self.other_treaties),
        }


def _contact_dict(c: Contact) -> dict[str, str]:
    return {"name": c.name, "role": c.role, "email": c.email, "phone": c.phone}


def _enum(enum: type[StrEnum], value: Any, field_name: str, problems: list[Problem]) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        problems.append(Problem(field_name, f"{value!r} is not one of: {allowed}"))
        return None


def check_endpoint(url: Any, problems: list[Problem], field_name: str = "endpoint") -> str | None:
    if url in (None, ""):
        return None
    if not isinstance(url, str):
        problems.append(Problem(field_name, "must be an https:// or http:// URL"))
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(Problem(field_name, f"{url!r} is not an http(s) URL with a host"))
        return None
    return url.rstrip("/")


def validate_member(data: dict[str, Any]) -> MemberDraft:
    """Validate every field at once; raise InvalidInput listing every problem."""
    problems: list[Problem] = []
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(Problem("name", "is required"))
    elif len(name) > 200:
        problems.append(Problem("name", "is longer than 200 characters"))
    kind = _enum(MemberKind, data.get("kind"), "kind", problems)
    country, p = check_country(data.get("country"))
    if p:
        problems.append(p)
    status = _enum(StateStatus, data.get("state_status", "party"), "state_status", problems)
    endpoint = check_endpoint(data.get("endpoint"), problems)
    languages: list[str] = []
    for i, lang in enumerate(data.get("languages") or []):
        if isinstance(lang, str) and LANGUAGE.fullmatch(lang.strip()):
            languages.append(lang.strip())
        else:
            problems.append(Problem(f"languages[{i}]", f"{lang!r} is not a language tag such as 'en' or 'fr'"))
    contacts: list[Contact] = []
    for i, c in enumerate(data.get("contacts") or []):
        if not isinstance(c, dict) or not isinstance(c.get("name"), str) or not c["name"].strip():
            problems.append(Problem(f"contacts[{i}]", "a contact needs at least a name"))
            continue
        unknown = set(c) - {"name", "role", "email", "phone"}
        if unknown:
            problems.append(Problem(f"contacts[{i}]", f"unknown keys: {', '.join(sorted(unknown))}"))
            continue
        contacts.append(Contact(**{k: str(v) for k, v in c.items()}))
    treaties = data.get("other_treaties") or []
    if not isinstance(treaties, list) or not all(isinstance(t, str) for t in treaties):
        problems.append(Problem("other_treaties", "must be a list of treaty names"))
        treaties = []
    member_id = data.get("id") or (slugify(f"{country or 'xx'}-{name}") if isinstance(name, str) else None)
    if member_id is not None and (not isinstance(member_id, str) or not MEMBER_ID.fullmatch(member_id)):
        problems.append(Problem("id", "use 2-64 characters: lower-case letters, digits, '.', '_' or '-'"))
    available = data.get("available_24_7", False)
    if not isinstance(available, bool):
        problems.append(Problem("available_24_7", "must be true or false"))
    if problems:
        raise InvalidInput("the member is not valid", problems)
    assert isinstance(name, str) and member_id and kind and country and status
    return MemberDraft(member_id, name.strip(), kind, country, status, endpoint, tuple(languages),
                       bool(available), tuple(contacts), tuple(treaties))


@dataclass(frozen=True, slots=True)
class Assessment:
    """A recorded safeguards assessment: the only way a standing changes."""

    standing: Standing
    assessor: str
    assessed_at: datetime
    findings: str
    articles: tuple[str, ...]
    sources: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "standing": self.standing.value,
            "assessor": self.assessor,
            "assessed_at": isoformat(self.assessed_at),
            "findings": self.findings,
            "articles": list(self.articles),
            "sources": list(self.sources),
        }


# "6", "Art. 24", "UNCC Art. 40(22)", "ICCPR Art. 19"
ARTICLE = re.compile(r"^(?:[A-Z][A-Za-z0-9 ./-]{0,30} )?(?:Art\. ?)?\d+[a-z]?(?:\([^)]{1,20}\))?$")


def validate_assessment(data: dict[str, Any], now: datetime) -> Assessment:
    problems: list[Problem] = []
    standing = _enum(Standing, data.get("standing"), "standing", problems)
    assessor = data.get("assessor")
    if not isinstance(assessor, str) or not assessor.strip():
        problems.append(Problem("assessor", "name the person who made the assessment", "STANDING-ASSESSED"))
    findings = data.get("findings")
    if not isinstance(findings, str) or not findings.strip():
        problems.append(Problem("findings", "state the findings of the assessment", "STANDING-ASSESSED"))
    articles = data.get("articles") or []
    if not isinstance(articles, list) or not articles:
        problems.append(Problem("articles", "cite at least one article (e.g. '6' or 'UNCC Art. 24')",
                                "STANDING-ASSESSED"))
        articles = []
    for i, a in enumerate(articles):
        if not isinstance(a, str) or not ARTICLE.fullmatch(a.strip()):
            problems.append(Problem(f"articles[{i}]",
                                    f"{a!r} is not an article citation such as '6' or 'UNCC Art. 24'"))
    sources = data.get("sources") or []
    if not isinstance(sources, list) or not all(isinstance(s, str) and s.strip() for s in sources):
        problems.append(Problem("sources", "must be a list of non-empty source references"))
        sources = []
    assessed_at = data.get("assessed_at") or now
    if isinstance(assessed_at, str):
        try:
            assessed_at = parse_time(assessed_at)
        except ValueError:
            problems.append(Problem("assessed_at", f"{assessed_at!r} is not an ISO 8601 time"))
            assessed_at = now
    if isinstance(assessed_at, datetime) and assessed_at > now:
        problems.append(Problem("assessed_at", "an assessment cannot be dated in the future"))
    if problems:
        raise InvalidInput("the safeguards assessment is not valid", problems, "STANDING-ASSESSED")
    assert standing is not None and isinstance(assessor, str) and isinstance(findings, str)
    return Assessment(standing, assessor.strip(), assessed_at, findings.strip(),
                      tuple(a.strip() for a in articles), tuple(s.strip() for s in sources))


STANDING_RULE = RULES["STANDING-ASSESSED"]
