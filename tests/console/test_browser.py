"""The console in a real browser: Playwright driving Debian's Chromium against a real
`hanoi serve`. Each page is checked with axe-core (no serious or critical violation), with
no Content-Security-Policy violation or script error, and photographed into
build/screenshots/ for a person to look at (docs/console.md shows them).

`make test` installs Chromium when it is missing (`make browser`); on a machine without it
these tests are skipped, except in CI, where a missing browser fails them.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from hanoi.bootstrap import init_node, open_node
from hanoi.node import ledger, policy, tokens, users
from hanoi.node.runtime import Node
from tests.node.helpers import ServerProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
PASSWORD = "correct horse battery staple"
SEEDED_ENTRIES = 30_000  # enough for "verify now" to show its progress for a moment

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip(f"{CHROMIUM} is missing: `make browser` installs it", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


def _seed(node: Node) -> None:
    for name, role in (("ada", "admin"), ("alice", "auditor"), ("bob", "caseworker"), ("pat", "platform")):
        users.add_user(node, "cli:setup", username=name, role=role, password=PASSWORD)
    tokens.create(node, "cli:setup", name="night desk", role="caseworker")
    document = yaml.safe_load((node.home / "policy.yaml").read_text())
    policy.update(node, "cli:setup", {**document, "serious_crime_min_years": 5})
    with node.write("bench:seed") as uow:  # a ledger long enough to watch its verification
        for i in range(SEEDED_ENTRIES):
            uow.record("demo.note", f"note:{i % 500}", {"n": i})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("console") / "gb-node"
    node, _ = init_node(home, name="UK Central Authority", country="GB", kind="central-authority")
    _seed(node)
    node.close()
    proc = ServerProcess(home=home, args=("--no-worker",))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Watched:
    """A page whose CSP violations and script errors are collected (each must stay empty)."""

    def __init__(self, page: Any):
        self.page = page
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda err: self.problems.append(f"script error: {err}"))
        page.on("response", self._response)

    def _console(self, message: Any) -> None:
        # A page answered 401/403/404 on purpose is logged as "Failed to load resource":
        # statuses are checked by _response, for everything but the page itself.
        if message.text.startswith("Failed to load resource"):
            return
        if message.type == "error" or "Content Security Policy" in message.text:
            self.problems.append(f"console {message.type}: {message.text}")

    def _response(self, response: Any) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            self.problems.append(f"{response.status} for {response.url}")

    def check(self, name: str) -> None:
        """Photograph the page, run axe-core in it, and fail on any serious problem."""
        page = self.page
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        page.evaluate(AXE.read_text(encoding="utf-8"))
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        serious = [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
                   for v in result["violations"] if v["impact"] in ("serious", "critical")]
        assert serious == [], f"{name}: {serious}"
        assert self.problems == [], f"{name}: {self.problems}"


@pytest.fixture
def browser_page(chromium: Any, server: ServerProcess) -> Iterator[Watched]:
    context = chromium.new_context(base_url=server.url, viewport={"width": 1280, "height": 800},
                                   locale="en-GB", timezone_id="UTC")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield Watched(page)
    context.close()


def _sign_in(w: Watched, username: str, password: str = PASSWORD) -> None:
    page = w.page
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def _open_node(server: ServerProcess) -> Node:
    return open_node(server.home, migrate=False)


def test_an_auditor_signs_in_browses_verifies_switches_to_french_and_signs_out(
        browser_page: Watched, server: ServerProcess) -> None:
    w, page = browser_page, browser_page.page
    page.goto("/console/")
    assert page.url.endswith("/console/sign-in")
    w.check("sign-in")
    # keyboard first: the first Tab reaches the skip link, which moves to the content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    _sign_in(w, "alice", "not her password")
    sync_api.expect(page.get_by_role("alert")).to_have_text("The username or password is not right.")
    w.check("sign-in-refused")
    node = _open_node(server)
    try:
        failed = ledger.browse(node, action="console.sign_in_failed", limit=5)["items"]
        assert failed[0]["subject"] == "user:alice" and failed[0]["decision"] == "deny"
        assert "not her password" not in str(failed)
    finally:
        node.close()

    _sign_in(w, "alice")
    sync_api.expect(page.get_by_role("heading", level=1)).to_have_text("Home")
    assert page.get_by_text("Signed in as alice (auditor)").is_visible()
    w.check("home-auditor")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Ledger").click()
    sync_api.expect(page.get_by_role("heading", level=1)).to_have_text("Ledger")
    assert page.locator("table.ledger tbody tr").count() == 50
    w.check("ledger")

    page.get_by_label("Action").fill("console.sign_in_failed")
    page.get_by_role("button", name="Filter").click()  # htmx swaps the table and pushes the URL
    page.wait_for_url(re.compile(r"action=console\.sign_in_failed"))
    rows = page.locator("table.ledger tbody tr")
    sync_api.expect(rows).to_have_count(1)
    assert "console.sign_in_failed" in rows.first.inner_text()
    w.check("ledger-filtered")

    rows.first.get_by_role("link").first.click()
    sync_api.expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Ledger entry \d+"))
    assert re.fullmatch(r"[0-9a-f]{64}", page.locator("dd code.hash").first.inner_text())
    w.check("ledger-entry")

    page.goto("/console/ledger")
    page.get_by_role("button", name="Verify now").click()
    sync_api.expect(page.locator("#verify-status progress")).to_be_visible()
    # for the picture, a moment when part of the ledger is checked (it may finish first);
    # polled from here: wait_for_function would need eval, which the page's CSP refuses
    progress = page.locator("#verify-status progress")
    for _ in range(100):
        with contextlib.suppress(sync_api.Error):
            if float(progress.get_attribute("value", timeout=100) or 0) > 0:
                break
        time.sleep(0.05)
    w.page.screenshot(path=str(SCREENSHOTS / "ledger-verifying.png"), full_page=False)
    sync_api.expect(page.locator("#verify-status")).to_contain_text("The ledger is intact.", timeout=120_000)
    w.check("ledger-verified")

    page.get_by_role("link", name="Policy and rules").click()
    sync_api.expect(page.get_by_role("heading", name="History of changes")).to_be_visible()
    assert page.locator("section[aria-labelledby=history-heading] tbody tr").count() >= 2  # init + update
    w.check("policy")

    page.get_by_role("link", name="Preferences").click()
    w.check("preferences")

    page.goto("/console/ledger")
    page.get_by_label("Language").select_option("fr")
    page.get_by_role("button", name="Change").click()
    sync_api.expect(page.get_by_role("heading", level=1)).to_have_text("Registre")
    assert page.get_attribute("html", "lang") == "fr"
    sync_api.expect(page.get_by_role("button", name="Vérifier maintenant")).to_be_visible()
    w.check("ledger-fr")
    page.get_by_role("link", name="Accueil").click()
    w.check("home-auditor-fr")

    page.get_by_role("button", name="Se déconnecter").click()
    sync_api.expect(page.get_by_role("status")).to_have_text("Vous êtes déconnecté.")
    assert not [c for c in page.context.cookies() if c["name"] == "hanoi_session"]
    page.goto("/console/ledger")
    assert "/console/sign-in" in page.url


def test_a_caseworker_sees_no_ledger_and_gets_403_and_404_pages(browser_page: Watched) -> None:
    w, page = browser_page, browser_page.page
    page.goto("/console/sign-in")
    _sign_in(w, "bob")
    menu = page.get_by_role("navigation", name="Main")
    sync_api.expect(menu.get_by_role("link")).to_have_text(
        ["Home", "Desk", "Partners", "Policy and rules", "Preferences"])
    w.check("home-caseworker")
    response = page.goto("/console/ledger")
    assert response is not None and response.status == 403
    sync_api.expect(page.get_by_role("heading", level=1)).to_have_text("Not for your role")
    w.check("forbidden")
    response = page.goto("/console/no-such-page")
    assert response is not None and response.status == 404
    w.check("not-found")


def test_an_admin_and_a_platform_see_their_home_pages(browser_page: Watched) -> None:
    w, page = browser_page, browser_page.page
    for name, shot in (("ada", "home-admin"), ("pat", "home-platform")):
        page.goto("/console/sign-in")
        _sign_in(w, name)
        sync_api.expect(page.get_by_role("heading", level=1)).to_have_text("Home")
        w.check(shot)
        page.get_by_role("button", name="Sign out").click()


def test_the_session_cookie_flags_and_a_form_without_its_token(browser_page: Watched, server: ServerProcess) -> None:
    w, page = browser_page, browser_page.page
    page.goto("/console/sign-in")
    _sign_in(w, "ada")  # alice chose French in the first test
    sync_api.expect(page.get_by_role("heading", level=1)).to_have_text("Home")
    [cookie] = [c for c in page.context.cookies() if c["name"] == "hanoi_session"]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["secure"] is False
    assert cookie["path"] == "/console/"
    assert page.evaluate("document.cookie") == ""  # out of reach of any script
    # the same browser, its cookie sent, but no token: refused, and nothing happens
    refused = page.request.post("/console/sign-out", form={"back": "/console/"})
    assert refused.status == 403 and "Form refused" in refused.text()
    forged = page.request.post("/console/ledger/verify", form={"csrf_token": "0" * 64})
    assert forged.status == 403
    page.goto("/console/")
    sync_api.expect(page.get_by_role("heading", level=1)).to_have_text("Home")  # still signed in


def _session_cookie_over(server: ServerProcess, forwarded_proto: str) -> str:
    with httpx.Client(base_url=server.url) as c:
        form = c.get("/console/sign-in")
        token = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', form.text)
        assert token
        r = c.post("/console/sign-in", data={"username": "alice", "password": PASSWORD,
                                             "csrf_token": token.group(1)},
                   headers={"X-Forwarded-Proto": forwarded_proto})
    assert r.status_code == 303, r.text
    return next(h for h in r.headers.get_list("set-cookie") if h.startswith("hanoi_session="))


def test_x_forwarded_proto_counts_only_when_the_node_trusts_its_proxy(server: ServerProcess) -> None:
    assert "secure" not in _session_cookie_over(server, "https").lower()  # a claim from anyone: ignored
    config_path = server.home / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    trusting = ServerProcess(home=server.home, args=("--no-worker",))
    config_path.write_text(yaml.safe_dump({**config, "trust_forwarded_headers": True}))
    try:
        trusting.start()
        assert "; secure" in _session_cookie_over(trusting, "https").lower()
        assert "secure" not in _session_cookie_over(trusting, "http").lower()
    finally:
        trusting.stop()
        config_path.write_text(yaml.safe_dump(config))
