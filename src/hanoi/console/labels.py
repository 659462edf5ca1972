"""Names from the wings' tables, marked here for translation (the tables stay in English, as
the API and the ledger speak it); a test keeps this list equal to the tables."""

from __future__ import annotations

from hanoi.console.i18n import N_

REQUEST_TYPE_LABELS = {
    "mla": N_("Mutual legal assistance request"),
    "spontaneous": N_("Spontaneous information"),
    "emergency": N_("Emergency disclosure through the 24/7 network"),
    "preservation": N_("Expedited preservation of stored data"),
    "preserved-disclosure": N_("Expedited disclosure of preserved traffic data"),
    "stored-data": N_("Access to stored data"),
    "real-time-traffic": N_("Real-time collection of traffic data"),
    "interception": N_("Interception of content data"),
    "law-enforcement": N_("Law-enforcement cooperation"),
}

EVENT_LABELS = {
    "submit": N_("Submit"),
    "receive": N_("Record receipt"),
    "acknowledge": N_("Acknowledge"),
    "start": N_("Start work"),
    "request-info": N_("Ask for more information"),
    "provide-info": N_("Provide the information"),
    "consult": N_("Consult the requesting State"),
    "resume": N_("Resume"),
    "withdraw": N_("Withdraw"),
    "preserve": N_("Record the preservation"),
    "extend": N_("Extend the preservation"),
    "release": N_("Release the data"),
    "expire": N_("Record the expiry"),
}
"""The buttons of the lifecycle moves made with ``act`` (responses have their own form)."""

RESPONSE_KIND_LABELS = {
    "executed": N_("executed"),
    "partially-executed": N_("partly executed"),
    "refused": N_("refused"),
    "postponed": N_("postponed"),
}
"""The choices of the response form."""
