"""Hashing on the device against Meta's PDQ reference fixtures, and validation of hash values."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from hanoi.core.errors import InvalidInput
from hanoi.media.algorithms import Md5, Pdq, Sha256, parse_hash, pdq_distance
from hanoi.media.index import PdqIndex
from hanoi.media.pdq import (
    detect_kind,
    digests_of_path,
    hash_bytes,
    hash_path,
    pdq_from_bytes,
    pdq_from_path,
)
from tests.paths import DIHEDRAL, PDQ_FIXTURES, dihedral_variants

FIX = PDQ_FIXTURES


def _expected() -> dict[str, tuple[str, int]]:
    """Every row of the reference file (29 images; most of them are shipped)."""
    with open(FIX / "expected.tsv", newline="") as f:
        return {r["file"]: (r["pdq_hex"], int(r["quality"])) for r in csv.DictReader(f, delimiter="\t")}


def _shipped() -> list[str]:
    return sorted(p.relative_to(FIX).as_posix() for p in FIX.rglob("*.jpg"))


@pytest.fixture(scope="module")
def computed() -> dict[str, tuple[str, int]]:
    out = {}
    for name in _shipped():
        r = pdq_from_path(FIX / name)
        out[name] = (r.hash, r.quality)
    return out


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return dihedral_variants(tmp_path_factory.mktemp("dih"))


# --- conformance -----------------------------------------------------------------------------


def test_every_fixture_image_is_hashed_identically_to_the_reference(
    computed: dict[str, tuple[str, int]],
) -> None:
    expected = _expected()
    assert len(expected) == 29 and len(computed) == 15
    assert set(computed) <= set(expected)  # every shipped image has its reference row
    assert computed == {name: expected[name] for name in computed}


def test_reference_tolerance_distance_10_for_quality_80(
    computed: dict[str, tuple[str, int]],
) -> None:
    for name, (ref, q) in _expected().items():
        if q >= 80 and name in computed:
            assert pdq_distance(computed[name][0], ref) <= 10, name


def test_made_rotations_and_flips_are_within_10_of_the_reference_files(variants: list[Path]) -> None:
    """The variants the tests make stand in for the reference dih/ files: each hashes within
    the reference tolerance of that file's reference hash."""
    expected = _expected()
    for name, path in zip(DIHEDRAL, variants, strict=True):
        ref, _ = expected[f"dih/bridge-{name}.jpg"]
        assert pdq_distance(pdq_from_path(path).hash, ref) <= 10, name


def test_bytes_and_path_give_the_same_result() -> None:
    p = FIX / "bridge-mods" / "aaa-orig.jpg"
    assert pdq_from_bytes(p.read_bytes()) == pdq_from_path(p)


def test_bridge_mods_all_match_each_other(computed: dict[str, tuple[str, int]]) -> None:
    mods = [h for n, (h, _) in computed.items() if n.startswith("bridge-mods/")]
    assert len(mods) == 6
    for a, b in itertools.combinations(mods, 2):
        assert pdq_distance(a, b) <= 31


def test_unrelated_photos_do_not_match(computed: dict[str, tuple[str, int]]) -> None:
    photos = [h for n, (h, _) in computed.items() if n.startswith("labelme-subset/")]
    assert len(photos) == 7
    for a, b in itertools.combinations(photos, 2):
        assert pdq_distance(a, b) > 31


def test_rotations_and_flips_match_only_through_the_dihedral_hashes(variants: list[Path]) -> None:
    original = pdq_from_path(variants[0], dihedral=True)
    assert original.dihedral is not None and len(original.dihedral) == 8
    assert original.dihedral[0] == original.hash
    assert len(variants) == 8
    index = PdqIndex.build([original.hash], [1])
    for path in variants:
        plain = pdq_from_path(path).hash
        through_dihedral = min(pdq_distance(plain, d) for d in original.dihedral)
        assert through_dihedral <= 31, path.name
        if "original" not in path.name:
            assert pdq_distance(plain, original.hash) > 31, path.name
            assert index.query(plain) == []
        # the index finds the stored original from the rotated copy's 8 dihedral hashes
        rotated = pdq_from_path(path, dihedral=True)
        found = index.search_dihedral([rotated.hashes()])
        assert found.item.tolist() == [1], path.name
        assert found.distance[0] <= 31


def test_low_quality_fixture_is_hashed_but_refused_on_validation(
    computed: dict[str, tuple[str, int]],
) -> None:
    _, q = computed["small.jpg"]
    assert q < 50
    with pytest.raises(InvalidInput) as e:
        Pdq.check_quality(q, "pdq_quality")
    assert e.value.problems[0].field == "pdq_quality"
    assert "below 50" in e.value.problems[0].message


# --- bad input -------------------------------------------------------------------------------


def test_a_non_image_is_refused_clearly() -> None:
    with pytest.raises(InvalidInput, match="not an image"):
        pdq_from_bytes(b"this is a text file, not a picture\n" * 10)


def test_a_truncated_image_is_refused_clearly() -> None:
    data = (FIX / "bridge-mods" / "aaa-orig.jpg").read_bytes()
    with pytest.raises(InvalidInput, match="truncated"):
        pdq_from_bytes(data[: len(data) // 2])


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width x height`` pixels (a decompression bomb)."""
    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = 8 + 8  # signature, then length + type of the IHDR chunk
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr - 4 : ihdr + 13]))
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(InvalidInput, match="decompression bomb"):
        pdq_from_bytes(_png_claiming(100_000, 100_000))
    with pytest.raises(InvalidInput, match="exceeds the limit"):
        pdq_from_bytes(_png_claiming(10_000, 6_000))  # 60 Mpx: below Pillow's, above ours


def test_the_pixel_limit_is_configurable() -> None:
    p = FIX / "bridge-mods" / "aaa-orig.jpg"
    with pytest.raises(InvalidInput, match="exceeds the limit"):
        pdq_from_path(p, max_pixels=1000)


def test_empty_and_missing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        hash_bytes(b"")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(InvalidInput, match="empty"):
        hash_path(tmp_path / "empty.jpg")
    with pytest.raises(InvalidInput, match="no such file"):
        hash_path(tmp_path / "nope.jpg")


# --- digests and kinds -----------------------------------------------------------------------


def test_image_file_gets_pdq_md5_and_sha256() -> None:
    p = FIX / "wee.jpg"
    data = p.read_bytes()
    r = hash_path(p, dihedral=True)
    assert r.kind == "image"
    assert r.md5 == hashlib.md5(data).hexdigest()
    assert r.sha256 == hashlib.sha256(data).hexdigest()
    assert r.size == len(data)
    assert r.pdq is not None and r.pdq.hash == _expected()["wee.jpg"][0]
    assert r.pdq.dihedral is not None and len(r.pdq.dihedral) == 8
    assert hash_bytes(data, dihedral=True) == r


def test_video_and_other_files_get_digests_only(tmp_path: Path) -> None:
    mp4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(range(256)) * 5000
    f = tmp_path / "clip.bin"
    f.write_bytes(mp4)
    r = hash_path(f)
    assert (r.kind, r.pdq) == ("video", None)
    assert r.sha256 == hashlib.sha256(mp4).hexdigest()
    assert r.md5 == hashlib.md5(mp4).hexdigest()
    assert digests_of_path(f).size == len(mp4) > 1 << 20  # streamed over several chunks
    other = hash_bytes(b"%PDF-1.7 not media")
    assert (other.kind, other.pdq) == ("other", None)


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image"),
        (b"GIF89a\x01\x00\x01\x00", "image"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image"),
        (b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00", "image"),
        (b"\x00\x00\x00\x1cftypmp42\x00\x00\x00\x00", "video"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "video"),
        (b"\x1a\x45\xdf\xa3\x01\x00\x00\x00\x00\x00", "video"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "video"),
        (b"PK\x03\x04\x14\x00\x00\x00", "other"),
    ],
)
def test_kind_is_detected_from_magic_bytes(head: bytes, kind: str) -> None:
    assert detect_kind(head) == kind


# --- hash values -----------------------------------------------------------------------------

GOOD_PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def test_pdq_is_normalised_to_lower_case() -> None:
    assert Pdq.parse("  " + GOOD_PDQ.upper() + "\n") == GOOD_PDQ


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (GOOD_PDQ[:-1], "has 63 hex digits; a PDQ hash has exactly 64"),
        (GOOD_PDQ + "0", "has 65 hex digits; a PDQ hash has exactly 64"),
        (GOOD_PDQ[:-1] + "g", "only 0-9 and a-f"),
        ("0" * 64, "all zeros"),
        ("f" * 64, "all ones"),
        (12345, "a text of 64 hex digits"),
        (None, "a text of 64 hex digits"),
    ],
)
def test_malformed_and_degenerate_pdq_is_refused_with_the_reason(value: object, reason: str) -> None:
    with pytest.raises(InvalidInput) as e:
        Pdq.parse(value, field="rows[3].pdq")
    assert e.value.problems[0].field == "rows[3].pdq"
    assert reason in e.value.problems[0].message


def test_quality_bounds() -> None:
    assert Pdq.check_quality(50) == 50
    assert Pdq.check_quality(100) == 100
    for bad in (49, 0, -1, 101, True, 75.0, "80"):
        with pytest.raises(InvalidInput):
            Pdq.check_quality(bad)


def test_md5_and_sha256_values() -> None:
    md5 = hashlib.md5(b"x").hexdigest()
    sha = hashlib.sha256(b"x").hexdigest()
    assert Md5.parse(md5.upper()) == md5
    assert Sha256.parse(sha) == sha
    assert parse_hash("SHA-256", sha) == sha
    assert parse_hash("pdq", GOOD_PDQ) == GOOD_PDQ
    with pytest.raises(InvalidInput, match="has exactly 32"):
        Md5.parse(sha)
    with pytest.raises(InvalidInput, match="empty file"):
        Md5.parse(hashlib.md5(b"").hexdigest())
    with pytest.raises(InvalidInput, match="empty file"):
        Sha256.parse(hashlib.sha256(b"").hexdigest())
    with pytest.raises(InvalidInput, match="all zeros"):
        Sha256.parse("0" * 64)
    with pytest.raises(InvalidInput) as e:
        parse_hash("sha1", md5)
    assert e.value.problems[0].field == "algorithm"


@given(st.integers(0, 2**256 - 1), st.integers(0, 2**256 - 1))
def test_pdq_distance_is_the_hamming_distance(a: int, b: int) -> None:
    ha, hb = f"{a:064x}", f"{b:064x}"
    expected = sum(x != y for x, y in zip(f"{a:0256b}", f"{b:0256b}", strict=True))
    assert pdq_distance(ha, hb) == expected
    assert Pdq.matches(ha, hb, 31) == (expected <= 31)
