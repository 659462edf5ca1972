"""CSV import (URLhaus dumps, our columns, value lists) and export; every reject names its line."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanoi.core.errors import InvalidInput
from hanoi.core.tlp import TLP
from hanoi.signals.formats import detect_format, parse_document
from hanoi.signals.formats.csv import COLUMNS, MAX_FIELD, MAX_RECORD_LINES, parse_csv, to_csv

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
        # The words the classification table reads: URLhaus's threat, then its tags.
        "terms": [("urlhaus_threat", "malware_download"), ("tag", "32-bit"), ("tag", "elf"), ("tag", "mips"),
                  ("tag", "Mozi")],
    }
    assert reports[1]["last_seen"] is None and reports[1]["value"] == "https://bad.example/payload.exe"
    assert [(r.ref, r.type) for r in rejects] == [("line 12", "url")]
    assert detect_format(URLHAUS.encode()[:500], "csv_recent.txt").name == "csv"


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


def test_a_first_line_with_columns_must_be_a_header() -> None:
    with pytest.raises(InvalidInput, match="header"):
        parse_csv("url,http://a.example/\n", best_effort=True)
    with pytest.raises(InvalidInput, match="header") as caught:
        parse_csv("# notes\nindicator,kind\nhttp://a.example/,url\n", best_effort=True)
    assert "line 2" in caught.value.problems[0].message
    with pytest.raises(InvalidInput, match="no header and no rows"):
        parse_csv("# only a comment\n\n", best_effort=True)


def test_a_line_that_is_not_utf8_is_rejected_by_its_number() -> None:
    data = b"type,value\ndomain,a.example\nurl,\xff\ndomain,b.example\n"
    reports, rejects = parse_csv(data, best_effort=True)
    assert [r["value"] for r in reports] == ["a.example", "b.example"]
    assert [(r.ref, r.reason) for r in rejects] == [("line 3", "not UTF-8 text: save the file as UTF-8")]
    with pytest.raises(InvalidInput) as caught:
        parse_csv(data, best_effort=False)
    assert [p.field for p in caught.value.problems] == ["line 3"]
    # Inside a quoted cell spanning lines: the record is rejected by its first line.
    data = b'value,description\na.example,"one\n\xff two"\nb.example,x\n'
    reports, rejects = parse_csv(data, best_effort=True)
    assert [r["value"] for r in reports] == ["b.example"]
    assert [(r.ref, r.reason) for r in rejects] == [("line 2", "not UTF-8 text (its line 3): save the file as UTF-8")]
    # A byte-order mark is not part of the first cell.
    reports, _ = parse_csv(b"\xef\xbb\xbfvalue\nc.example\n", best_effort=False)
    assert reports[0]["value"] == "c.example"


def test_a_value_list_has_its_type_detected_or_given() -> None:
    data = "# scam numbers from the helpline\n+33 6 12 34 56 78\n\nhxxp://pay[.]example/x\nnot a value at all\n"
    reports, rejects = parse_csv(data, best_effort=True, default_tlp=TLP.GREEN)
    assert [(r["ref"], r["type"], r["value"], r["tlp"]) for r in reports] == [
        ("line 2", "phone", "+33612345678", "GREEN"), ("line 4", "url", "http://pay.example/x", "GREEN")]
    assert [r.ref for r in rejects] == ["line 5"] and "not recognisably" in rejects[0].reason
    reports, rejects = parse_csv("example.com\nexample.org\n", best_effort=True, type_name="domain")
    assert [(r["type"], r["value"]) for r in reports] == [("domain", "example.com"), ("domain", "example.org")]
    reports, rejects = parse_csv("+33612345678\nnot-an-iban\n", best_effort=True, type_name="iban")
    assert reports == [] and [r.ref for r in rejects] == ["line 1", "line 2"]
    assert rejects[0].type == "iban"
    with pytest.raises(InvalidInput, match="not a signal type"):
        parse_csv("example.com\n", best_effort=True, type_name="colour")


def test_a_value_list_line_with_columns_is_rejected() -> None:
    reports, rejects = parse_csv("a.example\nb.example,c.example\nd.example\n", best_effort=True)
    assert [r["value"] for r in reports] == ["a.example", "d.example"]
    assert [r.ref for r in rejects] == ["line 2"] and "no header" in rejects[0].reason


def test_an_unclosed_quote_rejects_its_line_only() -> None:
    data = 'value,tags\na.example,x\n"b.example,y\nc.example,z\nd.example,w\n'
    reports, rejects = parse_csv(data, best_effort=True)
    assert [r["value"] for r in reports] == ["a.example", "c.example", "d.example"]
    assert [r.ref for r in rejects] == ["line 3"] and "never closed" in rejects[0].reason
    # A quoted cell may span lines (up to a bound), comments and blank lines inside it included.
    spanning = 'value,description\na.example,"one\n# not a comment\n\nfour"\nb.example,x\n'
    reports, rejects = parse_csv(spanning, best_effort=False)
    assert [(r["ref"], r["description"]) for r in reports] == [
        ("line 2", "one\n# not a comment\n\nfour"), ("line 6", "x")]
    too_long = "value,description\na.example,\"" + "x\n" * MAX_RECORD_LINES + "\"\nb.example,y\n"
    reports, rejects = parse_csv(too_long, best_effort=True)
    assert [r.ref for r in rejects][:1] == ["line 2"] and reports[-1]["value"] == "b.example"


def test_an_oversized_field_is_rejected_naming_its_line() -> None:
    data = "value,description\na.example," + "d" * (MAX_FIELD + 1) + "\nb.example,ok\n"
    reports, rejects = parse_csv(data, best_effort=True)
    assert [r["value"] for r in reports] == ["b.example"]
    assert [r.ref for r in rejects] == ["line 2"] and "longer than" in rejects[0].reason


def test_our_other_columns_are_read_too() -> None:
    # The columns the earlier report CSV wrote: expires_at, conditions, ';'-separated tags.
    data = ("type,value,tlp,abuse_type,confidence,first_seen,last_seen,tags,expires_at,conditions,recipients,colour\n"
            "domain,a.example,AMBER,UNCC-13,70,,,bank;sms,2030-01-01T00:00:00Z,Do not act on it,de-bka;nl-police,red\n"
            "domain,b.example,AMBER,UNCC-13,70,,,,,,,\n")
    notes: list[str] = []
    reports, rejects = parse_csv(data, best_effort=False, notes=notes)
    assert rejects == [] and notes == ["line 1: columns ignored: colour"]
    first, second = reports
    assert first["tags"] == ["bank", "sms"] and first["expires"] == "2030-01-01T00:00:00Z"
    assert first.get("conditions") == "Do not act on it" and first.get("recipients") == ["de-bka", "nl-police"]
    assert "conditions" not in second and "recipients" not in second


def test_an_uncommented_urlhaus_header_is_read() -> None:
    data = ('id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter\n'
            '"9","2024-06-01 12:01:03","http://a.example/x","online","","malware_download","exe",'
            '"https://urlhaus.abuse.ch/url/9/","x"\n')
    (only,), rejects = parse_csv(data, best_effort=False)
    assert rejects == []
    assert (only["ref"], only["source"], only["tags"]) == ("line 2", "URLhaus", ["malware_download", "exe"])


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
    assert [{k: v for k, v in r.items() if k not in ("ref", "terms")} for r in back] == [
        {k: v for k, v in r.items() if k != "ref"} for r in reports
    ]
    assert [r["terms"] for r in back] == [[("tag", "phishing"), ("tag", "bank")], []]


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
    assert detect_format(b"\xef\xbb\xbftype,value\nurl,http://a.example/\n", None).name == "csv"
