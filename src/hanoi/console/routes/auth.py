"""Signing in (password or API token), signing out, and the language and zone preferences."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import available_timezones

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from hanoi.console.i18n import LANGUAGES
from hanoi.console.render import base_path, gettext_for, local_path, page
from hanoi.console.security import (
    LANGUAGE_COOKIE,
    PRESESSION_COOKIE,
    SESSION_COOKIE,
    clear_cookie,
    client_address,
    get_node,
    optional_session,
    set_cookie,
    signed_in,
)
from hanoi.core.errors import InvalidInput, Throttled, Unauthorized
from hanoi.node import users
from hanoi.node.runtime import Node
from hanoi.node.users import ConsoleSession, SignedIn

router = APIRouter()

ONE_YEAR = 365 * 24 * 3600


def _sign_in_page(request: Request, *, error: str | None = None, status: int = 200, username: str = "",
                  back: str | None = None, retry_after: int | None = None) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return page(request, "sign_in.html", {"error": error, "username": username,
                                          "next": local_path(request, back or request.query_params.get("next")),
                                          "signed_out": request.query_params.get("signed_out") == "1"},
                status=status, headers=headers)


@router.get("/sign-in", name="sign_in")
def sign_in_form(request: Request, session: ConsoleSession | None = Depends(optional_session)) -> Response:
    if session is not None:
        return RedirectResponse(local_path(request, request.query_params.get("next")), status_code=303)
    return _sign_in_page(request)


def _signed_in(request: Request, signed: SignedIn, back: str) -> Response:
    response = RedirectResponse(local_path(request, back), status_code=303)
    seconds = int((signed.session.expires_at - signed.session.created_at).total_seconds())
    set_cookie(response, request, SESSION_COOKIE, signed.secret, max_age=seconds)
    clear_cookie(response, request, PRESESSION_COOKIE)  # a new secret after sign-in: no fixation
    return response


def _throttled(request: Request, err: Throttled, username: str, back: str) -> Response:
    t = gettext_for(request)
    message = t.ngettext("Too many failed sign-ins. Try again in %(n)d second.",
                         "Too many failed sign-ins. Try again in %(n)d seconds.", err.retry_after) % {
        "n": err.retry_after}
    return _sign_in_page(request, error=message, status=429, username=username, back=back,
                         retry_after=err.retry_after)


@router.post("/sign-in")
def sign_in(request: Request, username: Annotated[str, Form(max_length=200)] = "",
            password: Annotated[str, Form(max_length=users.PASSWORD_MAX)] = "",
            next_: Annotated[str, Form(alias="next", max_length=2000)] = "",
            node: Node = Depends(get_node)) -> Response:
    t = gettext_for(request)
    try:
        signed = users.sign_in(node, username=username, password=password, address=client_address(request))
    except Throttled as err:
        return _throttled(request, err, username, next_)
    except Unauthorized:
        return _sign_in_page(request, error=t.gettext("The username or password is not right."), status=401,
                             username=username, back=next_)
    return _signed_in(request, signed, next_)


@router.post("/sign-in/token")
def sign_in_with_token(request: Request, token: Annotated[str, Form(max_length=200)] = "",
                       next_: Annotated[str, Form(alias="next", max_length=2000)] = "",
                       node: Node = Depends(get_node)) -> Response:
    t = gettext_for(request)
    try:
        signed = users.sign_in_with_token(node, token=token, address=client_address(request))
    except Throttled as err:
        return _throttled(request, err, "", next_)
    except Unauthorized:
        return _sign_in_page(request, error=t.gettext("That API token was not accepted."), status=401,
                             back=next_)
    return _signed_in(request, signed, next_)


@router.post("/sign-out")
def sign_out(request: Request, session: ConsoleSession = Depends(signed_in),
             node: Node = Depends(get_node)) -> Response:
    users.sign_out(node, session)
    response = RedirectResponse(f"{base_path(request)}sign-in?signed_out=1", status_code=303)
    clear_cookie(response, request, SESSION_COOKIE)
    if session.language in LANGUAGES:  # the sign-in page stays in the language just used
        set_cookie(response, request, LANGUAGE_COOKIE, session.language, max_age=ONE_YEAR)
    return response


@router.post("/language")
def choose_language(request: Request, language: Annotated[str, Form(max_length=8)],
                    back: Annotated[str, Form(max_length=2000)] = "",
                    session: ConsoleSession | None = Depends(optional_session),
                    node: Node = Depends(get_node)) -> Response:
    response = RedirectResponse(local_path(request, back), status_code=303)
    if language not in LANGUAGES:
        return response
    if session is not None:
        users.set_preferences(node, session, language=language)
    else:
        set_cookie(response, request, LANGUAGE_COOKIE, language, max_age=ONE_YEAR)
    return response


def _zones() -> list[str]:
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))


@router.get("/preferences")
def preferences(request: Request, session: ConsoleSession = Depends(signed_in)) -> Response:
    return page(request, "preferences.html", {"zones": _zones(), "saved": request.query_params.get("saved") == "1"})


@router.post("/preferences")
def save_preferences(request: Request, language: Annotated[str, Form(max_length=8)],
                     time_zone: Annotated[str, Form(max_length=64)],
                     session: ConsoleSession = Depends(signed_in), node: Node = Depends(get_node)) -> Response:
    t = gettext_for(request)
    if language not in LANGUAGES:
        language = ""
    try:
        users.set_preferences(node, session, language=language or None, time_zone=time_zone.strip())
    except InvalidInput:
        return page(request, "preferences.html",
                    {"zones": _zones(), "time_zone": time_zone,
                     "error": t.gettext("“%(zone)s” is not a time zone. Choose one from the list, "
                                        "such as Europe/Paris.") % {"zone": time_zone}}, status=422)
    return RedirectResponse(f"{base_path(request)}preferences?saved=1", status_code=303)
