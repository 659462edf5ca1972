"""The media wing's vocabulary and the validation of what people submit (pure, no I/O).

A *list* has a category (``ncii`` / ``csam``), a PDQ threshold, a TLP level, the members named
as allowed recipients and the members it is distributed to (subscribers). A list either belongs
to this node (``origin`` is None) or mirrors a list a member sent us.

A *hash* is one value of an algorithm of ``hanoi.media.algorithms`` with its quality, the
source's opaque case reference (never personal data: the format admits no names, e-mails or
spaces) and a status: ``active`` (matched), ``quarantined`` (its matches spiked; a person
reviews it), ``withdrawn`` or ``deleted`` (dropped for good). A withdrawn or deleted hash keeps
only its digest, ``sha256("algorithm:value")``: the value itself is blanked, and the digest is
what refuses it if anyone submits it again. The ledger names hashes by that digest too, never by
value, so an append-only ledger never keeps a hash its source asked to drop.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from hanoi.core.errors import HanoiError, InvalidInput, Problem, invalid
from hanoi.core.tlp import TLP, parse_tlp
from hanoi.media.algorithms import ALGORITHMS, EXACT, PDQ_MATCH_THRESHOLD, Pdq

CATEGORIES: Final = ("ncii", "csam")


ACTIVE, QUARANTINED, WITHDRAWN, DELETED = "active", "quarantined", "withdrawn", "deleted"


STATUSES: Final = (ACTIVE, QUARANTINED, WITHDRAWN, DELETED)


GONE: Final = (WITHDRAWN, DELETED)


VERDICTS: Final = ("confirmed", "false-positive", "not-violating")


#: What a peer may report back: a platform's verdict, or that the hash spiked and was quarantined.
PEER_VERDICTS: Final = (*VERDICTS, QUARANTINED)


REVIEW_DECISIONS: Final = ("release", "withdraw")


DIHEDRAL: Final = "dihedral"
"""The query field of an image's 8 dihedral PDQ hashes (rotations and mirror images)."""
QUERY_FIELDS: Final = (Pdq.name, DIHEDRAL, *EXACT)
"""What a match query may carry, in the order matches are listed."""
MAX_BATCH: Final = 10_000


MAX_THRESHOLD: Final = 64  # beyond this, PDQ "matches" unrelated images


DEFAULT_THRESHOLD: Final = PDQ_MATCH_THRESHOLD


DEFAULT_TLP: Final = TLP.AMBER


DEFAULT_SPIKE_MATCHES: Final = 500


DEFAULT_SPIKE_MINUTES: Final = 60


_CASE_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")


def digest_of(algorithm: str, value: str) -> str:
    """The digest a hash is known by in the ledger and after it is dropped."""
    return hashlib.sha256(f"{algorithm}:{value}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class HashInput:
    """One validated hash of a submission; ``index`` is its item's position in the batch."""

    algorithm: str
    value: str
    quality: int | None
    case_ref: str | None
    index: int

    @property
    def digest(self) -> str:
        return digest_of(self.algorithm, self.value)

    @property
    def field(self) -> str:
        return f"hashes[{self.index}].{self.algorithm}"


def check_case_ref(value: object, field: str = "case_ref") -> str:
    """An opaque case reference: 1-64 letters, digits and ``. _ : / -``, no spaces or ``@``."""
    if not isinstance(value, str) or not _CASE_REF.fullmatch(value.strip()):
        raise invalid(field, "give the source's opaque case reference (1-64 letters, digits and "
                             ". _ : / -, e.g. RPH-2026-0412); never a name, e-mail or phone "
                             "number", "MEDIA-CASE-REF")
    return value.strip()


def _problems_of(err: HanoiError, field: str, rule: str | None) -> list[Problem]:
    return [Problem(field, p.message, p.rule or rule) for p in err.problems] or \
        [Problem(field, err.detail, rule)]


def parse_items(items: object, case_ref: str | None = None, *,
                require_case_ref: bool = True) -> list[HashInput]:
    """Validate a submission: a list of ``{pdq, quality, md5, sha256, case_ref}`` objects (any
    of the hashes; ``{algorithm, value, quality}`` works too). Every problem is reported at once;
    keys such as ``path`` that ``hanoi hash`` prints are dropped, never stored. Duplicates within
    the batch are kept once."""
    if not isinstance(items, list):
        raise invalid("hashes", "must be a list of hash objects")
    if not items:
        raise invalid("hashes", "the batch is empty")
    if len(items) > MAX_BATCH:
        raise invalid("hashes", f"at most {MAX_BATCH:,} hashes per batch, got {len(items):,}",
                      "MEDIA-BATCH")
    problems: list[Problem] = []
    out: list[HashInput] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        where = f"hashes[{i}]"
        if not isinstance(item, Mapping):
            problems.append(Problem(where, "must be an object such as {\"pdq\": ..., \"quality\": "
                                           "..., \"case_ref\": ...}"))
            continue
        spec = dict(item)
        if "algorithm" in spec:
            algo = str(spec.pop("algorithm")).strip().lower().replace("-", "")
            if algo not in ALGORITHMS:
                problems.append(Problem(f"{where}.algorithm", f"{algo!r} is not one of: " + ", ".join(ALGORITHMS)))
                continue
            spec[algo] = spec.pop("value", None)
        cref: str | None = None
        raw_ref = spec.get("case_ref", case_ref)
        if raw_ref is not None or require_case_ref:
            try:
                cref = check_case_ref(raw_ref, f"{where}.case_ref")
            except InvalidInput as err:
                problems.extend(err.problems)
        given = [a for a in ALGORITHMS if spec.get(a) not in (None, "")]
        if not given:
            problems.append(Problem(where, "give at least one of: " + ", ".join(
                f"{a} (with its quality)" if ALGORITHMS[a].has_quality else a for a in ALGORITHMS),
                "MEDIA-HASH-VALUE"))
            continue
        for algo in given:
            field = f"{where}.{algo}"
            kind = ALGORITHMS[algo]
            try:
                quality: int | None = None
                value = kind.parse(spec[algo], field)
                if kind.has_quality:
                    try:
                        quality = Pdq.check_quality(spec.get("quality"), f"{where}.quality")
                    except InvalidInput as err:
                        problems.extend(_problems_of(err, f"{where}.quality", "MEDIA-HASH-VALUE"))
                        continue
            except InvalidInput as err:
                problems.extend(_problems_of(err, field, "MEDIA-HASH-VALUE"))
                continue
            h = HashInput(algo, value, quality, cref, i)
            if h.digest not in seen:
                seen.add(h.digest)
                out.append(h)
    if problems:
        raise InvalidInput(f"{len(problems)} problem(s) in the batch; nothing was stored", problems)
    if len(out) > MAX_BATCH:
        raise invalid("hashes", f"at most {MAX_BATCH:,} hashes per batch, got {len(out):,}",
                      "MEDIA-BATCH")
    return out


def _int(data: Mapping[str, Any], key: str, default: int, lo: int, hi: int,
         problems: list[Problem], rule: str | None = None) -> int:
    v = data.get(key, default)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        problems.append(Problem(key, f"must be a whole number from {lo} to {hi}", rule))
        return default
    return v


def _member_ids(value: Any, field: str, problems: list[Problem]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
        problems.append(Problem(field, "must be a list of member ids"))
        return []
    return sorted({x.strip() for x in value})


def list_settings(data: Mapping[str, Any], current: Mapping[str, Any] | None) -> dict[str, Any]:
    problems: list[Problem] = []
    base = dict(current) if current else {}
    out: dict[str, Any] = {}
    known = {"name", "category", "threshold", "tlp", "recipients", "spike_matches",
             "spike_minutes"}
    for k in sorted(set(data) - known):
        problems.append(Problem(k, "is not a list setting"))
    if current is None or "name" in data:
        name = data.get("name")
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
            problems.append(Problem("name", "give a name of 1 to 200 characters"))
        else:
            out["name"] = name.strip()
    if current is None or "category" in data:
        cat = data.get("category")
        if current is not None and cat != base.get("category"):
            problems.append(Problem("category", "a list's category does not change; make a new "
                                                "list"))
        elif cat not in CATEGORIES:
            problems.append(Problem("category", f"{cat!r} is not one of: {', '.join(CATEGORIES)}"))
        else:
            out["category"] = cat
    if current is None or "threshold" in data:
        out["threshold"] = _int(data, "threshold", base.get("threshold", DEFAULT_THRESHOLD), 0,
                                MAX_THRESHOLD, problems)
    if current is None or "tlp" in data:
        try:
            raw = data.get("tlp")
            out["tlp"] = (parse_tlp(raw).level if raw is not None else DEFAULT_TLP).value
        except InvalidInput as err:
            problems.extend(err.problems)
    if current is None or "recipients" in data:
        out["recipients"] = _member_ids(data.get("recipients"), "recipients", problems)
    if current is None or "spike_matches" in data:
        out["spike_matches"] = _int(data, "spike_matches",
                                    base.get("spike_matches", DEFAULT_SPIKE_MATCHES), 1,
                                    10_000_000, problems, "MEDIA-QUARANTINE")
    if current is None or "spike_minutes" in data:
        out["spike_minutes"] = _int(data, "spike_minutes",
                                    base.get("spike_minutes", DEFAULT_SPIKE_MINUTES), 1,
                                    60 * 24 * 30, problems, "MEDIA-QUARANTINE")
    if problems:
        raise InvalidInput("the hash list is not valid", problems)
    return out
