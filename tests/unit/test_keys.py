"""Ed25519 key helpers: formats, fingerprints, signatures, validity windows and rotation."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from hanoi.core.errors import InvalidInput
from hanoi.core.keys import (
    PublicKeyRecord,
    fingerprint,
    format_rfc3339,
    generate_private_key,
    parse_public_key,
    parse_rfc3339,
    private_key_from_pem,
    private_key_to_pem,
    public_key_b64,
    public_key_pem,
    raw_public_bytes,
    select_key,
    sign,
    verify,
)

T0 = datetime(2025, 10, 25, 9, 0, tzinfo=UTC)
MIN, MAX = datetime(1900, 1, 1), datetime(9000, 1, 1)  # hypothesis bounds
seeds = st.binary(min_size=32, max_size=32)


def key_from_seed(seed: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed)


def field_of(exc: pytest.ExceptionInfo[InvalidInput]) -> str:
    return exc.value.problems[0].field


# --- private keys ----------------------------------------------------------------------------


def test_private_key_pem_round_trip_signs_the_same() -> None:
    key = generate_private_key()
    pem = private_key_to_pem(key)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    again = private_key_from_pem(pem.decode())
    assert raw_public_bytes(again) == raw_public_bytes(key)
    assert verify(key.public_key(), sign(again, b"x"), b"x")


def test_encrypted_private_key_needs_the_password() -> None:
    key = generate_private_key()
    pem = private_key_to_pem(key, password=b"correct horse")
    assert b"ENCRYPTED" in pem
    assert raw_public_bytes(private_key_from_pem(pem, b"correct horse")) == raw_public_bytes(key)
    with pytest.raises(InvalidInput) as exc:
        private_key_from_pem(pem, b"wrong")
    assert field_of(exc) == "private_key"


def test_private_key_from_pem_refuses_other_algorithms_and_garbage() -> None:
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for bad in (ec_pem, b"not a pem", b""):
        with pytest.raises(InvalidInput) as exc:
            private_key_from_pem(bad)
        assert field_of(exc) == "private_key"


# --- public key forms --------------------------------------------------------------------------


@given(seeds)
def test_every_public_key_form_parses_to_the_same_key(seed: bytes) -> None:
    key = key_from_seed(seed)
    raw = raw_public_bytes(key)
    forms = [
        public_key_b64(key),
        base64.urlsafe_b64encode(raw).decode(),  # padded base64url
        base64.b64encode(raw).decode(),  # standard base64
        raw.hex(),
        raw.hex().upper(),
        public_key_pem(key),
        f"  {public_key_b64(key)}\n",
        public_key_b64(key).encode(),
    ]
    for form in forms:
        assert raw_public_bytes(parse_public_key(form)) == raw, form


def test_published_form_is_unpadded_base64url_of_32_bytes() -> None:
    key = generate_private_key()
    text = public_key_b64(key)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", text)
    assert base64.urlsafe_b64decode(text + "=") == raw_public_bytes(key)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "hello",
        "00" * 31,  # 31 bytes of hex
        "00" * 33,
        base64.urlsafe_b64encode(b"\x01" * 31).decode(),
        base64.b64encode(b"\x01" * 33).decode(),
        "zz" * 32,  # 64 characters, not hex
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        "é" * 43,
        b"\xff" * 43,
    ],
)
def test_malformed_public_keys_are_invalid_input(bad: str | bytes) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_public_key(bad)
    assert field_of(exc) == "public_key"


def test_a_non_ed25519_pem_public_key_is_refused() -> None:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(InvalidInput, match="Ed25519"):
        parse_public_key(pem)


# --- fingerprints and signatures --------------------------------------------------------------


@given(seeds)
def test_fingerprint_is_grouped_sha256_prefix_of_raw_key(seed: bytes) -> None:
    key = key_from_seed(seed)
    fp = fingerprint(key.public_key())
    assert re.fullmatch(r"([0-9a-f]{4} ){7}[0-9a-f]{4}", fp)
    expected = hashlib.sha256(raw_public_bytes(key)).hexdigest()[:32]
    assert fp.replace(" ", "") == expected
    assert fingerprint(key) == fp == fingerprint(public_key_b64(key))


def test_different_keys_have_different_fingerprints() -> None:
    assert fingerprint(generate_private_key()) != fingerprint(generate_private_key())


@given(seeds, st.binary(max_size=200))
def test_signatures_verify_only_for_the_same_key_and_data(seed: bytes, data: bytes) -> None:
    key = key_from_seed(seed)
    sig = sign(key, data)
    assert verify(key.public_key(), sig, data)
    assert not verify(key.public_key(), sig, data + b"!")
    other = key_from_seed(bytes(b ^ 1 for b in seed))
    assert not verify(other.public_key(), sig, data)
    assert not verify(key.public_key(), sig[:-1], data)
    assert not verify(key.public_key(), bytes(64), data)


# --- records and rotation ---------------------------------------------------------------------


def record(kid: str, key: Ed25519PrivateKey, start: int | None, end: int | None) -> PublicKeyRecord:
    """A record valid from T0+start hours to T0+end hours (None: open)."""
    nb = T0 + timedelta(hours=start) if start is not None else None
    na = T0 + timedelta(hours=end) if end is not None else None
    return PublicKeyRecord.of(kid, key, nb, na)


def test_validity_window_includes_start_and_excludes_end() -> None:
    rec = record("k1", generate_private_key(), 0, 10)
    assert not rec.valid_at(T0 - timedelta(microseconds=1))
    assert rec.valid_at(T0)
    assert rec.valid_at(T0 + timedelta(hours=10) - timedelta(microseconds=1))
    assert not rec.valid_at(T0 + timedelta(hours=10))


def test_open_windows_are_always_valid_on_that_side() -> None:
    rec = record("k1", generate_private_key(), None, None)
    assert rec.valid_at(datetime(1970, 1, 1, tzinfo=UTC))
    assert rec.valid_at(datetime(9999, 1, 1, tzinfo=UTC))


def test_valid_at_compares_instants_not_wall_clocks() -> None:
    rec = record("k1", generate_private_key(), 0, 1)
    plus_two = timezone(timedelta(hours=2))
    assert rec.valid_at(T0.astimezone(plus_two))
    # 10:30 at UTC+2 is 08:30 UTC, before the window opens.
    assert not rec.valid_at(datetime(2025, 10, 25, 10, 30, tzinfo=plus_two))


def test_valid_at_refuses_naive_times() -> None:
    rec = record("k1", generate_private_key(), 0, 1)
    with pytest.raises(InvalidInput):
        rec.valid_at(datetime(2025, 10, 25, 9, 30))


def test_record_validation() -> None:
    key = generate_private_key()
    good = public_key_b64(key)
    with pytest.raises(InvalidInput) as exc:
        PublicKeyRecord("k1", good, T0, T0)
    assert field_of(exc) == "not_after"
    with pytest.raises(InvalidInput) as exc:
        PublicKeyRecord("k1", good, datetime(2025, 1, 1), None)
    assert field_of(exc) == "not_before"
    with pytest.raises(InvalidInput) as exc:
        PublicKeyRecord("k1", good + "=", None, None)  # padded: not the canonical form
    assert field_of(exc) == "public_key"
    with pytest.raises(InvalidInput) as exc:
        PublicKeyRecord("", good)
    assert field_of(exc) == "key_id"
    with pytest.raises(InvalidInput) as exc:
        PublicKeyRecord("k 1/../x", good)
    assert field_of(exc) == "key_id"
    assert PublicKeyRecord.of("k1", raw_public_bytes(key).hex()).public_key_b64 == good


@given(
    seeds,
    st.none() | st.datetimes(MIN, MAX, timezones=st.just(UTC)),
    st.none() | st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=900)),
)
def test_record_dict_round_trip(
    seed: bytes, start: datetime | None, span: timedelta | None
) -> None:
    end = start + span if start is not None and span is not None else None
    rec = PublicKeyRecord.of("node-key-1", key_from_seed(seed), start, end)
    assert PublicKeyRecord.from_dict(rec.as_dict()) == rec


def test_rotation_with_overlapping_windows_chooses_the_right_key() -> None:
    old = record("k1", generate_private_key(), 0, 48)
    new = record("k2", generate_private_key(), 24, None)
    keys = [old, new]
    assert select_key(keys, T0 + timedelta(hours=1)) == old
    # During the overlap both verify; the newest is preferred for signing.
    overlap = T0 + timedelta(hours=30)
    assert select_key(keys, overlap) == new
    assert select_key(keys, overlap, "k1") == old
    assert select_key(keys, overlap, "k2") == new
    after = T0 + timedelta(hours=48)
    assert select_key(keys, after) == new
    assert select_key(keys, after, "k1") is None
    assert select_key(keys, T0 - timedelta(hours=1)) is None
    assert select_key([], T0) is None


# --- RFC 3339 ---------------------------------------------------------------------------------


@given(
    st.datetimes(
        MIN, MAX, timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5, minutes=-30))])
    )
)
def test_rfc3339_round_trip(t: datetime) -> None:
    text = format_rfc3339(t)
    assert text.endswith("Z")
    back = parse_rfc3339(text, "t")
    assert back == t
    assert back.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "bad",
    [
        "2025-10-25T09:00:00+00:00",
        "2025-10-25 09:00:00Z",
        "2025-10-25T09:00:00",
        "2025-13-01T00:00:00Z",
        "",
        5,
        None,
    ],
)
def test_rfc3339_parse_refuses_other_forms(bad: object) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_rfc3339(bad, "created")
    assert field_of(exc) == "created"
