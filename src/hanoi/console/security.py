"""The console's protections: the session cookie, CSRF tokens, security headers, and the
dependencies that admit a signed-in person with a permission.

- **Session cookie** ``hanoi_session``: the session's 256-bit secret (the database keeps only
  its SHA-256), ``HttpOnly``, ``SameSite=Strict``, ``Path=/console/``, ``Secure`` whenever the
  request came over https (as uvicorn saw it: X-Forwarded-Proto counts only when the node's
  config trusts its reverse proxy).
- **CSRF**: a synchroniser token bound to the session, HMAC-SHA256(session secret, "csrf"):
  every form carries it in a hidden field (``csrf_token``) or the ``X-CSRF-Token`` header, and
  every POST without the right one is refused with 403 before its handler runs. Before sign-in
  the same token is bound to a random pre-session cookie (``hanoi_presession``), so even the
  sign-in form cannot be posted from another site. A cross-origin ``Origin`` is refused too.
- **Headers** on every console response: a Content-Security-Policy that allows nothing from
  another origin and no inline script or style, no framing, no MIME sniffing, no referrer to another site.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import Response

from hanoi.core.roles import Permission, allows
from hanoi.node import users
from hanoi.node.runtime import Node
from hanoi.node.users import ConsoleSession

SESSION_COOKIE = "hanoi_session"
PRESESSION_COOKIE = "hanoi_presession"
LANGUAGE_COOKIE = "hanoi_language"
COOKIE_PATH = "/console/"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "font-src 'self'",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
))
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # same-origin, not no-referrer: with no-referrer Chromium sends "Origin: null" on a form
    # POST, which the CSRF check must refuse; nothing leaves for another site either way.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


class SignInRequired(Exception):
    """No live session: the page sends the browser to the sign-in page, then back."""

    def __init__(self, back_to: str):
        super().__init__(back_to)
        self.back_to = back_to


class PageForbidden(Exception):
    """The session's role may not see this page (403)."""

    def __init__(self, permission: Permission):
        super().__init__(permission.value)
        self.permission = permission


class CsrfRefused(Exception):
    """A form came without this session's CSRF token, or from another origin (403)."""


def csrf_token_for(secret: str) -> str:
    return hmac.new(secret.encode(), b"hanoi-console-csrf", hashlib.sha256).hexdigest()


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path=COOKIE_PATH, secure=is_https(request),
                        httponly=True, samesite="strict")


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path=COOKIE_PATH, secure=is_https(request), httponly=True, samesite="strict")


def presession_secret(request: Request) -> str:
    """The pre-session secret of this browser, made (and set on the response by the
    middleware) if it has none yet."""
    existing = request.cookies.get(PRESESSION_COOKIE)
    if existing and 20 <= len(existing) <= 100:
        return existing
    made: str | None = getattr(request.state, "new_presession", None)
    if made is None:
        made = secrets.token_urlsafe(32)
        request.state.new_presession = made
    return made


def csrf_token(request: Request) -> str:
    """The token forms on this page carry: bound to the session if there is one, else to the
    pre-session cookie."""
    secret = request.cookies.get(SESSION_COOKIE) if getattr(request.state, "session", None) else None
    return csrf_token_for(secret or presession_secret(request))


async def csrf_protect(request: Request) -> None:
    """Refuse any state-changing request without the right token (a router-wide dependency,
    so no form handler can forget it)."""
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise CsrfRefused
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    secrets_held = [s for s in (request.cookies.get(SESSION_COOKIE), request.cookies.get(PRESESSION_COOKIE)) if s]
    if not sent or not any(hmac.compare_digest(sent, csrf_token_for(s)) for s in secrets_held):
        raise CsrfRefused


def get_node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def optional_session(request: Request, node: Node = Depends(get_node)) -> ConsoleSession | None:
    session = users.session_for(node, request.cookies.get(SESSION_COOKIE))
    request.state.session = session
    return session


def signed_in(request: Request, session: ConsoleSession | None = Depends(optional_session)) -> ConsoleSession:
    if session is None:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(back)
    return session


def allowed(permission: Permission) -> Callable[..., ConsoleSession]:
    """A dependency admitting a signed-in role that holds ``permission`` (else the 403 page):
    the same table (``core.roles``) as the API."""

    def check(session: ConsoleSession = Depends(signed_in)) -> ConsoleSession:
        if not allows(session.role, permission):
            raise PageForbidden(permission)
        return session

    return check


class SecurityHeaders(BaseHTTPMiddleware):
    """Adds the security headers to every console response, pages no-store, and sets the
    pre-session cookie where a page made one."""

    async def dispatch(self, request: Request,
                       call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # Before the call: routing rewrites the scope's root_path on its way to a mount.
        static = request.url.path.startswith(f"{request.scope.get('root_path', '')}/static/")
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if is_https(request):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if not static:
            response.headers.setdefault("Cache-Control", "no-store")
        made = getattr(request.state, "new_presession", None)
        if made:
            set_cookie(response, request, PRESESSION_COOKIE, made, max_age=None)
        return response
