"""Signals: indicators of fraud or attack (URL, domain, IP, e-mail, phone, IBAN, crypto
address, file hash), normalised so each is one signal, TLP-marked, matched and linked into
campaigns. This package's pure core is ``types`` (normalisation) and ``tlp`` (markings).
"""

from hanoi.signals.tlp import TLP, ParsedTLP, parse_tlp
from hanoi.signals.types import (
    MAX_VALUE_LENGTH,
    SIGNAL_TYPES,
    Accepted,
    NormaliseContext,
    Rejected,
    SignalKey,
    SignalType,
    detect_type,
    normalise,
    normalise_batch,
    registered_domain,
    related,
    signal_key,
)

__all__ = [
    "MAX_VALUE_LENGTH",
    "SIGNAL_TYPES",
    "TLP",
    "Accepted",
    "NormaliseContext",
    "ParsedTLP",
    "Rejected",
    "SignalKey",
    "SignalType",
    "detect_type",
    "normalise",
    "normalise_batch",
    "parse_tlp",
    "registered_domain",
    "related",
    "signal_key",
]
