"""Envelopes: signing, and every way an incoming envelope is refused."""

from __future__ import annotations

import base64
import json
import re
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jws as jose_jws
from joserfc.jwk import OctKey, OKPKey

from hanoi.core.citations import RULES
from hanoi.core.errors import InvalidInput, NotFound
from hanoi.core.keys import PublicKeyRecord, raw_public_bytes
from hanoi.federation.envelope import (
    TYP_ENVELOPE,
    Envelope,
    Rejection,
    check_replay,
    open_envelope,
    peek_envelope_id,
    sign_envelope,
    sign_object,
)

NOW = datetime(2025, 10, 25, 9, 0, tzinfo=UTC)
SKEW = timedelta(minutes=5)
LIMIT = 64 * 1024
KEY_A = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
KEY_A2 = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
MALLORY = Ed25519PrivateKey.from_private_bytes(bytes(range(2, 34)))
REC_A = PublicKeyRecord.of("a-1", KEY_A, NOW - timedelta(days=365), None)
PEERS: dict[str, list[PublicKeyRecord]] = {"node-a": [REC_A]}


def resolve(node: str) -> Sequence[PublicKeyRecord]:
    return PEERS.get(node, [])


def make_env(**changes: Any) -> Envelope:
    fields: dict[str, Any] = {
        "id": "01JB8Z0000ENVELOPE0001",
        "sender": "node-a",
        "recipient": "node-b",
        "type": "signal",
        "created": NOW,
        "payload": {"indicator": "http://evil.example/login", "tlp": "amber"},
        "answers": None,
    }
    fields.update(changes)
    return Envelope(**fields)


def open_(jws: Any, *, resolve_keys: Any = resolve, now: datetime = NOW, **kw: Any) -> Envelope:
    return open_envelope(
        jws,
        me=kw.pop("me", "node-b"),
        resolve_keys=resolve_keys,
        now=now,
        max_skew=kw.pop("max_skew", SKEW),
        max_bytes=kw.pop("max_bytes", LIMIT),
    )


def rejected(code: str, jws: Any, **kw: Any) -> Rejection:
    with pytest.raises(Rejection) as exc:
        open_(jws, **kw)
    assert exc.value.rule_code == code, exc.value.detail
    return exc.value


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def header(**fields: Any) -> str:
    return b64(json.dumps(fields).encode())


# --- the happy path ---------------------------------------------------------------------------


def test_signed_envelope_opens_to_the_same_envelope() -> None:
    env = make_env(answers="01JB8Z0000ENVELOPE0000")
    jws = sign_envelope(env, KEY_A, "a-1")
    assert set(jws) == {"payload", "protected", "signature"}
    assert json.loads(unb64(jws["protected"])) == {
        "alg": "Ed25519",
        "kid": "a-1",
        "typ": TYP_ENVELOPE,
    }
    assert open_(jws) == env
    # ... whether it arrives as a dict, as bytes or as text.
    assert open_(json.dumps(jws).encode()) == env
    assert open_(json.dumps(jws)) == env


def test_payload_is_canonical_json_with_rfc3339_z_time() -> None:
    env = make_env(
        created=datetime(2025, 10, 25, 11, 0, 0, 250000, tzinfo=timezone(timedelta(hours=2)))
    )
    body = unb64(sign_envelope(env, KEY_A, "a-1")["payload"])
    data = json.loads(body)
    assert data["created"] == "2025-10-25T09:00:00.250000Z"
    assert (
        body == json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
tokens = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:~-]{0,40}", fullmatch=True)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    env_id=tokens,
    kind=st.from_regex(r"[a-z][a-z0-9._-]{0,20}", fullmatch=True),
    payload=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    offset=st.timedeltas(-SKEW, SKEW),
    answers=st.none() | tokens,
)
def test_round_trip_any_envelope(
    env_id: str, kind: str, payload: dict[str, Any], offset: timedelta, answers: str | None
) -> None:
    env = make_env(id=env_id, type=kind, payload=payload, created=NOW + offset, answers=answers)
    opened = open_(json.dumps(sign_envelope(env, KEY_A, "a-1")).encode())
    assert opened == env
    assert opened.content_digest() == env.content_digest()


def test_eddsa_alg_from_older_jose_stacks_is_accepted() -> None:
    payload = json.dumps(make_env().as_dict()).encode()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc flags "EdDSA" as deprecated (RFC 9864)
        jws = jose_jws.serialize_json(
            {"protected": {"alg": "EdDSA", "kid": "a-1", "typ": TYP_ENVELOPE}},
            payload,
            OKPKey.import_key(KEY_A),
            algorithms=["EdDSA"],
        )
        assert open_(dict(jws)) == make_env()


# --- signature ---------------------------------------------------------------------------------


def test_forged_signature_is_rejected() -> None:
    # Mallory signs a perfectly formed envelope claiming to be node-a's key a-1.
    rejected("FED-SIGNATURE", sign_envelope(make_env(), MALLORY, "a-1"))


def test_tampered_payload_is_rejected() -> None:
    jws = sign_envelope(make_env(), KEY_A, "a-1")
    data = json.loads(unb64(jws["payload"]))
    data["payload"]["tlp"] = "clear"
    jws["payload"] = b64(json.dumps(data).encode())
    exc = rejected("FED-SIGNATURE", jws)
    assert exc.envelope_id == "01JB8Z0000ENVELOPE0001"


def test_flipped_signature_bit_is_rejected() -> None:
    jws = sign_envelope(make_env(), KEY_A, "a-1")
    sig = bytearray(unb64(jws["signature"]))
    sig[10] ^= 0x01
    jws["signature"] = b64(bytes(sig))
    rejected("FED-SIGNATURE", jws)


def test_signature_is_bound_to_the_header() -> None:
    # Swapping the kid in the protected header (to another valid key) breaks the signature.
    PEERS["node-a"] = [REC_A, PublicKeyRecord.of("a-2", KEY_A2, NOW - timedelta(days=1))]
    try:
        jws = sign_envelope(make_env(), KEY_A, "a-1")
        jws["protected"] = header(alg="Ed25519", kid="a-2", typ=TYP_ENVELOPE)
        rejected("FED-SIGNATURE", jws)
    finally:
        PEERS["node-a"] = [REC_A]


def test_alg_none_is_rejected() -> None:
    jws = sign_envelope(make_env(), KEY_A, "a-1")
    jws["protected"] = header(alg="none", kid="a-1", typ=TYP_ENVELOPE)
    jws["signature"] = ""
    rejected("FED-SIGNATURE", jws)


def test_hs256_with_the_public_key_as_secret_is_rejected() -> None:
    # The classic algorithm-confusion forgery: HMAC keyed with the (public) verification key.
    secret = OctKey.import_key(raw_public_bytes(KEY_A))
    jws = jose_jws.serialize_json(
        {"protected": {"alg": "HS256", "kid": "a-1", "typ": TYP_ENVELOPE}},
        json.dumps(make_env().as_dict()).encode(),
        secret,
        algorithms=["HS256"],
    )
    rejected("FED-SIGNATURE", dict(jws))


# --- sender and keys ---------------------------------------------------------------------------


def test_unknown_sender_is_rejected() -> None:
    key = Ed25519PrivateKey.generate()
    jws = sign_envelope(make_env(sender="node-x"), key, "x-1")
    exc = rejected("FED-UNKNOWN-SENDER", jws)
    assert exc.envelope_id == "01JB8Z0000ENVELOPE0001"


def test_resolver_raising_not_found_means_unknown_sender() -> None:
    def lookup(node: str) -> Sequence[PublicKeyRecord]:
        raise NotFound(f"no peer {node}")

    rejected("FED-UNKNOWN-SENDER", sign_envelope(make_env(), KEY_A, "a-1"), resolve_keys=lookup)


def test_unknown_key_id_is_rejected() -> None:
    rejected("FED-UNKNOWN-KEY", sign_envelope(make_env(), KEY_A, "a-9"))


def test_sender_cannot_use_another_peers_key() -> None:
    # node-c is a peer too, but a-1 is registered for node-a only.
    PEERS["node-c"] = [PublicKeyRecord.of("c-1", MALLORY)]
    try:
        rejected("FED-UNKNOWN-KEY", sign_envelope(make_env(sender="node-c"), KEY_A, "a-1"))
    finally:
        del PEERS["node-c"]


def test_expired_key_is_rejected() -> None:
    expired = PublicKeyRecord.of("a-1", KEY_A, NOW - timedelta(days=30), NOW - timedelta(hours=1))
    rejected(
        "FED-KEY-EXPIRED",
        sign_envelope(make_env(), KEY_A, "a-1"),
        resolve_keys=lambda node: [expired],
    )


def test_key_not_yet_valid_is_rejected() -> None:
    future = PublicKeyRecord.of("a-1", KEY_A, NOW + timedelta(hours=1), None)
    rejected(
        "FED-KEY-EXPIRED",
        sign_envelope(make_env(), KEY_A, "a-1"),
        resolve_keys=lambda node: [future],
    )


def test_forgery_with_an_expired_key_id_is_reported_as_forgery() -> None:
    expired = PublicKeyRecord.of("a-1", KEY_A, NOW - timedelta(days=30), NOW - timedelta(hours=1))
    rejected(
        "FED-SIGNATURE",
        sign_envelope(make_env(), MALLORY, "a-1"),
        resolve_keys=lambda node: [expired],
    )


def test_rotation_with_overlapping_keys_accepts_both_then_only_the_new() -> None:
    t_switch = NOW + timedelta(days=1)  # the old key's window ends here
    old = PublicKeyRecord.of("a-1", KEY_A, NOW - timedelta(days=30), t_switch)
    new = PublicKeyRecord.of("a-2", KEY_A2, NOW - timedelta(hours=1), None)

    def keys(node: str) -> Sequence[PublicKeyRecord]:
        return [old, new]

    during = NOW
    for key, kid in ((KEY_A, "a-1"), (KEY_A2, "a-2")):
        env = make_env(created=during)
        assert open_(sign_envelope(env, key, kid), resolve_keys=keys, now=during) == env
    after = t_switch + timedelta(minutes=1)
    env = make_env(created=after)
    assert open_(sign_envelope(env, KEY_A2, "a-2"), resolve_keys=keys, now=after) == env
    rejected("FED-KEY-EXPIRED", sign_envelope(env, KEY_A, "a-1"), resolve_keys=keys, now=after)


# --- addressing, freshness, size ---------------------------------------------------------------


def test_wrong_recipient_is_rejected() -> None:
    rejected("FED-RECIPIENT", sign_envelope(make_env(recipient="node-c"), KEY_A, "a-1"))


def test_stale_envelope_is_rejected() -> None:
    jws = sign_envelope(make_env(), KEY_A, "a-1")
    exc = rejected("FED-STALE", jws, now=NOW + SKEW + timedelta(seconds=1))
    assert "ago" in exc.detail


def test_envelope_from_the_future_is_rejected() -> None:
    jws = sign_envelope(make_env(), KEY_A, "a-1")
    exc = rejected("FED-STALE", jws, now=NOW - SKEW - timedelta(seconds=1))
    assert "future" in exc.detail


def test_skew_exactly_at_the_limit_is_accepted_both_ways() -> None:
    jws = sign_envelope(make_env(), KEY_A, "a-1")
    assert open_(jws, now=NOW + SKEW) == make_env()
    assert open_(jws, now=NOW - SKEW) == make_env()


def test_configured_skew_is_honoured() -> None:
    jws = sign_envelope(make_env(), KEY_A, "a-1")
    late = NOW + timedelta(minutes=20)
    rejected("FED-STALE", jws, now=late)
    assert open_(jws, now=late, max_skew=timedelta(minutes=30)) == make_env()


def test_oversized_envelope_is_rejected_before_anything_else() -> None:
    env = make_env(payload={"blob": "x" * 2000})
    raw = json.dumps(sign_envelope(env, KEY_A, "a-1")).encode()
    rejected("FED-TOO-LARGE", raw, max_bytes=len(raw) - 1)
    assert open_(raw, max_bytes=len(raw)) == env
    # Size is checked first: an oversized forgery from a stranger costs no signature check.
    rejected("FED-TOO-LARGE", raw, max_bytes=100, resolve_keys=lambda n: 1 / 0)


def test_oversized_envelope_given_as_dict_is_rejected() -> None:
    jws = sign_envelope(make_env(payload={"blob": "x" * 2000}), KEY_A, "a-1")
    exc = rejected("FED-TOO-LARGE", jws, max_bytes=1000)
    assert exc.status == 413


# --- malformed input ---------------------------------------------------------------------------


def test_malformed_inputs_are_rejected() -> None:
    good = sign_envelope(make_env(), KEY_A, "a-1")
    cases: list[Any] = [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'"a string"',
        b"[" * 5000,
        {"payload": good["payload"], "protected": good["protected"]},
        {**good, "header": {"kid": "a-1"}},
        {
            "payload": good["payload"],
            "signatures": [{"protected": good["protected"], "signature": good["signature"]}],
        },
        {**good, "payload": good["payload"] + "="},
        {**good, "payload": 5},
        {**good, "payload": b64(b"not json")},
        {**good, "payload": b64(b"[1, 2]")},
        {**good, "protected": b64(b"[]")},
        {**good, "protected": header(alg="Ed25519", typ=TYP_ENVELOPE)},
        {**good, "protected": header(alg="Ed25519", kid="a-1")},
        {**good, "protected": header(alg="Ed25519", kid="a-1", typ=TYP_ENVELOPE, crit=["exp"])},
        {**good, "protected": header(alg="Ed25519", kid="a-1", typ=TYP_ENVELOPE, b64=False)},
    ]
    for case in cases:
        with pytest.raises(Rejection) as exc:
            open_(case)
        assert exc.value.rule_code == "FED-MALFORMED", case


def signed_body(body: dict[str, Any] | bytes) -> dict[str, str]:
    """A correctly signed JWS over an arbitrary payload, to test payload validation."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    jws = jose_jws.serialize_json(
        {"protected": {"alg": "Ed25519", "kid": "a-1", "typ": TYP_ENVELOPE}},
        data,
        OKPKey.import_key(KEY_A),
        algorithms=["Ed25519"],
    )
    return dict(jws)


@pytest.mark.parametrize(
    "change",
    [
        {"recipient": None},
        {"created": "2025-10-25T11:00:00+02:00"},
        {"created": "yesterday"},
        {"payload": ["not", "an", "object"]},
        {"type": "Not A Type"},
        {"id": ""},
        {"id": 42},
        {"extra": "field"},
    ],
)
def test_signed_but_invalid_fields_are_malformed(change: dict[str, Any]) -> None:
    body = make_env().as_dict()
    for key, value in change.items():
        if value is None:
            del body[key]
        else:
            body[key] = value
    rejected("FED-MALFORMED", signed_body(body))


def test_duplicate_members_are_malformed() -> None:
    body = json.dumps(make_env().as_dict())
    twice = body[:-1] + ', "recipient": "node-c"}'
    exc = rejected("FED-MALFORMED", signed_body(twice.encode()))
    assert "duplicate" in exc.detail


def test_a_receipt_or_other_signed_object_is_not_an_envelope() -> None:
    jws = sign_object(
        make_env().as_dict(), typ="hanoi-receipt+json", private_key=KEY_A, key_id="a-1"
    )
    rejected("FED-MALFORMED", jws)


# --- replay ------------------------------------------------------------------------------------


def test_replay_check() -> None:
    env = make_env()
    assert check_replay(env, None) is False
    seen = env.content_digest()
    assert check_replay(env, seen) is True
    # A retry re-signed later (new created, same id and contents) is the same envelope.
    assert check_replay(make_env(created=NOW + timedelta(hours=3)), seen) is True
    with pytest.raises(Rejection) as exc:
        check_replay(make_env(payload={"indicator": "other"}), seen)
    assert exc.value.rule_code == "FED-REPLAY"
    assert exc.value.status == 409


def test_replayed_envelope_verifies_again_so_the_inbox_must_keep_ids() -> None:
    # open_envelope is pure: the same bytes open twice; check_replay with the stored
    # digest is what stops the second application.
    jws = sign_envelope(make_env(), KEY_A, "a-1")
    first, second = open_(jws), open_(jws)
    assert check_replay(second, first.content_digest()) is True


def test_peek_envelope_id_reads_without_verifying() -> None:
    assert (
        peek_envelope_id(sign_envelope(make_env(), MALLORY, "zz"), LIMIT)
        == "01JB8Z0000ENVELOPE0001"
    )
    assert peek_envelope_id(b"junk", LIMIT) is None


# --- the envelope type and the rejection ------------------------------------------------------


def test_envelope_validation() -> None:
    with pytest.raises(InvalidInput) as exc:
        make_env(created=datetime(2025, 10, 25, 9, 0))
    assert exc.value.problems[0].field == "created"
    with pytest.raises(InvalidInput) as exc:
        make_env(payload={"x": float("nan")})
    assert exc.value.problems[0].field == "payload"
    with pytest.raises(InvalidInput) as exc:
        make_env(payload={"x": 2**60})
    assert exc.value.problems[0].field == "payload"
    with pytest.raises(InvalidInput) as exc:
        make_env(sender="node a")
    assert exc.value.problems[0].field == "sender"
    plus_two = timezone(timedelta(hours=2))
    assert make_env(created=NOW.astimezone(plus_two)).created.tzinfo == UTC


def test_every_rejection_cites_a_rule_in_the_table() -> None:
    for code in (
        "FED-MALFORMED",
        "FED-TOO-LARGE",
        "FED-SIGNATURE",
        "FED-UNKNOWN-SENDER",
        "FED-UNKNOWN-KEY",
        "FED-KEY-EXPIRED",
        "FED-RECIPIENT",
        "FED-STALE",
        "FED-REPLAY",
        "FED-ROTATION",
    ):
        assert RULES[code].instrument == "node"
        problem = Rejection(code, "why").problems[0]
        assert problem.as_dict()["rule"] == code
    with pytest.raises(KeyError):
        Rejection("FED-NO-SUCH-RULE", "why")


def test_large_whole_floats_survive_the_round_trip() -> None:
    # RFC 8785 writes the double 2.0**60 without a fraction; it must read back as that double.
    env = make_env(payload={"n": 2.0**60, "m": -(2.0**53), "small": 2**53 - 1})
    assert open_(sign_envelope(env, KEY_A, "a-1")) == env


def test_content_digest_uses_the_project_digest_form() -> None:
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", make_env().content_digest())
    assert make_env().content_digest() != make_env(type="request").content_digest()
    assert make_env().content_digest() != make_env(answers="x-1").content_digest()
