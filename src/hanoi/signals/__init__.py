"""The signals wing: indicators of fraud or attack (URL, domain, IP, e-mail, phone, IBAN,
crypto address, file hash), normalised so each is one signal, TLP-marked, matched and linked
into campaigns.

Pure rules: ``types`` (normalisation, one class per indicator type), ``formats`` (STIX, MISP,
CSV), ``reports`` (a report's validation), ``index`` (the in-memory matcher), ``campaigns``,
``gate`` (TLP, named members, consent).

Rooms, the same in every wing: ``rows``, ``send``, ``service``, ``receive``, ``wing``; and
``read_model`` (the node's index), ``io`` (files in and out), ``taxii`` (the TAXII server).
"""

from hanoi.core.tlp import TLP, ParsedTLP, parse_tlp
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
