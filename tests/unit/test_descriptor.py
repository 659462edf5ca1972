"""Node descriptors (self-signed, confirmed by fingerprint) and key rotation by the old key."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from hanoi.core.errors import InvalidInput
from hanoi.core.keys import PublicKeyRecord, fingerprint, select_key
from hanoi.federation.descriptor import (
    KeyRotation,
    NodeDescriptor,
    apply_rotation,
    open_descriptor,
    open_rotation,
    sign_descriptor,
    sign_rotation,
)
from hanoi.federation.envelope import Envelope, Rejection, open_envelope, sign_envelope

NOW = datetime(2025, 10, 25, 9, 0, tzinfo=UTC)
KEY_1 = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
KEY_2 = Ed25519PrivateKey.from_private_bytes(bytes(range(3, 35)))
MALLORY = Ed25519PrivateKey.from_private_bytes(bytes(range(7, 39)))
REC_1 = PublicKeyRecord.of("ke-1", KEY_1, NOW - timedelta(days=100))


def make_desc(**kw: Any) -> NodeDescriptor:
    fields: dict[str, Any] = {
        "node_id": "ke-ncsc",
        "name": "Kenya National KE-CIRT/CC",
        "country": "KE",
        "kind": "cert",
        "endpoint": "https://hanoi.ke-cirt.go.ke/federation/v1",
        "keys": (REC_1,),
        "issued_at": NOW,
    }
    fields.update(kw)
    return NodeDescriptor(**fields)


def refused(code: str, fn: Any, *args: Any, **kw: Any) -> Rejection:
    with pytest.raises(Rejection) as exc:
        fn(*args, **kw)
    assert exc.value.rule_code == code, exc.value.detail
    return exc.value


def reencode(jws: dict[str, str], change: Any) -> dict[str, str]:
    body = json.loads(base64.urlsafe_b64decode(jws["payload"] + "=" * (-len(jws["payload"]) % 4)))
    change(body)
    out = dict(jws)
    out["payload"] = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    return out


# --- descriptors -------------------------------------------------------------------------------


def test_descriptor_round_trip_and_fingerprints() -> None:
    desc = make_desc()
    opened = open_descriptor(json.dumps(sign_descriptor(desc, KEY_1, "ke-1")), node_id="ke-ncsc")
    assert opened == desc
    assert opened.fingerprints() == {"ke-1": fingerprint(KEY_1)}


def test_descriptor_must_be_signed_by_a_listed_key() -> None:
    with pytest.raises(InvalidInput):
        sign_descriptor(make_desc(), KEY_2, "ke-2")


def test_forged_descriptor_is_rejected() -> None:
    refused("FED-SIGNATURE", open_descriptor, sign_descriptor(make_desc(), MALLORY, "ke-1"))


def test_tampered_endpoint_is_rejected() -> None:
    jws = sign_descriptor(make_desc(), KEY_1, "ke-1")

    def hijack(body: dict[str, Any]) -> None:
        body["endpoint"] = "https://attacker.example/federation/v1"

    refused("FED-SIGNATURE", open_descriptor, reencode(jws, hijack))


def test_attacker_descriptor_is_self_consistent_but_shows_another_fingerprint() -> None:
    # Anyone can self-sign a descriptor; only the out-of-band fingerprint check tells.
    fake = make_desc(keys=(PublicKeyRecord.of("ke-1", MALLORY),))
    opened = open_descriptor(sign_descriptor(fake, MALLORY, "ke-1"))
    assert opened.fingerprints()["ke-1"] != fingerprint(KEY_1)
    # Once the real keys are trusted, a refresh signed by another key is refused.
    refused(
        "FED-SIGNATURE",
        open_descriptor,
        sign_descriptor(fake, MALLORY, "ke-1"),
        trusted_keys=[REC_1],
    )
    fake2 = make_desc(keys=(PublicKeyRecord.of("evil-1", MALLORY),))
    refused(
        "FED-UNKNOWN-KEY",
        open_descriptor,
        sign_descriptor(fake2, MALLORY, "evil-1"),
        trusted_keys=[REC_1],
    )


def test_descriptor_for_another_node_is_rejected() -> None:
    jws = sign_descriptor(make_desc(), KEY_1, "ke-1")
    refused("FED-MALFORMED", open_descriptor, jws, node_id="fr-pharos")


def test_descriptor_signed_outside_the_key_window_is_rejected() -> None:
    rec = PublicKeyRecord.of("ke-1", KEY_1, NOW + timedelta(days=1))
    jws = sign_descriptor(make_desc(keys=(rec,)), KEY_1, "ke-1")
    refused("FED-KEY-EXPIRED", open_descriptor, jws)


def test_invalid_descriptor_contents_are_malformed() -> None:
    jws = sign_descriptor(make_desc(), KEY_1, "ke-1")
    changes = [
        lambda b: b.update(country="YY"),
        lambda b: b.update(country="ke"),
        lambda b: b.update(endpoint="http://hanoi.example/federation/v1"),
        lambda b: b.update(keys=[]),
        lambda b: b.pop("kind"),
    ]
    for change in changes:
        # Checked before the signature: a malformed descriptor is malformed whoever signed it.
        refused("FED-MALFORMED", open_descriptor, reencode(jws, change))


def test_descriptor_validation() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"country": "YY"}, "country"),
        ({"name": " "}, "name"),
        ({"name": "bad\nname"}, "name"),
        ({"kind": "Not A Kind"}, "kind"),
        ({"endpoint": "ftp://x.example"}, "endpoint"),
        ({"endpoint": "https://user:pw@x.example"}, "endpoint"),
        ({"endpoint": "https://x.example/?q=1"}, "endpoint"),
        ({"endpoint": "https://"}, "endpoint"),
        ({"keys": ()}, "keys"),
        ({"keys": (REC_1, PublicKeyRecord.of("ke-1", KEY_2))}, "keys"),
        ({"issued_at": datetime(2025, 10, 25)}, "issued_at"),
    ]
    for change, field in cases:
        with pytest.raises(InvalidInput) as exc:
            make_desc(**change)
        assert exc.value.problems[0].field == field, change
    assert make_desc(endpoint="http://localhost:8000/federation/v1").endpoint.startswith("http:")
    with pytest.raises(InvalidInput) as exc:
        make_desc(country="YY")
    assert exc.value.rule == "MEMBER-STATE"


@given(
    name=st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=50).filter(
        str.strip
    ),
    country=st.sampled_from(["KE", "FR", "VN", "BR", "NG", "DE"]),
    kind=st.sampled_from(["cert", "police", "hotline", "platform", "central-authority"]),
)
def test_descriptor_round_trip_any_contents(name: str, country: str, kind: str) -> None:
    desc = make_desc(name=name, country=country, kind=kind)
    assert open_descriptor(sign_descriptor(desc, KEY_1, "ke-1")) == desc


# --- key rotation ------------------------------------------------------------------------------

REC_2 = PublicKeyRecord.of("ke-2", KEY_2, NOW + timedelta(hours=1), None)
SWITCH = NOW + timedelta(days=7)


def rotation(**kw: Any) -> KeyRotation:
    fields: dict[str, Any] = {
        "node_id": "ke-ncsc",
        "old_key_id": "ke-1",
        "new_key": REC_2,
        "announced_at": NOW,
        "old_not_after": SWITCH,
    }
    fields.update(kw)
    return KeyRotation(**fields)


def test_rotation_signed_by_the_old_key_is_accepted_and_applied() -> None:
    rot = rotation()
    opened = open_rotation(sign_rotation(rot, KEY_1), node_id="ke-ncsc", known_keys=[REC_1], now=NOW)
    assert opened == rot
    keys = apply_rotation([REC_1], opened)
    assert [k.key_id for k in keys] == ["ke-1", "ke-2"]
    assert keys[0].not_after == SWITCH
    # No downtime: within the overlap both keys verify envelopes; after it, only the new.
    overlap = NOW + timedelta(days=1)
    assert select_key(keys, overlap, "ke-1") is not None
    assert select_key(keys, overlap, "ke-2") is not None
    assert select_key(keys, SWITCH, "ke-1") is None
    assert select_key(keys, SWITCH) == REC_2
    env = Envelope("e-1", "ke-ncsc", "fr-pharos", "signal", overlap, {})
    for key, kid in ((KEY_1, "ke-1"), (KEY_2, "ke-2")):
        opened_env = open_envelope(
            sign_envelope(env, key, kid),
            me="fr-pharos",
            resolve_keys=lambda node: keys,
            now=overlap,
            max_skew=timedelta(minutes=5),
            max_bytes=10_000,
        )
        assert opened_env == env


def test_applying_a_rotation_twice_changes_nothing_more() -> None:
    once = apply_rotation([REC_1], rotation())
    assert apply_rotation(once, rotation()) == once


def test_rotation_never_extends_the_old_key() -> None:
    short = PublicKeyRecord.of("ke-1", KEY_1, NOW - timedelta(days=100), NOW + timedelta(days=2))
    keys = apply_rotation([short], rotation(old_not_after=SWITCH))
    assert keys[0].not_after == NOW + timedelta(days=2)


def test_rotation_signed_by_the_new_key_is_rejected() -> None:
    # Whoever holds only the new key cannot introduce it.
    refused(
        "FED-SIGNATURE",
        open_rotation,
        sign_rotation(rotation(), KEY_2),
        node_id="ke-ncsc",
        known_keys=[REC_1],
        now=NOW,
    )


def test_rotation_with_a_kid_other_than_the_old_key_is_rejected() -> None:
    from hanoi.federation.descriptor import TYP_ROTATION
    from hanoi.federation.envelope import sign_object

    jws = sign_object(rotation().as_dict(), typ=TYP_ROTATION, private_key=KEY_2, key_id="ke-2")
    refused("FED-ROTATION", open_rotation, jws, node_id="ke-ncsc", known_keys=[REC_1, REC_2], now=NOW)


def test_rotation_from_an_unknown_old_key_is_rejected() -> None:
    rot = rotation(old_key_id="ke-0")
    refused(
        "FED-UNKNOWN-KEY",
        open_rotation,
        sign_rotation(rot, KEY_1),
        node_id="ke-ncsc",
        known_keys=[REC_1],
        now=NOW,
    )


def test_rotation_by_an_expired_old_key_is_rejected() -> None:
    gone = PublicKeyRecord.of("ke-1", KEY_1, NOW - timedelta(days=100), NOW - timedelta(days=1))
    refused(
        "FED-KEY-EXPIRED",
        open_rotation,
        sign_rotation(rotation(), KEY_1),
        node_id="ke-ncsc",
        known_keys=[gone],
        now=NOW,
    )


def test_rotation_backdated_to_before_the_old_key_expired_is_rejected() -> None:
    # The signer chooses announced_at: a key that has ended introduces nothing, whatever the
    # rotation claims about when it was made.
    ended = PublicKeyRecord.of("ke-1", KEY_1, NOW - timedelta(days=100), NOW + timedelta(hours=1))
    later = NOW + timedelta(days=3)
    for announced in (NOW, later):
        refused("FED-KEY-EXPIRED", open_rotation,
                sign_rotation(rotation(announced_at=announced, old_not_after=None), KEY_1),
                node_id="ke-ncsc", known_keys=[ended], now=later)


def test_rotation_announced_outside_the_skew_window_is_rejected() -> None:
    jws = sign_rotation(rotation(), KEY_1)
    for now in (NOW + timedelta(minutes=6), NOW - timedelta(minutes=6)):
        refused("FED-STALE", open_rotation, jws, node_id="ke-ncsc", known_keys=[REC_1], now=now)
    assert open_rotation(jws, node_id="ke-ncsc", known_keys=[REC_1], now=NOW + timedelta(minutes=4))


def test_a_replayed_rotation_never_revives_a_key_a_later_rotation_ended() -> None:
    first = rotation(old_not_after=SWITCH)
    keys = apply_rotation([REC_1], first)
    ended_at = NOW + timedelta(days=8)
    rec_3 = PublicKeyRecord.of("ke-3", MALLORY, ended_at - timedelta(hours=1))
    second = KeyRotation("ke-ncsc", "ke-2", rec_3, NOW + timedelta(days=7), ended_at)
    keys = apply_rotation(keys, second)
    assert {k.key_id: k.not_after for k in keys}["ke-2"] == ended_at
    # The first rotation again (ke-1 still valid, say): ke-2 keeps the end the second one set.
    assert apply_rotation(keys, first) == keys


def test_rotation_ending_the_old_key_before_it_began_is_rejected() -> None:
    late = PublicKeyRecord.of("ke-1", KEY_1, NOW - timedelta(minutes=1))
    early = PublicKeyRecord.of("ke-2", KEY_2, NOW - timedelta(days=2))
    rot = rotation(new_key=early, old_not_after=NOW - timedelta(days=1))
    refused("FED-ROTATION", open_rotation, sign_rotation(rot, KEY_1), node_id="ke-ncsc",
            known_keys=[late], now=NOW)


def test_rotation_for_another_node_is_rejected() -> None:
    refused(
        "FED-MALFORMED",
        open_rotation,
        sign_rotation(rotation(), KEY_1),
        node_id="fr-pharos",
        known_keys=[REC_1],
        now=NOW,
    )


def test_rotation_clashing_with_a_registered_key_is_rejected() -> None:
    other = PublicKeyRecord.of("ke-2", MALLORY)  # ke-2 already names another key
    refused(
        "FED-ROTATION",
        open_rotation,
        sign_rotation(rotation(), KEY_1),
        node_id="ke-ncsc",
        known_keys=[REC_1, other],
        now=NOW,
    )
    same_key_new_id = rotation(new_key=PublicKeyRecord.of("ke-9", KEY_1, NOW))
    refused(
        "FED-ROTATION",
        open_rotation,
        sign_rotation(same_key_new_id, KEY_1),
        node_id="ke-ncsc",
        known_keys=[REC_1],
        now=NOW,
    )


def test_rotation_validation() -> None:
    with pytest.raises(InvalidInput) as exc:
        rotation(new_key=PublicKeyRecord.of("ke-1", KEY_2))
    assert exc.value.rule == "FED-ROTATION"
    with pytest.raises(InvalidInput) as exc:  # a gap between the two windows
        rotation(old_not_after=NOW + timedelta(minutes=30))
    assert exc.value.rule == "FED-ROTATION"
    with pytest.raises(InvalidInput):
        rotation(announced_at=datetime(2025, 10, 25))
    ok = rotation(old_not_after=None)
    assert KeyRotation.from_dict(json.loads(json.dumps(ok.as_dict()))) == ok
