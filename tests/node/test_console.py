"""The console over HTTP (no browser): sign-in, cookies, CSRF on every form, security
headers, roles, languages, the ledger's keyset pages and verify-now."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from http.cookies import SimpleCookie

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Route

from hanoi.api.app import create_app
from hanoi.console.app import ROUTE_MODULES
from hanoi.console.security import CONTENT_SECURITY_POLICY
from hanoi.core.roles import Role
from hanoi.node import ledger, members, tokens, users
from hanoi.node.runtime import Node
from hanoi.requests import service

PASSWORD = "correct horse battery staple"
pytestmark = pytest.mark.usefixtures("cheap_passwords")
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


@pytest.fixture
def people(node: Node) -> dict[Role, str]:
    for role in Role:
        users.add_user(node, "test", username=role.value, role=role.value, password=PASSWORD)
    return {role: role.value for role in Role}


def _client(node: Node, base_url: str = "http://testserver") -> TestClient:
    return TestClient(create_app(node), base_url=base_url, follow_redirects=False)


@pytest.fixture
def browser(node: Node) -> Iterator[TestClient]:
    with _client(node) as c:
        yield c


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(c: TestClient, username: str, password: str = PASSWORD, **headers: str):  # type: ignore[no-untyped-def]
    token = csrf_of(c.get("/console/sign-in", headers=headers).text)
    return c.post("/console/sign-in", data={"username": username, "password": password, "csrf_token": token},
                  headers=headers)


def _set_cookies(response) -> dict[str, SimpleCookie]:  # type: ignore[no-untyped-def]
    out = {}
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        out.update({name: cookie for name in cookie})
    return out


def test_a_page_sends_a_stranger_to_sign_in_and_back(browser: TestClient, people: dict[Role, str]) -> None:
    r = browser.get("/console/ledger?action=user.add")
    assert r.status_code == 303
    assert r.headers["location"] == "/console/sign-in?next=%2Fconsole%2Fledger%3Faction%3Duser.add"
    r = browser.get(r.headers["location"])
    token = csrf_of(r.text)
    r = browser.post("/console/sign-in", data={"username": "auditor", "password": PASSWORD, "csrf_token": token,
                                               "next": "/console/ledger?action=user.add"})
    assert r.status_code == 303 and r.headers["location"] == "/console/ledger?action=user.add"
    assert browser.get(r.headers["location"]).status_code == 200
    # never to another site
    browser.cookies.clear()
    token = csrf_of(browser.get("/console/sign-in").text)
    r = browser.post("/console/sign-in", data={"username": "auditor", "password": PASSWORD, "csrf_token": token,
                                               "next": "//evil.example/"})
    assert r.headers["location"] == "/console/"
    assert browser.get("/console").headers["location"] == "/console/"


@pytest.mark.parametrize("base_url, secure", [("http://testserver", False), ("https://testserver", True)])
def test_the_session_cookie_is_httponly_strict_and_secure_over_https(node: Node, people: dict[Role, str],
                                                                      base_url: str, secure: bool) -> None:
    with _client(node, base_url) as c:
        r = sign_in(c, "auditor")
    assert r.status_code == 303
    cookie = _set_cookies(r)["hanoi_session"]["hanoi_session"]
    assert cookie["httponly"] is True and cookie["samesite"].lower() == "strict" and cookie["path"] == "/console/"
    assert bool(cookie["secure"]) is secure
    assert int(cookie["max-age"]) == node.config.console_session_hours * 3600
    assert users.session_digest(cookie.value) != cookie.value and len(cookie.value) >= 43


def test_every_console_page_carries_the_security_headers(browser: TestClient, people: dict[Role, str]) -> None:
    sign_in(browser, "admin")
    for path in ("/console/", "/console/ledger", "/console/policy", "/console/preferences", "/console/ledger/1",
                 "/console/nowhere", "/console/sign-in"):
        r = browser.get(path)
        assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY and "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin" and r.headers["cache-control"] == "no-store"
        assert "<script>" not in r.text and " style=" not in r.text and "<style" not in r.text, path
    static = browser.get("/console/static/console.css")
    assert static.status_code == 200 and "no-store" not in static.headers.get("cache-control", "")


def _console_form_routes() -> list[str]:
    """Every route of the console that accepts a POST (a form)."""
    out = []
    for module in ROUTE_MODULES:
        for route in module.router.routes:
            if isinstance(route, Route) and route.methods and route.methods - {"GET", "HEAD"}:
                out.append("/console" + route.path.replace("{job_id}", "x"))
    return out


def test_every_form_without_its_csrf_token_is_refused(browser: TestClient, node: Node,
                                                     people: dict[Role, str]) -> None:
    sign_in(browser, "admin")
    forms = _console_form_routes()
    assert {"/console/sign-in", "/console/sign-in/token", "/console/sign-out", "/console/language",
            "/console/preferences", "/console/ledger/verify"} <= set(forms)
    good = csrf_of(browser.get("/console/").text)
    before = ledger.verify(node).count
    for path in forms:
        for data in ({}, {"csrf_token": "0" * 64}, {"csrf_token": good[::-1]}):
            r = browser.post(path, data={**data, "username": "admin", "password": PASSWORD, "language": "fr",
                                         "time_zone": "UTC"})
            assert r.status_code == 403, (path, data, r.status_code)
            assert "Form refused" in r.text
    # from another origin, even with the token
    r = browser.post("/console/sign-out", data={"csrf_token": good}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert ledger.verify(node).count == before
    assert browser.get("/console/").status_code == 200  # still signed in: nothing happened
    r = browser.post("/console/sign-out", data={"csrf_token": good})
    assert r.status_code == 303


def test_a_token_made_for_another_session_is_refused(node: Node, people: dict[Role, str]) -> None:
    with _client(node) as one, _client(node) as two:
        sign_in(one, "admin")
        sign_in(two, "admin")
        theirs = csrf_of(two.get("/console/").text)
        assert one.post("/console/sign-out", data={"csrf_token": theirs}).status_code == 403


def test_a_wrong_password_is_refused_and_ledgered(browser: TestClient, node: Node, people: dict[Role, str]) -> None:
    r = sign_in(browser, "auditor", "not the password")
    assert r.status_code == 401 and "The username or password is not right." in r.text
    assert "hanoi_session" not in _set_cookies(r)
    [entry] = ledger.browse(node, action="console.sign_in_failed")["items"]
    assert entry["subject"] == "user:auditor" and entry["payload"]["address"] == "testclient"
    for _ in range(2):
        r = sign_in(browser, "auditor", "not the password")
    r = sign_in(browser, "auditor")  # locked now, even with the right password
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert "Too many failed sign-ins" in r.text


def test_sign_in_with_an_api_token(browser: TestClient, node: Node) -> None:
    secret, _ = tokens.create(node, "test", name="duty desk", role="auditor")
    token = csrf_of(browser.get("/console/sign-in").text)
    r = browser.post("/console/sign-in/token", data={"token": secret, "csrf_token": token})
    assert r.status_code == 303
    assert "Signed in as duty desk (auditor)" in browser.get("/console/").text
    browser.cookies.clear()
    token = csrf_of(browser.get("/console/sign-in").text)
    r = browser.post("/console/sign-in/token", data={"token": secret + "x", "csrf_token": token})
    assert r.status_code == 401 and "That API token was not accepted." in r.text


# the menu entries each role sees, and the pages it may open
SEES = {
    Role.ADMIN: {"Desk", "Partners", "Ledger", "Policy and rules"},
    Role.AUDITOR: {"Desk", "Partners", "Ledger", "Policy and rules"},
    Role.CASEWORKER: {"Desk", "Partners", "Policy and rules"},
    Role.ANALYST: {"Partners", "Policy and rules"},
    Role.PLATFORM: set(),
}


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_each_role_sees_only_its_pages_and_gets_403_elsewhere(node: Node, people: dict[Role, str],
                                                             role: Role) -> None:
    with _client(node) as c:
        sign_in(c, role.value)
        home = c.get("/console/")
        assert home.status_code == 200
        menu = set(re.findall(r'<li><a href="/console/[a-z]*"[^>]*>([^<]+)</a></li>', home.text))
        assert menu == {"Home", "Preferences"} | SEES[role]
        for path, label in (("/console/ledger", "Ledger"), ("/console/ledger/1", "Ledger"),
                            ("/console/policy", "Policy and rules")):
            r = c.get(path)
            if label in SEES[role]:
                assert r.status_code == 200, (role, path)
            else:
                assert r.status_code == 403, (role, path)
                assert f"Your role ({role.value}) may not see this page" in r.text
        if "Ledger" not in SEES[role]:
            token = csrf_of(home.text)
            assert c.post("/console/ledger/verify", data={"csrf_token": token}).status_code == 403


def test_unknown_pages_get_the_404_page(browser: TestClient, people: dict[Role, str]) -> None:
    sign_in(browser, "auditor")
    for path in ("/console/nowhere", "/console/ledger/999999", "/console/ledger/verify/nojob"):
        r = browser.get(path)
        assert r.status_code == 404 and "Page not found" in r.text, path


def test_french_from_the_browser_then_from_the_switcher(browser: TestClient, node: Node,
                                                        people: dict[Role, str]) -> None:
    r = browser.get("/console/sign-in", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    assert '<html lang="fr">' in r.text and "Se connecter" in r.text and r.headers["content-language"] == "fr"
    sign_in(browser, "auditor")
    page = browser.get("/console/ledger")
    assert '<html lang="en">' in page.text
    r = browser.post("/console/language", data={"language": "fr", "back": "/console/ledger",
                                                "csrf_token": csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["location"] == "/console/ledger"
    page = browser.get("/console/ledger")
    assert "Registre" in page.text and "Vérifier maintenant" in page.text
    assert users.get_user(node, "auditor")["language"] == "fr"  # kept for the next session


def test_dates_in_the_users_zone(browser: TestClient, node: Node, people: dict[Role, str]) -> None:
    sign_in(browser, "auditor")
    token = csrf_of(browser.get("/console/preferences").text)
    r = browser.post("/console/preferences", data={"language": "en", "time_zone": "Asia/Tokyo", "csrf_token": token})
    assert r.status_code == 303
    entry = browser.get("/console/ledger/1").text
    assert "(Asia/Tokyo)" in entry and " UTC</span>" in entry
    r = browser.post("/console/preferences", data={"language": "en", "time_zone": "Mars/Base", "csrf_token": token})
    assert r.status_code == 422 and "is not a time zone" in r.text


def test_the_ledger_pages_by_keyset_and_filters(browser: TestClient, node: Node, people: dict[Role, str]) -> None:
    for i in range(120):
        tokens.create(node, "test", name=f"t{i}", role="auditor")
    sign_in(browser, "auditor")
    seen: list[int] = []
    url = "/console/ledger?action=token.create"
    while url:
        html = browser.get(url).text
        seqs = [int(s) for s in re.findall(r'<td><a href="/console/ledger/(\d+)">', html)]
        seen += seqs
        more = re.search(r'href="(/console/ledger\?[^"]*before=\d+[^"]*)" rel="next"', html)
        url = more.group(1).replace("&amp;", "&") if more else ""
    created = [e["seq"] for e in ledger.page(node, action="token.create", limit=1000)["items"]]
    assert seen == sorted(created, reverse=True) and len(seen) == 121  # with the first admin token
    html = browser.get("/console/ledger?actor=test&decision=deny").text
    assert "No entry matches these filters." in html


def test_verify_now_runs_in_the_background_and_shows_the_result(browser: TestClient, node: Node,
                                                               people: dict[Role, str]) -> None:
    # A ledger long enough that the answer to the button comes while the check still runs (with
    # a handful of entries it could finish first, when every module it uses is already loaded).
    with node.write("test") as uow:
        for i in range(20_000):
            uow.record("demo.note", f"note:{i % 50}", {"n": i})
    sign_in(browser, "auditor")
    token = csrf_of(browser.get("/console/ledger").text)
    r = browser.post("/console/ledger/verify", data={"csrf_token": token}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text
    job = re.search(r'hx-get="/console/ledger/verify/([0-9a-f]+)"', r.text)
    assert job, r.text
    deadline = time.monotonic() + 60
    while "The ledger is intact." not in r.text:
        assert time.monotonic() < deadline
        time.sleep(0.1)
        r = browser.get(f"/console/ledger/verify/{job.group(1)}", headers={"HX-Request": "true"})
    assert f"{ledger.verify(node).count:,} entries" in r.text  # as English writes numbers
    # without htmx: a page to come back to
    r = browser.post("/console/ledger/verify", data={"csrf_token": token})
    assert r.status_code == 303
    page = browser.get(r.headers["location"])
    assert page.status_code == 200 and "<html" in page.text
    # another person cannot see that job
    with _client(node) as other:
        sign_in(other, "admin")
        assert other.get(r.headers["location"]).status_code == 404
    time.sleep(0.5)  # let the second job finish before the node closes


def test_the_desk_pages_by_keyset_and_a_platform_sees_no_request(browser: TestClient, node: Node,
                                                                 people: dict[Role, str]) -> None:
    members.add(node, "setup", {"id": "fr-pharos", "name": "PHAROS", "kind": "contact-point", "country": "FR",
                                "languages": ["fr", "en"]})
    made = {service.create(node, "caseworker", {"type": "preservation", "partner": "fr-pharos",
                                                 "fields": {"offence_code": "UNCC-13"}})["id"] for _ in range(120)}
    sign_in(browser, "caseworker")
    seen: list[str] = []
    url = "/console/desk?box=outbox&type=preservation"
    while url:
        html = browser.get(url).text
        seen += re.findall(r'<td><a href="/console/requests/([A-Za-z0-9-]+)" class="mono">', html)
        more = re.search(r'href="(/console/desk\?[^"]*after=[^"]*)" rel="next"', html)
        url = more.group(1).replace("&amp;", "&") if more else ""
    assert len(seen) == 120 and set(seen) == made  # every draft once, across three pages
    assert "No request matches these filters." in browser.get("/console/desk?box=inbox").text
    assert browser.get("/console/desk?box=outbox&after=nonsense").status_code == 422
    with _client(node) as platform:
        sign_in(platform, "platform")
        for path in ("/console/desk", f"/console/requests/{seen[0]}", "/console/compose", "/console/partners"):
            assert platform.get(path).status_code == 403, path
