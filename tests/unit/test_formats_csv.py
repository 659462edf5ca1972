"""CSV import (URLhaus dumps, generic signal CSV) and export; rejects carry line numbers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanoi.core.errors import InvalidInput
from hanoi.signals.formats import detect_format, parse_document
from hanoi.signals.formats.csv import COLUMNS, parse_csv, to_csv
from hanoi.signals.tlp import TLP

# The layout of https://urlhaus.abuse.ch/downloads/csv_recent/ (rows made up).
URLHAUS = """\
################################################################
# abuse.ch URLhaus Database Dump (CSV - recent URLs only)      #
# Last updated: 2024-06-01 12:05:08 (UTC)                      #
#                                                              #
# Terms Of Use: https://urlhaus.abuse.ch/api/                  #
# For questions please contact urlhaus [at] abuse.ch           #
################################################################
#
# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter
"2871001","2024-06-01 12:01:03","http://198.51.100.7:44112/i","online","2024-06-01 12:01:03","malware_download","32-bit,elf,mips,Mozi","https://urlhaus.abuse.ch/url/2871001/","geenensp"
"2871000","2024-06-01 11:58:41","https://bad.example/payload.exe","offline","","malware_download","exe","https://urlhaus.abuse.ch/url/2871000/","abuse_ch"
"2870999","2024-06-01 11:55:00","http://exa mple..com/x","online","2024-06-01 11:55:00","malware_download","","https://urlhaus.abuse.ch/url/2870999/","anon"
"""


def test_urlhaus_dump_is_read_with_its_columns() -> None:
    reports, rejects = parse_csv(URLHAUS.encode(), best_effort=True, default_tlp=TLP.CLEAR)
    assert reports[0] == {
        "ref": "line 10", "type": "url", "value": "http://198.51.100.7:44112/i", "tlp": "CLEAR",
        "confidence": None, "abuse_type": None, "first_seen": "2024-06-01T12:01:03Z",
        "last_seen": "2024-06-01T12:01:03Z", "expires": None,
        "tags": ["malware_download", "32-bit", "elf", "mips", "Mozi"],
        "description": "URLhaus: malware_download, online", "source": "URLhaus",
        "external_id": "https://urlhaus.abuse.ch/url/2871001/",
    }
    assert reports[1]["last_seen"] is None and reports[1]["value"] == "https://bad.example/payload.exe"
    assert [(r.ref, r.type) for r in rejects] == [("line 12", "url")]
    assert detect_format(URLHAUS.encode()[:500], "csv_recent.txt") == "csv"


GENERIC = """\
type,value,tlp,confidence,abuse_type,first_seen,last_seen,tags
url,hxxp://pay-now[.]example/invoice,amber+strict,80,UNCC-13,2024-05-01T10:00:00Z,,"phishing,invoice"
# an analyst's comment in the middle
,+33 1 42 68 53 00,TLP:RED,,,2024-05-02,,
iban,DE89 3704 0044 0532 0130 00,GREEN,50,,,,

domain,not a domain,GREEN,,,,,
domain,ok.example,PURPLE,,,,,
domain,ok2.example,GREEN,150,,,,
domain,ok3.example,GREEN,,UNCC-99,,,
domain,ok4.example,GREEN,,,last tuesday,,
sha256,abc,GREEN
"""


def test_generic_csv_reads_types_levels_and_rejects_by_line() -> None:
    reports, rejects = parse_csv(GENERIC, best_effort=True)
    assert [(r["ref"], r["type"], r["value"], r["tlp"]) for r in reports] == [
        ("line 2", "url", "http://pay-now.example/invoice", "AMBER+STRICT"),
        ("line 4", "phone", "+33142685300", "RED"),  # type guessed from the value
        ("line 5", "iban", "DE89370400440532013000", "GREEN"),
    ]
    assert reports[0]["tags"] == ["phishing", "invoice"]
    assert reports[0]["abuse_type"] == "UNCC-13" and reports[0]["confidence"] == 80
    assert reports[1]["first_seen"] == "2024-05-02T00:00:00Z"
    reasons = {r.ref: r.reason for r in rejects}
    assert list(reasons) == ["line 7", "line 8", "line 9", "line 10", "line 11", "line 12"]
    assert "host name" in reasons["line 7"]
    assert reasons["line 8"].startswith("tlp:")
    assert "outside 0-100" in reasons["line 9"]
    assert "not an offence code" in reasons["line 10"]
    assert "first_seen" in reasons["line 11"]
    assert "has 3 fields, the header has 8" in reasons["line 12"]


def test_strict_csv_refuses_naming_every_bad_line() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_csv(GENERIC, best_effort=False)
    assert [p.field for p in caught.value.problems] == [f"line {n}" for n in (7, 8, 9, 10, 11, 12)]


def test_a_too_long_value_is_rejected_naming_its_line() -> None:
    data = "type,value\ndomain,ok.example\nurl,http://a.example/" + "a" * 5000 + "\n"
    reports, rejects = parse_csv(data, best_effort=True)
    assert len(reports) == 1
    assert rejects[0].ref == "line 3" and "too long" in rejects[0].reason
    assert len(rejects[0].raw) < 300  # the import report does not echo 5,000 characters back


def test_multi_line_cells_keep_line_numbers_right() -> None:
    data = 'type,value,description\ndomain,a.example,"two\nlines"\ndomain,bad domain,x\n'
    reports, rejects = parse_csv(data, best_effort=True)
    assert reports[0]["description"] == "two\nlines"
    assert [r.ref for r in rejects] == ["line 4"]


def test_header_is_required() -> None:
    with pytest.raises(InvalidInput, match="header"):
        parse_csv("url,http://a.example/\n", best_effort=True)
    with pytest.raises(InvalidInput, match="UTF-8"):
        parse_csv(b"type,value\nurl,\xff\n", best_effort=True)


def report(type_name: str, value: str, tlp: str, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"ref": "r", "type": type_name, "value": value, "tlp": tlp, "confidence": None,
                           "abuse_type": None, "first_seen": None, "last_seen": None, "expires": None,
                           "tags": [], "description": "", "source": None, "external_id": None}
    out.update(extra)
    return out


def test_export_has_every_column_and_reads_back() -> None:
    reports = [
        report("url", "https://login.example/a?b=1,2", "AMBER+STRICT", confidence=70, abuse_type="UNCC-13",
               first_seen="2024-05-01T10:00:00Z", last_seen="2024-05-02T10:00:00Z",
               expires="2025-01-01T00:00:00Z", tags=["phishing", "bank"], description='said "pay now"',
               source="CERT-X", external_id="indicator--1"),
        report("phone", "+33142685300", "RED"),
    ]
    text = to_csv(reports)
    assert text.splitlines()[0] == ",".join(COLUMNS)
    back, rejects = parse_document(text.encode(), best_effort=False)
    assert rejects == []
    assert [{k: v for k, v in r.items() if k != "ref"} for r in back] == [
        {k: v for k, v in r.items() if k != "ref"} for r in reports
    ]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30), max_size=5))
def test_export_escapes_any_description(descriptions: list[str]) -> None:
    reports = [report("domain", f"d{i}.example", "GREEN", description=d.strip()) for i, d in enumerate(descriptions)]
    back, _ = parse_csv(to_csv(reports), best_effort=False)
    assert [r["description"] for r in back] == [d.strip() for d in descriptions]


def test_unicode_line_separators_inside_cells_are_data() -> None:
    data = "type,value,description\ndomain,a.example,one\u2028two\x85three\n"
    reports, rejects = parse_csv(data, best_effort=False)
    assert reports[0]["description"] == "one\u2028two\x85three" and rejects == []


def test_detect_format_refuses_what_it_cannot_tell() -> None:
    with pytest.raises(InvalidInput, match="empty"):
        detect_format(b"  \n", "x.csv")
    with pytest.raises(InvalidInput, match="neither a STIX bundle nor a MISP"):
        detect_format(b'{"hello": "world"}', "x.json")
    with pytest.raises(InvalidInput, match="named as JSON"):
        detect_format(b"type,value\n", "signals.json")
    assert detect_format(b"\xef\xbb\xbftype,value\nurl,http://a.example/\n", None) == "csv"
