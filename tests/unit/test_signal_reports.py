"""Signal reports and CSV lists: every problem named by field and line, round trips exact."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from hanoi.core.errors import InvalidInput
from hanoi.core.tlp import TLP
from hanoi.signals.formats.csv import parse_csv, to_csv
from hanoi.signals.reports import validate_report

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(InvalidInput) as err:
        validate_report({"type": "domain", "value": "x" * 400, "tlp": "PURPLE", "abuse_type": "THEFT",
                         "confidence": 101, "expires_at": "2020-01-01", "colour": "red",
                         "related": [{"type": "iban", "value": "FR00 bad"}]},
                        now=NOW, where="line 7: ")
    fields = {p.field for p in err.value.problems}
    assert fields == {"line 7: value", "line 7: tlp", "line 7: abuse_type", "line 7: confidence",
                      "line 7: expires_at", "line 7: colour", "line 7: related[0].value"}
    rules = {p.field: p.rule for p in err.value.problems}
    assert rules["line 7: value"] == "SIGNAL-LIMITS" and rules["line 7: abuse_type"] == "OFFENCE-CATALOGUE"


def test_defaults_fill_gaps_and_a_report_round_trips() -> None:
    d = validate_report({"value": "Example.COM", "related": [{"value": "+33 6 12 34 56 78", "type": "phone"}]},
                        now=NOW, defaults={"tlp": "tlp:amber+strict", "abuse_type": "uncc-13"})
    assert (d.type, d.value, d.tlp, d.abuse_type) == ("domain", "example.com", TLP.AMBER_STRICT, "UNCC-13")
    assert d.related == (("phone", "+33612345678"),) and d.first_seen == d.last_seen == NOW
    assert validate_report(d.as_dict(), now=NOW).as_dict() == d.as_dict()


URLHAUS = '''# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter
"1","2026-11-01 10:00:01","http://1.2.3.4:8080/x","online","","malware_download","elf,mirai","u","r"
"2","2026-11-01 10:00:02","http://a.example/b","offline","","malware_download","exe,
zip","u","r"
"3","2026-11-01 10:00:03","http://c.example/","offline","","phishing"
'''


def test_urlhaus_rows_keep_their_line_numbers() -> None:
    rows, rejects = parse_csv(URLHAUS, best_effort=True)
    assert rows[0]["ref"] == "line 2"
    assert rows[0]["tags"] == ["malware_download", "elf", "mirai"]
    assert rows[0]["first_seen"] == "2026-11-01T10:00:01Z"
    assert rows[1]["ref"] == "line 3" and rows[1]["tags"] == ["malware_download", "exe", "zip"]  # 2 lines
    assert [r.ref for r in rejects] == ["line 5"] and "6 fields, the header has 9" in rejects[0].reason


def _item(row: Mapping[str, Any]) -> dict[str, Any]:
    """A read row as a report item, as the import service builds it (absent fields left out)."""
    item: dict[str, Any] = {k: row[k] for k in ("type", "value", "tlp", "tags")}
    for src, dst in (("confidence", "confidence"), ("abuse_type", "abuse_type"), ("first_seen", "first_seen"),
                     ("last_seen", "last_seen"), ("expires", "expires_at")):
        if row[src] not in (None, ""):
            item[dst] = row[src]
    return item


def test_our_csv_reads_back_what_it_wrote() -> None:
    d = validate_report({"type": "url", "value": "hxxp://scam.example[.]com/x", "tlp": "GREEN",
                         "abuse_type": "UNCC-13", "tags": ["bank", "sms"], "confidence": 90,
                         "expires_at": "2027-01-01T00:00:00Z"},
                        now=NOW)
    written = to_csv([{**d.as_dict(), "expires": d.as_dict()["expires_at"]}])
    (row,), rejects = parse_csv(written, best_effort=False)
    assert rejects == [] and row["ref"] == "line 2"
    again = validate_report(_item(row), now=NOW)
    assert again.as_dict() == d.as_dict()
