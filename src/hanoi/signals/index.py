"""The in-memory lookup index: ``(type, normalised value)`` -> signal, its reports, campaigns.

Rebuilt from the store when a node starts and kept current incrementally (the service feeds it
every report and link it reads back). Pure: no database, no clock (``now`` is an argument).

Layout, chosen for 10 million values in well under 4 GB and a million lookups a second:

- one ``dict[str, int]`` per signal type, from the normalised value to the signal id. A dict
  lookup of a string is the fastest exact-match structure Python has; one dict per type avoids
  building a ``"type\\0value"`` key per lookup;
- every other per-signal and per-report field lives in typed ``array.array`` columns indexed by
  the database id (ids are dense), 8-35 bytes a row instead of a Python object of ~200:
  ``head[signal]`` is the first report id, ``next[report]`` chains a signal's reports, then the
  report's source (an int code), TLP rank, confidence, flags, expiry and named recipients;
- campaigns are two union-finds over links (``campaigns.Campaigns``), evidence = report id: one
  over every link (node staff) and one over links whose evidence the whole community may see
  (CLEAR or GREEN, consented, not expiring), which is what a member's lookup may show.

``looks_normal`` recognises values that are certainly already canonical (lower-case hashes,
dotted-quad IPv4, plain ASCII domains and URLs), so a lookup of a value that is not stored can
skip normalisation; a property-based test holds ``normalise(v) == v`` for every such value.
"""

from __future__ import annotations

import re
import threading
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from typing import NamedTuple

import numpy as np

from hanoi.core import digests
from hanoi.core.tlp import TLP
from hanoi.signals.campaigns import Campaigns, Link
from hanoi.signals.gate import Viewer
from hanoi.signals.types import SIGNAL_TYPES, registered_domain

TYPES: tuple[str, ...] = tuple(SIGNAL_TYPES)
TYPE_CODE: dict[str, int] = {name: i for i, name in enumerate(TYPES)}
TLP_BY_RANK: tuple[TLP, ...] = tuple(sorted(TLP, key=lambda t: t.rank))
ORIGINATED_HERE = 1
CONSENT = 2
PRESENT = 4
SHAREABLE = 8
"""May leave the node at all: made here or consented to, and classified (``gate.sees``)."""
_SHAREABLE = SHAREABLE
_NO_SHARE: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())
_new_match = tuple.__new__  # builds a Match without NamedTuple's Python-level __new__


class Match(NamedTuple):
    """What a lookup answers for a stored value, over the reports the asker may see."""

    signal_id: int
    campaign: int | None
    confidence: int
    sources: int
    tlp: TLP
    reports: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class IndexedReport:
    """One report as the index keeps it (the service builds these from rows)."""

    report_id: int
    signal_id: int
    type: str
    value: str
    source: str
    tlp: TLP
    confidence: int
    originated_here: bool
    consent: bool
    recipients: frozenset[str] = frozenset()
    named: frozenset[str] = frozenset()
    expires_at: datetime | None = None
    classified: bool = True

    @property
    def flags(self) -> int:
        shareable = (self.originated_here or self.consent) and self.classified
        return (PRESENT | (ORIGINATED_HERE if self.originated_here else 0) | (CONSENT if self.consent else 0)
                | (SHAREABLE if shareable else 0))


@dataclass(frozen=True, slots=True)
class Asker:
    """A ``Viewer`` resolved against the index once per call (``internal`` is node staff)."""

    viewer: Viewer | None
    code: int
    internal: bool


_RESIZE = threading.Lock()
"""Held while numpy views of the columns exist (``lookup_columns``): an array exporting its
buffer cannot be resized, so growing waits for them."""


def _grow(column: array, size: int) -> None:  # type: ignore[type-arg,unused-ignore]
    """Make ``column`` at least ``size`` long (zero-filled), with headroom to amortise."""
    if size > len(column):
        with _RESIZE:
            missing = size - len(column)
            if missing > 0:
                missing += len(column) >> 3
                column.frombytes(bytes(missing * column.itemsize))


@dataclass(frozen=True, slots=True)
class Columns:
    """A bulk answer as arrays, one row per value asked (``match`` False: nothing visible).

    ``campaign`` is 0 where there is none; ``tlp`` is the TLP rank (``TLP_BY_RANK``)."""

    match: np.ndarray
    signal_id: np.ndarray
    confidence: np.ndarray
    tlp: np.ndarray
    sources: np.ndarray
    campaign: np.ndarray


class SignalIndex:
    """Exact-match index of signals with the report fields the gate needs."""

    def __init__(self) -> None:
        self._values: list[dict[str, int]] = [{} for _ in TYPES]
        self._head = array("q")  # signal id -> first report id (0: none)
        self._next = array("q")  # report id -> next report id of the same signal
        self._source = array("i")  # report id -> source code
        self._tlp = array("B")  # report id -> TLP rank
        self._conf = array("B")
        self._flags = array("B")
        self._expires = array("d")  # POSIX seconds; 0: never
        self._share = array("i")  # report id -> index into _shares (0: nobody named)
        self._shares: list[tuple[frozenset[str], frozenset[str]]] = [_NO_SHARE]
        self._share_ids: dict[tuple[frozenset[str], frozenset[str]], int] = {_NO_SHARE: 0}
        self._sources: list[str] = []
        self._source_code: dict[str, int] = {}
        self.campaigns: Campaigns[int] = Campaigns()
        self.community: Campaigns[int] = Campaigns()
        # Links whose evidence the community may not see (yet): a report classified or
        # re-marked later may let them into ``community``.
        self._held_links: dict[int, list[tuple[int, int]]] = {}
        self.reports = 0
        self.last_report_id = 0
        self.last_link_id = 0
        self.new_signals: list[tuple[int, str, str]] | None = None
        """Signals added since ``watch_signals`` (id, type, value), for the digest index."""
        # URLs and domains by registered domain, grouped lazily on first use (the suffix list
        # costs microseconds a value: not paid on the write path nor for nodes never asking).
        self._hosts: list[tuple[int, str, str]] = []
        self._grouped = 0
        self._by_registered: dict[str, list[int]] = {}
        self._registered_of: dict[int, str] = {}
        self._host_key: dict[int, tuple[str, str]] = {}

    # --- writing -------------------------------------------------------------------------

    def __len__(self) -> int:
        return sum(len(d) for d in self._values)

    def add_signal(self, signal_id: int, type_name: str, value: str) -> None:
        values = self._values[TYPE_CODE[type_name]]
        if value not in values:
            if self.new_signals is not None:
                self.new_signals.append((signal_id, type_name, value))
            if type_name in _HOSTED:
                self._hosts.append((signal_id, type_name, value))
        values[value] = signal_id
        _grow(self._head, signal_id + 1)

    def add(self, r: IndexedReport) -> None:
        """Add one report (and its signal if new); adding the same report twice is a no-op."""
        rid = r.report_id
        if rid < len(self._flags) and self._flags[rid] & PRESENT:
            return
        self.add_signal(r.signal_id, r.type, r.value)
        for column in (self._next, self._source, self._tlp, self._conf, self._flags,
                       self._expires, self._share):
            _grow(column, rid + 1)
        code = self._source_code.get(r.source)
        if code is None:
            code = self._source_code[r.source] = len(self._sources)
            self._sources.append(r.source)
        self._source[rid] = code
        self._set_fields(r)
        self._next[rid] = self._head[r.signal_id]
        self._head[r.signal_id] = rid
        self.reports += 1
        self.last_report_id = max(self.last_report_id, rid)

    def _set_fields(self, r: IndexedReport) -> None:
        rid = r.report_id
        self._tlp[rid] = r.tlp.rank
        self._conf[rid] = r.confidence
        self._flags[rid] = r.flags
        self._expires[rid] = r.expires_at.timestamp() if r.expires_at else 0.0
        share = (r.recipients, r.named)
        sid = self._share_ids.get(share)
        if sid is None:
            sid = self._share_ids[share] = len(self._shares)
            self._shares.append(share)
        self._share[rid] = sid

    def update(self, r: IndexedReport) -> None:
        """Replace the fields of a report held already (a re-import changed its terms, a person
        classified it); a report not held yet is left alone (``add`` brings it)."""
        rid = r.report_id
        if rid >= len(self._flags) or not self._flags[rid] & PRESENT:
            return
        self._set_fields(r)
        if self.community_may_see(rid):
            for a, b in self._held_links.pop(rid, ()):
                self.community.add(a, b, rid)

    def link(self, a: int, b: int, report_id: int, link_id: int = 0) -> None:
        """Signals ``a`` and ``b`` are named together by report ``report_id``."""
        self.campaigns.add(a, b, report_id)
        if self.community_may_see(report_id):
            self.community.add(a, b, report_id)
        else:
            self._held_links.setdefault(report_id, []).append((a, b))
        self.last_link_id = max(self.last_link_id, link_id)

    def community_may_see(self, rid: int) -> bool:
        """Every member in good standing may see this report (so its links may show)."""
        return (self._tlp[rid] <= TLP.GREEN.rank and self._expires[rid] == 0.0
                and bool(self._flags[rid] & SHAREABLE))

    # --- reading -------------------------------------------------------------------------

    def get(self, type_name: str, value: str) -> int | None:
        """The signal id of an already normalised value, or None."""
        return self._values[TYPE_CODE[type_name]].get(value)

    def values_of(self, type_name: str) -> dict[str, int]:
        """The raw value map of one type (read-only use: bulk lookups, benchmarks)."""
        return self._values[TYPE_CODE[type_name]]

    def asker(self, viewer: Viewer | None) -> Asker:
        """Resolve who is asking: ``None`` is node staff (sees every report, RED included)."""
        if viewer is None:
            return Asker(None, -1, True)
        code = self._source_code.get(viewer.member_id, -1) if viewer.member_id else -1
        return Asker(viewer, code, False)

    def visible(self, rid: int, asker: Asker, now: float) -> bool:
        """``gate.sees`` for one stored report (node staff: every report not expired)."""
        expires = self._expires[rid]
        if asker.internal:
            return expires == 0.0 or expires > now
        viewer = asker.viewer
        assert viewer is not None
        if viewer.suspended:
            return False
        if self._source[rid] == asker.code:
            return True
        if expires != 0.0 and expires <= now:
            return False
        if not self._flags[rid] & SHAREABLE:
            return False
        tlp = self._tlp[rid]
        if tlp == 0:
            return True
        if not viewer.trusted or tlp == 4:
            return False
        if tlp == 1:
            return True
        recipients, named = self._shares[self._share[rid]]
        return viewer.member_id in recipients or (tlp == 2 and viewer.member_id in named)

    def reports_of(self, signal_id: int) -> list[int]:
        """Report ids of a signal, newest first."""
        out: list[int] = []
        rid = self._head[signal_id] if signal_id < len(self._head) else 0
        while rid:
            out.append(rid)
            rid = self._next[rid]
        return out

    def answer(self, signal_id: int, asker: Asker, now: float) -> Match | None:
        """The match for a stored signal as ``asker`` may see it; None if no report is visible."""
        rid = self._head[signal_id]
        if rid and not self._next[rid]:  # the common case: one report
            if not self.visible(rid, asker, now):
                return None
            return _new_match(Match, (signal_id, self._campaign_for(signal_id, asker),
                                      self._conf[rid], 1, TLP_BY_RANK[self._tlp[rid]], (rid,)))
        shown: list[int] = []
        confidence = 0
        tlp = 0
        sources: set[int] = set()
        while rid:
            if self.visible(rid, asker, now):
                shown.append(rid)
                confidence = max(confidence, self._conf[rid])
                tlp = max(tlp, self._tlp[rid])
                sources.add(self._source[rid])
            rid = self._next[rid]
        if not shown:
            return None
        return _new_match(Match, (signal_id, self._campaign_for(signal_id, asker), confidence,
                                  len(sources), TLP_BY_RANK[tlp], tuple(shown)))

    def _campaign_for(self, signal_id: int, asker: Asker) -> int | None:
        if asker.internal:
            return self.campaigns.campaign_id(signal_id)
        if asker.viewer is not None and asker.viewer.trusted:
            return self.community.campaign_id(signal_id)
        return None

    def lookup(self, type_name: str, values: Sequence[str], asker: Asker,
               now: float) -> list[Match | None]:
        """Answer already normalised values of one type, in order (None: no visible match).

        The hot path of every lookup: a signal with a single report is answered inline, with
        the checks of ``visible`` on local names; anything else goes through ``answer``.
        """
        if asker.viewer is not None and asker.viewer.suspended:
            return [None] * len(values)
        get = self._values[TYPE_CODE[type_name]].get
        found = [get(v) for v in values]
        head, nxt, conf, tlps, expires, flags, source = (
            self._head, self._next, self._conf, self._tlp, self._expires, self._flags, self._source)
        internal = asker.internal
        trusted = asker.viewer is not None and asker.viewer.trusted
        code = asker.code
        campaigns = self.campaigns if internal else self.community if trusted else None
        linked = campaigns.linked if campaigns is not None else {}
        answer = self.answer
        out: list[Match | None] = []
        append = out.append
        for s in found:
            if s is None:
                append(None)
                continue
            rid = head[s]
            if not rid or nxt[rid]:
                append(answer(s, asker, now))
                continue
            e = expires[rid]
            t = tlps[rid]
            if internal:
                ok = e == 0.0 or e > now
            elif source[rid] == code:
                ok = True
            elif (e != 0.0 and e <= now) or not flags[rid] & _SHAREABLE:
                ok = False
            elif t == 0:
                ok = True
            elif t == 1:
                ok = trusted
            else:
                ok = self.visible(rid, asker, now)
            if not ok:
                append(None)
                continue
            campaign = campaigns.campaign_id(s) if campaigns is not None and s in linked else None
            append(_new_match(Match, (s, campaign, conf[rid], 1, TLP_BY_RANK[t], (rid,))))
        return out

    def lookup_columns(self, type_name: str, values: Sequence[str], asker: Asker,
                       now: float) -> Columns:
        """``lookup`` for bulk matchers, answered as numpy columns: the common case (one
        report, decided by TLP and standing alone) is computed for all values at once; rows
        with several reports or named recipients go through ``answer``."""
        n = len(values)
        get = self._values[TYPE_CODE[type_name]].get
        sids = np.fromiter(map(get, values, repeat(0)), dtype=np.int64, count=n)
        return self.columns_of(sids, asker, now)

    def signals(self) -> Iterator[tuple[int, str, str]]:
        """Every signal held: ``(id, type, value)`` (iterate while holding the read model's lock)."""
        for code, values in enumerate(self._values):
            name = TYPES[code]
            for value, sid in values.items():
                yield sid, name, value

    def visible_signals(self, sids: np.ndarray, asker: Asker, now: float) -> np.ndarray:
        """For each signal id (0: none), whether ``asker`` may see any of its reports: the
        same gate as every lookup (``columns_of``), without the campaigns."""
        return self.columns_of(sids, asker, now, campaigns=False).match

    def columns_of(self, sids: np.ndarray, asker: Asker, now: float, *,
                   campaigns: bool = True) -> Columns:
        """``lookup_columns`` over signal ids (0: no signal)."""
        n = len(sids)
        match = np.zeros(n, dtype=bool)
        conf = np.zeros(n, dtype=np.uint8)
        tlp = np.zeros(n, dtype=np.uint8)
        sources = np.zeros(n, dtype=np.int32)
        campaign = np.zeros(n, dtype=np.int64)
        if asker.viewer is not None and asker.viewer.suspended:
            return Columns(match, sids * 0, conf, tlp, sources, campaign)
        with _RESIZE:
            rid = np.frombuffer(self._head, dtype=np.int64)[sids]
            single = (rid != 0) & (np.frombuffer(self._next, dtype=np.int64)[rid] == 0)
            t = np.frombuffer(self._tlp, dtype=np.uint8)[rid]
            ex = np.frombuffer(self._expires, dtype=np.float64)[rid]
            live = (ex == 0.0) | (ex > now)
            if asker.internal:
                ok = single & live
                slow = (rid != 0) & ~single
            else:
                own = np.frombuffer(self._source, dtype=np.int32)[rid] == asker.code
                shareable = (np.frombuffer(self._flags, dtype=np.uint8)[rid] & _SHAREABLE) != 0
                trusted = asker.viewer is not None and asker.viewer.trusted
                by_tlp = (t == 0) | ((t == 1) & trusted)
                ok = single & (own | (live & shareable & by_tlp))
                if trusted and len(self._shares) > 1:
                    # AMBER / AMBER+STRICT: is the asker among the names? One flag per distinct
                    # set of names (few), then gathered per row.
                    member = asker.viewer.member_id if asker.viewer is not None else None
                    in_rec = np.fromiter((member in r for r, _ in self._shares), dtype=bool,
                                         count=len(self._shares))
                    in_named = np.fromiter((member in nm for _, nm in self._shares), dtype=bool,
                                           count=len(self._shares))
                    share = np.frombuffer(self._share, dtype=np.int32)[rid]
                    ok |= single & live & shareable & (
                        ((t == 2) | (t == 3)) & in_rec[share] | (t == 2) & in_named[share])
                slow = (rid != 0) & ~single
            conf[ok] = np.frombuffer(self._conf, dtype=np.uint8)[rid[ok]]
            tlp[ok] = t[ok]
            del rid, ex, t  # (the gathers are copies; no view outlives the lock)
        match[ok] = True
        sources[ok] = 1
        for i in np.flatnonzero(slow):
            m = self.answer(int(sids[i]), asker, now)
            if m is not None:
                match[i] = True
                conf[i] = m.confidence
                tlp[i] = m.tlp.rank
                sources[i] = m.sources
        union = self.campaigns if asker.internal else (
            self.community if asker.viewer is not None and asker.viewer.trusted else None)
        if campaigns and union is not None and len(union.linked):
            linked = union.linked
            hits = np.flatnonzero(match)
            # Plain ints from tolist(): indexing a numpy array one element at a time costs
            # several times more than the membership test itself.
            for row, sid in zip(hits.tolist(), sids[hits].tolist(), strict=True):
                if sid in linked:
                    campaign[row] = union.campaign_id(sid) or 0
        return Columns(match, np.where(match, sids, 0), conf, tlp, sources, campaign)

    def report_fields(self, rid: int) -> tuple[str, TLP, int, bool, bool, frozenset[str], frozenset[str], float]:
        """``(source, tlp, confidence, originated_here, consent, recipients, named, expires)``."""
        recipients, named = self._shares[self._share[rid]]
        flags = self._flags[rid]
        return (self._sources[self._source[rid]], TLP_BY_RANK[self._tlp[rid]], self._conf[rid],
                bool(flags & ORIGINATED_HERE), bool(flags & CONSENT), recipients, named,
                self._expires[rid])

    def _group_hosts(self) -> None:
        hosts = self._hosts
        memo: dict[str, str | None] = {}  # URLs share hosts: the suffix list once per host
        end = len(hosts)  # a refresh may append meanwhile: those wait for the next call
        for signal_id, type_name, value in hosts[self._grouped:end]:
            host = url_host(value) if type_name == "url" else value
            if host is None:
                continue
            reg = memo.get(host, "")
            if reg == "":
                reg = memo[host] = registered_domain(host)
            if reg is not None:
                self._by_registered.setdefault(reg, []).append(signal_id)
                self._registered_of[signal_id] = reg
                self._host_key[signal_id] = (type_name, value)
        self._grouped = end

    def registered_of(self, signal_id: int) -> str | None:
        """The registered domain of a URL or domain signal (None for other types)."""
        with _GROUPING:
            self._group_hosts()
        return self._registered_of.get(signal_id)

    def key_of(self, signal_id: int) -> tuple[str, str]:
        """``(type, value)`` of a signal ``under`` named."""
        return self._host_key[signal_id]

    def under(self, registered: str) -> list[int]:
        """The URL and domain signals whose registered domain is ``registered``, by id."""
        with _GROUPING:
            self._group_hosts()
            return sorted(self._by_registered.get(registered, ()))

    def campaign(self, signal_id: int, asker: Asker, now: float) -> tuple[list[int], list[Link[int]]]:
        """The campaign of a signal over the links ``asker`` may see (members, links)."""
        return self.campaigns.component(signal_id, lambda rid: self.visible(rid, asker, now))


_HOSTED = frozenset({"url", "domain"})
_GROUPING = threading.Lock()


def registered_domain_of(type_name: str, value: str) -> str | None:
    """The registered domain of a normalised URL or domain (None for an IP host or another type)."""
    if type_name == "domain":
        return registered_domain(value)
    if type_name == "url":
        host = url_host(value)
        return registered_domain(host) if host else None
    return None


def url_host(url: str) -> str | None:
    """The host of a normalised URL, None for an IP address (cheaper than ``related``)."""
    netloc = url.partition("://")[2].partition("/")[0]  # a normalised path starts with '/'
    if netloc.startswith("["):
        return None
    host = netloc.partition(":")[0]
    return None if _IPV4_HOST(host) else host


# --- values certainly canonical already ---------------------------------------------------------

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_TOP = r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = rf"(?:{_LABEL}\.)+{_TOP}"
_PATH = r"/[A-Za-z0-9._~!$&'()*+,;=:@/-]*"
_QUERY = r"\?[A-Za-z0-9._~!$&()*+,;=:@/?-]+"
_DOT_SEGMENT = re.compile(r"/\.\.?(?:/|$)")

FAST_PATTERNS: dict[str, str] = {
    "md5": r"[0-9a-f]{32}",
    "sha1": r"[0-9a-f]{40}",
    "sha256": r"[0-9a-f]{64}",
    "ipv4": _IPV4,
    "domain": _DOMAIN,
    "url": rf"https?://(?:{_DOMAIN}|{_IPV4})(?:{_PATH})(?:{_QUERY})?",
}
_FAST = {name: re.compile(p).fullmatch for name, p in FAST_PATTERNS.items()}
_IPV4_HOST = re.compile(r"[0-9.]+").fullmatch


def looks_normal(type_name: str, value: str) -> bool:
    """True only if ``normalise(type_name, value) == value`` for certain (False: don't know)."""
    match = _FAST.get(type_name)
    if match is None or match(value) is None:
        return False
    if type_name in digests.LENGTHS:
        return not digests.degenerate(type_name, value)
    if type_name == "domain":
        return len(value) <= 253 and "xn--" not in value
    if type_name == "url":
        host, _, rest = value.partition("://")[2].partition("/")
        path = "/" + rest.split("?", 1)[0]
        return (len(value) <= 2048 and len(host) <= 253 and "xn--" not in host
                and _DOT_SEGMENT.search(path) is None)
    return True


_HASH_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256"}


def detect_normal(value: str) -> str | None:
    """``detect_type(value)`` when ``value`` is certainly canonical for it; else None (don't
    know). Lets an untyped lookup skip trying each candidate type's normaliser in turn."""
    if "://" in value:
        return "url" if looks_normal("url", value) else None
    hashed = _HASH_BY_LENGTH.get(len(value))
    if hashed is not None and looks_normal(hashed, value):
        return hashed
    for type_name in ("ipv4", "domain"):
        if looks_normal(type_name, value):
            return type_name
    return None


__all__ = ["FAST_PATTERNS", "TYPES", "Asker", "IndexedReport", "Match", "SignalIndex", "detect_normal",
           "looks_normal"]
