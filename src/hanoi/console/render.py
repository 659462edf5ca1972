"""Rendering a console page: the request's language, zone, session, CSRF token and the
navigation its role may see, put into a Jinja2 template."""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from typing import Any

from babel.numbers import format_decimal
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, pass_context, select_autoescape
from jinja2.runtime import Context

from hanoi.console.i18n import LANGUAGES, N_, choose_language, local_time, translations, utc_time
from hanoi.console.labels import EVENT_LABELS, REQUEST_TYPE_LABELS, RESPONSE_KIND_LABELS
from hanoi.console.security import LANGUAGE_COOKIE, csrf_token
from hanoi.core.roles import Permission, allows
from hanoi.node.users import ConsoleSession


@dataclass(frozen=True, slots=True)
class NavItem:
    label: str
    path: str
    permission: Permission | None


NAVIGATION = (
    NavItem(N_("Home"), "", None),
    NavItem(N_("Desk"), "desk", Permission.REQUESTS_READ),
    NavItem(N_("Partners"), "partners", Permission.MEMBERS_READ),
    NavItem(N_("Ledger"), "ledger", Permission.LEDGER_READ),
    NavItem(N_("Policy and rules"), "policy", Permission.POLICY_READ),
    NavItem(N_("Preferences"), "preferences", None),
)
"""Every page a person can reach from the menu; each shows only to roles that may open it."""


def navigation_for(session: ConsoleSession | None) -> list[NavItem]:
    if session is None:
        return []
    return [item for item in NAVIGATION if item.permission is None or allows(session.role, item.permission)]


@pass_context
def _gettext(context: Context, message: str) -> str:
    t: gettext.NullTranslations = context["translations"]
    return t.gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    t: gettext.NullTranslations = context["translations"]
    return t.ngettext(singular, plural, n)


@pass_context
def _when(context: Context, value: Any, fmt: str = "medium") -> str:
    return local_time(value, context["zone"], context["language"], fmt)


@pass_context
def _number(context: Context, value: Any) -> str:
    return format_decimal(value, locale=context["language"])


@pass_context
def _remaining(context: Context, seconds: int | None, hours: bool = False) -> str:
    """Time left (or past) as a person reads it: hours and minutes for an emergency or within
    two days, else days."""
    if seconds is None:
        return ""
    t: gettext.NullTranslations = context["translations"]
    left = abs(int(seconds))
    if hours or left < 2 * 86400:
        h, m = divmod(left // 60, 60)
        text = t.gettext("%(h)d h %(m)02d min") % {"h": h, "m": m}
    else:
        text = t.ngettext("%(num)d day", "%(num)d days", left // 86400) % {"num": left // 86400}
    return t.gettext("overdue by %(time)s") % {"time": text} if seconds < 0 else text


environment = Environment(
    loader=PackageLoader("hanoi.console", "templates"),
    autoescape=select_autoescape(default=True),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
environment.filters["when"] = _when
environment.filters["utc"] = utc_time
environment.filters["number"] = _number
environment.filters["remaining"] = _remaining
environment.globals["type_labels"] = REQUEST_TYPE_LABELS
environment.globals["event_labels"] = EVENT_LABELS
environment.globals["response_kind_labels"] = RESPONSE_KIND_LABELS


def language_of(request: Request) -> str:
    session: ConsoleSession | None = getattr(request.state, "session", None)
    preference = session.language if session else request.cookies.get(LANGUAGE_COOKIE)
    return choose_language(preference, request.headers.get("accept-language"))


def base_path(request: Request) -> str:
    return f"{request.scope.get('root_path', '')}/"


def page(request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200,
         headers: dict[str, str] | None = None) -> HTMLResponse:
    session: ConsoleSession | None = getattr(request.state, "session", None)
    node = request.app.state.node
    language = language_of(request)
    values = {
        "request": request, "session": session, "language": language, "languages": LANGUAGES,
        "translations": translations(language),
        "zone": (session.time_zone if session else None) or node.config.time_zone,
        "csrf_token": csrf_token(request), "navigation": navigation_for(session),
        "node_name": node.config.name, "base": base_path(request), "path": request.url.path,
        "back": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    }
    values.update(context or {})
    html = environment.get_template(template).render(values)
    return HTMLResponse(html, status_code=status,
                        headers={"Content-Language": language, "Vary": "Accept-Language, Cookie", **(headers or {})})


def gettext_for(request: Request) -> gettext.NullTranslations:
    """The request's catalogue, for messages made in Python."""
    return translations(language_of(request))


def local_path(request: Request, target: str | None) -> str:
    """``target`` if it is a path inside the console (no open redirect), else the home page."""
    base = base_path(request)
    if target and target.startswith(base) and not target.startswith("//") and "\\" not in target:
        return target
    return base
