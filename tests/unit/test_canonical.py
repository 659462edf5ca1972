"""The fast canonical JSON path emits exactly RFC 8785 bytes (the rfc8785 library's)."""

from __future__ import annotations

import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from hanoi.core.canonical import canonical_json, digest, fast_canonical_json

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)


@given(json_values)
def test_fast_path_is_byte_identical_to_rfc8785(value: object) -> None:
    assert fast_canonical_json(value) == rfc8785.dumps(value) == canonical_json(value)


def test_known_canonical_form() -> None:
    # RFC 8785 sorts keys, drops whitespace, escapes only what JSON requires.
    value = {"b": [1, "é\n"], "a": None, "c": {"z": True, "y": "\u2028"}}
    assert (
        fast_canonical_json(value)
        == '{"a":null,"b":[1,"é\\n"],"c":{"y":"\u2028","z":true}}'.encode()
    )
    assert (
        digest({"a": 1})
        == "sha256:015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
    )


reason = st.fixed_dictionaries({"code": st.text(max_size=12), "detail": st.text(max_size=30)},
                               optional={"n": st.integers(-(2**53) + 1, 2**53 - 1), "ok": st.booleans()})


@given(seq=st.integers(1, 2**53 - 1), texts=st.lists(st.text(max_size=40), min_size=6, max_size=6),
       decision=st.none() | st.text(max_size=10), reasons=st.lists(reason, max_size=4))
def test_entry_bytes_built_from_stored_text_equal_the_canonical_body(
        seq: int, texts: list[str], decision: str | None, reasons: list[dict[str, object]]) -> None:
    from hanoi.core.ledger import entry_bytes

    ts, actor, action, subject, pdigest, prev = texts
    body = {"seq": seq, "ts": ts, "actor": actor, "action": action, "subject": subject, "decision": decision,
            "reasons": reasons, "payload_digest": pdigest, "prev_hash": prev}
    stored_reasons = fast_canonical_json(reasons).decode()
    assert entry_bytes(seq, ts, actor, action, subject, decision, stored_reasons, pdigest, prev) \
        == rfc8785.dumps(body)
