"""A printable request, for signature and filing: HTML (Jinja2) and PDF (fpdf2).

Both renderings lay out one view (``request_view``), which holds every text either prints,
the fixed wording included (``LABELS``: headings, captions, what an empty section says): the
request type with its article; the requesting and requested authorities and the submission
time; every field of that type in form order with its value, or a visible ``MISSING`` marker
for a required field left empty, and the rule that asks for it (code, citation, text); the
safeguards decision with every reason and its citation; the deadlines; the history; and a
signature block with room for a seal. The renderings only place those texts, so they cannot
say different things; ``tests/unit/test_render.py`` holds both to every text of the view.
HTML is autoescaped throughout.

Why not one HTML template fed to fpdf2's ``write_html``: it takes one text per table cell (no
value with its problems beneath, no citation with its text), drops colours inside cells,
justifies cell text and does not shape right-to-left scripts. Laying the PDF out by hand
from the same view keeps the form legible in every script.

The PDF needs a Unicode font, as requests carry names in any script. It uses DejaVu Sans from
the usual system locations (Debian's ``fonts-dejavu-core`` on our machines) or a TTF passed as
``font_path``, with any other system font that covers more scripts as a fallback. Characters
no font covers print as ``?``. Without any TTF it falls back to the PDF core fonts, writes
non-Latin-1 text transliterated (``Bộ Công an`` -> ``Bo Cong an``) or as ``?``, and says so in
the footer: the HTML rendering is then the faithful one. Right-to-left scripts are shaped
(letters joined, order reversed) only when ``uharfbuzz`` is installed.

Rendering reads the template and font files and nothing else: no clock, no database.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from jinja2 import Environment, PackageLoader, StrictUndefined

from hanoi.core.citations import RULES
from hanoi.core.errors import invalid
from hanoi.core.offences import OFFENCES
from hanoi.requests.contents import REQUEST_TYPES, fields_for

MISSING = "MISSING"
NOT_GIVEN = "not given"
NOT_SUBMITTED = "not submitted"
SUBMIT_ACTION = "request.submit"

# The fixed wording of the form, in one place for both renderings.
LABELS: dict[str, str] = {
    "request": "Request", "state": "State", "type": "Type", "channel": "Channel",
    "requesting": "Requesting authority", "requested": "Requested authority",
    "created": "Created", "submitted": "Submitted",
    "contents": "Contents of the request", "field": "Field", "value": "Value",
    "basis": "Legal basis", "required": "(required)", "other_problems": "Other problems",
    "decision": "Safeguards decision", "outcome": "Outcome",
    "reviewer_required": "(a named reviewer is required)", "no_decision": "No decision recorded yet.",
    "no_rule": "No rule fired.", "rule": "Rule", "effect": "Effect", "reason": "Reason",
    "condition": "Condition",
    "deadlines": "Deadlines", "deadline": "Deadline", "due": "Due", "no_deadlines": "No deadlines.",
    "history": "History", "time": "Time", "action": "Action", "by": "By",
    "signature": "Signature", "name": "Name", "title": "Title", "authority": "Authority",
    "place_date": "Place and date", "seal": "Official seal",
}

# Where a Unicode TTF is found on common systems: (regular, bold). First match wins.
FONT_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
     "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/TTF/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
     "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans-Bold.ttf"),
    ("/usr/local/share/fonts/DejaVuSans.ttf", "/usr/local/share/fonts/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
     "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf"),
    ("/Library/Fonts/Arial Unicode.ttf", ""),
    ("/System/Library/Fonts/Supplemental/Arial Unicode.ttf", ""),
    ("C:/Windows/Fonts/arial.ttf", "C:/Windows/Fonts/arialbd.ttf"),
)
# Extra fonts for scripts DejaVu lacks (CJK, Indic), used per character when present.
FALLBACK_CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansArabic-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansDevanagari-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansThai-Regular.ttf",
)

_PUNCTUATION = str.maketrans({
    "\u2014": "-", "\u2013": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
    "\u2026": "...", "\u2022": "*", "\u00b7": "-", "\u2212": "-", "\u00a0": " ",
})


# --- the view ----------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A field value as text: lists one item per line, booleans Yes/No, times as given."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "\n".join(_text(v) for v in value)
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return "" if value is None else str(value)


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ([], ())


def _party(request: Mapping[str, Any], *keys: str) -> str:
    for key in keys:
        p = request.get(key)
        if isinstance(p, Mapping):
            name = _text(p.get("name") or p.get("id") or "")
            country = _text(p.get("country") or "")
            return f"{name} ({country})" if country else name
        if isinstance(p, str) and p.strip():
            return p
    return NOT_GIVEN


def _sides(request: Mapping[str, Any]) -> tuple[str, str]:
    """(requesting, requested): as given, else from the direction: an outgoing request is this
    node's (``node``) to its ``partner``, an incoming one the partner's to this node."""
    given = {"requester", "requesting_member", "sender", "recipient", "requested_member"}
    if given & set(request) or request.get("direction") not in ("outgoing", "incoming"):
        return (_party(request, "requester", "requesting_member", "sender"),
                _party(request, "recipient", "requested_member"))
    ours, theirs = _party(request, "node"), _party(request, "partner")
    return (ours, theirs) if request["direction"] == "outgoing" else (theirs, ours)


def _submitted_at(request: Mapping[str, Any]) -> str:
    """When the request was submitted: as given, else its ``request.submit`` ledger entry."""
    given = _text(request.get("submitted_at") or "")
    if given:
        return given
    for t in request.get("timeline") or []:
        if isinstance(t, Mapping) and t.get("action") == SUBMIT_ACTION and t.get("ts"):
            return _text(t["ts"])
    return NOT_SUBMITTED


def _signatory(request: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, str]:
    """The signature block: as given; an outgoing request is signed for its requesting
    authority, so that line is filled in from the form."""
    sig = dict(request.get("signatory") or {})
    authority = values.get("requesting_authority")
    if not sig.get("authority") and request.get("direction") == "outgoing" and isinstance(authority, str):
        sig["authority"] = authority
    return {k: _text(sig.get(k) or "") for k in ("name", "title", "authority", "date")}


def _problem_text(p: Any) -> str:
    if isinstance(p, Mapping):
        cite = f" [{p.get('rule')}, {p.get('citation')}]" if p.get("rule") else ""
        return f"{p.get('message', '')}{cite}"
    return _text(p)


def request_view(request: Mapping[str, Any]) -> dict[str, Any]:
    """Everything both renderings show, as plain texts (not escaped: the renderers escape).

    ``request`` holds ``id``, ``type``, ``state``, ``requester`` and ``recipient`` (each
    ``{name, country}`` or a text; ``requesting_member`` / ``requested_member`` are read too;
    without them, ``direction`` with ``node`` and ``partner`` say who asks whom, as
    ``service.document`` gives them), ``created_at``, ``submitted_at`` (else the time of the
    ``request.submit`` entry of ``timeline``), ``fields``, optionally ``checklist`` (from
    ``contents.checklist``), ``decision`` (``Decision.as_dict()``), ``timeline``
    (``[{ts, action, actor, state}]``), ``deadlines`` (``Deadline.as_dict()`` or
    ``status(now)``) and ``signatory`` (``{name, title, authority, date}`` to pre-fill the
    signature block).
    """
    code = request.get("type")
    rtype = REQUEST_TYPES.get(code) if isinstance(code, str) else None
    if rtype is None:
        raise invalid("type", f"{code!r} is not a request type")
    type_rule = RULES[rtype.rule]
    values = request.get("fields") or {}
    rows = {r.get("field"): r for r in request.get("checklist") or [] if isinstance(r, Mapping)}
    fields = []
    for spec in fields_for(rtype.code):
        rule = RULES[spec.rule_code(rtype.code)]
        value = values.get(spec.name)
        absent = _absent(value)
        required = spec.required(rtype.code)
        shown = _text(value)
        if spec.kind == "offence" and isinstance(value, str) and value.upper() in OFFENCES:
            o = OFFENCES[value.upper()]
            shown = f"{o.code}: {o.name} ({o.citation})"
        row = rows.get(spec.name) or {}
        fields.append({
            "name": spec.name, "label": spec.label, "required": required,
            "absent": absent, "missing": absent and required,
            "marker": MISSING if required else NOT_GIVEN,
            "value": shown, "rule": rule.code, "citation": rule.citation, "rule_text": rule.text,
            "problems": [_problem_text(p) for p in row.get("problems") or []],
        })
    known = {f["name"] for f in fields}
    other = [f"{r.get('label') or r.get('field')}: {_problem_text(p)}"
             for name, r in rows.items() if name not in known for p in r.get("problems") or []]
    decision = request.get("decision")
    deadlines = [
        {"label": _text(d.get("label")), "due_at": _text(d.get("due_at")),
         "state": _text(d.get("state") or ""), "rule": _text(d.get("rule")),
         "citation": _text(d.get("citation") or (RULES[d["rule"]].citation
                                                 if d.get("rule") in RULES else ""))}
        for d in request.get("deadlines") or [] if isinstance(d, Mapping)
    ]
    timeline = [
        {k: _text(t.get(k)) for k in ("ts", "action", "actor", "state")}
        for t in request.get("timeline") or [] if isinstance(t, Mapping)
    ]
    requesting, requested = _sides(request)
    lang = values.get("language")
    return {
        "id": _text(request.get("id")),
        "title": rtype.label,
        "type": rtype.code,
        "type_rule": type_rule.code,
        "type_citation": type_rule.citation,
        "type_text": type_rule.text,
        "channel": rtype.channel,
        "state": _text(request.get("state") or ""),
        "language": lang if isinstance(lang, str) and lang.strip() else "en",
        "labels": LABELS,
        "parties": [(LABELS["requesting"], requesting), (LABELS["requested"], requested)],
        "created_at": _text(request.get("created_at") or ""),
        "submitted_at": _submitted_at(request),
        "fields": fields,
        "other_problems": other,
        "decision": _decision_view(decision) if isinstance(decision, Mapping) else None,
        "deadlines": deadlines,
        "timeline": timeline,
        "signatory": _signatory(request, values),
        "footer": [
            f"Request {_text(request.get('id'))} - {rtype.label}. Legal bases cite the UN "
            "Convention against Cybercrime (UNCC) and neighbouring instruments; paragraph "
            "numbers marked ~ are approximate.",
        ],
    }


def _decision_view(d: Mapping[str, Any]) -> dict[str, Any]:
    reasons = []
    for r in d.get("reasons") or []:
        if not isinstance(r, Mapping):
            continue
        code = _text(r.get("code"))
        known = RULES.get(code)
        reasons.append({
            "code": code, "effect": _text(r.get("effect")),
            "citation": _text(r.get("citation") or (known.citation if known else "")),
            "text": _text(r.get("text") or (known.text if known else "")),
            "detail": _text(r.get("detail") or ""),
        })
    return {"outcome": _text(d.get("outcome")), "reviewer_required": bool(
        d.get("reviewer_required")), "reasons": reasons,
        "conditions": [_text(c) for c in d.get("conditions") or []]}


# --- HTML ----------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _env() -> Environment:
    # autoescape=True for every template, whatever its name: all values are untrusted text.
    return Environment(loader=PackageLoader("hanoi.requests", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_html(request: Mapping[str, Any]) -> str:
    """The request as a self-contained, printable HTML page."""
    return _env().get_template("request.html").render(v=request_view(request))


# --- PDF -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Fonts:
    regular: Path | None
    bold: Path | None
    fallbacks: tuple[Path, ...]


def find_fonts(font_path: Path | str | None = None) -> tuple[Path | None, Path | None,
                                                              tuple[Path, ...]]:
    """(regular, bold, fallbacks): the Unicode TTFs the PDF will use; regular None if none."""
    f = _find_fonts(str(font_path) if font_path else None)
    return f.regular, f.bold, f.fallbacks


@lru_cache(maxsize=8)
def _find_fonts(font_path: str | None) -> _Fonts:
    fallbacks = tuple(Path(p) for p in FALLBACK_CANDIDATES if Path(p).is_file())
    if font_path:
        return _Fonts(Path(font_path), None, fallbacks)
    for regular, bold in FONT_CANDIDATES:
        if Path(regular).is_file():
            return _Fonts(Path(regular), Path(bold) if bold and Path(bold).is_file() else None,
                          fallbacks)
    return _Fonts(None, None, ())


class _Doc(FPDF):
    footer_lines: Sequence[str] = ()
    family = "helvetica"

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font(self.family, "", 7)
        self.set_text_color(90)
        text = "  ".join(self.footer_lines)
        self.multi_cell(0, 3, f"{text}  Page {self.page_no()}/{{nb}}", align="C")


class _Writer:
    """Text into the PDF: through the Unicode font when there is one, else transliterated."""

    def __init__(self, pdf: _Doc, unicode_font: bool, covered: frozenset[int]):
        self.pdf = pdf
        self.unicode_font = unicode_font
        self.covered = covered
        self.lossy = False
        self.can_shape = unicode_font and _has_shaping()
        self.shaping = False

    def t(self, text: str) -> str:
        """``text`` as it can be printed; notes (``lossy``) when anything had to change."""
        if self.unicode_font:
            source = text
            out = "".join(c if ord(c) in self.covered or c in "\n\t" else "?" for c in text)
        else:
            source = text.translate(_PUNCTUATION)
            out = "".join(_latin1(c) for c in source)
        self.lossy = self.lossy or out != source
        return out

    def heading(self, text: str, size: float = 12) -> None:
        pdf = self.pdf
        pdf.ln(2)
        pdf.set_font(pdf.family, "B", size)
        self._shape_for(text)
        pdf.multi_cell(0, size * 0.5, self.t(text), align="L", new_x=XPos.LMARGIN,
                       new_y=YPos.NEXT)
        pdf.set_draw_color(150)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
        pdf.ln(1.5)

    def para(self, text: str, size: float = 10, style: str = "",
             color: int | tuple[int, int, int] = 0, indent: float = 0) -> None:
        pdf = self.pdf
        pdf.set_font(pdf.family, style, size)
        pdf.set_text_color(*color) if isinstance(color, tuple) else pdf.set_text_color(color)
        pdf.set_x(pdf.l_margin + indent)
        self._shape_for(text)
        pdf.multi_cell(0, size * 0.45, self.t(text), align="L", new_x=XPos.LMARGIN,
                       new_y=YPos.NEXT)
        pdf.set_text_color(0)

    def _shape_for(self, text: str) -> None:
        # Shaping costs ~20x in line breaking: only for text in scripts that need it.
        want = self.can_shape and _needs_shaping(text)
        if want != self.shaping:
            self.pdf.set_text_shaping(want)
            self.shaping = want


def _needs_shaping(text: str) -> bool:
    """True for right-to-left text or scripts whose letters join or reorder (Indic, Thai...)."""
    for c in text:
        o = ord(c)
        if o < 0x0590:
            continue
        if unicodedata.bidirectional(c) in ("R", "AL") or 0x0900 <= o <= 0x0EFF \
                or 0x1000 <= o <= 0x109F or 0x1780 <= o <= 0x17FF:
            return True
    return False


def _latin1(c: str) -> str:
    if ord(c) < 256:
        return c
    base = "".join(x for x in unicodedata.normalize("NFKD", c) if not unicodedata.combining(x))
    if base and all(ord(x) < 256 for x in base):
        return base
    # Letters NFKD does not decompose (Vietnamese đ, Polish ł, Turkish dotless i).
    special = {"\u0111": "d", "\u0110": "D", "\u0142": "l", "\u0141": "L", "\u0131": "i"}
    return special.get(c, "?")


def render_pdf(request: Mapping[str, Any], *, font_path: Path | str | None = None,
               core_fonts_only: bool = False) -> bytes:
    """The request as a PDF (A4), with the same contents as ``render_html``.

    ``font_path`` names a Unicode TTF to use instead of the system's DejaVu Sans;
    ``core_fonts_only`` forces the Latin-1 fallback (as on a machine without any TTF).
    """
    v = request_view(request)
    fonts = _Fonts(None, None, ()) if core_fonts_only else _find_fonts(
        str(font_path) if font_path else None)
    pdf = _Doc(format="A4")
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_margins(18, 18, 18)
    covered: set[int] = set()
    if fonts.regular is not None:
        pdf.add_font("body", "", str(fonts.regular))
        pdf.add_font("body", "B", str(fonts.bold or fonts.regular))
        covered |= set(getattr(pdf.fonts["body"], "cmap", {}))
        names = []
        for i, fb in enumerate(fonts.fallbacks):
            name = f"fallback{i}"
            pdf.add_font(name, "", str(fb))
            covered |= set(getattr(pdf.fonts[name], "cmap", {}))
            names.append(name)
        if names:
            pdf.set_fallback_fonts(names, exact_match=False)
        pdf.family = "body"
    w = _Writer(pdf, fonts.regular is not None, frozenset(covered))
    # Footers are drawn at each page break, so whether the note on lost characters is needed
    # must be known before the first page: try every text of the view first.
    for text in _strings(v):
        w.t(text)
    footer = list(v["footer"])
    if w.lossy:
        footer.append("Some characters cannot be shown in this PDF and appear without accents "
                      "or as '?'; the HTML rendering shows the text exactly.")
    pdf.footer_lines = [w.t(x) for x in footer]
    pdf.set_title(w.t(f"{v['title']} {v['id']}"))
    pdf.set_subject(w.t(f"Request {v['id']}"))
    pdf.set_creator("Hanoi Exchange")
    pdf.alias_nb_pages()
    pdf.add_page()
    _pdf_body(w, v)
    return bytes(pdf.output())


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for x in value.values():
            yield from _strings(x)
    elif isinstance(value, list | tuple):
        for x in value:
            yield from _strings(x)


def _pdf_body(w: _Writer, v: Mapping[str, Any]) -> None:
    pdf = w.pdf
    L = v["labels"]
    w.para(v["title"], 15, "B")
    w.para(f"{v['type_citation']} ({v['type_rule']}): {v['type_text']}", 8.5, color=70)
    pdf.ln(1)
    w.para(f"{L['request']}: {v['id']}    {L['state']}: {v['state']}    {L['type']}: {v['type']}    "
           f"{L['channel']}: {v['channel']}", 10, "B")
    for label, party in v["parties"]:
        w.para(f"{label}: {party}")
    w.para(f"{L['created']}: {v['created_at']}    {L['submitted']}: {v['submitted_at']}")

    w.heading(L["contents"])
    red = (170, 0, 0)
    for f in v["fields"]:
        w.para(f["label"] + (f" {L['required']}" if f["required"] else ""), 10, "B")
        if f["missing"]:
            w.para(f["marker"], 10, "B", color=red, indent=4)
        elif f["absent"]:
            w.para(f["marker"], 10, color=120, indent=4)
        else:
            w.para(f["value"], 10, indent=4)
        for problem in f["problems"]:
            w.para(problem, 8.5, color=red, indent=4)
        w.para(f"{f['rule']} - {f['citation']}: {f['rule_text']}", 8, color=80, indent=4)
        pdf.ln(1.2)
    if v["other_problems"]:
        w.para(L["other_problems"], 10, "B")
        for p in v["other_problems"]:
            w.para(p, 8.5, indent=4)

    w.heading(L["decision"])
    d = v["decision"]
    if d is None:
        w.para(L["no_decision"], color=100)
    else:
        w.para(f"{L['outcome']}: {d['outcome'].upper()}"
               + (f" {L['reviewer_required']}" if d["reviewer_required"] else ""), 10, "B")
        if not d["reasons"]:
            w.para(L["no_rule"])
        for r in d["reasons"]:
            w.para(f"{r['code']} ({r['effect']}) - {r['citation']}", 9.5, "B", indent=4)
            w.para(r["text"] + (f" {r['detail']}" if r["detail"] else ""), 9, indent=8)
        for c in d["conditions"]:
            w.para(f"{L['condition']}: {c}", 9, indent=4)

    w.heading(L["deadlines"])
    if not v["deadlines"]:
        w.para(L["no_deadlines"], color=100)
    for dl in v["deadlines"]:
        state = f" [{dl['state']}]" if dl["state"] else ""
        w.para(f"{dl['label']}: {L['due']} {dl['due_at']}{state} - {dl['rule']}, {dl['citation']}", 9.5)

    if v["timeline"]:
        w.heading(L["history"])
        for t in v["timeline"]:
            moved = f"  -> {t['state']}" if t["state"] else ""
            w.para(f"{t['ts']}  {t['action']}  {L['by'].lower()} {t['actor']}{moved}", 9)

    if pdf.get_y() > pdf.h - 95:
        pdf.add_page()
    w.heading(L["signature"])
    s = v["signatory"]
    top = pdf.get_y()
    for label, value in ((L["name"], s["name"]), (L["title"], s["title"]),
                         (L["authority"], s["authority"]), (L["place_date"], s["date"])):
        pdf.set_font(pdf.family, "", 10)
        pdf.cell(35, 9, w.t(f"{label}:"))
        x = pdf.get_x()
        # A long authority folds onto more lines above its rule rather than running past it.
        pdf.multi_cell(90, 4.5, w.t(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT) if value \
            else pdf.ln(9)
        pdf.line(x, pdf.get_y() + 1, x + 90, pdf.get_y() + 1)
        pdf.ln(3)
    pdf.cell(35, 14, w.t(f"{L['signature']}:"))
    x = pdf.get_x()
    pdf.line(x, pdf.get_y() + 13, x + 90, pdf.get_y() + 13)
    seal_x, seal_y = pdf.w - pdf.r_margin - 40, top
    pdf.set_draw_color(120)
    pdf.set_dash_pattern(dash=1.5, gap=1.5)
    pdf.rect(seal_x, seal_y, 40, 40)
    pdf.set_dash_pattern()
    pdf.set_xy(seal_x, seal_y + 18)
    pdf.set_font(pdf.family, "", 8)
    pdf.cell(40, 4, w.t(L["seal"]), align="C")
    pdf.set_xy(pdf.l_margin, max(seal_y + 45, pdf.get_y() + 20))


@lru_cache(maxsize=1)
def _has_shaping() -> bool:
    try:
        import uharfbuzz  # noqa: F401
    except ImportError:
        return False
    return True

