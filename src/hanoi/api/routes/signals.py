"""Signals: report, look up (bulk), campaigns, sightings and false positives, listing, import
and export, naming who may receive an AMBER report, publishing to federated peers.

Who asks decides what is seen: a partner's token (``member_id``) gets what the signals gate
allows that member; a token without a member is this node's staff; a platform token without a
member may only look up, and sees what anyone may (TLP:CLEAR).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hanoi.api.deps import get_node, limited, require
from hanoi.api.openapi import documented
from hanoi.api.params import RowId, one_of
from hanoi.api.params import since as since_param
from hanoi.api.schemas import signals as S
from hanoi.core.errors import Forbidden, InvalidInput, Problem, invalid
from hanoi.core.members import MEMBER_ID
from hanoi.core.roles import Permission
from hanoi.node import metrics
from hanoi.node.runtime import Node
from hanoi.node.tokens import Principal
from hanoi.private_lookup import BINARY
from hanoi.signals import classification, io, private, service
from hanoi.signals.formats import FORMATS
from hanoi.signals.reports import MAX_BATCH
from hanoi.signals.types import SIGNAL_TYPES

router = APIRouter(prefix="/signals", tags=["signals"])
READ = Depends(require(Permission.SIGNALS_READ))
WRITE = Depends(require(Permission.SIGNALS_WRITE))
MATCH = Depends(require(Permission.MATCH))
LOOKUP = Depends(limited(Permission.MATCH, "lookup"))
NODE = Depends(get_node)
ANY_OBJECT = Body(..., examples=[{}])
TYPE = one_of(SIGNAL_TYPES, "The signal type")
OPTIONAL_OBJECT = Body(None, examples=[{}])



def _json(value: Any, status: int = 200) -> Response:
    # Serialised directly with orjson: FastAPI's encoder walks every value of a 10,000-answer
    # list again, and the standard library's encoder takes about 15x as long for such a list.
    return Response(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS), status_code=status,
                    media_type="application/json")


@router.post("", status_code=201, summary="Report signals: one report object, or {items: [...], "
             "best_effort} (at most 10,000)")
@documented(body=S.SignalReport | S.SignalReportBatch, returns=S.ReportSummary)
def report(body: dict[str, Any] = ANY_OBJECT, who: Principal = WRITE, node: Node = NODE) -> Any:
    data = dict(body)
    best_effort = data.pop("best_effort", False)
    if not isinstance(best_effort, bool):
        raise invalid("best_effort", "must be true or false")
    publish = data.pop("publish", False)  # also push to the federated peers the gate allows
    if not isinstance(publish, bool):
        raise invalid("publish", "must be true or false")
    source = data.pop("source", None)
    if who.member_id is not None:
        if source not in (None, who.member_id):
            raise Forbidden("a partner's token reports as its own organisation only")
        source = who.member_id
    elif source is not None and not isinstance(source, str):
        raise invalid("source", "must be a member id")
    items = data.pop("items") if "items" in data else [data]
    if "items" in body and data:
        raise InvalidInput("unknown fields beside items",
                           [Problem(k, "is not a field of a report batch") for k in sorted(data)])
    return service.report(node, who.actor, source, items, best_effort=best_effort,
                          max_items=MAX_BATCH, federate=publish)


def _only_fields(body: dict[str, Any], allowed: set[str], problem: str) -> None:
    """Refuse a body with fields it may not carry, each named: a misspelt field must not be
    ignored silently."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidInput("unknown fields", [Problem(k, problem) for k in unknown])


@router.post("/lookup", summary="Look up to 10,000 values; answered in order, through the gate")
@documented(body=S.Lookup | list[str], returns=S.LookupResult, throttled=True)
async def lookup(request: Request, who: Principal = LOOKUP, node: Node = NODE) -> Response:
    raw = await request.body()
    if not raw.strip():
        raise invalid("body", "is empty: send {\"values\": [...]}", "SIGNAL-LIMITS")
    try:
        body = orjson.loads(raw)
    except ValueError as exc:
        raise invalid("body", f"is not JSON: {exc}") from None
    if isinstance(body, list):
        body = {"values": body}
    if not isinstance(body, dict):
        raise invalid("body", "must be an object {values: [...], type?}")
    _only_fields(body, {"values", "type"}, "is not a field of a lookup")
    type_ = body.get("type")
    if type_ is not None and not isinstance(type_, str):
        raise invalid("type", "must be a signal type name")
    started = time.perf_counter()
    result = await run_in_threadpool(service.lookup, node, who, body.get("values"), type_=type_)
    metrics.looked_up("lookup", result["count"], result["matches"], time.perf_counter() - started)
    return _json(result)


@router.get("/prefixes", name="prefix_params", summary="Private lookups: the canonical form, prefix "
            "length and padding to use (docs/privacy.md)")
@documented(returns=S.PrefixParams)
def prefix_params(who: Principal = MATCH, node: Node = NODE) -> dict[str, Any]:
    return private.params(node)


@router.post("/prefixes", summary="Private lookups: the digests you may see under each prefix, "
             "padded; no value leaves the platform (docs/privacy.md)")
@documented(body=S.PrefixQuery, returns=S.PrefixAnswer, returns_also={BINARY: bytes})
async def prefixes(request: Request, who: Principal = MATCH, node: Node = NODE) -> Response:
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw.strip() else None
    except ValueError as exc:
        raise invalid("body", f"is not JSON: {exc}") from None
    if wants_binary(request):  # a third less to send and read than base64 in JSON
        out = await run_in_threadpool(lambda: private.prefixes(node, who, body, binary=True))
        return Response(out, media_type=BINARY)
    return _json(await run_in_threadpool(private.prefixes, node, who, body))


def wants_binary(request: Request) -> bool:
    return BINARY in request.headers.get("accept", "")


@router.get("/filter", summary="Offline lookups: a signed Bloom filter of the digests you may see "
            "(since=VERSION: what is new since that filter)", response_class=Response)
@documented(returns=bytes, media="application/octet-stream")
def filter_(since: str | None = Query(None, pattern=r"^[0-9]{1,19}\.[0-9]{1,19}$",
                                      description="A filter version (REPORT.SEQ): answer a delta, "
                                                  "what is new since it"),
            who: Principal = MATCH, node: Node = NODE) -> Response:
    blob, header = private.filter_file(node, who, since)
    return Response(blob, media_type="application/octet-stream",
                    headers={"X-Hanoi-Filter-Version": header["version"]})


@router.get("/campaigns", name="campaign", summary="The campaign of a value: its signals and the links you may see")
@documented(returns=S.Campaign)
def campaign_q(value: str = Query(..., max_length=4096), type: str | None = TYPE,
               who: Principal = READ, node: Node = NODE) -> dict[str, Any]:
    return service.campaign(node, who, value, type_=type)


@router.get("/campaigns/{value:path}", name="campaign_of", summary="The campaign of a value (value in the path)")
@documented(returns=S.Campaign)
def campaign(value: str, type: str | None = TYPE, who: Principal = READ,
             node: Node = NODE) -> dict[str, Any]:
    return service.campaign(node, who, value, type_=type)


@router.post("/sightings", status_code=201, summary="Report a sighting of a signal (back to its sources)")
@documented(body=S.Feedback, returns=S.FeedbackRecorded)
def sighting(body: dict[str, Any] = ANY_OBJECT, who: Principal = MATCH, node: Node = NODE) -> dict[str, Any]:
    return service.feedback(node, who, "sighting", body)


@router.post("/false-positives", status_code=201, summary="Report a false positive (back to its sources)")
@documented(body=S.Feedback, returns=S.FeedbackRecorded)
def false_positive(body: dict[str, Any] = ANY_OBJECT, who: Principal = MATCH,
                   node: Node = NODE) -> dict[str, Any]:
    return service.feedback(node, who, "false-positive", body)


@router.get("/feedback", summary="Sightings and false positives of the signals you reported")
@documented(returns=list[dict[str, Any]])
def feedback(limit: int = Query(500, ge=1, le=5000), who: Principal = READ,
             node: Node = NODE) -> list[dict[str, Any]]:
    return service.feedback_for_source(node, who.member_id, limit=limit)


@router.post("/import", status_code=201, summary="Import a STIX / MISP / CSV document (the body; "
             "format detected when not given); all or nothing unless best_effort; an entry without "
             "an offence code is classified by the table, else by `offence`, else stored not classified; "
             "importing the same document again updates its reports")
@documented(body={"application/json": dict[str, Any], "application/octet-stream": bytes},  # CSV: the file
            returns=S.ImportSummary)
async def import_(request: Request, format: str | None = Query(None, max_length=8),
                  best_effort: bool = False, tlp: str | None = Query(None, max_length=16),
                  offence: str | None = Query(None, max_length=16, description="Offence code for entries "
                                              "that carry none and that the classification table does not "
                                              "classify, e.g. UNCC-11"),
                  abuse_type: str | None = Query(None, max_length=16, include_in_schema=False),
                  confidence: int | None = Query(None, ge=0, le=100),
                  type: str | None = Query(None, max_length=16, description="Type of a CSV value list"),
                  tag: list[str] | None = Query(None, max_length=64, description="Tag every entry (repeat)"),
                  source: str | None = Query(None, max_length=64, description="Staff: the member the "
                                             "document comes from"),
                  who: Principal = WRITE, node: Node = NODE) -> Response:
    if who.member_id is not None:
        if source not in (None, who.member_id):
            raise Forbidden("a partner's token imports as its own organisation only")
        source = who.member_id
    if offence is not None and abuse_type is not None and offence != abuse_type:
        raise invalid("offence", "offence and abuse_type (its old name) disagree: give offence only")
    data = await request.body()
    defaults: dict[str, Any] = {k: v for k, v in (("tlp", tlp), ("abuse_type", offence or abuse_type),
                                                  ("confidence", confidence)) if v is not None}
    out = await run_in_threadpool(lambda: io.import_document(
        node, who.actor, source, data, fmt=format, best_effort=best_effort, defaults=defaults,
        type_name=type, tags=tag))
    return _json(out, 201)


@router.get("/export", summary="Export what you may receive as STIX, MISP or CSV (staff: for=MEMBER "
            "exports what that member may receive)", response_class=Response, responses={200: {
                "description": "The document: a STIX 2.1 bundle, a MISP event or CSV",
                "content": {"application/stix+json;version=2.1": {"schema": {"type": "object"}},
                            "application/json": {"schema": {"type": "object"}},
                            "text/csv": {"schema": {"type": "string"}}}}})
def export(format: str = one_of(FORMATS, "stix, misp or csv", ...),
           for_: str | None = Query(None, alias="for", pattern=MEMBER_ID.pattern),
           since: str | None = since_param(), who: Principal = READ,
           node: Node = NODE) -> Response:
    member = who.member_id
    if for_ is not None and member is not None and for_ != member:
        raise Forbidden("a partner's token exports what its own organisation may receive only")
    text, media = io.export_document(node, format, member_id=member or for_,
                                            since=service.parse_since(since))
    return Response(text.encode(), media_type=media)


@router.put("/reports/{report_id}/named", summary="Name the members this node lets receive an AMBER "
            "report (need-to-know); body {members: [...]} replaces the list; staff only")
@documented(body=S.Named, returns=S.ReportRecord)
def name_members(report_id: RowId, body: dict[str, Any] = ANY_OBJECT, who: Principal = WRITE,
                 node: Node = NODE) -> dict[str, Any]:
    _only_fields(body, {"members"}, "is not a field; send {members: [...]}")
    if "members" not in body:
        raise invalid("members", "is required: the member ids to name (an empty list names nobody)")
    return service.name_members(node, who, report_id, body["members"], mode="set")


@router.post("/publish", status_code=202, summary="Queue reports for federated peers through the outbox "
             "(body {to?: [...], since?}); each peer gets what the gate allows; staff only")
@documented(body=S.Publish | None, body_required=False, returns=S.Published)  # null: every default
def publish(body: dict[str, Any] | None = OPTIONAL_OBJECT, who: Principal = WRITE,
            node: Node = NODE) -> dict[str, Any]:
    body = body or {}
    _only_fields(body, {"to", "since"}, "is not a field of a publish request")
    since = body.get("since")
    if since is not None and not isinstance(since, str):
        raise invalid("since", "must be an ISO 8601 time")
    return service.publish_reports(node, who, to=body.get("to"), since=service.parse_since(since))


@router.get("", name="list", summary="The newest reports you may see")
@documented(returns=list[S.ReportRecord])
def list_(type: str | None = TYPE, since: str | None = since_param(),
          limit: int = Query(100, ge=1, le=10_000),
          unclassified: bool = Query(False, description="Only reports without an offence code (staff: "
                                     "nobody else sees them)"),
          who: Principal = READ, node: Node = NODE) -> Response:
    return _json(service.list_signals(node, who, type_=type, since=service.parse_since(since),
                                      limit=limit, unclassified=unclassified))


@router.post("/classify", summary="Give reports an offence code (body {offence, reports?: [ids], batch?, "
             "creator?}: the named reports, or every report not classified yet of a batch or author); "
             "staff only")
def classify(body: dict[str, Any] = ANY_OBJECT, who: Principal = WRITE, node: Node = NODE) -> dict[str, Any]:
    _only_fields(body, {"offence", "reports", "batch", "creator"}, "is not a field of a classification")
    if "offence" not in body:
        raise invalid("offence", "is required: the offence code to give, e.g. UNCC-11")
    return service.classify(node, who, body["offence"], report_ids=body.get("reports"),
                            batch=body.get("batch"), creator=body.get("creator"))


@router.get("/classification", summary="The table that gives data from other tools an offence code "
            "(each row: vocabulary, term, offence, reason)")
def classification_table(who: Principal = READ) -> list[dict[str, Any]]:
    return classification.table()
