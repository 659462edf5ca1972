"""STIX 2.1 in and out: indicators with simple patterns, observables, TLP 2.0 markings.

**Import** (``parse_bundle``) reads a bundle (or a TAXII envelope, a list of objects, or one
object) with ``json`` and its own checks: building ``stix2`` objects costs about a millisecond
per indicator, which is most of a large import, and we need only a few properties. It reads:

* ``indicator`` objects with ``pattern_type: stix`` whose pattern is a simple comparison or an
  OR of them (``[url:value = 'http://a'] OR [domain-name:value = 'b']``, ``IN ('a', 'b')``),
  each comparison giving one report. AND is read only between hashes of one ``file`` (each
  hash names the same file); other compound patterns, qualifiers (``WITHIN``, ``REPEATS``,
  ``START``/``STOP``) and operators other than ``=``/``IN`` are refused: splitting them into
  single signals would match more than the producer meant.
* Observables (SCOs) given directly: ``url``, ``domain-name``, ``ipv4-addr``, ``ipv6-addr``,
  ``email-addr``, ``file`` (MD5, SHA-1, SHA-256). An SCO that another SCO refers to (the
  recipient of an ``email-message``, an end of a ``network-traffic``, an address a domain
  ``resolves_to``) is context, not an indicator, and is skipped.
* Types with no standard SCO use the custom SCO types OpenCTI defines, which other tools
  already read: ``[phone-number:value = '+33...']``, ``[bank-account:iban = 'DE89...']``,
  ``[cryptocurrency-wallet:value = '1A1z...']`` (Bitcoin or Ethereum, told apart by shape);
  also ``hostname:value`` (a domain). ``stix2-validator`` accepts them (it warns only with
  ``--strict-types``, as for any custom type). A CIDR block is an ``ipv4-addr``/``ipv6-addr``
  value with a prefix, as the STIX spec allows.
* Markings: the TLP 2.0 marking-definition ids, and the TLP 1.0 ids (mapped: WHITE is CLEAR,
  with a note); a marking-definition in the bundle of definition type ``tlp`` or carrying the
  TLP 2.0 extension under a non-standard id is read by its level (noted); a ``statement``
  marking is kept out of the TLP. Any other marking reference rejects the object: a marking we
  cannot honour must not be dropped silently. Unmarked objects get ``default_tlp``. Several
  TLP markings: the most restrictive wins.
* Hanoi's own property extension (``HANOI_EXTENSION_ID``) on an indicator carries what STIX
  has no property for: ``abuse_type``, ``first_seen``, ``last_seen``, ``source`` (the
  organisation it came from, read when no ``created_by_ref`` names an author).
* What names the indicator in its bundle is kept with each report: its id (``external_id``),
  its author (``created_by_ref`` as ``creator_ref``, the identity's name as ``source``),
  ``created``, ``modified`` (the version) and ``indicator_types``; the types and ``labels`` are
  the terms the classification table reads (``hanoi.signals.classification``).
* Sightings of an indicator widen its ``first_seen``/``last_seen``. Of several versions of
  one indicator the latest ``modified`` is read; revoked indicators and ``benign`` ones
  (allow-list entries) are skipped, and counted in ``skipped`` with every other object that is
  read for context only (a ``malware``, a ``relationship``...).

**Export** (``to_bundle``) writes a bundle that ``stix2-validator`` passes without a warning,
even with ``--strict``: an identity for the exporting node (the *sharer*) and for each author,
the TLP 2.0 extension-definition and the standard marking-definitions of the levels used
(AMBER+STRICT included), Hanoi's extension-definition when used, one indicator per signal and
author with ``name``, ``description``, ``pattern``, ``valid_from``, ``indicator_types``,
``confidence`` and ``labels``, the ``related-to`` relationships and ``campaign`` objects the
reports' linked identifiers make, and the sharer's ``grouping`` of everything shared. An
indicator that came from another STIX tool keeps its id, author, ``created`` and ``modified``,
and its OR pattern (each value was a report: they are one indicator again); any other report is
authored by the organisation its document named (URLhaus, a MISP event's organisation), never
by this node, which appears as the sharer. Other ids are derived from content (indicator:
author, type and value; identity: name), so exporting the same signals again gives the same
ids. They are SHA-256-derived UUIDs laid out as version 4, not UUIDv5: STIX asks SDOs for
UUIDv4 ids (the validator warns on v5), and a hash-derived id is indistinguishable from a
random one.
"""

from __future__ import annotations

import gc
import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hanoi.core.errors import InvalidInput, invalid
from hanoi.core.nesting import check_json_depth
from hanoi.core.tlp import STIX_TLP1_IDS, STIX_TLP2_IDS, TLP, TLP2_CREATED, TLP2_EXTENSION_ID, most_restrictive
from hanoi.signals.campaigns import Campaigns
from hanoi.signals.formats.common import (
    BadField,
    Report,
    abuse_type,
    confidence,
    description,
    finish,
    reject,
    report_tlp,
    skip,
    tags,
    timestamp,
)
from hanoi.signals.types import NO_REGION, SIGNAL_TYPES, NormaliseContext, Rejected

HANOI_EXTENSION_ID = "extension-definition--04348bf0-74f0-4afe-a471-b9041b596a38"
HANOI_PROJECT_IDENTITY_ID = "identity--4fc1d704-e66c-483d-a051-1698aeda8837"
HANOI_EXTENSION_CREATED = "2025-10-25T00:00:00.000Z"
HANOI_EXTENSION_MODIFIED = "2026-12-04T00:00:00.000Z"
"""Version 1.1.0 of the extension added ``external_id``."""
# STIX 2.1 allows the schema to be "plain text explaining the definition" instead of a URL.
HANOI_EXTENSION_SCHEMA = (
    "Property extension of indicator. Properties, all optional: abuse_type (string, an offence code "
    "of the UN Convention against Cybercrime catalogue such as UNCC-13, or SERIOUS); first_seen and "
    "last_seen (timestamps: when the signal was first and last observed); source (string: the "
    "organisation the signal came from, when it is not the creator of the indicator); external_id "
    "(string: the entry's id in the document it came from when that was not STIX, such as a URLhaus "
    "link or a MISP attribute uuid; the indicator's id and its creator's identity were then derived "
    "from it and from the creator's name by the exporter)."
)

# The OASIS extension-definition object of TLP 2.0 (cti-stix-common-objects,
# objects/extension-definition/), included in exports as the TLP 2.0 specification asks.
TLP2_EXTENSION_DEFINITION: dict[str, Any] = {
    "id": TLP2_EXTENSION_ID,
    "type": "extension-definition",
    "spec_version": "2.1",
    "name": "TLP 2.0",
    "description": "This defines TLP 2.0 as a STIX extension",
    "created": TLP2_CREATED,
    "modified": TLP2_CREATED,
    "created_by_ref": "identity--b3bca3c2-1f3d-4b54-b44f-dac42c3a8f01",
    "schema": "https://github.com/oasis-open/cti-stix-common-objects/tree/master/extension-definition-specifications/tlp-2.0",
    "version": "1.0.0",
    "extension_types": ["property-extension"],
}

HANOI_EXTENSION_DEFINITION: dict[str, Any] = {
    "id": HANOI_EXTENSION_ID,
    "type": "extension-definition",
    "spec_version": "2.1",
    "name": "Hanoi Exchange signal",
    "description": (
        "Properties of a fraud or attack signal exchanged under the UN Convention against "
        "Cybercrime: abuse_type (offence code such as UNCC-13), first_seen, last_seen "
        "(RFC 3339), source (the originating organisation) and external_id (its id in a "
        "document that was not STIX)."
    ),
    "created": HANOI_EXTENSION_CREATED,
    "modified": HANOI_EXTENSION_MODIFIED,
    "created_by_ref": HANOI_PROJECT_IDENTITY_ID,
    "schema": HANOI_EXTENSION_SCHEMA,
    "version": "1.1.0",
    "extension_types": ["property-extension"],
}

HANOI_PROJECT_IDENTITY: dict[str, Any] = {
    "type": "identity",
    "spec_version": "2.1",
    "id": HANOI_PROJECT_IDENTITY_ID,
    "created": HANOI_EXTENSION_CREATED,
    "modified": HANOI_EXTENSION_CREATED,
    "name": "Hanoi Exchange project",
    "identity_class": "organization",
}

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_ID = re.compile(rf"([a-z0-9][a-z0-9-]*[a-z0-9])--{_UUID}")

_TLP2_BY_ID = {stix_id: level for level, stix_id in STIX_TLP2_IDS.items()}

# Objects that are not observables: their *_ref properties do not make an SCO "context".
_NOT_SCO = frozenset((
    "attack-pattern", "campaign", "course-of-action", "grouping", "identity", "incident", "indicator",
    "infrastructure", "intrusion-set", "location", "malware", "malware-analysis", "note", "observed-data",
    "opinion", "report", "threat-actor", "tool", "vulnerability", "relationship", "sighting",
    "marking-definition", "extension-definition", "language-content", "bundle",
))

# (observable type, property path) -> signal type; hash paths are normalised by _hash_key.
_PATHS: dict[tuple[str, str], str] = {
    ("url", "value"): "url",
    ("domain-name", "value"): "domain",
    ("hostname", "value"): "domain",
    ("ipv4-addr", "value"): "ipv4",
    ("ipv6-addr", "value"): "ipv6",
    ("email-addr", "value"): "email",
    ("email-message", "from_ref.value"): "email",
    ("email-message", "sender_ref.value"): "email",
    ("phone-number", "value"): "phone",
    ("bank-account", "iban"): "iban",
    ("cryptocurrency-wallet", "value"): "crypto",
    ("file", "hashes.MD5"): "md5",
    ("file", "hashes.SHA1"): "sha1",
    ("file", "hashes.SHA256"): "sha256",
}
_SCO_VALUE_PROPERTY = {
    "url": "value",
    "domain-name": "value",
    "hostname": "value",
    "ipv4-addr": "value",
    "ipv6-addr": "value",
    "email-addr": "value",
    "phone-number": "value",
    "bank-account": "iban",
    "cryptocurrency-wallet": "value",
}
_HASH_TYPES = {"MD5": "md5", "SHA1": "sha1", "SHA256": "sha256"}


def _hash_key(key: str) -> str:
    return key.upper().replace("-", "").replace("_", "")


def _signal_type(obj_type: str, path: str, value: str) -> str:
    name = _PATHS.get((obj_type, path))
    if name is None:
        if obj_type == "file" and path.startswith("hashes."):
            raise BadField(f"pattern: file hash {path[7:]!r} is not exchanged (only MD5, SHA-1, SHA-256)")
        if any(t == obj_type for t, _ in _PATHS):
            raise BadField(f"pattern: '{obj_type}:{path}' is not a property that names a signal")
        raise BadField(f"pattern: observable type {obj_type!r} is not a kind of signal this node exchanges")
    if name == "crypto":
        return "eth" if value.strip().lower().startswith(("0x", "ethereum:")) else "btc"
    if name in ("ipv4", "ipv6") and "/" in value:
        return "cidr"
    return name


# --------------------------------------------------------------------------- patterns

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^'\\]|\\.)*')
    | (?P<path>[A-Za-z0-9][A-Za-z0-9-]*:[A-Za-z0-9_]+(?:\.(?:[A-Za-z0-9_-]+|'[^']*')|\[(?:\d+|\*)\])*)
    | (?P<lit>[thb]'[^']*')
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<op>!=|<=|>=|=|<|>|\[|\]|\(|\)|,)
    | (?P<word>[A-Za-z]+)
    | (?P<bad>\S)
    )""",
    re.VERBOSE,
)
_FAST = re.compile(
    r"\[\s*([a-z0-9-]+):(value|iban|hashes\.(?:'[A-Za-z0-9-]+'|[A-Za-z0-9-]+))\s*=\s*'((?:[^'\\]|\\.)*)'\s*\]"
)
_ESCAPE = re.compile(r"\\(.)")
MAX_PATTERN_NESTING = 32  # parentheses; a pattern naming plain signals needs one or two
_QUALIFIERS = {"WITHIN", "REPEATS", "START", "STOP", "FOLLOWEDBY"}
_OPERATORS = {"!=", "<", ">", "<=", ">=", "LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET", "NOT", "EXISTS"}


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    if "\\" not in body:
        return body

    def one(m: re.Match[str]) -> str:
        if m.group(1) not in ("'", "\\"):
            raise BadField(f"pattern: invalid escape '\\{m.group(1)}' in a string (only \\' and \\\\)")
        return m.group(1)

    return _ESCAPE.sub(one, body)


def _normal_path(path: str) -> tuple[str, str]:
    obj_type, _, prop = path.partition(":")
    parts: list[str] = []
    for piece in re.findall(r"'[^']*'|[^.']+", prop):
        parts.append(piece[1:-1] if piece.startswith("'") else piece)
    if len(parts) == 2 and parts[0] == "hashes":
        parts[1] = _hash_key(parts[1])
    return obj_type, ".".join(parts)


Comparison = tuple[str, str, str]  # (observable type, normalised path, raw value)


class _Parser:
    """Recursive descent over the subset of STIX patterning that names plain signals."""

    def __init__(self, pattern: str):
        self.tokens: list[tuple[str, str, int]] = []
        for m in _TOKEN.finditer(pattern):
            kind = m.lastgroup or "bad"
            text = m.group(kind)
            if kind == "bad":
                raise BadField(f"pattern: unexpected character {text!r} at position {m.start(kind) + 1}")
            if kind == "word":
                text = text.upper()
            self.tokens.append((kind, text, m.start(kind) + 1))
        self.pos = 0
        # The descent recurses once per parenthesis: refuse deep nesting before it starts,
        # or 5,000 nested parentheses are a RecursionError instead of a rejected indicator.
        depth = deepest = 0
        for _kind, text, _at in self.tokens:
            if text == "(":
                depth += 1
                deepest = max(deepest, depth)
            elif text == ")":
                depth -= 1
        if deepest > MAX_PATTERN_NESTING:
            raise BadField(f"pattern: parentheses nested {deepest:,} deep; at most {MAX_PATTERN_NESTING}")

    def _peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _next(self, expected: str) -> tuple[str, str, int]:
        tok = self._peek()
        if tok is None:
            raise BadField(f"pattern: ends early, expected {expected}")
        self.pos += 1
        return tok

    def _fail(self, tok: tuple[str, str, int], expected: str) -> BadField:
        _kind, text, at = tok
        if text in _QUALIFIERS:
            return BadField(f"pattern: qualifier/operator {text} at position {at} is not supported "
                            "(only plain comparisons joined by OR)")
        return BadField(f"pattern: unexpected {text!r} at position {at}, expected {expected}")

    def parse(self) -> list[Comparison]:
        out = self._observations()
        tok = self._peek()
        if tok is not None:
            raise self._fail(tok, "OR or the end of the pattern")
        return out

    def _observations(self) -> list[Comparison]:
        out = self._observation()
        while (tok := self._peek()) is not None and tok[1] in ("OR", "AND"):
            if tok[1] == "AND":
                raise BadField(f"pattern: AND between observations (position {tok[2]}) is not a single "
                               "signal; share each observable as its own indicator")
            self.pos += 1
            out += self._observation()
        return out

    def _observation(self) -> list[Comparison]:
        tok = self._next("'[' or '('")
        if tok[1] == "(":
            out = self._observations()
            if self._next("')'")[1] != ")":
                raise self._fail(self.tokens[self.pos - 1], "')'")
            return out
        if tok[1] != "[":
            raise self._fail(tok, "'['")
        out = self._or()
        close = self._next("']'")
        if close[1] != "]":
            raise self._fail(close, "']'")
        return out

    def _or(self) -> list[Comparison]:
        out = self._and()
        while (tok := self._peek()) is not None and tok[1] == "OR":
            self.pos += 1
            out += self._and()
        return out

    def _and(self) -> list[Comparison]:
        first_at = self._peek()
        out = self._atom()
        atoms = 1
        while (tok := self._peek()) is not None and tok[1] == "AND":
            self.pos += 1
            out += self._atom()
            atoms += 1
        # Only hashes of one file may be ANDed: each one alone names the same file.
        if atoms > 1 and any(c[0] != "file" or not c[1].startswith("hashes.") for c in out):
            pos = first_at[2] if first_at else 0
            raise BadField(f"pattern: AND of comparisons (from position {pos}) is not a single signal; "
                           "only hashes of one file may be joined by AND")
        return out

    def _atom(self) -> list[Comparison]:
        tok = self._next("a comparison")
        if tok[1] == "(":
            out = self._or()
            close = self._next("')'")
            if close[1] != ")":
                raise self._fail(close, "')'")
            return out
        if tok[0] != "path":
            raise self._fail(tok, "a comparison such as url:value = '...'")
        obj_type, path = _normal_path(tok[1])
        op = self._next("'=' or IN")
        if op[1] == "=":
            lit = self._next("a string")
            if lit[0] != "str":
                raise self._fail(lit, "a quoted string")
            return [(obj_type, path, _unquote(lit[1]))]
        if op[1] == "IN":
            if self._next("'('")[1] != "(":
                raise self._fail(self.tokens[self.pos - 1], "'('")
            values: list[Comparison] = []
            while True:
                lit = self._next("a string")
                if lit[0] != "str":
                    raise self._fail(lit, "a quoted string")
                values.append((obj_type, path, _unquote(lit[1])))
                sep = self._next("',' or ')'")
                if sep[1] == ")":
                    return values
                if sep[1] != ",":
                    raise self._fail(sep, "',' or ')'")
        if op[1] in _OPERATORS:
            raise BadField(f"pattern: operator {op[1]} at position {op[2]} is not supported "
                           "(only = and IN name exact signals)")
        raise self._fail(op, "'=' or IN")


def parse_pattern(pattern: str) -> list[Comparison]:
    """The ``(observable type, property path, value)`` comparisons a simple pattern ORs together.

    Raises ``BadField`` for syntax errors and for patterns that are not plain signals.
    """
    m = _FAST.fullmatch(pattern)
    if m is not None:  # one comparison: most patterns, so no tokenizer
        obj_type, prop, literal = m.groups()
        if prop.startswith("hashes."):
            obj_type, prop = _normal_path(f"{obj_type}:{prop}")
        value = literal if "\\" not in literal else _unquote(f"'{literal}'")
        return [(obj_type, prop, value)]
    if not pattern.strip():
        raise BadField("pattern: empty")
    return _Parser(pattern).parse()


# --------------------------------------------------------------------------- import


def _load(data: bytes | str | Mapping[str, Any] | Sequence[Any]) -> list[Any]:
    if isinstance(data, bytes | bytearray | str):
        check_json_depth(data, "bundle")
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise invalid("bundle", f"not valid JSON: {exc}") from None
    else:  # parsed by the caller, who measured the text first (check_json_depth)
        doc = data
    if isinstance(doc, list):
        return doc
    if not isinstance(doc, dict):
        raise invalid("bundle", f"expected a STIX bundle (a JSON object), got {type(doc).__name__}")
    kind = doc.get("type")
    if kind == "bundle" or (kind is None and "objects" in doc):  # a bundle or a TAXII envelope
        objects = doc.get("objects", [])
        if not isinstance(objects, list):
            raise invalid("bundle", "'objects' must be a list of STIX objects")
        return objects
    if isinstance(kind, str):
        return [doc]
    raise invalid("bundle", "not a STIX bundle: no 'type' and no 'objects'")


class _Context:
    """What the first pass learns about the bundle for the second."""

    def __init__(self, default_tlp: TLP, notes: list[str] | None, skipped: dict[str, int] | None = None):
        self.identities: dict[str, str] = {}
        self.markings: dict[str, Mapping[str, Any]] = {}
        self.sightings: dict[str, tuple[str | None, str | None]] = {}
        self.referenced: set[str] = set()
        self.default_tlp = default_tlp
        self.notes = notes
        self.skipped = skipped
        self.stamps: dict[str, str] = {}

    def note(self, message: str) -> None:
        if self.notes is not None:
            self.notes.append(message)

    def stamp(self, value: object, field: str) -> str | None:
        """``timestamp(value)``, once per distinct text: a bundle's objects share a few stamps
        (valid_from is created; a tool exports a batch at one time)."""
        if type(value) is not str:
            return timestamp(value, field)
        got = self.stamps.get(value)
        if got is None:
            got = timestamp(value, field)
            if got is not None:
                self.stamps[value] = got
        return got

    def tlp(self, ref: str, obj: Mapping[str, Any]) -> TLP:
        refs = obj.get("object_marking_refs")
        if type(refs) is list and len(refs) == 1 and "granular_markings" not in obj:
            level = _TLP2_BY_ID.get(refs[0])  # the common case, a quarter of the cost of a large import
            if level is not None:
                return level
        if refs is None:
            refs = []
        elif not isinstance(refs, list):
            raise BadField("object_marking_refs: must be a list of marking-definition ids")
        granular = obj.get("granular_markings")
        if granular:
            if not isinstance(granular, list):
                raise BadField("granular_markings: must be a list")
            # A granular TLP marks part of the object; the signal carries the strictest.
            refs = refs + [g.get("marking_ref") for g in granular if isinstance(g, dict) and g.get("marking_ref")]
        levels = [self._level(ref, m) for m in refs]
        found = [level for level in levels if level is not None]
        return most_restrictive(*found) if found else self.default_tlp

    def _level(self, ref: str, marking: object) -> TLP | None:
        if not isinstance(marking, str):
            raise BadField(f"object_marking_refs: {marking!r} is not a marking-definition id")
        level = _TLP2_BY_ID.get(marking)
        if level is not None:
            return level
        level = STIX_TLP1_IDS.get(marking)
        if level is not None:
            self.note(f"{ref}: STIX TLP 1.0 marking read as TLP 2.0 {level.value}")
            return level
        definition = self.markings.get(marking)
        if definition is None:
            raise BadField(f"object_marking_refs: unknown marking {marking!r}: neither a TLP marking nor "
                           "defined in this bundle, so its handling rules cannot be honoured")
        dtype = definition.get("definition_type")
        body = definition.get("definition")
        if dtype == "statement":
            return None
        if dtype == "tlp" and isinstance(body, dict) and isinstance(body.get("tlp"), str):
            word = body["tlp"].lower()
        else:
            ext = (definition.get("extensions") or {}).get(TLP2_EXTENSION_ID)
            if not isinstance(ext, dict) or not isinstance(ext.get("tlp_2_0"), str):
                raise BadField(f"object_marking_refs: marking {marking!r} is neither TLP nor a statement; "
                               "its handling rules cannot be honoured")
            word = ext["tlp_2_0"].lower()
        names = {"white": TLP.CLEAR, "clear": TLP.CLEAR, "green": TLP.GREEN, "amber": TLP.AMBER,
                 "amber+strict": TLP.AMBER_STRICT, "red": TLP.RED}
        if word not in names:
            raise BadField(f"object_marking_refs: marking {marking!r} has an unknown TLP level {word!r}")
        self.note(f"{ref}: TLP marking {marking} has a non-standard id; read as {names[word].value}")
        return names[word]


def _check_id(obj: Mapping[str, Any], obj_type: str) -> str:
    obj_id = obj.get("id")
    if obj_id is None:
        raise BadField("id: missing")
    if not isinstance(obj_id, str):
        raise BadField(f"id: must be text, got {type(obj_id).__name__}")
    m = _ID.fullmatch(obj_id)
    if m is None or m.group(1) != obj_type:
        raise BadField(f"id: {obj_id[:80]!r} is not a valid STIX id for a {obj_type} (expected {obj_type}--<UUID>)")
    return obj_id


def _ts_key(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _earliest(*values: str | None) -> str | None:
    present = [v for v in values if v]
    return min(present, key=_ts_key) if present else None


def _latest(*values: str | None) -> str | None:
    present = [v for v in values if v]
    return max(present, key=_ts_key) if present else None


def _first_pass(objects: list[Any], ctx: _Context) -> dict[str, int]:
    """Collect identities, markings, sightings, SCO references; pick each indicator's latest version."""
    latest: dict[str, int] = {}
    for i, obj in enumerate(objects):
        if not isinstance(obj, dict):
            continue
        kind = obj.get("type")
        obj_id = obj.get("id")
        if kind == "indicator":
            if isinstance(obj_id, str) and obj_id in latest:
                other = objects[latest[obj_id]]
                if str(obj.get("modified", "")) >= str(other.get("modified", "")):
                    latest[obj_id] = i
            elif isinstance(obj_id, str):
                latest[obj_id] = i
        elif kind == "identity" and isinstance(obj_id, str) and isinstance(obj.get("name"), str):
            ctx.identities[obj_id] = obj["name"]
        elif kind == "marking-definition" and isinstance(obj_id, str):
            ctx.markings[obj_id] = obj
        elif kind == "sighting" and isinstance(obj.get("sighting_of_ref"), str):
            try:
                first = timestamp(obj.get("first_seen"), "first_seen")
                last = timestamp(obj.get("last_seen"), "last_seen")
            except BadField:
                continue  # a bad sighting only loses its dates
            target = obj["sighting_of_ref"]
            old_first, old_last = ctx.sightings.get(target, (None, None))
            ctx.sightings[target] = (_earliest(old_first, first), _latest(old_last, last))
        elif isinstance(kind, str) and kind not in _NOT_SCO:
            for key, value in obj.items():
                if key.endswith("_ref") and isinstance(value, str):
                    ctx.referenced.add(value)
                elif key.endswith("_refs") and isinstance(value, list) and key != "object_marking_refs":
                    ctx.referenced.update(v for v in value if isinstance(v, str))
    return latest


def _indicator(obj: Mapping[str, Any], ref: str, ctx: _Context, norm: NormaliseContext) -> list[Report]:
    obj_id = _check_id(obj, "indicator")
    spec = obj.get("spec_version")
    if spec is not None and spec not in ("2.1", "2.0"):
        raise BadField(f"spec_version: {spec!r} is not 2.1 (or 2.0)")
    pattern = obj.get("pattern")
    if pattern is None:
        raise BadField("pattern: missing")
    if not isinstance(pattern, str):
        raise BadField(f"pattern: must be text, got {type(pattern).__name__}")
    pattern_type = obj.get("pattern_type")
    if pattern_type is None and spec == "2.1":
        raise BadField("pattern_type: missing (required in STIX 2.1)")
    if pattern_type is not None and pattern_type != "stix":
        raise BadField(f"pattern_type: {str(pattern_type)[:40]!r} is not supported; only STIX patterns are read")
    comparisons = parse_pattern(pattern)
    level = ctx.tlp(ref, obj)
    valid_from = ctx.stamp(obj.get("valid_from"), "valid_from")
    expires = ctx.stamp(obj.get("valid_until"), "valid_until")
    labels = obj.get("labels", [])
    if not isinstance(labels, list):
        raise BadField("labels: must be a list of text")
    kinds = obj.get("indicator_types", [])
    if type(kinds) is not list:
        raise BadField("indicator_types: must be a list of text")
    for kind in kinds:
        if type(kind) is not str:
            raise BadField("indicator_types: must be a list of text")
    text = description(obj.get("description"))
    if not text and isinstance(obj.get("name"), str):
        text = description(obj["name"], "name")
    creator = obj.get("created_by_ref")
    if creator is not None and not isinstance(creator, str):
        raise BadField("created_by_ref: must be an identity id")
    source = ctx.identities.get(creator, creator) if creator else None
    exts = obj.get("extensions") or {}
    if not isinstance(exts, dict):
        raise BadField("extensions: must be an object")
    ours = exts.get(HANOI_EXTENSION_ID) or {}
    if not isinstance(ours, dict):
        raise BadField(f"extensions.{HANOI_EXTENSION_ID}: must be an object")
    first_seen = timestamp(ours.get("first_seen"), "first_seen") or valid_from
    last_seen = timestamp(ours.get("last_seen"), "last_seen")
    if source is None and isinstance(ours.get("source"), str) and ours["source"].strip():
        source = ours["source"].strip()  # no author named: the organisation it came from
    seen = ctx.sightings.get(obj_id)
    if seen:
        first_seen, last_seen = _earliest(first_seen, seen[0]), _latest(last_seen, seen[1])
    external_id, created, version = obj_id, ctx.stamp(obj.get("created"), "created"), ctx.stamp(
        obj.get("modified"), "modified")
    theirs = ours.get("external_id")
    if isinstance(theirs, str) and theirs.strip():
        # A Hanoi export of an entry from a URLhaus dump, a MISP event...: the entry's own id,
        # and its creator by name (the indicator's id, author identity and dates were derived).
        external_id, created, version = theirs.strip()[:200], None, None
        creator = None
    labels = tags(labels, "labels")
    base: dict[str, Any] = {
        "ref": ref,
        "tlp": level.value,
        "confidence": confidence(obj.get("confidence")),
        "abuse_type": abuse_type(ours.get("abuse_type")),
        "first_seen": first_seen,
        "last_seen": last_seen,
        "expires": expires,
        "tags": labels,
        "description": text,
        "source": source,
        "external_id": external_id,
        "creator_ref": creator,
        "created": created,
        "version": version,
        "indicator_types": kinds,
    }
    out: list[Report] = []
    seen_keys: set[tuple[str, str]] = set()
    for obj_type, path, raw in comparisons:
        type_name = _signal_type(obj_type, path, raw)
        try:
            value = SIGNAL_TYPES[type_name].normalise(raw, norm)
        except InvalidInput as exc:
            reason = "; ".join(p.message for p in exc.problems) or exc.detail
            raise BadField(f"pattern: {type_name} {raw[:80]!r}: {reason}", type_name, raw) from None
        if len(comparisons) == 1:  # most indicators: the base is the report, no copy
            base["type"], base["value"] = type_name, value
            return [base]  # type: ignore[list-item]
        if (type_name, value) not in seen_keys:
            seen_keys.add((type_name, value))
            out.append({**base, "type": type_name, "value": value})  # type: ignore[typeddict-item]
    return out


def _observable(obj: Mapping[str, Any], obj_type: str, ref: str, ctx: _Context,
                norm: NormaliseContext) -> list[Report]:
    obj_id = _check_id(obj, obj_type)
    pairs: list[tuple[str, object]] = []
    if obj_type == "file":
        hashes = obj.get("hashes")
        if not isinstance(hashes, dict):
            raise BadField("hashes: a file observable needs a hashes object")
        for key, raw in hashes.items():
            name = _HASH_TYPES.get(_hash_key(str(key)))
            if name:
                pairs.append((name, raw))
        if not pairs:
            raise BadField("hashes: none of MD5, SHA-1, SHA-256, so this file names no signal")
    else:
        prop = _SCO_VALUE_PROPERTY[obj_type]
        raw = obj.get(prop)
        if raw is None:
            raise BadField(f"{prop}: missing")
        if not isinstance(raw, str):
            raise BadField(f"{prop}: must be text, got {type(raw).__name__}")
        pairs.append((_signal_type(obj_type, prop, raw), raw))
    level = ctx.tlp(ref, obj)
    out: list[Report] = []
    for type_name, raw in pairs:
        if not isinstance(raw, str):
            raise BadField(f"{type_name}: must be text", type_name, raw)
        try:
            value = SIGNAL_TYPES[type_name].normalise(raw, norm)
        except InvalidInput as exc:
            reason = "; ".join(p.message for p in exc.problems) or exc.detail
            raise BadField(f"{type_name} {raw[:80]!r}: {reason}", type_name, raw) from None
        out.append({
            "ref": ref, "type": type_name, "value": value, "tlp": level.value, "confidence": None,
            "abuse_type": None, "first_seen": None, "last_seen": None, "expires": None, "tags": [],
            "description": "", "source": None, "external_id": obj_id,
        })
    return out


def parse_bundle(
    data: bytes | str | Mapping[str, Any] | Sequence[Any],
    *,
    best_effort: bool,
    default_tlp: TLP = TLP.AMBER,
    ctx: NormaliseContext = NO_REGION,
    notes: list[str] | None = None,
    skipped: dict[str, int] | None = None,
    withdrawn: list[str] | None = None,
) -> tuple[list[Report], list[Rejected]]:
    """Reports from a STIX 2.1 bundle (bytes, text or parsed JSON); see the module docstring.

    Objects that are neither indicators nor supported observables (malware, reports,
    relationships...) are read for context only and counted in ``skipped`` by type (the
    bundle's own identities, markings, extension definitions and sightings are not counted:
    they are read into the reports). Revoked and ``benign`` (allow-list) indicators are counted
    there too. Values are normalised; a bad object is a ``Rejected`` naming its id (or
    ``objects[i]`` without one). With ``best_effort=False`` any reject raises ``InvalidInput``
    listing them all. The ids of revoked indicators are added to ``withdrawn``: their author
    withdrew them, so a node holding them stops sharing and matching them.
    """
    # A bundle of 100k objects is a million small containers, none in a reference cycle: the
    # cyclic collector's repeated passes over them cost ~15% of an import and free nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _parse(_load(data), best_effort=best_effort, default_tlp=default_tlp, ctx=ctx, notes=notes,
                      skipped=skipped, withdrawn=withdrawn)
    finally:
        if collecting:
            gc.enable()


_READ_INTO_REPORTS = frozenset(("identity", "marking-definition", "extension-definition", "sighting",
                                "language-content"))


def _parse(
    objects: list[Any], *, best_effort: bool, default_tlp: TLP, ctx: NormaliseContext, notes: list[str] | None,
    skipped: dict[str, int] | None = None, withdrawn: list[str] | None = None,
) -> tuple[list[Report], list[Rejected]]:
    state = _Context(default_tlp, notes, skipped)
    latest = _first_pass(objects, state)
    reports: list[Report] = []
    rejects: list[Rejected] = []
    for i, obj in enumerate(objects):
        if not isinstance(obj, dict):
            rejects.append(Rejected(f"objects[{i}]", None, "", f"not a STIX object but {type(obj).__name__}"))
            continue
        kind = obj.get("type")
        obj_id = obj.get("id")
        ref = obj_id if isinstance(obj_id, str) and obj_id and len(obj_id) <= 200 else f"objects[{i}]"
        if not isinstance(kind, str):
            rejects.append(Rejected(ref, None, "", "type: missing" if kind is None else "type: must be text"))
            continue
        try:
            if kind == "indicator":
                if isinstance(obj_id, str) and latest.get(obj_id, i) != i:
                    continue  # an older version of an indicator given again below
                if obj.get("revoked") is True:
                    skip(skipped, "revoked indicator")
                    if withdrawn is not None and isinstance(obj_id, str):
                        withdrawn.append(obj_id)
                    continue
                kinds = obj.get("indicator_types")
                if type(kinds) is list and "benign" in kinds and all(k == "benign" for k in kinds):
                    skip(skipped, "benign indicator (an allow-list entry)")
                    continue
                reports += _indicator(obj, ref, state, ctx)
            elif kind in _SCO_VALUE_PROPERTY or kind == "file":
                if isinstance(obj_id, str) and obj_id in state.referenced:
                    # part of another observable (a recipient, a connection end): context
                    skip(skipped, f"{kind} observable referenced by another (context)")
                    continue
                reports += _observable(obj, kind, ref, state, ctx)
            elif kind not in _READ_INTO_REPORTS:
                skip(skipped, kind)
        except BadField as exc:
            raw = obj.get("pattern") if kind == "indicator" else None
            rejects.append(reject(ref, exc, raw=raw))
    return finish(reports, rejects, best_effort=best_effort, what="STIX bundle")


# --------------------------------------------------------------------------- export


def stable_id(kind: str, *parts: str) -> str:
    """``kind--<uuid>``: a UUID laid out as version 4 from the SHA-256 of ``parts``."""
    digest = hashlib.sha256("\x1f".join((kind, *parts)).encode("utf-8")).digest()[:16]
    return f"{kind}--{uuid.UUID(bytes=digest, version=4)}"


_PATTERN_PATH = {
    "url": "url:value",
    "domain": "domain-name:value",
    "ipv4": "ipv4-addr:value",
    "ipv6": "ipv6-addr:value",
    "email": "email-addr:value",
    "phone": "phone-number:value",
    "iban": "bank-account:iban",
    "btc": "cryptocurrency-wallet:value",
    "eth": "cryptocurrency-wallet:value",
    "md5": "file:hashes.MD5",
    "sha1": "file:hashes.'SHA-1'",
    "sha256": "file:hashes.'SHA-256'",
}
_EPOCH = "1970-01-01T00:00:00.000Z"


def pattern_for(type_name: str, value: str) -> str:
    """The STIX pattern naming one signal, e.g. ``[url:value = 'http://a.example/']``."""
    if type_name == "cidr":
        path = "ipv6-addr:value" if ":" in value else "ipv4-addr:value"
    else:
        try:
            path = _PATTERN_PATH[type_name]
        except KeyError:
            raise invalid("type", f"no STIX pattern for signal type {type_name!r}") from None
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"[{path} = '{escaped}']"


def _stix_time(value: str | None) -> str | None:
    """RFC 3339 -> STIX timestamp (UTC, 'Z', millisecond precision as the spec recommends)."""
    if not value:
        return None
    moment = _ts_key(timestamp(value, "timestamp") or "").astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _author(report: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(identity id, name)`` of the organisation that authored a report in the document it
    came from, ``(None, None)`` for a report made here. A parsed report names its author in
    ``source`` (and ``creator_ref``); a stored one in ``creator`` (and ``provenance``)."""
    provenance = report.get("provenance") or {}
    ref = report.get("creator_ref") or provenance.get("creator_ref")
    name = report.get("creator") if "creator" in report else report.get("source")
    if isinstance(ref, str) and _ID.fullmatch(ref) and ref.startswith("identity--"):
        return ref, name or None
    if name:
        return stable_id("identity", name.strip()), name.strip()
    return None, None


def own_id(report: Mapping[str, Any]) -> str | None:
    """The STIX id a report had in the bundle it came from (an indicator's id), if any."""
    ext = report.get("external_id")
    provenance = report.get("provenance") or {}
    if (isinstance(ext, str) and ext.startswith("indicator--") and _ID.fullmatch(ext)
            and provenance.get("format", "stix") == "stix"):
        return ext
    return None


def _identity(identity_id: str, name: str) -> dict[str, Any]:
    return {"type": "identity", "spec_version": "2.1", "id": identity_id, "created": _EPOCH, "modified": _EPOCH,
            "name": name, "identity_class": "organization"}


def indicator_of(reports: Sequence[Mapping[str, Any]], *, sharer_id: str, fallback: str = _EPOCH
                 ) -> tuple[dict[str, Any], bool]:
    """One STIX indicator for ``reports``: the reports one indicator of another tool gave (an
    OR pattern, each value a report; one report for our own), and whether it uses Hanoi's
    extension. A report from a STIX bundle keeps its id, author (``created_by_ref``),
    ``created``, ``modified`` and ``indicator_types``; any other report's author is the
    organisation its document names (URLhaus, a MISP event's organisation), else the sharer."""
    first = reports[0]
    author_id, _ = _author(first)
    provenance = first.get("provenance") or {}
    level = most_restrictive(*(report_tlp(r) for r in reports))
    keys: list[tuple[str, str]] = []
    for r in reports:
        if (r["type"], r["value"]) not in keys:
            keys.append((r["type"], r["value"]))
    type_name, value = keys[0]
    ind_id = own_id(first) or (stable_id("indicator", type_name, value) if author_id is None
                                else stable_id("indicator", author_id, type_name, value))
    firsts = [t for t in (_stix_time(r.get("first_seen")) for r in reports) if t]
    lasts = [t for t in (_stix_time(r.get("last_seen")) for r in reports) if t]
    first_seen = min(firsts, key=_ts_key) if firsts else None
    last_seen = max(lasts, key=_ts_key) if lasts else None
    created = _stix_time(first.get("created") or provenance.get("created")) or first_seen or fallback
    version = _stix_time(first.get("version"))
    if version and _ts_key(version) >= _ts_key(created):
        modified = version  # the author's version, as the document gave it
    else:  # ours: a new version whenever what it says changes
        modified = max((t for t in (created, last_seen, *(_stix_time(r.get("updated_at")) for r in reports)) if t),
                       key=_ts_key)
    kinds = provenance.get("indicator_types") or first.get("indicator_types")
    extra = f" (and {len(keys) - 1} more)" if len(keys) > 1 else ""
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": ind_id,
        "created_by_ref": author_id or sharer_id,
        "created": created,
        "modified": modified,
        "name": f"{type_name}: {value}"[:240] + extra,
        "description": first.get("description") or f"A {type_name} signal shared through Hanoi Exchange.",
        "indicator_types": list(kinds) if kinds else ["malicious-activity"],
        "pattern": " OR ".join(pattern_for(t, v) for t, v in keys),
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": created,
        "object_marking_refs": [level.stix_id],
    }
    expires = _stix_time(first.get("expires") or first.get("expires_at"))
    if expires and _ts_key(expires) > _ts_key(created):  # STIX requires valid_until > valid_from
        obj["valid_until"] = expires
    if first.get("confidence") is not None:
        obj["confidence"] = int(first["confidence"])
    if first.get("tags"):
        obj["labels"] = list(first["tags"])
    _, author_name = _author(first)
    source = first.get("source")
    not_stix = first.get("external_id") if own_id(first) is None else None
    ext = {
        key: val
        for key, val in (
            ("abuse_type", first.get("abuse_type")),
            ("first_seen", first_seen),
            ("last_seen", last_seen),
            ("source", source if source != author_name else None),
            ("external_id", not_stix),
        )
        if val
    }
    if ext:
        obj["extensions"] = {HANOI_EXTENSION_ID: {"extension_type": "property-extension", **ext}}
    return obj, bool(ext)


def to_bundle(
    reports: Iterable[Mapping[str, Any]],
    *,
    identity_name: str,
    now: datetime | str | None = None,
) -> dict[str, Any]:
    """A STIX 2.1 bundle of ``reports`` shared by ``identity_name`` (see the module docstring).

    One indicator per distinct ``(author, type, value)``, or per indicator of the bundle a
    report came from: the reports an OR pattern gave stay one indicator with that pattern, its
    id, author and version. Duplicate signals of one author are merged, keeping the most
    restrictive TLP. ``identity_name`` is the sharer: the author of what this node made, of the
    campaigns and of a ``grouping`` of everything shared; another organisation's indicator
    keeps its own author. The identifiers a report names (``related``) become ``related-to``
    relationships between the indicators in the bundle, marked like the report; each connected
    set of them is a ``campaign`` the indicators ``indicates``. ``now`` is when the export is
    made (``created`` of signals with no ``first_seen``; without it the Unix epoch, which keeps
    the output a pure function of the reports).
    """
    if not isinstance(identity_name, str) or not identity_name.strip():
        raise invalid("identity_name", "the exporting organisation's name is required")
    fallback = (_stix_time(now.isoformat() if isinstance(now, datetime) else now) or _EPOCH) if now else _EPOCH
    sharer_id = stable_id("identity", identity_name.strip())
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for report in reports:
        own = own_id(report)
        author_id, _ = _author(report)
        key = own or f"{author_id or ''}\x1f{report['type']}\x1f{report['value']}"
        groups.setdefault(key, []).append(report)
    indicators: dict[str, dict[str, Any]] = {}
    authors: dict[str, str] = {}
    by_signal: dict[tuple[str, str], str] = {}  # a signal -> the first indicator naming it
    uses_ours = False
    for group in groups.values():
        obj, ours = indicator_of(group, sharer_id=sharer_id, fallback=fallback)
        uses_ours = uses_ours or ours
        if obj["id"] in indicators:  # the same id from two groups: keep the stricter marking
            old = indicators[obj["id"]]
            level = most_restrictive(_TLP2_BY_ID[old["object_marking_refs"][0]],
                                     _TLP2_BY_ID[obj["object_marking_refs"][0]])
            old["object_marking_refs"] = [level.stix_id]
            continue
        indicators[obj["id"]] = obj
        author_id, author_name = _author(group[0])
        if author_id and author_name:
            authors.setdefault(author_id, author_name)
        for r in group:
            by_signal.setdefault((r["type"], r["value"]), obj["id"])
    relationships, campaigns = _links(groups, indicators, by_signal, sharer_id)
    levels = {_TLP2_BY_ID[o["object_marking_refs"][0]] for o in (*indicators.values(), *relationships, *campaigns)}
    used = sorted(levels, key=lambda level: level.rank)
    objects: list[dict[str, Any]] = [_identity(sharer_id, identity_name.strip())]
    objects += [_identity(i, n) for i, n in sorted(authors.items()) if i != sharer_id]
    if used:
        objects.append(dict(TLP2_EXTENSION_DEFINITION))
        objects += [level.stix_marking_definition() for level in used]
    if uses_ours:
        objects += [dict(HANOI_PROJECT_IDENTITY), dict(HANOI_EXTENSION_DEFINITION)]
    shared = [*indicators.values(), *campaigns, *relationships]
    objects += shared
    if shared:
        objects.append(_grouping(shared, sharer_id, identity_name.strip(), used[-1] if used else TLP.CLEAR))
    bundle_id = stable_id("bundle", sharer_id, *(f"{o['id']}@{o['modified']}" for o in shared))
    return {"type": "bundle", "id": bundle_id, "objects": objects}


def _links(groups: Mapping[str, list[Mapping[str, Any]]], indicators: Mapping[str, dict[str, Any]],
           by_signal: Mapping[tuple[str, str], str], sharer_id: str
           ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ``related-to`` relationships the reports' ``related`` identifiers make between
    indicators of the bundle, and a campaign (with ``indicates`` relationships) per connected
    set of indicators."""
    relationships: dict[str, dict[str, Any]] = {}
    position = {ind_id: n for n, ind_id in enumerate(indicators)}
    components: Campaigns[str] = Campaigns()
    signal_of: dict[str, int] = {}
    for group in groups.values():
        for r in group:
            source_id = by_signal[(r["type"], r["value"])]
            if isinstance(r.get("signal_id"), int):
                signal_of[source_id] = min(signal_of.get(source_id, r["signal_id"]), r["signal_id"])
            for other in r.get("related") or ():
                target_id = by_signal.get((other.get("type"), other.get("value")))
                if target_id is None or target_id == source_id:
                    continue  # the related signal is not shared in this bundle
                pair = tuple(sorted((source_id, target_id)))
                rel_id = stable_id("relationship", "related-to", *pair)
                components.add(position[pair[0]], position[pair[1]], rel_id)
                if rel_id in relationships:
                    continue
                source = indicators[source_id]
                relationships[rel_id] = {
                    "type": "relationship", "spec_version": "2.1", "id": rel_id,
                    "created_by_ref": source["created_by_ref"], "created": source["created"],
                    "modified": source["modified"], "relationship_type": "related-to",
                    "source_ref": source_id, "target_ref": target_id,
                    "description": "Named together by the same report.",
                    "object_marking_refs": list(source["object_marking_refs"]),
                }
    ids = list(indicators)
    campaigns: list[dict[str, Any]] = []
    seen: set[int] = set()
    for n in range(len(ids)):
        if n not in components or components.find(n) in seen:
            continue
        seen.add(components.find(n))
        members = [ids[m] for m in sorted(components.members(n))]
        links = [relationships[lk.evidence] for m in components.members(n) for lk in components.links(m)]
        marked = [_TLP2_BY_ID[o["object_marking_refs"][0]] for o in (*(indicators[i] for i in members), *links)]
        level = most_restrictive(*marked)
        numbers = [signal_of[i] for i in members if i in signal_of]
        label = str(min(numbers)) if numbers else members[0]
        created = min((indicators[i]["created"] for i in members), key=_ts_key)
        modified = max((indicators[i]["modified"] for i in members), key=_ts_key)
        camp_id = stable_id("campaign", sharer_id, label)
        campaigns.append({
            "type": "campaign", "spec_version": "2.1", "id": camp_id, "created_by_ref": sharer_id,
            "created": created, "modified": modified,
            "name": f"Campaign {label}" if numbers else f"Campaign of {len(members)} linked signals",
            "description": f"{len(members)} signals named together by reports (a connected set of "
                           "related-to relationships).",
            "object_marking_refs": [level.stix_id],
        })
        for i in members:
            rel_id = stable_id("relationship", "indicates", i, camp_id)
            relationships[rel_id] = {
                "type": "relationship", "spec_version": "2.1", "id": rel_id, "created_by_ref": sharer_id,
                "created": created, "modified": modified, "relationship_type": "indicates",
                "source_ref": i, "target_ref": camp_id, "object_marking_refs": [level.stix_id],
            }
    return list(relationships.values()), campaigns


def _grouping(shared: Sequence[Mapping[str, Any]], sharer_id: str, sharer: str, level: TLP) -> dict[str, Any]:
    """The sharer's ``grouping`` of everything in the bundle: the node that shares them says so
    without claiming to be their author."""
    stamps = [o["modified"] for o in shared]
    return {
        "type": "grouping", "spec_version": "2.1",
        "id": stable_id("grouping", sharer_id, *sorted(o["id"] for o in shared)),
        "created_by_ref": sharer_id, "created": min(stamps, key=_ts_key), "modified": max(stamps, key=_ts_key),
        "name": f"Signals shared by {sharer}"[:250], "context": "suspicious-activity",
        "object_refs": [o["id"] for o in shared], "object_marking_refs": [level.stix_id],
    }
