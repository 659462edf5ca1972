"""Evidence packages: the files handed over with a response, in one zip anyone can check offline.

A package holds a manifest (package, request and response ids, the sending node, every file
with its SHA-256, size, media type and description, the conditions attached to the evidence
and the chain of custody so far) signed by the node key as a JWS (``typ``
``hanoi-evidence-manifest+json``, through the federation module's shared signing helpers), the
signer's public key and fingerprint (``signer.json``), the files under ``files/``, a
``SHA256SUMS`` for checking by hand with ``sha256sum -c`` and a ``README.txt`` saying how to
verify.

``verify_package`` needs nothing but the zip (and, better, the sender's key obtained out of
band): it checks the archive is sane, the signature, every listed file's digest and size, and
that nothing unlisted was slipped in. A tampered package is reported, never raised: the report
names each file that fails and why. Only input that is not a package at all raises.

Reading is streamed: a file is hashed in chunks as it is decompressed and never extracted, so
a crafted archive (a zip bomb, ``../`` names) costs at most the declared sizes in time, which
are capped, and never memory or disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hanoi.core.errors import InvalidInput, invalid
from hanoi.core.keys import (
    PublicKeyRecord,
    fingerprint,
    format_rfc3339,
    parse_public_key,
    public_key_b64,
)
from hanoi.federation.envelope import (
    JWS,
    Rejection,
    SignedObject,
    canonical_json,
    check_token,
    read_signed,
    sign_object,
    verify_signed,
)

TYP_MANIFEST = "hanoi-evidence-manifest+json"
FORMAT = "hanoi-evidence-package"
VERSION = 1

MANIFEST_NAME = "manifest.jws.json"
SIGNER_NAME = "signer.json"
README_NAME = "README.txt"
SUMS_NAME = "SHA256SUMS"
FILES_DIR = "files/"
_META = frozenset({MANIFEST_NAME, SIGNER_NAME, README_NAME, SUMS_NAME})

MAX_NAME_BYTES = 200
MAX_FILES = 10_000
MAX_MANIFEST_BYTES = 8 * 1024 * 1024
MAX_META_BYTES = 256 * 1024
DEFAULT_MAX_TOTAL_BYTES = 64 * 1024**3
CHUNK = 1024 * 1024

_SHA256 = re.compile(r"[0-9a-f]{64}")
_MEDIA_PART = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_MEDIA_TYPE = re.compile(f"{_MEDIA_PART}/{_MEDIA_PART}")
# Characters a file name may not keep on any common file system, or that could change a path.
_UNSAFE_CHARS = re.compile(r'[/\\:*?"<>|\x00-\x1f\x7f]')


# --- file names ------------------------------------------------------------------------------


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a file name in a package (None when it can).

    A name is one path component: no separators, no control characters, none of ``:*?"<>|``,
    not ``.`` or ``..``, no trailing dot or space (Windows drops them), at most 200 UTF-8 bytes,
    NFC-normalised.
    """
    if not isinstance(name, str) or not name:
        return "the name is empty"
    if name in (".", ".."):
        return f"{name!r} is not a file name"
    if _UNSAFE_CHARS.search(name):
        return "the name contains a path separator, a control character or one of :*?\"<>|"
    if name != name.strip() or name.endswith("."):
        return "the name starts or ends with a space, or ends with a dot"
    if unicodedata.normalize("NFC", name) != name:
        return "the name is not in Unicode normal form C"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"the name is longer than {MAX_NAME_BYTES} bytes"
    return None


def sanitise_name(name: str) -> str:
    """A safe single-component version of ``name`` (see ``name_problem``): unsafe characters
    become ``_``, only the last path component of a path is kept, too-long names are cut
    keeping the extension."""
    text = unicodedata.normalize("NFC", str(name))
    text = re.split(r"[/\\]", text)[-1]
    text = _UNSAFE_CHARS.sub("_", text).strip().rstrip(". ")
    if text in ("", ".", ".."):
        text = "file"
    if len(text.encode("utf-8")) > MAX_NAME_BYTES:
        stem, dot, ext = text.rpartition(".")
        ext = dot + ext if dot and 0 < len(ext) <= 16 else ""
        stem = text[: len(text) - len(ext)] if ext else text
        while len((stem + ext).encode("utf-8")) > MAX_NAME_BYTES:
            stem = stem[:-1]
        text = stem.rstrip(". ") + ext
    return text


def _unique(names: Sequence[str]) -> list[str]:
    # Case-insensitive: a package unpacked on Windows or macOS must not lose a file.
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        candidate, n = name, 1
        while candidate.casefold() in seen:
            n += 1
            stem, dot, ext = name.rpartition(".")
            if not (dot and stem):
                stem, ext = name, ""
            suffix = f"-{n}" + (f".{ext}" if ext else "")
            while len((stem + suffix).encode("utf-8")) > MAX_NAME_BYTES:
                stem = stem[:-1]
            candidate = stem + suffix
        seen.add(candidate.casefold())
        out.append(candidate)
    return out


# --- the manifest ----------------------------------------------------------------------------


def build_manifest(
    *,
    package_id: str,
    request_id: str,
    response_id: str | None,
    sender_node_id: str,
    sender_name: str,
    created: datetime,
    files: Sequence[Mapping[str, Any]],
    conditions: Mapping[str, Any] | None = None,
    custody: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The manifest of an evidence package, JSON-safe and ready to sign.

    Each file is ``{name, sha256, size, media_type?, description?}``; names are sanitised
    (``sanitise_name``) and made unique (``report.pdf``, ``report-2.pdf``), in the given
    order, so ``result["files"][i]`` describes ``files[i]``. Raises ``InvalidInput`` naming
    the field (``files[2].sha256``) on a malformed entry.
    """
    check_token(package_id, "package_id")
    check_token(request_id, "request_id")
    if response_id is not None:
        check_token(response_id, "response_id")
    check_token(sender_node_id, "sender_node_id")
    if not isinstance(sender_name, str) or not sender_name.strip():
        raise invalid("sender_name", "is required")
    if not isinstance(created, datetime) or created.utcoffset() is None:
        raise invalid("created", "must be a timezone-aware datetime")
    if not isinstance(files, Sequence) or isinstance(files, str | bytes):
        raise invalid("files", "must be a list of files")
    if len(files) > MAX_FILES:
        raise invalid("files", f"at most {MAX_FILES} files in one package")
    entries: list[dict[str, Any]] = []
    for i, f in enumerate(files):
        where = f"files[{i}]"
        if not isinstance(f, Mapping):
            raise invalid(where, "must be an object")
        name = f.get("name")
        if not isinstance(name, str) or not name.strip():
            raise invalid(f"{where}.name", "is required")
        sha = f.get("sha256")
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise invalid(f"{where}.sha256", "must be 64 lower-case hex digits")
        size = f.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise invalid(f"{where}.size", "must be a whole number of bytes, zero or more")
        media_type = f.get("media_type") or "application/octet-stream"
        if not isinstance(media_type, str) or not _MEDIA_TYPE.fullmatch(media_type):
            raise invalid(f"{where}.media_type", "must be a media type like application/pdf")
        description = f.get("description") or ""
        if not isinstance(description, str):
            raise invalid(f"{where}.description", "must be text")
        entries.append({"name": sanitise_name(name), "sha256": sha, "size": size,
                        "media_type": media_type.lower(), "description": description})
    for entry, unique in zip(entries, _unique([e["name"] for e in entries]), strict=True):
        entry["name"] = unique
    if conditions is not None and not isinstance(conditions, Mapping):
        raise invalid("conditions", "must be an object")
    if custody is not None and (
        not isinstance(custody, Sequence) or not all(isinstance(c, Mapping) for c in custody)
    ):
        raise invalid("custody", "must be a list of objects")
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "package_id": package_id,
        "request_id": request_id,
        "response_id": response_id,
        "sender": {"node_id": sender_node_id, "name": sender_name.strip()},
        "created": format_rfc3339(created),
        "files": entries,
        "conditions": dict(conditions) if conditions is not None else None,
        "custody": [dict(c) for c in custody] if custody is not None else [],
    }
    canonical_json(manifest, "manifest")  # fails here, naming the manifest, not at signing
    return manifest


def sign_manifest(manifest: Mapping[str, Any], private_key: Ed25519PrivateKey, key_id: str) -> JWS:
    """The manifest as a flattened JWS (``typ`` ``hanoi-evidence-manifest+json``)."""
    return sign_object(manifest, typ=TYP_MANIFEST, private_key=private_key, key_id=key_id)


# --- writing a package -----------------------------------------------------------------------


def write_package(
    out_path: Path | str,
    signed_manifest: Mapping[str, str],
    public_key: PublicKeyRecord | Ed25519PublicKey | str,
    key_id: str,
    open_blob: Callable[[str], BinaryIO],
) -> Path:
    """Write the evidence package zip to ``out_path`` (atomically: complete or absent).

    ``public_key`` is the signing key (a ``PublicKeyRecord``, a key object or any form
    ``parse_public_key`` reads); the manifest must verify under it, so a package that would
    fail verification is never written. ``open_blob(sha256)`` opens each file's bytes; a blob
    whose digest or size differs from the manifest raises ``InvalidInput`` (field
    ``files[i]``) and nothing is written.
    """
    out = Path(out_path)
    signed = _read_manifest_jws(json.dumps(dict(signed_manifest)).encode("utf-8"))
    if signed.kid != key_id:
        raise invalid("key_id", f"the manifest is signed with key {signed.kid!r}, not {key_id!r}")
    key = _as_public_key(public_key)
    try:
        verify_signed(signed, [PublicKeyRecord.of(signed.kid, key)], _ANY_TIME)
    except Rejection:
        raise invalid(
            "public_key", "the manifest's signature does not verify under this key"
        ) from None
    files = _listed_files(signed.payload)
    if isinstance(files, str):
        raise invalid("manifest", files)
    sender = signed.payload.get("sender") or {}
    signer = {
        "node_id": sender.get("node_id"),
        "name": sender.get("name"),
        "kid": key_id,
        "public_key": public_key_b64(key),
        "fingerprint": fingerprint(key),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".package-", suffix=".zip", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            zf.writestr(MANIFEST_NAME, json.dumps(dict(signed.jws), indent=2) + "\n")
            zf.writestr(SIGNER_NAME, json.dumps(signer, indent=2, ensure_ascii=False) + "\n")
            zf.writestr(README_NAME, _readme(signed.payload, signer))
            zf.writestr(SUMS_NAME, _sums(files))
            for i, f in enumerate(files):
                _copy_blob(zf, f, open_blob, f"files[{i}]")
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return out


def _copy_blob(
    zf: zipfile.ZipFile, f: Mapping[str, Any], open_blob: Callable[[str], BinaryIO], where: str
) -> None:
    h = hashlib.sha256()
    size = 0
    member = FILES_DIR + f["name"]
    with open_blob(f["sha256"]) as src, zf.open(member, "w", force_zip64=True) as dst:
        while chunk := src.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
            dst.write(chunk)
    if h.hexdigest() != f["sha256"] or size != f["size"]:
        raise invalid(where, f"the stored bytes of {f['name']!r} do not match the manifest "
                      "(digest or size): the evidence store is damaged")


def _sums(files: Sequence[Mapping[str, Any]]) -> str:
    return "".join(f"{f['sha256']}  {FILES_DIR}{f['name']}\n" for f in files)


def _readme(manifest: Mapping[str, Any], signer: Mapping[str, Any]) -> str:
    sender = manifest.get("sender") or {}
    return f"""Hanoi Exchange evidence package
===============================

Package:   {manifest.get("package_id")}
Request:   {manifest.get("request_id")}
Response:  {manifest.get("response_id") or "-"}
Sender:    {sender.get("name")} ({sender.get("node_id")})
Created:   {manifest.get("created")}
Files:     {len(manifest.get("files") or [])}
Signed by key {signer["kid"]}, fingerprint {signer["fingerprint"]}

Contents
--------
{MANIFEST_NAME}  the manifest, a JWS (JSON serialisation, Ed25519) signed by the sender's
                   node key: every file's name, SHA-256, size, media type and description,
                   the conditions attached to the evidence and its chain of custody.
{SIGNER_NAME}        the signer's node, key id, public key (base64url) and fingerprint.
{SUMS_NAME}         the same digests, for checking by hand.
files/             the evidence files.

How to verify
-------------
1. Confirm the fingerprint above with the sender through another channel (telephone, the
   central authority's published key). This file and {SIGNER_NAME} are not signed: only a
   fingerprint confirmed out of band proves who signed.
2. With Hanoi Exchange, offline:
       hanoi evidence verify PACKAGE.zip --key SENDER_PUBLIC_KEY
   It checks the signature, every file's SHA-256 and size, and that no file was added,
   and names any file that fails.
3. By hand: unzip the package, then `sha256sum -c {SUMS_NAME}` in its folder checks the
   files; verify the JWS in {MANIFEST_NAME} with any JOSE library (alg Ed25519, the key in
   {SIGNER_NAME}) and compare its file list with {SUMS_NAME}.
"""


# --- verifying a package ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileCheck:
    """The result for one file of a package: ``files/<name>``, ok or the reason it failed."""

    path: str
    ok: bool
    reason: str = ""
    sha256: str | None = None
    size: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "ok": self.ok, "reason": self.reason,
                "sha256": self.sha256, "size": self.size}


@dataclass(frozen=True, slots=True)
class PackageReport:
    """What ``verify_package`` found. ``ok`` only if the signature holds, every listed file is
    present and intact, nothing unlisted is present and no package-level problem was found."""

    files: list[FileCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    signature_ok: bool = False
    signer_fingerprint: str | None = None
    signer_node_id: str | None = None
    signer_name: str | None = None
    key_id: str | None = None
    manifest: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.signature_ok and not self.problems and all(f.ok for f in self.files)

    @property
    def failed_files(self) -> list[FileCheck]:
        return [f for f in self.files if not f.ok]

    def summary(self) -> str:
        """One line: ``package ok: ...`` or ``package FAILED: ...``."""
        if self.ok:
            return (f"package ok: {len(self.files)} files, signed by {self.signer_fingerprint} "
                    f"({self.signer_node_id})")
        reasons = list(self.problems)
        failed = self.failed_files
        if failed:
            reasons.append(f"{len(failed)} of {len(self.files)} files failed")
        return "package FAILED: " + "; ".join(reasons or ["signature not verified"])

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "signature_ok": self.signature_ok,
            "signer": {"fingerprint": self.signer_fingerprint, "node_id": self.signer_node_id,
                       "name": self.signer_name, "kid": self.key_id},
            "problems": list(self.problems),
            "files": [f.as_dict() for f in self.files],
            "manifest": self.manifest,
        }


def verify_package(
    path: Path | str,
    *,
    expected_key_b64: str | None = None,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    max_entries: int = MAX_FILES + len(_META) + 1,
) -> PackageReport:
    """Check an evidence package offline and report every failure.

    With ``expected_key_b64`` (the sender's key, obtained out of band) the signature is
    checked against that key, and a ``signer.json`` naming another key is a failure; without
    it the key in ``signer.json`` is used and the report's fingerprint is what a person must
    confirm. Raises ``InvalidInput`` (field ``package``) only when ``path`` is not a zip or
    has no manifest at all, or (field ``key``) when ``expected_key_b64`` is not a key.
    """
    expected = parse_public_key(expected_key_b64) if expected_key_b64 is not None else None
    if not Path(path).is_file():
        raise invalid("package", f"no such file: {path}")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise invalid("package", f"not a zip archive ({exc})") from None
    with zf:
        return _verify(zf, expected, max_total_bytes, max_entries)


def _verify(
    zf: zipfile.ZipFile,
    expected: Ed25519PublicKey | None,
    max_total_bytes: int,
    max_entries: int,
) -> PackageReport:
    problems: list[str] = []
    infos = zf.infolist()
    names = [i.filename for i in infos]
    if MANIFEST_NAME not in names:
        raise invalid("package", f"not an evidence package (it has no {MANIFEST_NAME})")
    # Archive sanity first: it decides whether anything else may be read at all.
    if len(infos) > max_entries:
        problems.append(
            f"the archive has {len(infos)} entries, more than the {max_entries} allowed"
        )
        return PackageReport(problems=problems)
    total = sum(i.file_size for i in infos)
    if total > max_total_bytes:
        problems.append(f"the archive unpacks to {total} bytes, more than the {max_total_bytes} "
                        "allowed (possible zip bomb)")
        return PackageReport(problems=problems)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        # Two entries with one name: tools disagree about which is "the" file.
        problems.append(f"the archive has duplicate entries: {', '.join(dupes)}")
    unsafe = [n for n in names if _entry_problem(n)]
    for n in unsafe:
        problems.append(f"unsafe entry name {n!r}: {_entry_problem(n)}")
    encrypted = [i.filename for i in infos if i.flag_bits & 0x1]
    if encrypted:
        problems.append(f"encrypted entries cannot be checked: {', '.join(encrypted)}")

    # The manifest and its signature.
    raw = _read_member(zf, MANIFEST_NAME, MAX_MANIFEST_BYTES)
    signed: SignedObject | None = None
    if isinstance(raw, str):
        problems.append(f"{MANIFEST_NAME}: {raw}")
    else:
        try:
            signed = _read_manifest_jws(raw)
        except InvalidInput as exc:
            problems.append(f"{MANIFEST_NAME}: {exc.problems[0].message}")
    signer, key, signer_problems = _read_signer(zf, expected)
    problems += signer_problems
    signature_ok = False
    if signed is not None and key is not None:
        try:
            verify_signed(signed, [PublicKeyRecord.of(signed.kid, key)], _ANY_TIME)
            signature_ok = True
        except Rejection:
            problems.append("the manifest's signature does not verify: it was altered, or "
                            "signed by another key")
        if signer and signer.get("kid") != signed.kid:
            problems.append(f"{SIGNER_NAME} names key {signer.get('kid')!r} but the manifest "
                            f"was signed with {signed.kid!r}")
    manifest = signed.payload if signed is not None else None
    sender = manifest.get("sender") if manifest else None
    node_id = sender.get("node_id") if isinstance(sender, Mapping) else None
    node_name = sender.get("name") if isinstance(sender, Mapping) else None
    if signer and manifest and (signer.get("node_id"), signer.get("name")) != (node_id, node_name):
        problems.append(f"{SIGNER_NAME} names sender {signer.get('node_id')!r} but the signed "
                        f"manifest names {node_id!r}")

    # The files.
    listed = _listed_files(manifest) if manifest is not None else "no readable manifest"
    checks: list[FileCheck] = []
    if isinstance(listed, str):
        problems.append(f"the file list cannot be read: {listed}")
        listed = []
    present = {i.filename: i for i in infos}
    for f in listed:
        member = FILES_DIR + f["name"]
        checks.append(_check_file(zf, present.get(member), member, f))
    expected_members = {FILES_DIR + f["name"] for f in listed} | _META | {FILES_DIR}
    for n in sorted(set(names) - expected_members):
        checks.append(FileCheck(n, False, "not listed in the manifest (added after signing)"))
    if SUMS_NAME in present and listed:
        sums = _read_member(zf, SUMS_NAME, MAX_MANIFEST_BYTES)
        if isinstance(sums, bytes) and sums != _sums(listed).encode("utf-8"):
            problems.append(f"{SUMS_NAME} does not match the signed manifest")
    return PackageReport(
        files=checks,
        problems=problems,
        signature_ok=signature_ok,
        signer_fingerprint=fingerprint(key) if key is not None else None,
        signer_node_id=node_id if isinstance(node_id, str) else None,
        signer_name=node_name if isinstance(node_name, str) else None,
        key_id=signed.kid if signed is not None else None,
        manifest=manifest,
    )


def _check_file(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo | None, member: str, f: Mapping[str, Any]
) -> FileCheck:
    if info is None:
        return FileCheck(member, False, "missing from the package", f["sha256"], f["size"])
    if info.file_size != f["size"]:
        return FileCheck(member, False, f"size mismatch: listed {f['size']} bytes, the archive "
                         f"holds {info.file_size}", f["sha256"], f["size"])
    h = hashlib.sha256()
    size = 0
    try:
        with zf.open(info) as src:
            while chunk := src.read(CHUNK):
                h.update(chunk)
                size += len(chunk)
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError, NotImplementedError) as exc:
        return FileCheck(member, False, f"damaged in the archive ({exc})", f["sha256"], f["size"])
    if size != f["size"]:
        return FileCheck(member, False, f"size mismatch: listed {f['size']} bytes, found {size}",
                         f["sha256"], f["size"])
    if h.hexdigest() != f["sha256"]:
        return FileCheck(member, False, f"digest mismatch: listed sha256 {f['sha256']}, "
                         f"found {h.hexdigest()}", f["sha256"], f["size"])
    return FileCheck(member, True, "", f["sha256"], f["size"])


def _entry_problem(name: str) -> str | None:
    """Why an archive entry's name is unsafe (None when it is not)."""
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        return "an absolute path"
    if "\\" in name or any(p in ("..", ".") for p in name.split("/")):
        return "a path that climbs out of the package"
    if name.startswith(FILES_DIR) and name != FILES_DIR:
        rest = name[len(FILES_DIR):]
        if "/" in rest:
            return "nested folders are not part of a package"
        return name_problem(rest)
    return None  # any other name is reported as unlisted


def _read_member(zf: zipfile.ZipFile, name: str, limit: int) -> bytes | str:
    """The bytes of a small member, or why it cannot be read."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        return "missing"
    if info.file_size > limit:
        return f"{info.file_size} bytes, more than the {limit} allowed"
    try:
        with zf.open(info) as src:
            return src.read(limit + 1)[: limit + 1]
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError, NotImplementedError) as exc:
        return f"damaged in the archive ({exc})"


def _read_manifest_jws(raw: bytes) -> SignedObject:
    try:
        return read_signed(raw, typ=TYP_MANIFEST, max_bytes=MAX_MANIFEST_BYTES)
    except Rejection as exc:
        raise invalid("manifest", f"not a signed evidence manifest ({exc.detail})") from None


def _read_signer(
    zf: zipfile.ZipFile, expected: Ed25519PublicKey | None
) -> tuple[dict[str, Any] | None, Ed25519PublicKey | None, list[str]]:
    """signer.json, the key to verify with, and the problems found with either."""
    problems: list[str] = []
    signer: dict[str, Any] | None = None
    claimed: Ed25519PublicKey | None = None
    raw = _read_member(zf, SIGNER_NAME, MAX_META_BYTES)
    if isinstance(raw, str):
        problems.append(f"{SIGNER_NAME}: {raw}")
    else:
        try:
            data = json.loads(raw.decode("utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            signer = data
            claimed = parse_public_key(str(data.get("public_key", "")))
            if data.get("fingerprint") != fingerprint(claimed):
                problems.append(f"{SIGNER_NAME}: the fingerprint does not match its key")
        except (ValueError, UnicodeDecodeError, InvalidInput) as exc:
            problems.append(f"{SIGNER_NAME}: unreadable ({exc})")
    if expected is None:
        return signer, claimed, problems
    if claimed is not None and public_key_b64(claimed) != public_key_b64(expected):
        problems.append(f"signed by key {fingerprint(claimed)}, not the expected key "
                        f"{fingerprint(expected)}")
    return signer, expected, problems


def _listed_files(manifest: Mapping[str, Any]) -> list[dict[str, Any]] | str:
    """The manifest's file list, checked; a string saying what is wrong otherwise."""
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        return f"not a {FORMAT} version {VERSION} manifest"
    files = manifest.get("files")
    if not isinstance(files, list):
        return "files is not a list"
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, f in enumerate(files):
        if not isinstance(f, dict):
            return f"files[{i}] is not an object"
        name, sha, size = f.get("name"), f.get("sha256"), f.get("size")
        bad = name_problem(name)
        if bad:
            return f"files[{i}] has an unsafe name {name!r}: {bad}"
        assert isinstance(name, str)
        if name.casefold() in seen:
            return f"the name {name!r} is listed twice"
        seen.add(name.casefold())
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            return f"files[{i}] has no valid sha256"
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            return f"files[{i}] has no valid size"
        out.append(dict(f))
    return out


def _as_public_key(value: PublicKeyRecord | Ed25519PublicKey | str) -> Ed25519PublicKey:
    if isinstance(value, PublicKeyRecord):
        return value.public_key
    if isinstance(value, Ed25519PublicKey):
        return value
    return parse_public_key(value)


# The keys in a package carry no validity window: any instant checks the signature alone.
_ANY_TIME = datetime(2000, 1, 1, tzinfo=UTC)

__all__ = [
    "TYP_MANIFEST",
    "FileCheck",
    "PackageReport",
    "build_manifest",
    "name_problem",
    "sanitise_name",
    "sign_manifest",
    "verify_package",
    "write_package",
]
