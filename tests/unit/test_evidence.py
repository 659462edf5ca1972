"""Evidence packages: the signed manifest, the zip, and offline verification of tampering."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from hanoi.cli.evidence_verify import app
from hanoi.core.errors import InvalidInput
from hanoi.core.keys import PublicKeyRecord, fingerprint, public_key_b64
from hanoi.requests.packages import (
    build_manifest,
    name_problem,
    sanitise_name,
    sign_manifest,
    verify_package,
    write_package,
)
from hanoi.store.blobs import BlobStore

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
MALLORY = Ed25519PrivateKey.from_private_bytes(bytes(range(9, 41)))
KID = "node-b-2026"
FILES = {
    "subscriber.csv": b"account,ip,first_seen\nalice,192.0.2.1,2026-01-02\n",
    "logs.txt": b"2026-01-02T10:00:00Z login alice 192.0.2.1\n" * 50,
    "photo.jpg": bytes(range(256)) * 4,
}


def make_package(tmp_path: Path, files: Mapping[str, bytes] = FILES,
                 key: Ed25519PrivateKey = KEY) -> Path:
    store = BlobStore(tmp_path / "blobs")
    entries = []
    for name, data in files.items():
        info = store.put_stream(io.BytesIO(data), max_bytes=10_000_000)
        entries.append({"name": name, "sha256": info.sha256, "size": info.size,
                        "media_type": "text/plain", "description": f"the {name}"})
    manifest = build_manifest(
        package_id="pkg-1", request_id="req-42", response_id="resp-7",
        sender_node_id="node-b", sender_name="Bộ Công an (Ministry of Public Security)",
        created=NOW, files=entries, conditions={"specialty": True},
        custody=[{"ts": "2026-03-01T09:00:00Z", "actor": "officer-1", "action": "collected"}],
    )
    signed = sign_manifest(manifest, key, KID)
    out = tmp_path / "pkg.zip"
    write_package(out, signed, PublicKeyRecord.of(KID, key), KID, store.open)
    return out


def rewrite(src: Path, dst: Path, *, replace: Mapping[str, bytes | None] | None = None,
            add: Mapping[str, bytes] | None = None) -> Path:
    """A copy of the zip with entries replaced (None: removed) or added, CRCs all valid."""
    replace = replace or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in replace:
                data = replace[info.filename]
                if data is not None:
                    zout.writestr(info.filename, data)
            else:
                zout.writestr(info.filename, zin.read(info))
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return dst


def failures(report: Any) -> dict[str, str]:
    return {f.path: f.reason for f in report.files if not f.ok}


# --- round trip --------------------------------------------------------------------------------


def test_round_trip_verifies(tmp_path: Path) -> None:
    pkg = make_package(tmp_path)
    report = verify_package(pkg)
    assert report.ok, report.as_dict()
    assert report.signature_ok
    assert [f.path for f in report.files] == [f"files/{n}" for n in FILES]
    assert report.signer_fingerprint == fingerprint(KEY.public_key())
    assert report.signer_node_id == "node-b"
    assert report.key_id == KID
    assert report.summary() == (f"package ok: 3 files, signed by {fingerprint(KEY.public_key())} "
                                "(node-b)")
    assert report.manifest is not None
    assert report.manifest["conditions"] == {"specialty": True}


def test_package_layout(tmp_path: Path) -> None:
    pkg = make_package(tmp_path)
    with zipfile.ZipFile(pkg) as zf:
        names = set(zf.namelist())
        signer = json.loads(zf.read("signer.json"))
        readme = zf.read("README.txt").decode()
        sums = zf.read("SHA256SUMS").decode()
        assert zf.read("files/logs.txt") == FILES["logs.txt"]
    assert names == {"manifest.jws.json", "signer.json", "README.txt", "SHA256SUMS",
                     *(f"files/{n}" for n in FILES)}
    assert signer == {"node_id": "node-b", "name": "Bộ Công an (Ministry of Public Security)",
                      "kid": KID, "public_key": public_key_b64(KEY),
                      "fingerprint": fingerprint(KEY.public_key())}
    assert "hanoi evidence verify" in readme and signer["fingerprint"] in readme
    assert len(sums.splitlines()) == 3 and "  files/subscriber.csv" in sums


def test_verifies_against_expected_key(tmp_path: Path) -> None:
    report = verify_package(make_package(tmp_path), expected_key_b64=public_key_b64(KEY))
    assert report.ok


def test_write_refuses_a_key_that_did_not_sign(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    manifest = build_manifest(package_id="p", request_id="r", response_id=None,
                              sender_node_id="n", sender_name="N", created=NOW, files=[])
    signed = sign_manifest(manifest, KEY, KID)
    out = tmp_path / "pkg.zip"
    with pytest.raises(InvalidInput):
        write_package(out, signed, public_key_b64(MALLORY), KID, store.open)
    assert not out.exists()


def test_write_refuses_damaged_store_and_writes_nothing(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    info = store.put_stream(io.BytesIO(b"evidence"), max_bytes=100)
    manifest = build_manifest(package_id="p", request_id="r", response_id=None,
                              sender_node_id="n", sender_name="N", created=NOW,
                              files=[{"name": "e.bin", "sha256": info.sha256, "size": info.size}])
    signed = sign_manifest(manifest, KEY, KID)
    store.path(info.sha256).write_bytes(b"evidencE")
    out = tmp_path / "pkg.zip"
    with pytest.raises(InvalidInput) as exc:
        write_package(out, signed, public_key_b64(KEY), KID, store.open)
    assert exc.value.problems[0].field == "files[0]"
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".zip"] == []


# --- tampering ---------------------------------------------------------------------------------


def test_tampered_file_content_is_named(tmp_path: Path) -> None:
    pkg = make_package(tmp_path)
    evil = FILES["subscriber.csv"].replace(b"192.0.2.1", b"192.0.2.9")
    bad = rewrite(pkg, tmp_path / "bad.zip", replace={"files/subscriber.csv": evil})
    report = verify_package(bad)
    assert not report.ok
    assert report.signature_ok  # the manifest itself is intact
    assert list(failures(report)) == ["files/subscriber.csv"]
    assert "digest mismatch" in failures(report)["files/subscriber.csv"]


def test_bytes_flipped_inside_the_archive_are_named(tmp_path: Path) -> None:
    pkg = make_package(tmp_path, {"a.bin": b"A" * 4000, "b.bin": b"B" * 10})
    # Build an uncompressed copy so a file's bytes can be found in the raw archive and flipped.
    stored = tmp_path / "stored.zip"
    with zipfile.ZipFile(pkg) as zin, zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
    raw = bytearray(stored.read_bytes())
    at = raw.index(b"A" * 4000)
    raw[at + 100] = ord("Z")
    stored.write_bytes(bytes(raw))
    report = verify_package(stored)
    assert not report.ok
    assert list(failures(report)) == ["files/a.bin"]


def test_swapped_files_are_both_named(tmp_path: Path) -> None:
    pkg = make_package(tmp_path, {"a.txt": b"first", "b.txt": b"other"})
    bad = rewrite(pkg, tmp_path / "bad.zip", replace={"files/a.txt": b"other",
                                                      "files/b.txt": b"first"})
    report = verify_package(bad)
    assert set(failures(report)) == {"files/a.txt", "files/b.txt"}


def test_missing_file_is_named(tmp_path: Path) -> None:
    bad = rewrite(make_package(tmp_path), tmp_path / "bad.zip", replace={"files/logs.txt": None})
    report = verify_package(bad)
    assert not report.ok
    assert failures(report) == {"files/logs.txt": "missing from the package"}


def test_extra_file_is_named(tmp_path: Path) -> None:
    bad = rewrite(make_package(tmp_path), tmp_path / "bad.zip",
                  add={"files/planted.txt": b"not from the sender"})
    report = verify_package(bad)
    assert not report.ok
    assert list(failures(report)) == ["files/planted.txt"]
    assert "not listed" in failures(report)["files/planted.txt"]


def test_forged_manifest_fails_the_signature(tmp_path: Path) -> None:
    pkg = make_package(tmp_path)
    with zipfile.ZipFile(pkg) as zf:
        jws = json.loads(zf.read("manifest.jws.json"))
    # Re-sign an altered manifest (a planted file's digest) with another key, same kid.
    evil = b"planted"
    payload = json.loads(_b64(jws["payload"]))
    import hashlib

    payload["files"][0]["sha256"] = hashlib.sha256(evil).hexdigest()
    payload["files"][0]["size"] = len(evil)
    forged = sign_manifest(payload, MALLORY, KID)
    forged["signature"] = jws["signature"]  # the honest signature, pasted on the new payload
    bad = rewrite(pkg, tmp_path / "bad.zip", replace={
        "manifest.jws.json": json.dumps(forged).encode(),
        "files/subscriber.csv": evil,
    })
    report = verify_package(bad)
    assert not report.ok
    assert not report.signature_ok
    assert any("signature does not verify" in p for p in report.problems)


def test_package_resigned_by_another_key_fails_with_expected_key(tmp_path: Path) -> None:
    # Mallory builds a fully consistent package (own key in signer.json): only the key
    # obtained out of band can tell.
    bad = make_package(tmp_path, key=MALLORY)
    assert verify_package(bad).ok  # self-consistent...
    report = verify_package(bad, expected_key_b64=public_key_b64(KEY))
    assert not report.ok
    assert not report.signature_ok
    assert any("not the expected key" in p for p in report.problems)
    assert report.signer_fingerprint == fingerprint(KEY.public_key())


def test_signer_json_swapped_for_another_key_fails(tmp_path: Path) -> None:
    pkg = make_package(tmp_path)
    signer = {"node_id": "node-b", "name": "Bộ Công an (Ministry of Public Security)",
              "kid": KID, "public_key": public_key_b64(MALLORY),
              "fingerprint": fingerprint(MALLORY.public_key())}
    bad = rewrite(pkg, tmp_path / "bad.zip",
                  replace={"signer.json": json.dumps(signer).encode()})
    report = verify_package(bad)
    assert not report.ok and not report.signature_ok


def test_wrong_expected_key_fails(tmp_path: Path) -> None:
    report = verify_package(make_package(tmp_path), expected_key_b64=public_key_b64(MALLORY))
    assert not report.ok
    assert not report.signature_ok
    assert any("not the expected key" in p for p in report.problems)


def test_altered_sha256sums_is_reported(tmp_path: Path) -> None:
    bad = rewrite(make_package(tmp_path), tmp_path / "bad.zip",
                  replace={"SHA256SUMS": b"0" * 64 + b"  files/logs.txt\n"})
    report = verify_package(bad)
    assert not report.ok
    assert any("SHA256SUMS" in p for p in report.problems)


# --- crafted archives ----------------------------------------------------------------------------


@pytest.mark.parametrize("evil", ["../evil.txt", "files/../../etc/passwd", "/etc/passwd",
                                  "files/sub/x.txt", "files\\..\\x.txt", "C:/x.txt"])
def test_path_traversal_names_are_reported_not_followed(tmp_path: Path, evil: str) -> None:
    bad = rewrite(make_package(tmp_path), tmp_path / "bad.zip", add={evil: b"boo"})
    report = verify_package(bad)
    assert not report.ok
    assert any(repr(evil) in p and "unsafe entry name" in p for p in report.problems)
    assert evil in failures(report)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.zip", "blobs", "pkg.zip"]


def test_signed_manifest_with_traversal_name_fails(tmp_path: Path) -> None:
    # Even the legitimate key cannot make the verifier accept a name that escapes files/.
    pkg = make_package(tmp_path, {"a.txt": b"a"})
    with zipfile.ZipFile(pkg) as zf:
        payload = json.loads(_b64(json.loads(zf.read("manifest.jws.json"))["payload"]))
    payload["files"][0]["name"] = "../a.txt"
    signed = sign_manifest(payload, KEY, KID)
    bad = rewrite(pkg, tmp_path / "bad.zip",
                  replace={"manifest.jws.json": json.dumps(signed).encode()})
    report = verify_package(bad)
    assert report.signature_ok
    assert not report.ok
    assert any("unsafe name" in p for p in report.problems)


def test_duplicate_entries_are_reported(tmp_path: Path) -> None:
    pkg = make_package(tmp_path)
    with zipfile.ZipFile(pkg, "a") as zf, pytest.warns(UserWarning):
        zf.writestr("files/logs.txt", b"second copy")
    report = verify_package(pkg)
    assert not report.ok
    assert any("duplicate" in p for p in report.problems)


def test_declared_size_cap_stops_zip_bomb(tmp_path: Path) -> None:
    pkg = make_package(tmp_path, {"zeros.bin": bytes(2_000_000)})
    report = verify_package(pkg, max_total_bytes=1_000_000)
    assert not report.ok
    assert any("zip bomb" in p for p in report.problems)


def test_entry_count_cap(tmp_path: Path) -> None:
    report = verify_package(make_package(tmp_path), max_entries=3)
    assert not report.ok and report.problems


@pytest.mark.parametrize("content", [b"not a zip at all", b"", b"PK\x03\x04garbage"])
def test_non_zip_input_raises(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "x.zip"
    p.write_bytes(content)
    with pytest.raises(InvalidInput) as exc:
        verify_package(p)
    assert exc.value.problems[0].field == "package"


def test_zip_without_manifest_is_not_a_package(tmp_path: Path) -> None:
    p = tmp_path / "x.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(InvalidInput, match="not an evidence package"):
        verify_package(p)


def test_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        verify_package(tmp_path / "nope.zip")


def test_garbage_manifest_is_reported_not_raised(tmp_path: Path) -> None:
    bad = rewrite(make_package(tmp_path), tmp_path / "bad.zip",
                  replace={"manifest.jws.json": b"{not json"})
    report = verify_package(bad)
    assert not report.ok
    assert any("manifest.jws.json" in p for p in report.problems)


# --- manifest building --------------------------------------------------------------------------


def test_build_manifest_sanitises_and_deduplicates_names() -> None:
    files = [{"name": n, "sha256": "ab" * 32, "size": 1}
             for n in ["../../etc/passwd", "C:\\Users\\x\\report.pdf", "report.pdf",
                       "REPORT.pdf", "..", "a\x00b.txt"]]
    m = build_manifest(package_id="p", request_id="r", response_id=None, sender_node_id="n",
                       sender_name="N", created=NOW, files=files)
    names = [f["name"] for f in m["files"]]
    assert names == ["passwd", "report.pdf", "report-2.pdf", "REPORT-3.pdf", "file", "a_b.txt"]
    assert all(name_problem(n) is None for n in names)
    assert m["created"] == "2026-03-01T09:30:00Z"


@pytest.mark.parametrize(("field", "entry"), [
    ("files[0].sha256", {"name": "a", "sha256": "xyz", "size": 1}),
    ("files[0].size", {"name": "a", "sha256": "ab" * 32, "size": -1}),
    ("files[0].name", {"name": " ", "sha256": "ab" * 32, "size": 1}),
    ("files[0].media_type", {"name": "a", "sha256": "ab" * 32, "size": 1, "media_type": "pdf"}),
])
def test_build_manifest_names_the_bad_field(field: str, entry: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as exc:
        build_manifest(package_id="p", request_id="r", response_id=None, sender_node_id="n",
                       sender_name="N", created=NOW, files=[entry])
    assert exc.value.problems[0].field == field


@given(st.text(max_size=300))
def test_sanitised_names_are_always_safe(name: str) -> None:
    assert name_problem(sanitise_name(name)) is None


# --- the CLI -------------------------------------------------------------------------------------


def test_cli_verify_ok_and_failed(tmp_path: Path) -> None:
    runner = CliRunner()
    pkg = make_package(tmp_path)
    ok = runner.invoke(app, ["verify", str(pkg), "--key", public_key_b64(KEY)])
    assert ok.exit_code == 0, ok.output
    assert "ok      files/logs.txt  sha256 " in ok.output
    assert f"package ok: 3 files, signed by {fingerprint(KEY.public_key())} (node-b)" in ok.output
    bad = rewrite(pkg, tmp_path / "bad.zip", replace={"files/logs.txt": b"edited"})
    failed = runner.invoke(app, ["verify", str(bad)])
    assert failed.exit_code == 1
    assert "FAILED  files/logs.txt: size mismatch" in failed.output
    assert "package FAILED" in failed.output


def test_cli_verify_not_a_package(tmp_path: Path) -> None:
    p = tmp_path / "x.zip"
    p.write_bytes(b"hello")
    result = CliRunner().invoke(app, ["verify", str(p)])
    assert result.exit_code == 2


def _b64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_long_duplicate_names_stay_within_limit() -> None:
    long = "é" * 150 + ".pdf"
    files = [{"name": long, "sha256": "ab" * 32, "size": 1} for _ in range(3)]
    m = build_manifest(package_id="p", request_id="r", response_id=None, sender_node_id="n",
                       sender_name="N", created=NOW, files=files)
    names = [f["name"] for f in m["files"]]
    assert len({n.casefold() for n in names}) == 3
    assert all(name_problem(n) is None for n in names)
    assert all(n.endswith(".pdf") for n in names)
