"""Signal reports and CSV lists: every problem named by field and line, round trips exact."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from hanoi.core.errors import InvalidInput
from hanoi.signals.csvio import CsvReject, read_reports, write_reports
from hanoi.signals.reports import validate_report
from hanoi.signals.tlp import TLP

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
"2","2026-11-01 10:00:02","http://a.example/
b","offline","","malware_download","","u","r"
"3","2026-11-01 10:00:03","http://c.example/","offline","","phishing"
'''


def test_urlhaus_rows_keep_their_line_numbers() -> None:
    rows = list(read_reports(io.StringIO(URLHAUS)))
    assert isinstance(rows[0], dict) and rows[0]["ref"] == "line 2"
    assert rows[0]["tags"] == ["malware_download", "elf", "mirai"]
    assert rows[0]["first_seen"] == "2026-11-01T10:00:01Z"
    assert isinstance(rows[1], dict) and rows[1]["ref"] == "line 3"  # a quoted field on 2 lines
    assert isinstance(rows[2], CsvReject) and rows[2].ref == "line 5" and "columns" in rows[2].message


def test_our_csv_reads_back_what_it_wrote() -> None:
    d = validate_report({"type": "url", "value": "hxxp://scam.example[.]com/x", "tlp": "GREEN",
                         "abuse_type": "UNCC-13", "tags": ["bank", "sms"], "confidence": 90},
                        now=NOW)
    out = io.StringIO()
    write_reports([d.as_dict()], out)
    (row,) = list(read_reports(io.StringIO(out.getvalue())))
    assert isinstance(row, dict)
    again = validate_report({k: v for k, v in row.items() if k != "ref"}, now=NOW)
    assert again.as_dict() == d.as_dict()
