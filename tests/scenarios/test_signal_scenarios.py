"""Signals at the CLI: a partner's personal data stay home without its consent; infrastructure
follows its TLP; a mistyped IBAN is a checksum error."""

from __future__ import annotations

import json

from tests.scenarios.conftest import Desk


def seen_by(desk: Desk, value: str, member: str) -> bool:
    f = desk.tmp / "values.txt"
    f.write_text(value + "\n")
    code, out, err = desk("signals", "lookup", str(f), "--to", member, "--json")
    assert code == 0, err
    return bool(json.loads(out.splitlines()[0])["match"])


def test_personal_data_need_consent_infrastructure_follows_tlp(desk: Desk) -> None:
    desk.ok("signals", "add", "invest-fortune.example", "--tlp", "GREEN", "--offence", "UNCC-13",
            "--source", "fr-pharos", "--related", "phone:+33612345678")
    assert seen_by(desk, "invest-fortune.example", "gb-helpline")  # infrastructure: GREEN, shared
    assert not seen_by(desk, "+33612345678", "gb-helpline")  # personal data: no consent stated
    assert seen_by(desk, "+33612345678", "fr-pharos")  # the originator sees its own report
    desk.ok("signals", "add", "+33612345678", "--type", "phone", "--tlp", "GREEN", "--offence", "UNCC-13",
            "--source", "fr-pharos", "--consent")
    assert seen_by(desk, "+33612345678", "gb-helpline")
    assert not seen_by(desk, "invest-fortune.example", "qz-ministry")  # suspended: nothing


def test_a_mistyped_iban_is_a_checksum_error(desk: Desk) -> None:
    code, _, err = desk("signals", "add", "GB82 WEST 1234 5698 7654 33", "--tlp", "GREEN", "--offence", "UNCC-13")
    assert code == 1 and "checksum" in err and "cannot tell" not in err
    desk.ok("signals", "add", "GB82 WEST 1234 5698 7654 32", "--tlp", "GREEN", "--offence", "UNCC-13")
