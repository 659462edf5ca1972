"""Content-addressed storage for evidence files: each file lives under its SHA-256.

``BlobStore.put_stream`` copies a stream to a temporary file in the store while hashing it,
in fixed-size chunks (constant memory whatever the size), and refuses with ``TooLarge`` as soon
as more than ``max_bytes`` arrive, removing the partial file. A complete file is renamed
atomically to ``root/sha256/ab/cd/<hex>``: a reader never sees half a file, and storing the same
content twice keeps one copy. Files are 0600 and folders 0700: evidence is for this node only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from hanoi.core.errors import NotFound, TooLarge, invalid

CHUNK = 1024 * 1024
_HEX = re.compile(r"[0-9a-f]{64}")
_FILE_MODE = 0o600
_DIR_MODE = 0o700


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """A stored file: its SHA-256 (lower-case hex) and size in bytes."""

    sha256: str
    size: int


def check_sha256(value: object, field_name: str = "sha256") -> str:
    """``value`` if it is 64 lower-case hex digits; ``InvalidInput`` otherwise."""
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise invalid(field_name, "must be a SHA-256 digest: 64 lower-case hex digits")
    return value


class BlobStore:
    """Files addressed by their SHA-256 under ``root``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._base = self.root / "sha256"

    def path(self, sha256: str) -> Path:
        """Where the file with this digest is (or would be) stored."""
        check_sha256(sha256)
        return self._base / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        """The stored file for reading; ``NotFound`` if it is not in the store."""
        try:
            return self.path(sha256).open("rb")
        except FileNotFoundError:
            raise NotFound(f"no stored file with SHA-256 {sha256}", "sha256") from None

    def verify(self, sha256: str) -> bool:
        """True when the stored file still hashes to its name (False if missing or altered)."""
        try:
            with self.open(sha256) as f:
                return _hash_stream(f)[0] == sha256
        except NotFound:
            return False

    def put_stream(self, fileobj: BinaryIO, *, max_bytes: int) -> BlobInfo:
        """Store everything read from ``fileobj``; at most ``max_bytes`` bytes.

        Raises ``TooLarge`` (field ``file``) once the stream goes past the limit, leaving no
        file behind. Storing content already present returns the same ``BlobInfo``.
        """
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise invalid("max_bytes", "must be a whole number of bytes, zero or more")
        self._ensure_dir(self._base)
        fd, tmp_name = tempfile.mkstemp(prefix=".incoming-", dir=self._base)
        tmp = Path(tmp_name)
        try:
            h = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as out:
                while True:
                    # Read one byte past the limit at most, so a huge stream is never read whole.
                    chunk = fileobj.read(min(CHUNK, max_bytes - size + 1))
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(
                            f"the file is larger than the {max_bytes} bytes accepted", "file"
                        )
                    h.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            digest = h.hexdigest()
            final = self.path(digest)
            self._ensure_dir(final.parent)
            if final.is_file():
                tmp.unlink()
            else:
                os.chmod(tmp, _FILE_MODE)
                os.replace(tmp, final)
            return BlobInfo(digest, size)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

    def _ensure_dir(self, path: Path) -> None:
        # Create each missing level with 0700 (mkdir's mode is masked by the umask: chmod).
        missing = []
        p = path
        while not p.is_dir():
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            with contextlib.suppress(FileExistsError):
                d.mkdir(mode=_DIR_MODE)
                os.chmod(d, _DIR_MODE)


def _hash_stream(f: BinaryIO) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    while chunk := f.read(CHUNK):
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size
