"""Signals: reports, lookups, campaigns, feedback, import summaries, publishing."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hanoi.api.schemas.common import ProblemItem, Time


class Related(BaseModel):
    type: str
    value: str


class SignalReport(BaseModel):
    """One report of a signal; the signals gate reads its TLP, recipients and consent."""

    type: str | None = Field(None, description="The value's type (detected when absent)")
    value: str
    tlp: str = Field(description="CLEAR, GREEN, AMBER, AMBER+STRICT or RED")
    abuse_type: str = Field(description="The offence code, e.g. UNCC-13 (GET /api/v1/offences)")
    confidence: int | None = Field(None, ge=0, le=100)
    tags: list[str] | None = None
    related: list[Related] | None = Field(None, description="Identifiers the same report names")
    recipients: list[str] | None = Field(None, description="Members the originator names (AMBER)")
    consent: bool | None = Field(None, description="Whether the originator consents to onward transfer to a "
                                 "third member; absent: personal data (e-mail, phone, IBAN, wallet) stay here, "
                                 "infrastructure (URL, domain, IP, hash) follows its TLP")
    conditions: str | None = None
    first_seen: Time | None = None
    last_seen: Time | None = None
    expires_at: Time | None = None
    source: str | None = Field(None, description="Staff: the member it comes from")
    publish: bool | None = Field(None, description="Also queue it for the federated peers the gate allows")


class SignalReportBatch(BaseModel):
    """Up to 10,000 reports; all or nothing unless best_effort."""

    items: list[SignalReport]
    best_effort: bool = False
    publish: bool = False
    source: str | None = None


class StoredReport(BaseModel):
    ref: str
    report_id: int
    signal_id: int
    type: str
    value: str
    status: str = Field(description="new, updated (a newer version of a report it holds) or unchanged")


class Rejected(ProblemItem):
    ref: str | None = None


class ReportSummary(BaseModel):
    """What a batch or an import stored and what it refused, each refusal with its article."""

    model_config = ConfigDict(extra="allow")
    batch: str | None = None
    received: int
    stored: int
    updated: int = Field(0, description="Newer versions of reports this node holds")
    unchanged: int = Field(0, description="Reports this node already holds as they are")
    new_signals: int
    unclassified: int = Field(0, description="Stored without an offence (classify them later)")
    withdrawn: int = Field(0, description="Reports ended because their author withdrew them")
    rejected: list[Rejected]
    reports: list[StoredReport] = Field(default_factory=list,
                                        description="Each stored report, when the batch is small enough")


class ImportSummary(ReportSummary):
    format: str
    notes: list[str]


class Lookup(BaseModel):
    """Up to 10,000 values, answered in order (a bare list of values is accepted too)."""

    values: list[str]
    type: str | None = Field(None, description="The type of every value (detected when absent)")


class RelatedMatch(BaseModel):
    """A signal under the looked-up domain's registered domain (not the value asked)."""

    value: str
    type: str
    match: bool
    related: bool = Field(description="Always true: a related match, not the value asked")
    reason: str = Field(description="Why it is related, e.g. 'same registered domain example.co.uk'")
    signal_id: int
    campaign: int | None = None
    confidence: int
    sources: int
    tlp: str


class LookupAnswer(BaseModel):
    value: str
    type: str | None = None
    match: bool
    signal_id: int | None = None
    campaign: int | None = None
    confidence: int | None = None
    sources: int | None = None
    tlp: str | None = None
    error: str | None = Field(None, description="Why the value could not be read")
    related: list[RelatedMatch] | None = Field(
        None, description="For a domain: the URLs and domains under its registered domain that you may "
                          "see (at most 100), when the node links by registered domain")


class LookupResult(BaseModel):
    count: int
    matches: int
    results: list[LookupAnswer]


class Signal(BaseModel):
    signal_id: int
    type: str
    value: str
    first_seen: Time | None = None
    last_seen: Time | None = None
    confidence: int | None = None
    sources: int | None = None
    tlp: str | None = None


class CampaignLink(BaseModel):
    a: int
    b: int
    report_id: int | None = Field(description="The report naming both; null for a registered-domain link")
    source: str | None
    tlp: str | None
    reason: str = Field(description="'named together by report N' or 'same registered domain example.co.uk'")


class Campaign(BaseModel):
    signal: dict[str, Any]
    campaign: int | None
    members: list[Signal]
    links: list[CampaignLink]


class Feedback(BaseModel):
    """A sighting or a false positive."""

    value: str
    type: str | None = None
    count: int | None = Field(None, description="How many times it was seen (sightings)")
    seen_at: Time | None = None
    note: str | None = None


class FeedbackRecorded(BaseModel):
    model_config = ConfigDict(extra="allow")
    feedback_id: int
    kind: str
    signal_id: int
    type: str
    value: str


class ReportRecord(BaseModel):
    report_id: int
    signal_id: int
    type: str
    value: str
    source: str | None
    origin: str | None = None
    abuse_type: str | None
    confidence: int
    first_seen: Time | None = None
    last_seen: Time | None = None
    tlp: str
    tags: list[str]
    expires_at: Time | None = None
    conditions: str | None = None
    recipients: list[str]
    consent: bool
    related: list[Any]
    reported_at: Time
    named: list[str] | None = None
    external_id: str | None = Field(None, description="Its id in the document it came from (STIX id, MISP uuid)")
    creator: str | None = Field(None, description="Its author in that document")
    version: Time | None = Field(None, description="Its version there (STIX modified, MISP timestamp)")
    provenance: dict[str, Any] | None = Field(None, description="The format and ids it was read from")
    classified_by: str | None = Field(None, description="Where its offence came from (the document, the "
                                                        "classification table, a default, a person)")
    updated_at: Time | None = None


class Named(BaseModel):
    """The members named to receive an AMBER report; the list replaces the previous one."""

    members: list[str]


class Publish(BaseModel):
    to: list[str] | None = Field(None, description="Peers (default: every federated peer)")
    since: Time | None = None


class Published(BaseModel):
    considered: int
    since: Time | None = None
    peers: dict[str, int]
    queued: int


class PrefixParams(BaseModel):
    """How to ask for prefixes (docs/privacy.md): the canonical form, the longest prefix allowed."""

    version: str = Field(description="The canonical form digests are taken over (hanoi-sig-v1, hanoi-media-v1)")
    bits: int = Field(description="The prefix length to send, in bits: floor(log2(stored / k))")
    k: int = Field(description="Each prefix covers at least this many stored values on average")
    pad: int = Field(description="Each prefix's answer is padded with random digests to a multiple of this")
    stored: int = Field(description="Values stored")


class PrefixQuery(BaseModel):
    """Up to 10,000 prefixes: the first ``bits`` bits of each digest, as whole numbers."""

    bits: int = Field(ge=0, le=40)
    prefixes: list[int]


class PrefixAnswer(BaseModel):
    """Per prefix, in the order asked: base64 of the concatenated 32-byte digests under it that
    you may see, padded with random ones to a multiple of ``pad``."""

    version: str
    bits: int
    pad: int
    answers: list[str]


class FeedNew(BaseModel):
    """A feed pulled on a schedule (a URL: a folder on the node is for the CLI only)."""

    name: str = Field(description="1-64 of a-z, 0-9, '.', '_', '-'")
    url: str = Field(description="A TAXII 2.1 collection, a MISP feed, or a STIX / CSV / URLhaus document")
    format: str = Field(description="taxii, misp, stix, csv or urlhaus")
    every: str = Field("1h", description="How often: 15m, 1h, 1d (1m to 30d)")
    tlp: str = Field("GREEN", description="TLP for entries that carry none")
    offence: str | None = Field(None, description="Offence code for entries that name none")
    source: str | None = Field(None, description="The member the signals come from")
    token_env: str | None = Field(None, description="Environment variable on the node holding a bearer token")


class Feed(BaseModel):
    name: str
    url: str | None
    path: str | None
    format: str
    every_seconds: int
    tlp: str
    offence: str | None
    source: str | None
    token_env: str | None
    paused: bool
    checkpoint: dict[str, Any] = Field(description="Where the next run starts: TAXII added_after and next, "
                                                   "MISP manifest timestamps, ETag / Last-Modified, a file's SHA-256")
    next_run_at: Time
    last_run_at: Time | None
    last_ok_at: Time | None
    last_error: str | None
    failures: int = Field(description="Failed runs in a row (retried with backoff)")
    runs: int


class FeedRun(BaseModel):
    name: str
    ok: bool
    error: str | None
    failures: int
    pages: int
    counts: dict[str, int]
    checkpoint: dict[str, Any]


class FeedRemoved(BaseModel):
    name: str
    removed: bool
