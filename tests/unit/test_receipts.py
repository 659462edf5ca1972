"""Receipts: the receiver's signed answer, and what the sender checks before ledgering it."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from hanoi.core.errors import InvalidInput
from hanoi.core.keys import PublicKeyRecord
from hanoi.federation.envelope import Envelope, Rejection, open_envelope, sign_envelope
from hanoi.federation.receipts import (
    MAX_DETAIL,
    LedgerHead,
    Receipt,
    accept,
    binding_problem,
    open_receipt,
    received_digest,
    reject,
    sign_receipt,
)

NOW = datetime(2025, 10, 25, 9, 0, tzinfo=UTC)
KEY_A = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
KEY_B = Ed25519PrivateKey.from_private_bytes(bytes(range(5, 37)))
MALLORY = Ed25519PrivateKey.from_private_bytes(bytes(range(9, 41)))
PEERS = {
    "node-a": [PublicKeyRecord.of("a-1", KEY_A, NOW - timedelta(days=1))],
    "node-b": [PublicKeyRecord.of("b-1", KEY_B, NOW - timedelta(days=1))],
}
HEAD = LedgerHead(41, "9f" * 32)
ENV = Envelope("01JB8Z0000ENVELOPE0001", "node-a", "node-b", "signal", NOW, {"v": 1})


def resolve(node: str) -> Sequence[PublicKeyRecord]:
    return PEERS.get(node, [])


def accepted_jws(**kw: Any) -> dict[str, str]:
    receipt = accept(ENV, receiver="node-b", ledger_head=HEAD, received_at=NOW)
    return sign_receipt(receipt, kw.get("key", KEY_B), kw.get("kid", "b-1"))


def refused(code: str, jws: Any, **kw: Any) -> Rejection:
    with pytest.raises(Rejection) as exc:
        open_receipt(jws, resolve_keys=kw.pop("resolve_keys", resolve), **kw)
    assert exc.value.rule_code == code, exc.value.detail
    return exc.value


def test_accepted_receipt_round_trip() -> None:
    receipt = open_receipt(accepted_jws(), resolve_keys=resolve, receiver="node-b", envelope=ENV)
    assert receipt.accepted
    assert receipt.status == "accepted" and receipt.rule is None
    assert receipt.envelope_id == ENV.id
    assert receipt.envelope_digest == ENV.content_digest()
    assert receipt.ledger_head == HEAD
    assert receipt.as_dict()["ledger_head"] == {"seq": 41, "hash": "9f" * 32}


def test_rejected_receipt_from_an_inbox_rejection() -> None:
    # The inbox's path: open_envelope raises, the receipt carries the rule and the id.
    forged = sign_envelope(ENV, MALLORY, "a-1")
    with pytest.raises(Rejection) as exc:
        open_envelope(
            forged,
            me="node-b",
            resolve_keys=resolve,
            now=NOW,
            max_skew=timedelta(minutes=5),
            max_bytes=10_000,
        )
    err = exc.value
    assert err.envelope_id is not None
    receipt = reject(
        err.envelope_id,
        err.rule_code,
        err.detail,
        receiver="node-b",
        ledger_head=HEAD,
        received_at=NOW,
        received=forged,
    )
    signed = sign_receipt(receipt, KEY_B, "b-1")
    opened = open_receipt(signed, resolve_keys=resolve, envelope=ENV, sent=forged)
    assert opened.status == "rejected"
    assert opened.rule == "FED-SIGNATURE"
    assert opened.envelope_digest is None  # a forgery's contents are not vouched for
    assert opened.received_digest == received_digest(forged)
    # Bound to the forgery, it settles nothing for the genuine envelope under the same id.
    exc = refused("FED-UNBOUND-RECEIPT", signed, envelope=ENV, sent=sign_envelope(ENV, KEY_A, "a-1"))
    assert "not the one this node sent" in exc.detail


def test_a_rejection_of_an_unverified_message_must_name_what_was_received() -> None:
    with pytest.raises(InvalidInput) as exc:
        reject(ENV.id, "FED-SIGNATURE", "", receiver="node-b", ledger_head=HEAD, received_at=NOW)
    assert exc.value.problems[0].field == "received"


def test_an_unbound_rejection_settles_nothing_an_unbound_acceptance_still_does() -> None:
    sent = sign_envelope(ENV, KEY_A, "a-1")
    legacy_rejection = Receipt(ENV.id, "node-b", "rejected", "FED-SIGNATURE", "", HEAD, NOW)
    exc = refused("FED-UNBOUND-RECEIPT", sign_receipt(legacy_rejection, KEY_B, "b-1"),
                  envelope=ENV, sent=sent)
    assert "names no digest" in exc.detail
    legacy_acceptance = Receipt(ENV.id, "node-b", "accepted", None, "", HEAD, NOW)
    assert binding_problem(legacy_acceptance, envelope_id=ENV.id,
                           content_digest=ENV.content_digest(), sent=sent) is None
    # An older node reads an acceptance: no member it does not know.
    assert "received_digest" not in legacy_acceptance.as_dict()


@given(payload=st.dictionaries(st.text(max_size=5), st.integers(-5, 5), max_size=3),
       indent=st.none() | st.integers(0, 3), reverse=st.booleans())
def test_received_digest_names_the_jws_however_it_travelled(
        payload: dict[str, int], indent: int | None, reverse: bool) -> None:
    env = Envelope(ENV.id, "node-a", "node-b", "signal", NOW, payload)
    jws = sign_envelope(env, KEY_A, "a-1")
    members = sorted(jws.items(), reverse=reverse)
    as_text = json.dumps(dict(members), indent=indent)
    expected = received_digest(jws)
    assert received_digest(as_text) == received_digest(as_text.encode()) == expected
    assert received_digest(dict(members)) == expected
    other = "B" if jws["signature"].endswith("A") else "A"
    assert received_digest({**jws, "signature": jws["signature"][:-1] + other}) != expected
    # Junk is named by its bytes, never mistaken for the JWS.
    assert received_digest(as_text.encode() + b"x") != expected
    assert received_digest([jws]) != expected and received_digest(b"\xff[[[") != expected


def test_gate_refusal_receipt_names_the_envelope_contents() -> None:
    receipt = reject(
        ENV,
        "GATE-SUSPENDED",
        "x" * (MAX_DETAIL + 50),
        receiver="node-b",
        ledger_head=HEAD,
        received_at=NOW,
    )
    assert len(receipt.detail) == MAX_DETAIL
    assert receipt.envelope_digest == ENV.content_digest()
    opened = open_receipt(sign_receipt(receipt, KEY_B, "b-1"), resolve_keys=resolve, envelope=ENV)
    assert opened == receipt
    assert "received_digest" not in receipt.as_dict()


def test_forged_receipt_is_rejected() -> None:
    refused("FED-SIGNATURE", accepted_jws(key=MALLORY))


def test_tampered_receipt_is_rejected() -> None:
    jws = accepted_jws()
    body = json.loads(base64.urlsafe_b64decode(jws["payload"] + "=" * (-len(jws["payload"]) % 4)))
    body["ledger_head"]["seq"] = 40
    jws["payload"] = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    refused("FED-SIGNATURE", jws)


def test_receipt_from_an_unknown_node_is_rejected() -> None:
    receipt = accept(ENV, receiver="node-z", ledger_head=HEAD, received_at=NOW)
    refused("FED-UNKNOWN-SENDER", sign_receipt(receipt, MALLORY, "z-1"))


def test_receipt_must_come_from_the_node_the_envelope_went_to() -> None:
    # node-a signs a valid receipt, but the envelope went to node-b.
    receipt = accept(ENV, receiver="node-a", ledger_head=HEAD, received_at=NOW)
    refused("FED-MALFORMED", sign_receipt(receipt, KEY_A, "a-1"), receiver="node-b")


def test_receipt_must_answer_the_envelope_sent() -> None:
    other = Envelope("01JB8Z0000ENVELOPE0002", "node-a", "node-b", "signal", NOW, {"v": 1})
    refused("FED-UNBOUND-RECEIPT", accepted_jws(), envelope=other)
    changed = Envelope(ENV.id, "node-a", "node-b", "signal", NOW, {"v": 2})
    exc = refused("FED-UNBOUND-RECEIPT", accepted_jws(), envelope=changed)
    assert "contents" in exc.detail


def test_receipt_signed_with_a_key_outside_its_window_is_rejected() -> None:
    late = {"node-b": [PublicKeyRecord.of("b-1", KEY_B, NOW + timedelta(hours=1))]}
    refused("FED-KEY-EXPIRED", accepted_jws(), resolve_keys=lambda n: late.get(n, []))


def test_an_envelope_is_not_a_receipt() -> None:
    refused("FED-MALFORMED", sign_envelope(ENV, KEY_A, "a-1"))


def test_oversized_receipt_is_rejected() -> None:
    refused("FED-TOO-LARGE", accepted_jws(), max_bytes=50)


def test_receipt_validation() -> None:
    def make(**kw: Any) -> Receipt:
        fields: dict[str, Any] = {
            "envelope_id": ENV.id,
            "receiver": "node-b",
            "status": "accepted",
            "rule": None,
            "detail": "",
            "ledger_head": HEAD,
            "received_at": NOW,
        }
        fields.update(kw)
        return Receipt(**fields)

    bad: list[tuple[dict[str, Any], str]] = [
        ({"status": "maybe"}, "status"),
        ({"rule": "FED-STALE"}, "rule"),  # accepted with a rule
        ({"status": "rejected"}, "rule"),  # rejected without one
        ({"status": "rejected", "rule": "NO-SUCH"}, "rule"),
        ({"received_at": datetime(2025, 10, 25)}, "received_at"),
        ({"envelope_digest": "abc"}, "envelope_digest"),
        ({"received_digest": "sha256:AB"}, "received_digest"),
        ({"envelope_id": "has space"}, "envelope_id"),
    ]
    for change, field in bad:
        with pytest.raises(InvalidInput) as exc:
            make(**change)
        assert exc.value.problems[0].field == field, change
    for head in ((-1, "x"), (1, ""), (True, "x")):
        with pytest.raises(InvalidInput):
            LedgerHead(*head)  # type: ignore[arg-type]


@given(
    status=st.sampled_from(["accepted", "rejected"]),
    seq=st.integers(0, 2**53 - 1),
    detail=st.text(max_size=100),
    received=st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
    digest=st.none() | st.from_regex(r"sha256:[0-9a-f]{64}", fullmatch=True),
    got=st.none() | st.from_regex(r"sha256:[0-9a-f]{64}", fullmatch=True),
)
def test_receipt_dict_round_trip(
    status: str, seq: int, detail: str, received: datetime, digest: str | None, got: str | None
) -> None:
    receipt = Receipt(
        ENV.id,
        "node-b",
        status,  # type: ignore[arg-type]
        None if status == "accepted" else "GATE-TLP",
        detail,
        LedgerHead(seq, "ab" * 32),
        received,
        digest,
        got,
    )
    assert Receipt.from_dict(json.loads(json.dumps(receipt.as_dict()))) == receipt
