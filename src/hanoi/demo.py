"""`hanoi demo`: a node with sample partners, served on loopback, to explore.

It creates a UK central authority's node in a fresh directory, registers partners (a French
24/7 point of contact in good standing, a UK helpline, a platform, and a fictional State whose
standing a safeguards assessment suspended), checks the ledger, and serves the API until
Ctrl-C. ``--once`` plays the same, verifies, and exits (non-zero on any failure).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table

from hanoi.core import keys
from hanoi.services import ledger, members, tokens
from hanoi.services.node import Node, init_node

ASSESSED_GOOD = {
    "standing": "good", "assessor": "Safeguards desk, UK Central Authority",
    "findings": "Independent judicial authorisation of coercive measures; effective remedies.",
    "articles": ["6", "24"], "sources": ["Bilateral review 2026"],
}
ASSESSED_SUSPENDED = {
    "standing": "suspended", "assessor": "Safeguards board, UK Central Authority",
    "findings": "Cooperation requests used to locate and prosecute journalists for their reporting.",
    "articles": ["6", "40(22)"], "sources": ["UN Special Rapporteur report 2026", "NGO dossier 17"],
}


def sample_partners() -> list[dict[str, Any]]:
    def key() -> str:
        return keys.public_key_b64(keys.generate_private_key())

    return [
        {"id": "fr-pharos", "name": "PHAROS / OFAC 24/7 point of contact", "kind": "contact-point",
         "country": "FR", "state_status": "party", "languages": ["fr", "en"], "available_24_7": True,
         "keys": [key()], "contacts": [{"name": "Duty officer", "role": "24/7", "email": "247@example.fr"}],
         "assessment": ASSESSED_GOOD},
        {"id": "gb-helpline", "name": "Revenge Porn Helpline", "kind": "hotline", "country": "GB",
         "state_status": "party", "languages": ["en"], "keys": [key()], "assessment": ASSESSED_GOOD},
        {"id": "platform", "name": "Example Platform Trust & Safety", "kind": "platform", "country": "IE",
         "state_status": "signatory", "languages": ["en"], "available_24_7": True, "keys": [key()],
         "assessment": {**ASSESSED_GOOD, "findings": "Signed data-protection terms; transparency reports."}},
        {"id": "qz-ministry", "name": "Ministry of Public Order of Qazaria", "kind": "central-authority",
         "country": "QZ", "state_status": "non-party", "languages": ["en"], "keys": [key()],
         "assessment": ASSESSED_SUSPENDED},
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(directory: Path, *, once: bool, port: int | None, console: Console) -> int:
    if directory.exists():
        shutil.rmtree(directory)
    home = directory / "gb-central-authority"
    node, admin = init_node(home, name="UK Central Authority", country="GB", kind="central-authority")
    actor = "demo"
    for spec in sample_partners():
        members.add(node, actor, spec)
    auditor, _ = tokens.create(node, actor, name="demo auditor", role="auditor")
    caseworker, _ = tokens.create(node, actor, name="demo caseworker", role="caseworker")

    table = Table("member", "kind", "State", "status", "standing", title="Partners of the UK Central Authority")
    for m in members.list_members(node):
        table.add_row(m["name"], m["kind"], m["country"], m["state_status"], m["standing"])
    console.print(table)

    port = port or _free_port()
    server = uvicorn.Server(uvicorn.Config(_app(node), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    ok = _wait_healthy(base) and _exercise(base, admin, console)
    result = ledger.verify(node)
    console.print(f"[{'green' if result.ok else 'bold red'}]{result.message()}[/]", highlight=False)
    ok = ok and result.ok
    console.print(f"\nAPI: {base}/api/v1   OpenAPI: {base}/openapi.json   docs: {base}/docs")
    console.print(f"node home: {home}")
    for role, token in (("admin", admin), ("caseworker", caseworker), ("auditor", auditor)):
        console.print(f"{role:>10} token: {token}", highlight=False)
    console.print(f"try: curl -H 'Authorization: Bearer {auditor}' {base}/api/v1/members", highlight=False)
    if not once and ok:
        console.print("\n[bold]running; Ctrl-C to stop[/]")
        try:
            while thread.is_alive():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    server.should_exit = True
    thread.join(timeout=10)
    node.close()
    return 0 if ok else 1


def _app(node: Node) -> Any:
    from hanoi.api.app import create_app

    return create_app(node)


def _wait_healthy(base: str) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            time.sleep(0.1)
    return False


def _exercise(base: str, admin: str, console: Console) -> bool:
    """Call the API as a user would: read the suspended partner, try a standing change without
    an assessment (refused), and read the ledger."""
    h = {"Authorization": f"Bearer {admin}"}
    m = httpx.get(f"{base}/api/v1/members/qz-ministry", headers=h).json()
    refused = httpx.post(f"{base}/api/v1/members/qz-ministry/assessments", headers=h, json={"standing": "good"})
    entries = httpx.get(f"{base}/api/v1/ledger?limit=1000", headers=h).json()["items"]
    console.print(f"qz-ministry standing: {m['standing']} ({m['assessments'][-1]['findings']})")
    console.print(f"standing change without an assessment: HTTP {refused.status_code} "
                  f"({refused.json().get('rule')}, {refused.json().get('citation')})")
    console.print(f"ledger entries: {len(entries)}")
    return (m["standing"] == "suspended" and refused.status_code == 422
            and refused.json().get("rule") == "STANDING-ASSESSED" and len(entries) >= 10)
