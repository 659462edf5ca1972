"""Media hash lists: lists, hashes, matching, feedback."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class HashListSettings(BaseModel):
    """A hash list's settings (on change, only those given)."""

    name: str | None = None
    category: str | None = Field(None, description="ncii, csam, terrorism... (fixed at creation)")
    threshold: int | None = Field(None, description="PDQ distance up to which a hash matches")
    tlp: str | None = None
    recipients: list[str] | None = None
    spike_matches: int | None = None
    spike_minutes: int | None = None


class HashIn(BaseModel):
    """One hash: its value under its algorithm's name (or algorithm and value), and its case."""

    model_config = ConfigDict(extra="allow")
    pdq: str | None = None
    md5: str | None = None
    sha256: str | None = None
    algorithm: str | None = None
    value: str | None = None
    quality: int | None = Field(None, description="PDQ quality (at least 50)")
    case_ref: str | None = None


class HashSubmission(BaseModel):
    hashes: list[HashIn]
    case_ref: str | None = Field(None, description="The case of the hashes that name none")


class Distribution(BaseModel):
    recipient: str
    review: dict[str, Any] | None = Field(None, description="A named person's review, when the gate asks")


class Withdrawal(BaseModel):
    hash_ids: list[int] | None = None
    list_id: str | None = None
    case_ref: str | None = None
    status: str = Field("withdrawn", description="withdrawn or deleted")
    reason: str = ""


class QuarantineReview(BaseModel):
    decision: str = Field(description="release or withdraw")
    note: str = ""


class MatchQuery(BaseModel):
    """Up to 10,000 hashes, by algorithm; dihedral: groups of the 8 dihedral PDQ hashes of one image."""

    pdq: list[str] | None = None
    dihedral: list[list[str]] | None = None
    md5: list[str] | None = None
    sha256: list[str] | None = None


class Match(BaseModel):
    algorithm: str
    query: int = Field(description="Index into the caller's list for that algorithm")
    hash_id: int
    distance: int
    list_id: str
    list: str
    category: str
    source: str | None
    match_id: int
    quarantined: bool


class MatchResult(BaseModel):
    queries: dict[str, int]
    matched_queries: int
    matches: list[Match]
    quarantined: list[Any]


class Verdict(BaseModel):
    match_id: int
    verdict: str = Field(description="confirmed, false-positive or not-violating")


class VerdictBatch(BaseModel):
    items: list[Verdict]


class HashList(BaseModel):
    id: str
    name: str
    category: str
    threshold: int
    tlp: str
    recipients: list[str]
    subscribers: list[Any]
    spike_matches: int
    spike_minutes: int
    origin: str | None = None
    remote_id: str | None = None
    created_by: str
    created_at: str
    updated_at: str
    counts: dict[str, int]


class HashesStored(BaseModel):
    model_config = ConfigDict(extra="allow")
    list_id: str
    stored: int
    already_listed: int
    hash_ids: list[int]
    distributed: dict[str, Any]


class ListedHash(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: int
    list_id: str
    algorithm: str
    value: str | None
    digest: str
    case_ref: str | None
    status: str
    source: str | None
    created_at: str


class VerdictsRecorded(BaseModel):
    recorded: int
    sent_to: list[str]


class MediaPrefixQuery(BaseModel):
    """Up to 10,000 prefixes of the digests (hanoi-media-v1) of MD5 / SHA-256 file hashes."""

    bits: int = Field(ge=0, le=40)
    prefixes: list[int]
