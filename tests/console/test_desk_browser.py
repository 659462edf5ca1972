"""The caseworker's desk in a real browser (Playwright driving Debian's Chromium against a
real `hanoi serve`): the inbox, outbox and deadline board, composing a request with a
validation error fixed on the way, a gate decision with its article, lifecycle moves through
the buttons the lifecycle allows, a response with a refusal ground, evidence attached,
exported and verified, the PDF, partners and an assessment. Every page is checked with
axe-core and photographed into build/screenshots/ (docs/console.md shows them)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from hanoi.bootstrap import init_node
from hanoi.demo import sample_partners
from hanoi.node import members, users
from hanoi.requests import samples, service
from hanoi.requests.samples import PRESERVATION_FIELDS, STORED_DATA_FIELDS
from hanoi.store.tables import requests as requests_t
from tests.console.test_browser import PASSWORD, Watched, _sign_in, chromium, sync_api  # noqa: F401
from tests.node.helpers import ServerProcess


def _seed(node: Any) -> dict[str, str]:
    users.add_user(node, "cli:setup", username="bob", role="caseworker", password=PASSWORD)
    users.add_user(node, "cli:setup", username="ada", role="admin", password=PASSWORD)
    for spec in sample_partners():
        members.add(node, "cli:setup", spec)
    members.add(node, "cli:setup", {"id": "de-bka", "name": "BKA", "kind": "law-enforcement", "country": "DE",
                                    "languages": ["de", "en"], "endpoint": "http://127.0.0.1:9/",
                                    "keys": [sample_partners()[0]["keys"][0]]})
    ids: dict[str, str] = {}

    def incoming(type_: str, fields: dict[str, Any], partner: str = "fr-pharos") -> str:
        made = service.create(node, "247-desk", {"type": type_, "partner": partner, "direction": "incoming",
                                                  "via": "24/7 network e-mail", "fields": dict(fields)})
        return str(made["id"])

    ids["preservation"] = incoming("preservation", PRESERVATION_FIELDS)
    ids["stored"] = incoming("stored-data", STORED_DATA_FIELDS)
    ids["emergency"] = incoming("emergency", samples.sample_fields("emergency", node.now())[0])
    ids["preserved"] = incoming("preservation", PRESERVATION_FIELDS, partner="gb-helpline")
    for event in ("acknowledge", "start", "preserve"):
        service.act(node, "247-desk", ids["preserved"], event)
    ids["late"] = incoming("stored-data", STORED_DATA_FIELDS)
    with node.write("cli:setup") as uow:  # received 40 days ago: its deadline has passed
        uow.conn.execute(sa.update(requests_t).where(requests_t.c.id == ids["late"])
                         .values(started_at=node.now() - timedelta(days=40)))
        uow.record("test.backdate", f"request:{ids['late']}", {"started_at": "40 days ago"})
    held = service.create(node, "bob", {"type": "preservation", "partner": "fr-pharos", "fields": PRESERVATION_FIELDS})
    service.submit(node, "bob", held["id"])
    ids["outgoing"] = str(held["id"])
    return ids


@pytest.fixture(scope="module")
def desk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    home = tmp_path_factory.mktemp("desk") / "gb-node"
    node, _ = init_node(home, name="UK Central Authority", country="GB", kind="central-authority")
    ids = _seed(node)
    node.close()
    proc = ServerProcess(home=home, args=("--no-worker",))
    proc.start()
    yield proc, ids
    proc.stop()


@pytest.fixture
def desk(chromium: Any, desk_server: tuple[ServerProcess, dict[str, str]]) -> Iterator[tuple[Watched, dict[str, str]]]:  # noqa: F811
    server, ids = desk_server
    context = chromium.new_context(base_url=server.url, viewport={"width": 1280, "height": 900},
                                   locale="en-GB", timezone_id="UTC", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/console/sign-in")
    w = Watched(page)
    _sign_in(w, "bob")
    sync_api.expect(page.get_by_role("heading", level=1)).to_have_text("Home")
    yield w, ids
    context.close()


def _h1(page: Any) -> Any:
    return page.get_by_role("heading", level=1)


def test_the_desk_lists_inbox_and_outbox_and_puts_overdue_first(desk: tuple[Watched, dict[str, str]]) -> None:
    w, ids = desk
    page = w.page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Desk").click()
    sync_api.expect(_h1(page)).to_have_text("Desk")
    board = page.locator("table.board tbody tr")
    assert "overdue by" in board.first.inner_text() and ids["late"] in board.first.inner_text()
    assert page.locator("table.board").get_by_text("Preservation clock (60 days)").count() >= 1
    emergency = page.locator("table.board tbody tr", has_text=ids["emergency"])
    assert re.search(r"\d+ h \d\d min", emergency.first.inner_text())  # an emergency counts in hours
    inbox = page.locator("table.requests tbody tr")
    assert inbox.count() >= 5
    w.check("desk")
    page.get_by_role("link", name="Outbox (requests we make)").click()
    sync_api.expect(page.locator("table.requests tbody tr")).to_have_count(1)
    assert ids["outgoing"] in page.locator("table.requests").inner_text()
    w.check("desk-outbox")
    page.goto("/console/desk?box=inbox")
    page.get_by_label("Due").select_option("overdue")
    page.get_by_role("button", name="Filter").click()
    sync_api.expect(page.locator("table.requests tbody tr")).to_have_count(1)
    assert ids["late"] in page.locator("table.requests").inner_text()
    w.check("desk-filtered")


def test_compose_with_a_problem_fixed_on_the_way_then_the_gate_decides(desk: tuple[Watched, dict[str, str]]) -> None:
    w, _ = desk
    page = w.page
    page.goto("/console/desk")
    page.get_by_role("link", name="Compose a request").click()
    sync_api.expect(_h1(page)).to_have_text("Compose a request")
    page.get_by_label("Type of request").select_option("preservation")
    page.get_by_role("button", name="Start from the template").click()
    field = page.get_by_label(re.compile("^Summary of the relevant facts"))
    sync_api.expect(field).not_to_be_empty()
    field.fill("")  # the live check names the problem beside the field, with its article
    problems = page.locator("#problems-facts_summary")
    sync_api.expect(problems).to_contain_text("is required")
    sync_api.expect(problems).to_contain_text("Art. 42")
    w.check("compose-problem")
    field.fill("Victims in the United Kingdom were defrauded through the account below, hosted in France.")
    sync_api.expect(problems).to_be_empty()
    page.get_by_label(re.compile("^Partner")).select_option("fr-pharos")
    page.get_by_role("button", name="Submit (the gate decides)").click()
    sync_api.expect(page.get_by_role("status").first).to_contain_text("Done: submit")
    sync_api.expect(page.locator(".decision-allow").first).to_be_visible()
    w.check("request-submitted")

    # the same to a partner whose standing records concerns: the gate asks for a named reviewer
    page.goto("/console/compose?type=stored-data&template=1")
    page.get_by_label(re.compile("^Partner")).select_option("de-bka")
    page.get_by_role("button", name="Submit (the gate decides)").click()
    alert = page.get_by_role("alert")
    sync_api.expect(alert).to_contain_text("Review required")
    sync_api.expect(alert).to_contain_text("GATE-CONCERNS")
    sync_api.expect(alert).to_contain_text("UNCC Art. 24")
    w.check("compose-gate-review")
    page.get_by_label("Reviewer's name").fill("M. Reviewer, Head of Unit")
    page.get_by_role("button", name="Record the review").click()
    page.get_by_role("button", name="Submit", exact=True).click()
    sync_api.expect(page.locator("p.lead .state")).to_have_text("submitted")


def test_an_incoming_preservation_moves_by_its_buttons_only(desk: tuple[Watched, dict[str, str]]) -> None:
    w, ids = desk
    page = w.page
    page.goto(f"/console/requests/{ids['preservation']}")
    moves = page.locator("#moves-heading + p + .moves button")
    sync_api.expect(moves).to_have_text(["Acknowledge", "Ask for more information", "Consult the requesting State",
                                         "Withdraw"])
    for name in ("Acknowledge", "Start work", "Record the preservation"):
        page.get_by_role("button", name=name, exact=True).click()
        sync_api.expect(page.get_by_role("status").first).to_contain_text("Done")
    sync_api.expect(page.locator("p.lead .state")).to_have_text("preserved")
    assert "Preservation (running)" in page.locator("#deadlines-heading + ul").inner_text()
    sync_api.expect(page.locator("#moves-heading + p + .moves button")).to_have_text(
        ["Extend the preservation", "Release the data", "Record the expiry"])
    timeline = page.locator("table.timeline tbody tr")
    assert any("request.preserve" in t for t in timeline.all_inner_texts())
    w.check("request-preserved")
    response = page.request.get(f"/console/requests/{ids['preservation']}/form.pdf")
    assert response.status == 200 and response.body().startswith(b"%PDF")


def test_a_refusal_needs_a_consultation_then_a_ground(desk: tuple[Watched, dict[str, str]]) -> None:
    w, ids = desk
    page = w.page
    page.goto(f"/console/requests/{ids['stored']}")
    assert page.get_by_role("radio", name="refused").count() == 0  # consult first (Art. 40(~28))
    page.get_by_role("button", name="Consult the requesting State").click()
    sync_api.expect(page.locator("p.lead .state")).to_have_text("consultation")
    page.get_by_role("radio", name="refused").check()
    page.get_by_role("button", name="Send the response").click()
    alert = page.get_by_role("alert")  # no reasons, no ground: every problem, each with its article
    sync_api.expect(alert).to_contain_text("reasons must be given for a refusal")
    w.check("request-refusal-problems")
    page.get_by_role("radio", name="refused").check()
    page.get_by_label("Reasons (required to refuse, postpone or partly execute)").fill(
        "Disclosure would prejudice an ongoing national security investigation.")
    page.get_by_role("checkbox", name=re.compile("REFUSE-ESSENTIAL-INTERESTS")).check()
    page.get_by_role("button", name="Send the response").click()
    sync_api.expect(page.locator("p.lead .state")).to_have_text("refused")
    assert page.locator("#moves-heading").count() == 0  # final: no move left, no review either
    assert page.locator("#review-heading").count() == 0
    response = page.locator("#response-heading + dl").inner_text()
    assert "REFUSE-ESSENTIAL-INTERESTS" in response and "Art. 40" in response
    w.check("request-refused")


def test_evidence_attached_exported_and_verified(desk: tuple[Watched, dict[str, str]]) -> None:
    w, ids = desk
    page = w.page
    page.goto(f"/console/requests/{ids['late']}")
    # A stored-data request is held until its dual criminality is assessed: the gate decides
    # again before any hand-over (the export below) and before the work starts.
    page.get_by_label("Dual criminality (UNCC Art. 40(~9))").select_option("met")
    page.get_by_role("button", name="Record the assessment").click()
    sync_api.expect(page.locator(".fields .decision").first).to_have_text("allow")
    page.get_by_label("File", exact=True).set_input_files(
        {"name": "subscriber-data.csv", "mimeType": "text/csv",
         "buffer": b"account,ip\nkid@mail.example,198.51.100.7\n"})
    page.get_by_label("Description", exact=True).fill("Subscriber data as the provider gave it")
    page.get_by_role("button", name="Attach").click()
    sync_api.expect(page.get_by_role("status").first).to_contain_text("Done: evidence")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export the signed package").click()
    assert download.value.suggested_filename.endswith("-evidence.zip")
    page.get_by_role("button", name="Verify the package").click()
    sync_api.expect(page.get_by_role("status").first).to_contain_text("The evidence package verifies.")
    w.check("request-evidence-verified")
    actions = page.locator("table.timeline").inner_text()
    assert "evidence.add" in actions and "evidence.export" in actions
    # then the response: worked on, executed
    for name in ("Acknowledge", "Start work"):
        page.get_by_role("button", name=name, exact=True).click()
        sync_api.expect(page.get_by_role("status").first).to_contain_text("Done")
    page.get_by_role("radio", name="executed", exact=True).check()
    page.get_by_role("checkbox", name="subscriber-data.csv").check()
    page.get_by_role("button", name="Send the response").click()
    sync_api.expect(page.locator("p.lead .state")).to_have_text("executed")
    assert "request.response.executed" in page.locator("table.timeline").inner_text()
    assert "subscriber-data.csv" in page.locator("#response-heading + dl").inner_text()
    w.check("request-executed")


def test_partners_with_standing_history_and_an_assessment(desk: tuple[Watched, dict[str, str]],
                                                        chromium: Any) -> None:  # noqa: F811
    w, _ = desk
    page = w.page
    page.goto("/console/partners")
    sync_api.expect(_h1(page)).to_have_text("Partners")
    assert page.locator("section[aria-labelledby=peers-heading] tbody tr").count() == 1  # BKA has an endpoint
    w.check("partners")
    page.get_by_role("link", name="BKA").first.click()
    sync_api.expect(_h1(page)).to_have_text("BKA")
    assert page.get_by_role("button", name="Record the assessment").count() == 0  # caseworkers do not assess
    page.get_by_role("button", name="Sign out").click()
    _sign_in(w, "ada")
    page.goto("/console/partners/de-bka")
    page.get_by_label(re.compile("^Standing")).select_option("good")
    page.get_by_label(re.compile("^Assessor")).fill("A. Analyst")
    page.get_by_role("button", name="Record the assessment").click()
    sync_api.expect(page.get_by_role("alert")).to_be_visible()  # no findings, no article
    sync_api.expect(page.locator("#e-findings")).to_contain_text("state the findings")
    page.get_by_label("Findings").fill("Independent judiciary; remedies available; data protection law in force.")
    page.get_by_label(re.compile("^Articles")).fill("6, UNCC Art. 24")
    page.get_by_role("button", name="Record the assessment").click()
    sync_api.expect(page.get_by_role("status").first).to_contain_text("the standing is now good")
    sync_api.expect(page.locator("section[aria-labelledby=history-heading] tbody tr")).to_have_count(1)
    w.check("partner")


def test_the_desk_in_french(desk: tuple[Watched, dict[str, str]]) -> None:
    w, _ = desk
    page = w.page
    page.goto("/console/desk")
    page.get_by_label("Language").select_option("fr")
    page.get_by_role("button", name="Change").click()
    sync_api.expect(_h1(page)).to_have_text("Bureau")
    w.check("desk-fr")
    page.goto("/console/compose?type=preservation&template=1")
    sync_api.expect(_h1(page)).to_have_text("Rédiger une demande")
    w.check("compose-fr")
    page.get_by_label("Langue").select_option("en")
    page.get_by_role("button", name="Changer").click()
