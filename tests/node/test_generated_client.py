"""Partners generate their clients from the OpenAPI document: `openapi-python-client` builds one
without a warning, and it drives the API: a request created and submitted, signals reported and
looked up, hashes listed and matched; a refusal comes back as a typed problem naming its article."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hanoi.api.app import create_app
from hanoi.core.roles import Role
from hanoi.demo import sample_partners
from hanoi.media.pdq import hash_path
from hanoi.node import members
from hanoi.node.runtime import Node
from hanoi.requests.samples import PRESERVATION_FIELDS
from tests.node.contract import Contract
from tests.paths import PDQ_FIXTURES

BIN = Path(sys.executable).parent
PACKAGE = "hanoi_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client generated from this node's document, importable as ``hanoi_client``."""
    from hanoi.bootstrap import init_node

    where = tmp_path_factory.mktemp("client")
    node, _ = init_node(where / "node", name="Spec", country="GB", kind="central-authority")
    (where / "openapi.json").write_text(json.dumps(create_app(node).openapi()))
    node.close()
    # The evidence package is a zip: the generator reads it as bytes when told (docs/architecture.md).
    (where / "config.yaml").write_text(f"package_name_override: {PACKAGE}\nproject_name_override: hanoi-client\n"
                                       "content_type_overrides:\n  application/zip: application/octet-stream\n")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run([str(BIN / "openapi-python-client"), "generate", "--path", "openapi.json",
                           "--config", "config.yaml", "--meta", "none", "--output-path", PACKAGE],
                          cwd=where, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr  # nothing was dropped
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def client_for(generated: ModuleType, app: Any, token: str) -> Any:
    """The generated client, talking to ``app`` in process (its httpx client is a TestClient)."""
    test_client = TestClient(app, base_url="http://testserver", headers={"Authorization": f"Bearer {token}"})
    test_client.event_hooks["response"].append(Contract(app.openapi()).check)
    client = generated.AuthenticatedClient(base_url="http://testserver", token=token)
    client.set_httpx_client(test_client)
    return client


def test_a_generated_client_drives_the_api(generated: ModuleType, node: Node,
                                           role_tokens: dict[Role, str]) -> None:
    for spec in sample_partners():
        members.add(node, "setup", spec)
    app = create_app(node)
    caseworker = client_for(generated, app, role_tokens[Role.CASEWORKER])
    analyst = client_for(generated, app, role_tokens[Role.ANALYST])
    platform = client_for(generated, app, role_tokens[Role.PLATFORM])
    models = importlib.import_module(f"{PACKAGE}.models")
    api = f"{PACKAGE}.api"
    requests_create = importlib.import_module(f"{api}.requests.requests_create")
    requests_submit = importlib.import_module(f"{api}.requests.requests_submit")
    signals_report = importlib.import_module(f"{api}.signals.signals_report")
    signals_lookup = importlib.import_module(f"{api}.signals.signals_lookup")
    media_create_list = importlib.import_module(f"{api}.media.media_create_list")
    media_submit = importlib.import_module(f"{api}.media.media_submit")
    media_match = importlib.import_module(f"{api}.media.media_match")

    # a request: an incomplete draft is refused on submit, each problem with its article
    draft = requests_create.sync(client=caseworker, body=models.RequestNew(
        type_="preservation", partner="fr-pharos",
        fields=models.RequestNewFieldsType0.from_dict({"offence_code": "UNCC-13", "language": "en"})))
    assert isinstance(draft, models.Request) and draft.state == "draft"
    refused = requests_submit.sync(client=caseworker, request_id=draft.id)
    assert isinstance(refused, models.ProblemDetails) and refused.status == 422
    assert any(p.field == "data_concerned" and p.citation == "UNCC Art. 42(~3(c))" for p in refused.errors)

    complete = requests_create.sync(client=caseworker, body=models.RequestNew(
        type_="preservation", partner="fr-pharos",
        fields=models.RequestNewFieldsType0.from_dict(PRESERVATION_FIELDS)))
    submitted = requests_submit.sync(client=caseworker, request_id=complete.id)
    assert isinstance(submitted, models.RequestSubmitted), submitted
    assert submitted.state == "submitted" and submitted.decision.outcome == "allow"
    assert submitted.delivery.federated is (submitted.partner.endpoint is not None)

    # signals: report, then look up (answered in order)
    stored = signals_report.sync(client=analyst, body=models.SignalReport(
        value="https://invest-fortune.example/login", tlp="CLEAR", abuse_type="UNCC-13"))  # a platform sees CLEAR
    assert isinstance(stored, models.ReportSummary) and stored.stored == 1
    found = signals_lookup.sync(client=platform, body=models.Lookup(
        values=["https://invest-fortune.example/login", "https://elsewhere.example/"]))
    assert isinstance(found, models.LookupResult)
    assert [r.match for r in found.results] == [True, False]

    # media: a list, a hash, a match of an edited copy
    original = hash_path(PDQ_FIXTURES / "bridge-mods" / "aaa-orig.jpg")
    edited = hash_path(PDQ_FIXTURES / "bridge-mods" / "sharpen-a-lot.jpg")
    assert original.pdq is not None and edited.pdq is not None
    hash_list = media_create_list.sync(client=analyst, body=models.HashListSettings(name="NCII", category="ncii"))
    assert isinstance(hash_list, models.HashList)
    listed = media_submit.sync(client=analyst, list_id=hash_list.id, body=models.HashSubmission(
        hashes=[models.HashIn(pdq=original.pdq.hash, quality=original.pdq.quality)], case_ref="RPH-1"))
    assert isinstance(listed, models.HashesStored) and listed.stored == 1
    matched = media_match.sync(client=platform, body=models.MatchQuery(pdq=[edited.pdq.hash]))
    assert isinstance(matched, models.MatchResult)
    assert [(m.list_id, m.query) for m in matched.matches] == [(hash_list.id, 0)]
