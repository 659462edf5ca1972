"""The requests wing: Chapter V cooperation requests between nodes.

Pure rules: ``types`` (the request types), ``contents`` (required contents per type, each field
citing its article), ``lifecycle`` (the state machine), ``deadlines``, ``responses`` (refusal
grounds, handover conditions), ``gate`` (the request rules and the wing's policy section),
``packages`` (signed evidence packages), ``render`` (the printable form).

Rooms, the same in every wing: ``rows`` (its SQL), ``send`` (what it sends, and the send gate),
``service`` (its use cases), ``receive`` (what it applies from peers), ``wing`` (its manifest);
and ``custody`` (evidence storage and export).
"""
