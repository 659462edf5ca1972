"""The console application, mounted by the API under ``/console/``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from hanoi.console.render import base_path, gettext_for, page
from hanoi.console.routes import auth, compose, desk, home, ledger, partners, policy, requests
from hanoi.console.security import CsrfRefused, PageForbidden, SecurityHeaders, SignInRequired, csrf_protect
from hanoi.core.errors import HanoiError
from hanoi.core.roles import roles_with
from hanoi.node.runtime import Node

ROUTE_MODULES = (auth, home, desk, compose, requests, partners, ledger, policy)


def create_console(node: Node) -> FastAPI:
    app = FastAPI(title="Hanoi Exchange console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.node = node
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(packages=[("hanoi.console", "static")]), name="static")
    # Every route shares the CSRF check: no form handler can be added without it.
    pages = APIRouter(dependencies=[Depends(csrf_protect)])
    for module in ROUTE_MODULES:
        pages.include_router(module.router)
    app.include_router(pages)
    _install_error_pages(app)
    return app


def _error(request: Request, status: int, title: str, message: str) -> Response:
    return page(request, "error.html", {"status": status, "title": title, "message": message}, status=status)


def _install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        target = f"{base_path(request)}sign-in"
        if exc.back_to != base_path(request):
            from urllib.parse import urlencode

            target += "?" + urlencode({"next": exc.back_to})
        if request.headers.get("hx-request"):  # htmx follows this header with a full page load
            return Response(status_code=200, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(PageForbidden)
    async def _forbidden(request: Request, exc: PageForbidden) -> Response:
        t = gettext_for(request)
        session = request.state.session
        who = ", ".join(r.value for r in roles_with(exc.permission))
        return _error(request, 403, t.gettext("Not for your role"),
                      t.gettext("Your role (%(role)s) may not see this page. It is for: %(roles)s.")
                      % {"role": session.role.value, "roles": who})

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, exc: CsrfRefused) -> Response:
        t = gettext_for(request)
        return _error(request, 403, t.gettext("Form refused"),
                      t.gettext("This form did not come from this page of the console (its security token "
                                "is missing or out of date). Nothing was changed. Go back, reload the page "
                                "and try again."))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        t = gettext_for(request)
        if exc.status_code == 404:
            return _not_found(request)
        if exc.status_code == 405:
            return _error(request, 405, t.gettext("Not allowed"), t.gettext("This page cannot be used that way."))
        return _error(request, exc.status_code, t.gettext("Error"), t.gettext("The request could not be answered."))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        t = gettext_for(request)
        return _error(request, 422, t.gettext("Not understood"),
                      t.gettext("Part of this address or form is not valid. Go back and check it."))

    @app.exception_handler(HanoiError)
    async def _hanoi(request: Request, exc: HanoiError) -> Response:
        if exc.status == 404:
            return _not_found(request)
        t = gettext_for(request)
        return _error(request, exc.status, t.gettext("Refused"), exc.detail)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:  # pragma: no cover
        t = gettext_for(request)
        return _error(request, 500, t.gettext("Something went wrong"),
                      t.gettext("The node could not answer this page. Nothing was changed."))


def _not_found(request: Request) -> Response:
    t = gettext_for(request)
    return _error(request, 404, t.gettext("Page not found"),
                  t.gettext("There is no such page in the console. It may have moved, or the address "
                            "may be mistyped."))
