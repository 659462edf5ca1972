"""Offence codes for data from other tools: what a STIX bundle, a MISP feed or a URLhaus dump
carries, mapped to the offence catalogue (UNCC Arts. 7-17, SERIOUS). Pure.

Another CERT's bundle names no Hanoi offence code, but it says what kind of thing each entry
is: STIX ``indicator_types`` and ``labels``, MISP attribute categories and taxonomy tags
(``rsit:fraud="phishing"``), URLhaus's ``threat`` and tags. ``MAPPINGS`` is the one table
that turns those words into an offence code, each row with the reason a lawyer can check; the
page ``docs/classification.md`` explains every row (a test holds the two together).

A row whose ``offence`` is ``None`` says the word was considered and deliberately maps to no
offence (anonymisation tools, spam, speech, copyright): such a word never classifies an
entry, whatever else it carries may.

**Which row decides.** The formats give each entry its *terms* (``(vocabulary, word)``
pairs). Every term that has a row with an offence is a candidate; the candidate of the most
specific vocabulary wins (``VOCABULARIES``, most specific first: a taxonomy tag with its value,
a taxonomy predicate, a STIX indicator type, URLhaus's threat, a plain tag, a MISP category),
then the row listed first in the table. The entry keeps the term that decided
(``Classification.term``), so a person can see why it carries its code.

An entry's own offence code (Hanoi's STIX extension, a ``hanoi:abuse-type`` MISP tag, our CSV's
``abuse_type`` column) comes before this table, and the importer's default (``--offence``)
after it; what is still without a code is stored *not classified* (see ``docs/classification.md``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from hanoi.core.offences import OFFENCES

INDICATOR_TYPE = "indicator_type"
"""STIX 2.1 ``indicator_types`` (the indicator-type-ov vocabulary)."""
TAG = "tag"
"""A plain tag or label: STIX ``labels``, MISP tags without a namespace, URLhaus tags, our CSV tags."""
MACHINE_TAG = "machine_tag"
"""A MISP taxonomy tag ``namespace:predicate="value"`` (the row may name only ``namespace:predicate``)."""
MISP_CATEGORY = "misp_category"
"""A MISP attribute's ``category``."""
URLHAUS_THREAT = "urlhaus_threat"
"""URLhaus's ``threat`` column."""

VOCABULARIES: tuple[str, ...] = (MACHINE_TAG, INDICATOR_TYPE, URLHAUS_THREAT, TAG, MISP_CATEGORY)
"""The vocabularies a term may come from, most specific first (a taxonomy value before its
predicate: the rank of a machine tag row depends on whether it names the value)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One row: a word of a vocabulary, the offence it means (``None``: deliberately none), why."""

    vocabulary: str
    term: str
    offence: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Classification:
    """The offence an entry's terms give it, and the term that decided (``vocabulary: term``)."""

    offence: str
    term: str

    @property
    def by(self) -> str:
        """How the classification is recorded with the report (``classified_by``)."""
        return f"mapping: {self.term}"


def _row(vocabulary: str, term: str, offence: str | None, reason: str) -> Row:
    return Row(vocabulary, term, offence, reason)


_MALWARE = ("Making a program designed to commit illegal access or interference available, or "
            "possessing one to use it, is misuse of devices (Art. 11).")
_FRAUD = ("Obtaining money, credentials or data by deceiving a person through an ICT system is "
          "ICT-related theft or fraud (Art. 13).")
_ACCESS = "Entering an ICT system, or part of it, without right is illegal access (Art. 7)."
_VICTIM = ("The indicator names a system accessed without right (Art. 7): the victim's system, "
           "so share it with care.")
_DATA = "Altering, deleting or encrypting data without right is interference with electronic data (Art. 9)."
_SYSTEM = ("Seriously hindering the functioning of an ICT system without right is interference with "
           "an ICT system (Art. 10).")
_FORGERY = ("Making data that pass for authentic (impersonating a bank, a brand, a person) is "
            "ICT-related forgery (Art. 12).")
_SPEECH = ("Content and speech are never classified by a table: Art. 6 forbids using the Convention "
           "to suppress expression; a person decides, case by case.")

MAPPINGS: tuple[Row, ...] = (
    # --- MISP taxonomies: RSIT, the CSIRT network's Reference Security Incident Taxonomy ------
    _row(MACHINE_TAG, 'rsit:malicious-code="infected-system"', "UNCC-7", _VICTIM),
    _row(MACHINE_TAG, "rsit:malicious-code", "UNCC-11", _MALWARE),
    _row(MACHINE_TAG, 'rsit:availability="dos"', "UNCC-10", _SYSTEM),
    _row(MACHINE_TAG, 'rsit:availability="ddos"', "UNCC-10", _SYSTEM),
    _row(MACHINE_TAG, 'rsit:availability="sabotage"', "UNCC-10", _SYSTEM),
    _row(MACHINE_TAG, "rsit:availability", None,
         "Outages and misconfigurations are incidents, not offences; only DoS, DDoS and sabotage map."),
    _row(MACHINE_TAG, "rsit:intrusions", "UNCC-7", _ACCESS),
    _row(MACHINE_TAG, "rsit:intrusion-attempts", "UNCC-7",
         "Attempts to get in without right: the conduct of illegal access (Art. 7)."),
    _row(MACHINE_TAG, 'rsit:information-content-security="unauthorised-information-access"', "UNCC-7", _ACCESS),
    _row(MACHINE_TAG, 'rsit:information-content-security="unauthorised-information-modification"', "UNCC-9",
         _DATA),
    _row(MACHINE_TAG, 'rsit:information-gathering="sniffing"', "UNCC-8",
         "Intercepting non-public transmissions of data by technical means, without right, is illegal "
         "interception (Art. 8)."),
    _row(MACHINE_TAG, "rsit:information-gathering", None,
         "Scanning and social engineering are ways of looking, not offences in themselves."),
    _row(MACHINE_TAG, 'rsit:fraud="phishing"', "UNCC-13", _FRAUD),
    _row(MACHINE_TAG, 'rsit:fraud="masquerade"', "UNCC-12", _FORGERY),
    _row(MACHINE_TAG, 'rsit:fraud="copyright"', None, "Copyright infringement is not among the Convention's offences."),
    _row(MACHINE_TAG, "rsit:abusive-content", None, _SPEECH),
    _row(MACHINE_TAG, "rsit:vulnerable", None, "A vulnerable system is a possible victim, not an offence."),
    # --- MISP taxonomies: eCSIRT, RSIT's predecessor (same classes, older values) ------------
    _row(MACHINE_TAG, 'ecsirt:malicious-code="botnet-drone"', "UNCC-7", _VICTIM),
    _row(MACHINE_TAG, "ecsirt:malicious-code", "UNCC-11", _MALWARE),
    _row(MACHINE_TAG, 'ecsirt:availability="dos"', "UNCC-10", _SYSTEM),
    _row(MACHINE_TAG, 'ecsirt:availability="ddos"', "UNCC-10", _SYSTEM),
    _row(MACHINE_TAG, 'ecsirt:availability="sabotage"', "UNCC-10", _SYSTEM),
    _row(MACHINE_TAG, 'ecsirt:intrusions="defacement"', "UNCC-9", _DATA),
    _row(MACHINE_TAG, "ecsirt:intrusions", "UNCC-7", _ACCESS),
    _row(MACHINE_TAG, "ecsirt:intrusion-attempts", "UNCC-7",
         "Attempts to get in without right: the conduct of illegal access (Art. 7)."),
    _row(MACHINE_TAG, 'ecsirt:fraud="phishing"', "UNCC-13", _FRAUD),
    _row(MACHINE_TAG, 'ecsirt:fraud="masquerade"', "UNCC-12", _FORGERY),
    _row(MACHINE_TAG, 'ecsirt:fraud="copyright"', None,
         "Copyright infringement is not among the Convention's offences."),
    _row(MACHINE_TAG, "ecsirt:abusive-content", None, _SPEECH),
    # --- STIX 2.1 indicator types ------------------------------------------------------------
    _row(INDICATOR_TYPE, "compromised", "UNCC-7", _VICTIM),
    _row(INDICATOR_TYPE, "anonymization", None,
         "Anonymisation (Tor, VPNs, proxies) protects privacy and expression (Art. 6); using it is no offence."),
    _row(INDICATOR_TYPE, "benign", None, "An allow-list entry: not a signal of anything, and not imported."),
    _row(INDICATOR_TYPE, "malicious-activity", None, "Too broad to name one offence: labels or a default decide."),
    _row(INDICATOR_TYPE, "anomalous-activity", None, "Unusual is not unlawful."),
    _row(INDICATOR_TYPE, "attribution", None, "Names who is behind an activity, not what the activity is."),
    _row(INDICATOR_TYPE, "unknown", None, "Says nothing about the conduct."),
    # --- URLhaus -----------------------------------------------------------------------------
    _row(URLHAUS_THREAT, "malware_download", "UNCC-11",
         "URLhaus lists URLs that serve malware: making such a program available is misuse of devices (Art. 11)."),
    # --- plain tags and labels (lower case; '_' and spaces read as '-') ----------------------
    _row(TAG, "phishing", "UNCC-13", _FRAUD),
    _row(TAG, "smishing", "UNCC-13", _FRAUD),
    _row(TAG, "fraud", "UNCC-13", _FRAUD),
    _row(TAG, "scam", "UNCC-13", _FRAUD),
    _row(TAG, "investment-scam", "UNCC-13", _FRAUD),
    _row(TAG, "bec", "UNCC-13", "Business e-mail compromise diverts payments by deception: fraud (Art. 13)."),
    _row(TAG, "ransomware", "UNCC-9", "Encrypting a victim's data to extort is interference with "
                                      "electronic data (Art. 9)."),
    _row(TAG, "ddos", "UNCC-10", _SYSTEM),
    _row(TAG, "defacement", "UNCC-9", _DATA),
    _row(TAG, "brute-force", "UNCC-7", "Guessing passwords to get in is an attempt at illegal access (Art. 7)."),
    _row(TAG, "credential-stuffing", "UNCC-7",
         "Trying stolen passwords to get in is an attempt at illegal access (Art. 7)."),
    _row(TAG, "malware", "UNCC-11", _MALWARE),
    _row(TAG, "malware-download", "UNCC-11", _MALWARE),
    _row(TAG, "exploit-kit", "UNCC-11", _MALWARE),
    _row(TAG, "stealer", "UNCC-11", _MALWARE),
    _row(TAG, "trojan", "UNCC-11", _MALWARE),
    _row(TAG, "rat", "UNCC-11", _MALWARE),
    _row(TAG, "loader", "UNCC-11", _MALWARE),
    _row(TAG, "botnet", "UNCC-11", _MALWARE),
    _row(TAG, "c2", "UNCC-11", "A command-and-control server is the tool that drives illegal access to "
                               "infected systems: misuse of devices (Art. 11)."),
    _row(TAG, "botnet-cc", "UNCC-11", "A command-and-control server is the tool that drives illegal access "
                                      "to infected systems: misuse of devices (Art. 11)."),
    _row(TAG, "forgery", "UNCC-12", _FORGERY),
    _row(TAG, "csam", "UNCC-14", "Child sexual abuse material (Art. 14)."),
    _row(TAG, "grooming", "UNCC-15", "Solicitation or grooming of a child (Art. 15)."),
    _row(TAG, "ncii", "UNCC-16", "Non-consensual dissemination of intimate images (Art. 16)."),
    _row(TAG, "money-mule", "UNCC-17", "Mule accounts move the proceeds of crime: laundering (Art. 17)."),
    _row(TAG, "money-laundering", "UNCC-17", "Laundering of proceeds of crime (Art. 17)."),
    _row(TAG, "spam", None, "Unsolicited messages are not an offence under the Convention; spam that "
                            "phishes or spreads malware carries those tags too."),
    _row(TAG, "tor", None, "Anonymisation protects privacy and expression (Art. 6); using it is no offence."),
    _row(TAG, "vpn", None, "Anonymisation protects privacy and expression (Art. 6); using it is no offence."),
    _row(TAG, "scanner", None, "Scanning is a way of looking, not an offence in itself."),
    _row(TAG, "hate-speech", None, _SPEECH),
    _row(TAG, "copyright", None, "Copyright infringement is not among the Convention's offences."),
    # --- MISP attribute categories (the weakest hint: any tag comes first) --------------------
    _row(MISP_CATEGORY, "Financial fraud", "UNCC-13",
         "MISP files the accounts, cards and addresses used in fraud here: ICT-related theft or fraud (Art. 13)."),
    _row(MISP_CATEGORY, "Payload delivery", "UNCC-11",
         "How a malicious payload reaches its victims (URLs, senders, samples): misuse of devices (Art. 11)."),
    _row(MISP_CATEGORY, "Payload installation", "UNCC-11", _MALWARE),
    _row(MISP_CATEGORY, "Artifacts dropped", "UNCC-11", _MALWARE),
    _row(MISP_CATEGORY, "Persistence mechanism", "UNCC-11", _MALWARE),
    _row(MISP_CATEGORY, "Network activity", None, "Any network indicator: too broad to name one offence."),
    _row(MISP_CATEGORY, "External analysis", None, "References to analyses: says nothing about the conduct."),
    _row(MISP_CATEGORY, "Other", None, "Says nothing about the conduct."),
)
"""The table (see the module docstring and ``docs/classification.md``)."""

_MACHINE = re.compile(r'([a-z0-9_.-]+):([a-z0-9_.-]+)(?:="?([^"]*)"?)?')


def tag_word(text: str) -> str:
    """A plain tag as the table spells it: trimmed, lower case, ``_`` and spaces as ``-``."""
    return "-".join(text.strip().lower().replace("_", " ").split())


def _key(vocabulary: str, term: str) -> str:
    if vocabulary == TAG:
        return tag_word(term)
    if vocabulary in (INDICATOR_TYPE, URLHAUS_THREAT):
        return term.strip().lower()
    if vocabulary == MACHINE_TAG:
        return term.strip().lower()
    return term.strip()


def _build() -> Mapping[tuple[str, str], tuple[int, Row]]:
    out: dict[tuple[str, str], tuple[int, Row]] = {}
    for position, row in enumerate(MAPPINGS):
        if row.vocabulary not in VOCABULARIES:
            raise ValueError(f"unknown vocabulary {row.vocabulary!r} in the classification table")
        if row.offence is not None and row.offence not in OFFENCES:
            raise ValueError(f"{row.term!r} maps to {row.offence!r}, not an offence code")
        key = (row.vocabulary, _key(row.vocabulary, row.term))
        if key in out:
            raise ValueError(f"{row.vocabulary} {row.term!r} is listed twice in the classification table")
        out[key] = (position, row)
    return MappingProxyType(out)


_TABLE = _build()
_RANK = {vocabulary: i for i, vocabulary in enumerate(VOCABULARIES)}


def _candidates(vocabulary: str, term: str) -> Iterable[tuple[int, int, Row]]:
    """``(rank, position, row)`` of the rows a term matches (a tag may be a machine tag)."""
    if vocabulary == TAG and ":" in term:
        m = _MACHINE.fullmatch(term.strip().lower())
        if m is not None:
            namespace, predicate, value = m.groups()
            if value:
                found = _TABLE.get((MACHINE_TAG, f'{namespace}:{predicate}="{value}"'))
                if found is not None:
                    yield (0, found[0], found[1])
            found = _TABLE.get((MACHINE_TAG, f"{namespace}:{predicate}"))
            if found is not None:
                yield (1, found[0], found[1])
            return
    found = _TABLE.get((vocabulary, _key(vocabulary, term)))
    if found is not None:
        yield (1 + _RANK[vocabulary], found[0], found[1])


def classify(terms: Iterable[tuple[str, str]]) -> Classification | None:
    """The offence the terms give (see the module docstring), or ``None``."""
    best: tuple[int, int, Row] | None = None
    for vocabulary, term in terms:
        if not isinstance(term, str) or not term.strip():
            continue
        for candidate in _candidates(vocabulary, term):
            if candidate[2].offence is not None and (best is None or candidate[:2] < best[:2]):
                best = candidate
    if best is None:
        return None
    row = best[2]
    assert row.offence is not None
    return Classification(row.offence, f"{row.vocabulary} {row.term}")


def terms_of(report: Mapping[str, object]) -> list[tuple[str, str]]:
    """The words the table reads first for a parsed report (``formats.common``): the format's
    ``terms``, else the entry's ``indicator_types`` and ``tags`` (as a STIX indicator gives
    them; built here, not while parsing, which a large bundle would pay for every indicator)."""
    terms = report.get("terms")
    if isinstance(terms, list | tuple):
        return list(terms)
    kinds = report.get("indicator_types")
    tags = report.get("tags")
    return ([(INDICATOR_TYPE, k) for k in kinds if isinstance(k, str)] if isinstance(kinds, list | tuple) else []) + (
        [(TAG, t) for t in tags if isinstance(t, str)] if isinstance(tags, list | tuple) else [])


def table() -> list[dict[str, str | None]]:
    """Every row as a JSON-safe dict, in table order (for ``hanoi signals classification``)."""
    return [{"vocabulary": r.vocabulary, "term": r.term, "offence": r.offence, "reason": r.reason}
            for r in MAPPINGS]


__all__ = ["INDICATOR_TYPE", "MACHINE_TAG", "MAPPINGS", "MISP_CATEGORY", "TAG", "URLHAUS_THREAT",
           "VOCABULARIES", "Classification", "Row", "classify", "table", "tag_word", "terms_of"]
