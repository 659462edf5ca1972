"""The printable request: every field with its citation, missing fields marked, escaping, PDF."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from html import unescape
from typing import Any

import pytest
from markupsafe import escape
from pypdf import PdfReader

from hanoi.core.citations import RULES
from hanoi.core.errors import InvalidInput
from hanoi.requests import contents
from hanoi.requests.render import MISSING, find_fonts, render_html, render_pdf, request_view

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SCRIPT = "<script>alert('x')</script>"


def make_request(code: str = "preservation", fields: dict[str, Any] | None = None,
                 **extra: Any) -> dict[str, Any]:
    fields = {} if fields is None else fields
    return {
        "id": "REQ-2026-0001",
        "type": code,
        "state": "draft",
        "requester": {"name": "Bộ Công an", "country": "VN"},
        "recipient": {"name": "Police nationale", "country": "FR"},
        "created_at": "2026-03-01T09:00:00Z",
        "submitted_at": None,
        "fields": fields,
        "checklist": contents.checklist(code, fields, NOW),
        "decision": None,
        "timeline": [{"ts": "2026-03-01T09:00:00Z", "action": "create", "actor": "cli:lan",
                      "state": "draft"}],
        "deadlines": [],
        **extra,
    }


PRESERVATION = {
    "requesting_authority": "Bộ Công an — Cục An ninh mạng",
    "offence_code": "UNCC-13",
    "facts_summary": "Phishing campaign against bank customers.",
    "preservation_necessity": "Logs are deleted after 30 days.",
    "mla_to_follow": True,
    "language": "en",
    "persons_concerned": ["alice@example.org", "Nguyễn Văn A"],
}

DECISION = {
    "outcome": "review",
    "reviewer_required": True,
    "reasons": [{"code": "GATE-CONCERNS", "effect": "review",
                 "citation": RULES["GATE-CONCERNS"].citation,
                 "text": RULES["GATE-CONCERNS"].text, "detail": "standing recorded concerns"},
                {"code": "GATE-NON-PARTY", "effect": "review",
                 "citation": RULES["GATE-NON-PARTY"].citation,
                 "text": RULES["GATE-NON-PARTY"].text, "detail": ""}],
    "conditions": ["no use in other proceedings"],
}

DEADLINES = [{"label": "Production of data", "start": "2026-03-01T09:00:00Z",
              "due_at": "2026-03-11T09:00:00Z", "rule": "DEADLINE-PRODUCTION-10D",
              "citation": RULES["DEADLINE-PRODUCTION-10D"].citation, "source": "profile"}]


def field_row(html: str, name: str) -> str:
    """The HTML table row of one field."""
    start = html.index(f'id="field-{name}"')
    return html[start: html.index("</tr>", start)]


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    return re.sub(r"\s+", " ", text)


# --- HTML ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(contents.REQUEST_TYPES))
def test_html_shows_every_field_with_its_citation(code: str) -> None:
    html = render_html(make_request(code))
    rtype = contents.REQUEST_TYPES[code]
    assert str(escape(rtype.label)) in html
    assert str(escape(RULES[rtype.rule].citation)) in html
    for spec in contents.fields_for(code):
        row = field_row(html, spec.name)
        rule = RULES[spec.rule_code(code)]
        assert str(escape(spec.label)) in row
        assert rule.code in row
        assert str(escape(rule.citation)) in row
        assert str(escape(rule.text)) in row


def test_html_marks_missing_required_fields_only() -> None:
    html = render_html(make_request("preservation", PRESERVATION))
    assert MISSING in field_row(html, "data_concerned")  # required, absent
    assert MISSING in field_row(html, "data_relation")
    assert MISSING not in field_row(html, "case_reference")  # optional, absent
    assert "not given" in field_row(html, "case_reference")
    assert MISSING not in field_row(html, "facts_summary")  # present
    assert "Phishing campaign" in field_row(html, "facts_summary")
    # The checklist's problem and its article are printed with the field.
    assert "is required for a preservation request" in field_row(html, "data_concerned")


def test_html_shows_values() -> None:
    html = render_html(make_request("preservation", PRESERVATION))
    assert "Bộ Công an — Cục An ninh mạng" in field_row(html, "requesting_authority")
    assert "Nguyễn Văn A" in field_row(html, "persons_concerned")
    assert "ICT-related theft or fraud" in field_row(html, "offence_code")
    assert "Yes" in field_row(html, "mla_to_follow")


def test_html_escapes_everything() -> None:
    fields = dict(PRESERVATION, facts_summary=SCRIPT, case_reference='"><img src=x onerror=1>')
    req = make_request("preservation", fields,
                       requester={"name": SCRIPT, "country": "VN"},
                       decision=dict(DECISION, conditions=[SCRIPT]),
                       deadlines=[dict(DEADLINES[0], label=SCRIPT)],
                       timeline=[{"ts": "t", "action": SCRIPT, "actor": "a", "state": "s"}],
                       signatory={"name": SCRIPT})
    html = render_html(req)
    assert "<script" not in html
    assert "<img" not in html
    assert html.count("&lt;script&gt;") >= 6


def test_html_decision_deadlines_and_signature() -> None:
    req = make_request("stored-data", {}, decision=DECISION, deadlines=DEADLINES,
                       signatory={"name": "Trần Thị B", "title": "Prosecutor"})
    html = render_html(req)
    for r in DECISION["reasons"]:
        assert r["code"] in html
        assert str(escape(r["citation"])) in html
        assert str(escape(r["text"])) in html
    assert "standing recorded concerns" in html
    assert "no use in other proceedings" in html
    assert "2026-03-11T09:00:00Z" in html
    assert str(escape(RULES["DEADLINE-PRODUCTION-10D"].citation)) in html
    assert "Trần Thị B" in html and "Prosecutor" in html
    assert "Official seal" in html and "Signature" in html


def test_html_without_decision_says_so() -> None:
    assert "No decision recorded yet" in render_html(make_request())


def test_unknown_type_is_refused() -> None:
    with pytest.raises(InvalidInput):
        render_html(make_request("no-such-type"))


def test_view_lists_fields_in_form_order() -> None:
    view = request_view(make_request("mla"))
    assert [f["name"] for f in view["fields"]] == [f.name for f in contents.fields_for("mla")]


# --- PDF -----------------------------------------------------------------------------------------


def test_pdf_is_a_pdf_with_id_fields_and_citations() -> None:
    req = make_request("preservation", PRESERVATION, decision=DECISION, deadlines=DEADLINES)
    data = render_pdf(req)
    assert data.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(data))
    assert reader.metadata is not None and "REQ-2026-0001" in (reader.metadata.title or "")
    text = pdf_text(data)
    assert "REQ-2026-0001" in text
    for spec in contents.fields_for("preservation"):
        assert spec.label in text
        assert RULES[spec.rule_code("preservation")].citation in text
    assert MISSING in text
    assert "GATE-CONCERNS" in text and RULES["GATE-NON-PARTY"].citation in text
    assert "Production of data" in text
    assert "Official seal" in text


NON_LATIN = {
    "requesting_authority": "Bộ Công an (Việt Nam)",
    "facts_summary": "Иван Петров; فاطمة الزهراء; Ελληνικά; 张伟",
    "persons_concerned": ["Nguyễn Văn A", "Јован Јовановић"],
}


@pytest.mark.skipif(find_fonts()[0] is None, reason="no Unicode TTF on this machine")
def test_pdf_non_latin_text_with_unicode_font() -> None:
    data = render_pdf(make_request("preservation", dict(PRESERVATION, **NON_LATIN)))
    text = pdf_text(data)
    assert "Bộ Công an (Việt Nam)" in text
    assert "Иван Петров" in text
    assert "Ελληνικά" in text


def test_pdf_core_font_fallback_transliterates_and_says_so() -> None:
    data = render_pdf(make_request("preservation", dict(PRESERVATION, **NON_LATIN)),
                      core_fonts_only=True)
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    assert "Bo Công an (Viet Nam)" in text  # Latin-1 kept, the rest without accents
    assert "cannot be shown in this PDF" in text


def test_pdf_core_fonts_note_absent_when_nothing_lost() -> None:
    fields = dict(PRESERVATION, requesting_authority="Police nationale",
                  persons_concerned=["alice@example.org"])
    req = make_request("preservation", fields, requester={"name": "France", "country": "FR"})
    text = pdf_text(render_pdf(req, core_fonts_only=True))
    assert "REQ-2026-0001" in text
    assert "cannot be shown" not in text


def test_pdf_does_not_interpret_markup() -> None:
    data = render_pdf(make_request("preservation", dict(PRESERVATION, facts_summary=SCRIPT)))
    assert "<script>alert('x')</script>" in pdf_text(data)


# --- who asks whom, when, and who signs -----------------------------------------------------------


def as_document(direction: str, **extra: Any) -> dict[str, Any]:
    """A request as ``service.document`` gives it: the node, the partner and the direction,
    no ``requester`` / ``recipient``."""
    extra = {"state": "submitted", **extra}
    req = make_request("preservation", PRESERVATION, direction=direction,
                       node={"id": "gb", "name": "UK Central Authority", "country": "GB"},
                       partner={"id": "fr-pharos", "name": "PHAROS", "country": "FR"},
                       timeline=[{"ts": "2026-03-01T09:00:00Z", "action": "request.create", "actor": "cli:lan",
                                  "state": None},
                                 {"ts": "2026-03-01T09:05:00Z", "action": "request.submit", "actor": "cli:lan",
                                  "state": "submitted"}], **extra)
    del req["requester"], req["recipient"], req["submitted_at"]
    return req


def test_an_outgoing_request_is_this_nodes_to_its_partner() -> None:
    view = request_view(as_document("outgoing"))
    assert view["parties"] == [("Requesting authority", "UK Central Authority (GB)"),
                               ("Requested authority", "PHAROS (FR)")]
    assert view["submitted_at"] == "2026-03-01T09:05:00Z"  # the request.submit entry
    assert view["signatory"]["authority"] == PRESERVATION["requesting_authority"]


def test_an_incoming_request_is_the_partners_to_this_node() -> None:
    view = request_view(as_document("incoming"))
    assert view["parties"] == [("Requesting authority", "PHAROS (FR)"),
                               ("Requested authority", "UK Central Authority (GB)")]
    assert view["signatory"]["authority"] == ""  # this node does not sign the partner's request


def test_a_draft_says_not_submitted() -> None:
    req = as_document("outgoing", state="draft")
    req["timeline"] = req["timeline"][:1]
    assert request_view(req)["submitted_at"] == "not submitted"


def test_history_shows_a_move_only_where_there_is_one() -> None:
    text = pdf_text(render_pdf(as_document("outgoing")))
    assert "request.create by cli:lan 2026" in text  # no dangling arrow
    assert "request.submit by cli:lan -> submitted" in text


# --- one view, two renderings: they say the same ---------------------------------------------------


def html_text(html: str) -> str:
    body = html[html.index("<body>"):]
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", body)))


def shown_texts(view: dict[str, Any]) -> list[str]:
    """Every text the view asks both renderings to print."""
    texts = [view["title"], view["id"], view["type"], view["channel"], view["state"], view["type_citation"],
             view["type_text"], view["created_at"], view["submitted_at"], *view["footer"]]
    for label, party in view["parties"]:
        texts += [label, party]
    for f in view["fields"]:
        texts += [f["label"], f["rule"], f["citation"], f["rule_text"], *f["problems"],
                  f["marker"] if f["absent"] else f["value"]]
    texts += view["other_problems"]
    d = view["decision"]
    if d:
        texts += [d["outcome"], *d["conditions"]]
        for r in d["reasons"]:
            texts += [r["code"], r["effect"], r["citation"], r["text"], r["detail"]]
    for dl in view["deadlines"]:
        texts += [dl["label"], dl["due_at"], dl["rule"], dl["citation"]]
    for t in view["timeline"]:
        texts += [t["ts"], t["action"], t["actor"], t["state"]]
    texts += list(view["signatory"].values())
    return [" ".join(line.split()) for t in texts for line in t.splitlines() if line.strip()]


FULL = make_request("preservation", dict(PRESERVATION, no_such_field="x"), decision=DECISION, deadlines=DEADLINES,
                    signatory={"name": "Trần Thị B", "title": "Prosecutor", "date": "Paris, 2 March 2026"})
BARE = make_request("mla", {}, decision=dict(DECISION, reasons=[], conditions=[]))


@pytest.mark.parametrize("req", [FULL, BARE, make_request("emergency")], ids=["full", "bare", "undecided"])
def test_html_and_pdf_print_every_text_of_the_view(req: dict[str, Any]) -> None:
    """The wording of the form (headings, captions, empty states) and every value come from
    the view: neither rendering may leave one out, so they cannot drift apart."""
    view = request_view(req)
    html, pdf = html_text(render_html(req)).lower(), pdf_text(render_pdf(req)).lower()
    for text in shown_texts(view):
        assert text.lower() in html, f"HTML lacks {text!r}"
        assert text.lower() in pdf, f"PDF lacks {text!r}"
    labels = dict(view["labels"])
    unused = {"no_decision"} if req["decision"] else {"no_rule", "outcome", "reviewer_required", "rule",
                                                      "effect", "reason", "condition"}
    if req["deadlines"]:
        unused.add("no_deadlines")
    else:
        unused |= {"deadline", "due"}
    if not view["other_problems"]:
        unused.add("other_problems")
    if not (req["decision"] or {}).get("reasons"):
        unused |= {"rule", "effect", "reason"}
    if not (req["decision"] or {}).get("conditions"):
        unused.add("condition")
    if not (req["decision"] or {}).get("reviewer_required"):
        unused.add("reviewer_required")
    if (req["decision"] or {}).get("reasons"):
        unused.add("no_rule")
    for key, label in labels.items():
        if key in unused or key in ("field", "value", "basis", "time", "action", "effect", "rule", "reason"):
            continue  # column headings of the HTML tables; the PDF lays those rows out as lines
        assert label.lower() in html, f"HTML lacks the label {label!r}"
        assert label.lower() in pdf, f"PDF lacks the label {label!r}"
