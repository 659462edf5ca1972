"""The canonical form of private lookups (docs/privacy.md): its test vectors, the prefix
arithmetic and the filter's positions, one definition read by node and client alike."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from hanoi.core import prefixes as P
from hanoi.private_lookup import Filter, bloom_positions, canonical, contains_words, digest, media_digest, prefix_of


def test_the_vectors_of_docs_privacy() -> None:
    assert canonical("domain", "scam.example.com") == b"hanoi-sig-v1\x00domain\x00scam.example.com"
    assert digest("domain", "scam.example.com").hex() == \
        "2c5509bd874a3614502c386066f5e8e1ee1e44da8476142b1beb0e5b4928d1a6"
    assert digest("phone", "+442079460958").hex() == \
        "9f37b36fc56e9d5df1b834cf2eacd06ff83441362d91e3c1099dcddfc14a698d"
    assert media_digest("md5", "D41D8CD98F00B204E9800998ECF8427E").hex() == \
        "adeac60fc23c05a49f1a08b4a1eeafa51b2f76b78d386f498216ef4e51d02a2c"


@given(st.integers(0, 10**12), st.integers(1, 10_000))
def test_a_prefix_covers_k_to_2k_stored_values_on_average(stored: int, k: int) -> None:
    bits = P.prefix_bits(stored, k)
    if bits == 0:
        assert stored < 2 * k or stored // k < 2
    elif bits < P.MAX_BITS:
        assert k <= stored / 2**bits < 2 * k


@given(st.binary(min_size=32, max_size=32), st.integers(0, 40))
def test_a_prefix_is_the_digests_first_bits(d: bytes, bits: int) -> None:
    p = prefix_of(d, bits)
    assert 0 <= p < 2**bits
    assert bin(int.from_bytes(d, "big"))[2:].zfill(256)[:bits] == (bin(p)[2:].zfill(bits) if bits else "")


@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=300, unique=True))
def test_a_filter_holds_every_digest_put_in_it_read_either_way(ds: list[bytes]) -> None:
    arr = np.frombuffer(b"".join(ds), dtype=np.uint8).reshape(-1, 32)
    m = P.bloom_size(len(ds))
    bits = P.bloom_bits(arr, m)
    f = Filter({"m": m, "k": P.BLOOM_HASHES}, bits, b"", b"")
    assert all(d in f for d in ds)
    assert contains_words(bits, m, P.BLOOM_HASHES, arr.view("<u4").reshape(-1, 8)).all()
    for d in ds[:20]:
        assert all(bits[p >> 3] >> (p & 7) & 1 for p in bloom_positions(d, m, P.BLOOM_HASHES))


def test_the_documented_rate_and_size() -> None:
    assert 0.0008 < P.bloom_fpr() < 0.0009
    assert P.bloom_size(10_000_000) // 8 == 20_000_000  # 20 MB for 10M values
