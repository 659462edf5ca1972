"""MISP in and out: feed folders (``manifest.json`` + ``<uuid>.json``), event files, event export.

**Import.** A MISP feed is a folder with ``manifest.json`` (event uuid -> a summary: ``info``,
``Orgc``, ``Tag``, ``date``, ``threat_level_id``, ``timestamp``...) and one ``<uuid>.json`` per
event (``{"Event": {..., "Attribute": [...], "Object": [...], "Tag": [...]}}``). The caller
reads the files; ``parse_feed`` reads the parsed JSON. Attributes map to signal types by their
MISP type (``ATTRIBUTE_TYPES``); composite types (``domain|ip``, ``ip-dst|port``,
``filename|sha256``...) give the parts that are signals. Attributes of other types (text,
filenames, mutexes...) are context and are skipped, as are attributes of the category
``Targeting data`` and of type ``email-dst``/``target-*``: those name victims, and a victim's
address must never become a signal. ``deleted`` attributes are skipped (their uuids are added to
the parsers' ``withdrawn`` list: a node holding them stops sharing them); with ``ids_only`` so
are those whose ``to_ids`` is false. Every attribute skipped is counted by its MISP type (a
victim's as ``email-dst (names a victim)``) in the parsers' ``skipped`` dict, so an import's
summary names what it did not take. In ``coin-address`` objects an ``address-crypto`` whose
``symbol`` is ETH (or that starts with 0x) is an Ethereum address.

* TLP: the attribute's ``tlp:*`` tags if it has any, else the event's, else the sharing the
  event's ``distribution`` allows (0 "your organisation only" -> AMBER+STRICT, 1 community and
  4 sharing group -> AMBER, 2/3 connected/all communities -> GREEN), else ``default_tlp``.
  Several TLP tags: the most restrictive. ``tlp:white`` is CLEAR (noted); an unknown
  ``tlp:`` tag rejects the attribute, like an unknown STIX marking.
* Confidence: an ``estimative-language:confidence-in-analytic-judgment`` tag (high 90,
  moderate 60, low 30), else the event's threat level as a hint (high 75, medium 50, low 25).
* ``hanoi:abuse-type="UNCC-13"`` tags carry the offence code; other tags become tags. The
  attribute's own tags are the terms the classification table reads first (``terms``), then
  the event's tags and the attribute's ``category`` (``context_terms``).
* ``first_seen``/``last_seen`` of the attribute (the event date when it has none),
  ``comment`` (else the event's ``info``) as description, the event's ``Orgc`` as source (its
  uuid as ``creator_ref``), the attribute uuid as ``external_id`` and its ``timestamp`` as the
  version.

**Export.** ``to_event`` writes one MISP event (the JSON a feed file or ``/events/add``
takes): attributes with their MISP type and category, a ``tlp:*`` tag each, the most
restrictive TLP as the event tag and a matching ``distribution``; Ethereum addresses as a
``coin-address`` object (MISP has no Ethereum attribute type). An attribute that came from a
MISP event keeps its uuid; other uuids are derived from content (uuid5), so a re-export updates
the same event and attributes.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from hanoi.core.errors import InvalidInput, invalid
from hanoi.core.nesting import check_json_depth
from hanoi.core.tlp import TLP, most_restrictive, parse_tlp
from hanoi.signals.classification import MISP_CATEGORY, TAG
from hanoi.signals.formats.common import (
    MAX_TAG,
    MAX_TAGS,
    BadField,
    Report,
    abuse_type,
    description,
    finish,
    reject,
    report_tlp,
    skip,
    timestamp,
)
from hanoi.signals.types import NO_REGION, SIGNAL_TYPES, NormaliseContext, Rejected

# MISP attribute type -> our signal type ("ip" is told apart by shape: ipv4, ipv6 or cidr).
ATTRIBUTE_TYPES: dict[str, str] = {
    "url": "url",
    "domain": "domain",
    "hostname": "domain",
    "ip-src": "ip",
    "ip-dst": "ip",
    "email": "email",
    "email-src": "email",
    "email-reply-to": "email",
    "whois-registrant-email": "email",
    "dns-soa-email": "email",
    "phone-number": "phone",
    "whois-registrant-phone": "phone",
    "iban": "iban",
    "btc": "btc",
    "md5": "md5",
    "sha1": "sha1",
    "sha256": "sha256",
}
# Composite types: which parts (split on '|') are signals, and of which kind.
COMPOSITE_TYPES: dict[str, tuple[str | None, ...]] = {
    "domain|ip": ("domain", "ip"),
    "ip-src|port": ("ip", None),
    "ip-dst|port": ("ip", None),
    "hostname|port": ("domain", None),
    "filename|md5": (None, "md5"),
    "filename|sha1": (None, "sha1"),
    "filename|sha256": (None, "sha256"),
    "malware-sample": (None, "md5"),
}
_VICTIM_TYPES = frozenset({"email-dst", "target-email", "target-user", "target-machine", "target-external"})
_DISTRIBUTION_TLP = {0: TLP.AMBER_STRICT, 1: TLP.AMBER, 2: TLP.GREEN, 3: TLP.GREEN, 4: TLP.AMBER}
_THREAT_CONFIDENCE = {1: 75, 2: 50, 3: 25}
_JUDGMENT = re.compile(r'estimative-language:confidence-in-analytic-judgment\s*=\s*"?([a-z-]+)"?', re.IGNORECASE)
_JUDGMENT_CONFIDENCE = {"high": 90, "moderate": 60, "low": 30}
_ABUSE_TAG = re.compile(r'hanoi:abuse-type\s*=\s*"?([A-Za-z0-9-]+)"?', re.IGNORECASE)

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_NAMESPACE = uuid.UUID("9b0c8a53-2b0f-4d5b-9f7c-1e0b6f6d2a11")  # Hanoi Exchange MISP uuids


def _ip_type(value: str) -> str:
    if "/" in value:
        return "cidr"
    return "ipv6" if ":" in value.strip().strip("[]") else "ipv4"


def _tag_names(holder: Mapping[str, Any], where: str) -> list[str]:
    raw = holder.get("Tag") or []
    if not isinstance(raw, list):
        raise BadField(f"{where}Tag: must be a list")
    names: list[str] = []
    for tag in raw:
        name = tag.get("name") if isinstance(tag, dict) else tag
        if isinstance(name, str) and name.strip():
            names.append(name.strip())
    return names


def _tlp_of(names: list[str], ref: str, notes: list[str] | None) -> TLP | None:
    levels: list[TLP] = []
    for name in names:
        if not name.lower().startswith("tlp:"):
            continue
        try:
            parsed = parse_tlp(name)
        except InvalidInput:
            raise BadField(f"Tag: unknown TLP tag {name!r}; its handling rules cannot be honoured") from None
        if parsed.note and notes is not None:
            notes.append(f"{ref}: {parsed.note}")
        levels.append(parsed.level)
    return most_restrictive(*levels) if levels else None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


class _Event:
    """The event-level facts every attribute of one event inherits."""

    def __init__(self, event: Mapping[str, Any], ref: str, default_tlp: TLP, notes: list[str] | None):
        self.ref = ref
        self.tag_names = _tag_names(event, "")
        level = _tlp_of(self.tag_names, ref, notes)
        if level is None:
            distribution = _int(event.get("distribution"))
            level = _DISTRIBUTION_TLP.get(distribution, default_tlp) if distribution is not None else default_tlp
        self.tlp = level
        self.confidence = _THREAT_CONFIDENCE.get(_int(event.get("threat_level_id")) or 0)
        info = event.get("info")
        self.info = info.strip() if isinstance(info, str) else ""
        orgc = event.get("Orgc")
        name = orgc.get("name") if isinstance(orgc, dict) else None
        self.source = name.strip() if isinstance(name, str) and name.strip() else None
        org_uuid = orgc.get("uuid") if isinstance(orgc, dict) else None
        self.source_ref = org_uuid.strip() if isinstance(org_uuid, str) and org_uuid.strip() else None
        try:
            self.date = timestamp(event.get("date"), "date")
        except BadField:
            self.date = None


def _other_tags(names: list[str], ref: str, notes: list[str] | None) -> list[str]:
    out: list[str] = []
    for name in names:
        low = name.lower()
        if low.startswith(("tlp:", "hanoi:abuse-type")) or name in out:
            continue
        if len(name) > MAX_TAG:
            continue  # galaxy tags can be long; a shortened tag would be a different tag
        out.append(name)
    if len(out) > MAX_TAGS and notes is not None:
        notes.append(f"{ref}: {len(out)} tags, only the first {MAX_TAGS} kept")
    return out[:MAX_TAGS]


def _attribute(
    attr: Mapping[str, Any],
    ev: _Event,
    ref: str,
    *,
    object_name: str | None,
    symbol: str | None,
    ids_only: bool,
    ctx: NormaliseContext,
    notes: list[str] | None,
    skipped: dict[str, int] | None = None,
    withdrawn: list[str] | None = None,
) -> list[Report]:
    misp_type = attr.get("type")
    if not isinstance(misp_type, str):
        raise BadField("type: missing" if misp_type is None else "type: must be text")
    if attr.get("deleted") in (True, "1", 1):
        skip(skipped, "deleted attribute")
        if withdrawn is not None and isinstance(attr.get("uuid"), str):
            withdrawn.append(attr["uuid"])
        return []
    if misp_type in _VICTIM_TYPES or attr.get("category") == "Targeting data":
        skip(skipped, f"{misp_type} (names a victim)")
        return []
    raw_value = attr.get("value")
    if not isinstance(raw_value, str):
        raise BadField(f"value: must be text, got {type(raw_value).__name__}", misp_type, raw_value)
    pairs: list[tuple[str, str]] = []
    if misp_type in ATTRIBUTE_TYPES:
        pairs.append((ATTRIBUTE_TYPES[misp_type], raw_value))
    elif misp_type in COMPOSITE_TYPES:
        parts = raw_value.split("|")
        kinds = COMPOSITE_TYPES[misp_type]
        if len(parts) != len(kinds):
            raise BadField(f"value: a {misp_type} has {len(kinds)} parts separated by '|'", misp_type, raw_value)
        pairs += [(kind, part) for kind, part in zip(kinds, parts, strict=True) if kind]
    elif object_name == "coin-address" and attr.get("object_relation") == "address-crypto":
        is_eth = (symbol or "").upper() in ("ETH", "ETC") or raw_value.strip().lower().startswith("0x")
        if not is_eth:
            skip(skipped, f"address-crypto ({symbol or 'another chain'})")  # a chain we do not exchange
            return []
        pairs.append(("eth", raw_value))
    else:
        skip(skipped, misp_type)
        return []
    if ids_only and attr.get("to_ids") not in (True, "1", 1):
        skip(skipped, "not for detection (to_ids false)")
        return []
    names = _tag_names(attr, "")
    level = _tlp_of(names, ref, notes) or ev.tlp
    all_names = ev.tag_names + names
    judged = [m.group(1).lower() for n in all_names if (m := _JUDGMENT.fullmatch(n))]
    conf = _JUDGMENT_CONFIDENCE.get(judged[-1]) if judged else ev.confidence
    codes = [m.group(1) for n in all_names if (m := _ABUSE_TAG.fullmatch(n))]
    comment = attr.get("comment")
    text = description(comment, "comment") if isinstance(comment, str) and comment.strip() else ev.info
    uid = attr.get("uuid")
    kept_tags = _other_tags(all_names, ref, notes)
    category = attr.get("category")
    # The attribute's own tags say what it is; then the event's tags (what the event is about:
    # an attribute tagged as a C2 server in a phishing event is a C2 server), and last the
    # attribute's category, a broad hint (MISP files phishing URLs under "Payload delivery").
    own = set(names)
    terms = [(TAG, t) for t in kept_tags if t in own]
    context_terms = [(TAG, t) for t in kept_tags if t not in own]
    if isinstance(category, str) and category.strip():
        context_terms.append((MISP_CATEGORY, category.strip()))
    try:
        version = timestamp(attr.get("timestamp"), "timestamp")
    except BadField:
        version = None  # a bad stamp only loses the version
    out: list[Report] = []
    for kind, raw in pairs:
        type_name = _ip_type(raw) if kind == "ip" else kind
        try:
            value = SIGNAL_TYPES[type_name].normalise(raw, ctx)
        except InvalidInput as exc:
            reason = "; ".join(p.message for p in exc.problems) or exc.detail
            raise BadField(f"value: {misp_type} {raw[:80]!r}: {reason}", type_name, raw) from None
        out.append({
            "ref": ref,
            "type": type_name,
            "value": value,
            "tlp": level.value,
            "confidence": conf,
            "abuse_type": abuse_type(codes[-1], "Tag") if codes else None,
            "first_seen": timestamp(attr.get("first_seen"), "first_seen") or ev.date,
            "last_seen": timestamp(attr.get("last_seen"), "last_seen"),
            "expires": None,
            "tags": kept_tags,
            "description": text[:10_000],
            "source": ev.source,
            "external_id": uid if isinstance(uid, str) else None,
            "terms": terms,
            "context_terms": context_terms,
            "creator_ref": ev.source_ref,
            "version": version,
        })
    return out


def _event_body(event_json: Mapping[str, Any]) -> Mapping[str, Any]:
    body = event_json.get("Event", event_json)
    if not isinstance(body, dict):
        raise invalid("Event", "a MISP event is a JSON object with an 'Event' object")
    return body


def _read_event(
    event_json: Mapping[str, Any],
    *,
    manifest_entry: Mapping[str, Any] | None,
    default_tlp: TLP,
    ids_only: bool,
    ctx: NormaliseContext,
    notes: list[str] | None,
    reports: list[Report],
    rejects: list[Rejected],
    fallback_ref: str,
    skipped: dict[str, int] | None = None,
    withdrawn: list[str] | None = None,
) -> None:
    body = _event_body(event_json)
    merged: dict[str, Any] = dict(manifest_entry or {})
    merged.update(body)  # the event file is authoritative; the manifest fills gaps
    ev_uuid = merged.get("uuid")
    ev_ref = f"event {ev_uuid}" if isinstance(ev_uuid, str) else fallback_ref
    try:
        ev = _Event(merged, ev_ref, default_tlp, notes)
    except BadField as exc:
        rejects.append(reject(ev_ref, exc))
        return
    items: list[tuple[Any, str, str | None, str | None]] = []  # (attribute, ref, object name, symbol)
    attributes = body.get("Attribute") or []
    objects = body.get("Object") or []
    if not isinstance(attributes, list) or not isinstance(objects, list):
        rejects.append(Rejected(ev_ref, None, "", "Attribute and Object must be lists"))
        return
    for i, attr in enumerate(attributes):
        items.append((attr, f"{ev_ref}/Attribute[{i}]", None, None))
    for j, obj in enumerate(objects):
        if not isinstance(obj, dict) or not isinstance(obj.get("Attribute") or [], list):
            rejects.append(Rejected(f"{ev_ref}/Object[{j}]", None, "", "not a MISP object with an Attribute list"))
            continue
        if obj.get("deleted") in (True, "1", 1):
            skip(skipped, "deleted object")
            continue
        inner = obj.get("Attribute") or []
        symbol = next(
            (a.get("value") for a in inner if isinstance(a, dict) and a.get("object_relation") == "symbol"), None
        )
        for i, attr in enumerate(inner):
            items.append((attr, f"{ev_ref}/Object[{j}]/Attribute[{i}]", obj.get("name"), symbol))
    for attr, position, object_name, symbol in items:
        if not isinstance(attr, dict):
            rejects.append(Rejected(position, None, "", "an attribute must be a JSON object"))
            continue
        uid = attr.get("uuid")
        ref = uid if isinstance(uid, str) and 0 < len(uid) <= 64 else position
        try:
            reports += _attribute(attr, ev, ref, object_name=object_name,
                                  symbol=symbol if isinstance(symbol, str) else None,
                                  ids_only=ids_only, ctx=ctx, notes=notes, skipped=skipped,
                                  withdrawn=withdrawn)
        except BadField as exc:
            rejects.append(reject(ref, exc, attr.get("type") if isinstance(attr.get("type"), str) else None,
                                  attr.get("value")))


def parse_event(
    event_json: Mapping[str, Any] | bytes | str,
    *,
    best_effort: bool,
    default_tlp: TLP = TLP.AMBER,
    ids_only: bool = False,
    ctx: NormaliseContext = NO_REGION,
    notes: list[str] | None = None,
    skipped: dict[str, int] | None = None,
    withdrawn: list[str] | None = None,
) -> tuple[list[Report], list[Rejected]]:
    """Reports from one MISP event (``{"Event": {...}}`` or the bare event object)."""
    if isinstance(event_json, bytes | str):
        check_json_depth(event_json, "Event")
        try:
            event_json = json.loads(event_json)
        except ValueError as exc:
            raise invalid("Event", f"not valid JSON: {exc}") from None
    if not isinstance(event_json, dict):
        raise invalid("Event", "a MISP event is a JSON object")
    reports: list[Report] = []
    rejects: list[Rejected] = []
    _read_event(event_json, manifest_entry=None, default_tlp=default_tlp, ids_only=ids_only, ctx=ctx,
                notes=notes, reports=reports, rejects=rejects, fallback_ref="event", skipped=skipped,
                withdrawn=withdrawn)
    return finish(reports, rejects, best_effort=best_effort, what="MISP event")


def parse_feed(
    manifest: Mapping[str, Any],
    events: Mapping[str, Mapping[str, Any]],
    *,
    best_effort: bool,
    default_tlp: TLP = TLP.AMBER,
    ids_only: bool = False,
    ctx: NormaliseContext = NO_REGION,
    notes: list[str] | None = None,
    skipped: dict[str, int] | None = None,
    withdrawn: list[str] | None = None,
) -> tuple[list[Report], list[Rejected]]:
    """Reports from a MISP feed: its parsed ``manifest.json`` and ``{uuid: parsed <uuid>.json}``.

    Every event the manifest lists must be given (a missing one is a reject naming it); event
    files the manifest does not list are read too (noted). The manifest's summary (tags,
    organisation, distribution) fills what an event file leaves out.
    """
    if not isinstance(manifest, dict):
        raise invalid("manifest", "manifest.json must be a JSON object of event uuid -> summary")
    reports: list[Report] = []
    rejects: list[Rejected] = []
    for ev_uuid, entry in manifest.items():
        if ev_uuid not in events:
            missing = "listed in manifest.json but its event file is missing"
            rejects.append(Rejected(f"event {ev_uuid}", None, "", missing))
            continue
        if not isinstance(entry, dict):
            rejects.append(Rejected(f"event {ev_uuid}", None, "", "its manifest entry is not a JSON object"))
            continue
        _read_event(events[ev_uuid], manifest_entry={"uuid": ev_uuid, **entry}, default_tlp=default_tlp,
                    ids_only=ids_only, ctx=ctx, notes=notes, reports=reports, rejects=rejects,
                    fallback_ref=f"event {ev_uuid}", skipped=skipped, withdrawn=withdrawn)
    for ev_uuid, event in events.items():
        if ev_uuid in manifest:
            continue
        if notes is not None:
            notes.append(f"event {ev_uuid}: not listed in manifest.json, read anyway")
        _read_event(event, manifest_entry={"uuid": ev_uuid}, default_tlp=default_tlp, ids_only=ids_only,
                    ctx=ctx, notes=notes, reports=reports, rejects=rejects, fallback_ref=f"event {ev_uuid}",
                    skipped=skipped, withdrawn=withdrawn)
    return finish(reports, rejects, best_effort=best_effort, what="MISP feed")


def parse_events(
    data: bytes | str,
    *,
    best_effort: bool,
    default_tlp: TLP = TLP.AMBER,
    ids_only: bool = False,
    ctx: NormaliseContext = NO_REGION,
    notes: list[str] | None = None,
    skipped: dict[str, int] | None = None,
    withdrawn: list[str] | None = None,
) -> tuple[list[Report], list[Rejected]]:
    """Reports from one MISP JSON file: an event, a list of events, or ``{"response": [...]}``."""
    check_json_depth(data, "Event")
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise invalid("Event", f"not valid JSON: {exc}") from None
    if isinstance(doc, dict) and "response" in doc:
        doc = doc["response"]
    if isinstance(doc, dict) and "Event" not in doc and doc and all(
        isinstance(v, dict) and "info" in v for v in doc.values()
    ):
        raise invalid("Event", "this is a feed's manifest.json: import the feed folder (manifest and event files)")
    docs = doc if isinstance(doc, list) else [doc]
    reports: list[Report] = []
    rejects: list[Rejected] = []
    for i, event in enumerate(docs):
        if not isinstance(event, dict):
            rejects.append(Rejected(f"events[{i}]", None, "", "not a MISP event object"))
            continue
        _read_event(event, manifest_entry=None, default_tlp=default_tlp, ids_only=ids_only, ctx=ctx,
                    notes=notes, reports=reports, rejects=rejects, fallback_ref=f"events[{i}]", skipped=skipped,
                    withdrawn=withdrawn)
    return finish(reports, rejects, best_effort=best_effort, what="MISP events")


# --------------------------------------------------------------------------- export

_EXPORT_TYPES: dict[str, tuple[str, str]] = {  # signal type -> (MISP type, category)
    "url": ("url", "Network activity"),
    "domain": ("domain", "Network activity"),
    "ipv4": ("ip-dst", "Network activity"),
    "ipv6": ("ip-dst", "Network activity"),
    "cidr": ("ip-dst", "Network activity"),
    "email": ("email-src", "Payload delivery"),
    "phone": ("phone-number", "Financial fraud"),
    "iban": ("iban", "Financial fraud"),
    "btc": ("btc", "Financial fraud"),
    "md5": ("md5", "Payload delivery"),
    "sha1": ("sha1", "Payload delivery"),
    "sha256": ("sha256", "Payload delivery"),
}
_TLP_DISTRIBUTION = {TLP.RED: "0", TLP.AMBER_STRICT: "0", TLP.AMBER: "1", TLP.GREEN: "1", TLP.CLEAR: "3"}


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))


def tlp_tag(level: TLP) -> dict[str, Any]:
    """The MISP taxonomy tag of a TLP level (``tlp:amber+strict``), with MISP's colour."""
    colours = {TLP.CLEAR: "#ffffff", TLP.GREEN: "#339900", TLP.AMBER: "#ffc000",
               TLP.AMBER_STRICT: "#ffc000", TLP.RED: "#cc0033"}
    return {"name": f"tlp:{level.value.lower()}", "colour": colours[level], "exportable": True}


def to_event(
    reports: Iterable[Mapping[str, Any]],
    *,
    info: str,
    org: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One MISP event (``{"Event": {...}}``) holding ``reports`` as attributes (see the module doc).

    ``now`` stamps the event (date, timestamp); without it the earliest ``first_seen`` of the
    reports is used, so the output is a pure function of its arguments.
    """
    if not isinstance(info, str) or not info.strip():
        raise invalid("info", "a MISP event needs an info line")
    if not isinstance(org, str) or not org.strip():
        raise invalid("org", "the exporting organisation's name is required")
    attributes: list[dict[str, Any]] = []
    objects: list[dict[str, Any]] = []
    levels: list[TLP] = []
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    used: set[str] = set()  # attribute uuids (a composite attribute gave two reports one uuid)
    firsts: list[str] = []
    for report in reports:
        type_name, value = report["type"], report["value"]
        level = report_tlp(report)
        levels.append(level)
        key = (type_name, value)
        if key in seen:  # a duplicate keeps the most restrictive TLP
            holder = seen[key]
            old = parse_tlp(holder["Tag"][0]["name"]).level
            holder["Tag"][0] = tlp_tag(most_restrictive(old, level))
            continue
        tag_list = [tlp_tag(level)]
        if report.get("abuse_type"):
            tag_list.append({"name": f'hanoi:abuse-type="{report["abuse_type"]}"', "exportable": True})
        tag_list += [{"name": t, "exportable": True} for t in report.get("tags") or []]
        own = report.get("external_id")
        from_misp = (report.get("provenance") or {}).get("format") == "misp"
        attr_uuid = own if from_misp and isinstance(own, str) and _UUID.fullmatch(own) and own not in used else (
            _uuid("attribute", type_name, value))
        used.add(attr_uuid)
        attr: dict[str, Any] = {
            "uuid": attr_uuid,
            "to_ids": True,
            "distribution": "5",
            "comment": report.get("description") or "",
            "disable_correlation": False,
            "Tag": tag_list,
        }
        for field in ("first_seen", "last_seen"):
            ts = timestamp(report.get(field), field)
            if ts:
                attr[field] = ts
                if field == "first_seen":
                    firsts.append(ts)
        if type_name == "eth":
            obj_uuid = _uuid("object", type_name, value)
            attr.update({"type": "text", "category": "Financial fraud", "value": value,
                         "object_relation": "address-crypto"})
            symbol = {"uuid": _uuid("attribute", "symbol", value), "type": "text", "category": "Other",
                      "object_relation": "symbol", "value": "ETH", "to_ids": False, "distribution": "5",
                      "disable_correlation": True}
            objects.append({"uuid": obj_uuid, "name": "coin-address", "meta-category": "financial",
                            "template_uuid": "d0e6997e-78da-4815-a6a1-cfc1c1cb8a46", "template_version": "7",
                            "description": "An address used in a cryptocurrency", "distribution": "5",
                            "Attribute": [attr, symbol]})
        else:
            try:
                misp_type, category = _EXPORT_TYPES[type_name]
            except KeyError:
                raise invalid("type", f"no MISP attribute type for signal type {type_name!r}") from None
            attr.update({"type": misp_type, "category": category, "value": value})
            attributes.append(attr)
        seen[key] = attr
    top = most_restrictive(*levels) if levels else TLP.AMBER
    moment = now.astimezone(UTC) if now else (
        datetime.fromisoformat(min(firsts).replace("Z", "+00:00")) if firsts else datetime(1970, 1, 1, tzinfo=UTC)
    )
    event = {
        "uuid": _uuid("event", org.strip(), info.strip()),
        "info": info.strip(),
        "date": moment.strftime("%Y-%m-%d"),
        "timestamp": str(int(moment.timestamp())),
        "published": False,
        "analysis": "2",
        "threat_level_id": "4",
        "distribution": _TLP_DISTRIBUTION[top],
        "Orgc": {"name": org.strip(), "uuid": _uuid("org", org.strip())},
        "Tag": [tlp_tag(top)],
        "Attribute": attributes,
        "Object": objects,
    }
    return {"Event": event}


def manifest_entry(event: Mapping[str, Any]) -> dict[str, Any]:
    """The ``manifest.json`` entry of an exported event (for writing a MISP feed folder)."""
    body = _event_body(event)
    return {
        body["uuid"]: {
            "info": body["info"],
            "Orgc": body["Orgc"],
            "analysis": body["analysis"],
            "threat_level_id": body["threat_level_id"],
            "timestamp": body["timestamp"],
            "date": body["date"],
            "Tag": [{"name": t["name"], "colour": t.get("colour", "#ffffff")} for t in body["Tag"]],
        }
    }
