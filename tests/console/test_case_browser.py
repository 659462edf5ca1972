"""The demo's preservation-then-stored-data case done in the browser alone, between two real
nodes (`hanoi serve` processes peered and assessed in good standing, their workers delivering):
GB's caseworker in English, FR's in French. Nothing but the two consoles is used once the
nodes are up and each has its caseworker; every page of the case is checked with axe-core and
photographed into build/screenshots/ (case-*.png)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from hanoi.node import users
from tests.console.test_browser import PASSWORD, Watched, chromium, sync_api  # noqa: F401
from tests.node.test_federation_nodes import Served, nodes  # noqa: F401

STATE = "p.lead .state"
Q = "\u2019"  # the French apostrophe of the console's labels


@pytest.fixture
def desks(chromium: Any, nodes: tuple[Served, Served]) -> Iterator[tuple[Watched, Watched, Served, Served]]:  # noqa: F811
    """GB's caseworker signed in on GB's console in English; FR's on FR's console, whose
    browser asks for French (and gets it from the sign-in page on)."""
    gb, fr = nodes
    users.add_user(gb.node, "cli:setup", username="grace", role="caseworker", password=PASSWORD)
    users.add_user(fr.node, "cli:setup", username="francois", role="caseworker", password=PASSWORD)
    contexts = []
    pages = []
    for served, locale, zone, who, labels in (
            (gb, "en-GB", "Europe/London", "grace", ("Username", "Password", "Sign in", "Home")),
            (fr, "fr-FR", "Europe/Paris", "francois", (f"Nom d{Q}utilisateur", "Mot de passe", "Se connecter",
                                                       "Accueil"))):
        context = chromium.new_context(base_url=served.url, viewport={"width": 1280, "height": 900},
                                       locale=locale, timezone_id=zone, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto("/console/sign-in")
        page.get_by_label(labels[0], exact=True).fill(who)
        page.get_by_label(labels[1], exact=True).fill(PASSWORD)
        page.get_by_role("button", name=labels[2], exact=True).click()
        sync_api.expect(page.get_by_role("heading", level=1)).to_have_text(labels[3])
        pages.append(Watched(page))
    yield pages[0], pages[1], gb, fr
    for context in contexts:
        context.close()


def _compose(w: Watched, type_: str, partner: str, **fields: str) -> str:
    """Compose from the type's template on the desk's compose page, submit, return the id."""
    page = w.page
    page.goto("/console/desk")
    page.get_by_role("link", name="Compose a request").click()
    page.get_by_label("Type of request").select_option(type_)
    page.get_by_role("button", name="Start from the template").click()
    page.get_by_label(re.compile("^Partner")).select_option(partner)
    for label, value in fields.items():
        page.get_by_label(re.compile(f"^{label}")).fill(value)
    page.get_by_role("button", name="Submit (the gate decides)").click()
    sync_api.expect(page.get_by_role("status").first).to_contain_text("Done: submit")
    sync_api.expect(page.locator(STATE)).to_have_text("submitted")
    found = re.search(r"/console/requests/([^/?#]+)", page.url)
    assert found, page.url
    return found.group(1)


def _arrives(w: Watched, remote_id: str) -> None:
    """FR's desk, reloaded until the request made by GB (shown by GB's reference) is there;
    then its page, opened from the desk."""
    page = w.page
    for _ in range(300):
        page.goto("/console/desk?box=inbox")
        row = page.locator("table.requests tbody tr", has_text=remote_id)
        if row.count():
            break
        page.wait_for_timeout(200)
    else:
        raise AssertionError(f"{remote_id} never reached FR's desk")
    row.get_by_role("link").first.click()
    sync_api.expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Demande "))


def _until_state(w: Watched, state: str, tries: int = 300) -> None:
    """GB's page of its request, reloaded until the partner's answer has arrived."""
    page = w.page
    for _ in range(tries):
        page.reload()
        if page.locator(STATE).inner_text() == state:
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"still {page.locator(STATE).inner_text()}, never {state}")


def _moves(w: Watched, *buttons: str) -> None:
    for name in buttons:
        w.page.get_by_role("button", name=name, exact=True).click()
        sync_api.expect(w.page.get_by_role("status").first).to_contain_text("Fait")


def test_preservation_then_stored_data_in_the_browser_alone_in_english_and_french(
        desks: tuple[Watched, Watched, Served, Served]) -> None:
    gb, fr, _, fr_node = desks
    fr_id = fr_node.node.node_id

    # 1. GB asks FR to preserve the data
    preservation = _compose(gb, "preservation", fr_id)
    gb.check("case-1-gb-preservation-submitted")

    # FR sees it on its desk and preserves
    _arrives(fr, preservation)
    fr.check("case-2-fr-preservation-received")
    _moves(fr, "Accuser réception", "Commencer le traitement", "Enregistrer la conservation")
    sync_api.expect(fr.page.locator(STATE)).to_have_text("preserved")
    fr.check("case-3-fr-preserved")

    # GB learns it is preserved
    _until_state(gb, "preserved")
    assert "Preservation" in gb.page.locator("#deadlines-heading + ul").inner_text()
    gb.check("case-4-gb-sees-preserved")

    # 2. the stored-data follow-up, referring to the preservation
    follow_up = _compose(gb, "stored-data", fr_id,
                         **{"Reference of the preservation": preservation})
    assert preservation in gb.page.locator("table.request-fields").inner_text()
    gb.check("case-5-gb-follow-up-submitted")

    _arrives(fr, follow_up)
    page = fr.page
    fr.check("case-6-fr-follow-up-received")
    # the gate on receipt waits for FR's own assessment of dual criminality (a named
    # reviewer could decide instead); recorded, the gate decides again and allows
    sync_api.expect(page.locator(".fields .decision").first).to_have_text("review")
    assert "GATE-DUAL-CRIMINALITY" in page.locator("ul.reasons").first.inner_text()
    assert page.locator("#review-heading").count() == 1
    page.get_by_label("Double incrimination (UNCC art. 40(~9))").select_option("met")
    page.get_by_role("button", name=f"Enregistrer l{Q}évaluation").click()
    sync_api.expect(page.get_by_role("status").first).to_contain_text("Fait")
    sync_api.expect(page.locator(".fields .decision").first).to_have_text("allow")
    assert page.locator("#review-heading").count() == 0
    fr.check("case-7-fr-assessed")
    _moves(fr, "Accuser réception", "Commencer le traitement")
    page.get_by_label("Fichier", exact=True).set_input_files(
        {"name": "subscriber.csv", "mimeType": "text/csv",
         "buffer": b"account,created,last_ip\ncontact@invest-fortune.example,2026-02-11,192.0.2.77\n"})
    page.get_by_label("Description", exact=True).fill("Données d'abonné fournies par l'hébergeur")
    page.get_by_role("button", name="Joindre").click()
    sync_api.expect(page.get_by_role("status").first).to_contain_text("Fait")
    page.get_by_role("radio", name="exécuté", exact=True).check()
    page.get_by_label(re.compile("^Motifs")).fill("Données communiquées par l'hébergeur sur ordonnance d'un juge.")
    page.get_by_role("checkbox", name="subscriber.csv").check()
    # handed over under conditions: the proceedings GB named, speciality, data protection
    sync_api.expect(page.get_by_label("Pour la procédure", exact=False)).to_have_value("NCA-2026-FR-0413")
    page.get_by_label("Conditions de protection des données (une par ligne)").fill(
        "Effacer à la fin de la procédure")
    page.get_by_role("button", name="Envoyer la réponse").click()
    sync_api.expect(page.locator(STATE)).to_have_text("executed")
    fr.check("case-8-fr-executed")

    # GB sees it executed, with the evidence, and verifies the package FR signed
    _until_state(gb, "executed")
    page = gb.page
    for _ in range(300):  # the file follows the response in chunks
        if page.locator("#evidence-heading + table", has_text="subscriber.csv").count():
            break
        page.wait_for_timeout(200)
        page.reload()
    assert "subscriber.csv" in page.locator("#response-heading + dl").inner_text()
    page.get_by_role("button", name="Verify the package").click()
    status = page.get_by_role("status").first
    sync_api.expect(status).to_contain_text("The evidence package verifies.")
    sync_api.expect(status).to_contain_text("subscriber.csv: intact")
    gb.check("case-9-gb-verified")

    # FR later consents to onward transfer: GB records it on the request's page
    conditions = page.locator("#response-heading + dl").inner_text()
    assert "NCA-2026-FR-0413" in conditions and "Effacer à la fin de la procédure" in conditions
    refused = page.request.post(f"/console/requests/{follow_up}/consent",  # no CSRF token: refused
                                form={"kind": "onward-transfer", "scope": "Europol", "given_by": "x"})
    assert refused.status == 403
    assert "none recorded" in page.locator("#response-heading + dl").inner_text()
    page.get_by_label("Consent to", exact=True).select_option("onward-transfer")
    page.get_by_label("Scope (the proceedings or the recipient)").fill("Europol, analysis project Cyborg")
    page.get_by_label("Given by", exact=True).fill("Pharos, by letter of 2 December")
    page.get_by_role("button", name="Record the consent").click()
    sync_api.expect(page.get_by_role("status").first).to_contain_text("Done: consent")
    consents = page.locator("#response-heading + dl").inner_text()
    assert "onward-transfer: Europol, analysis project Cyborg · Pharos, by letter of 2 December" in consents
    assert "request.consent" in page.locator("table.timeline").inner_text()
    gb.check("case-10-gb-consent-recorded")
