"""The content-addressed blob store: streaming puts, size limits, integrity checks."""

from __future__ import annotations

import hashlib
import io
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanoi.core.errors import InvalidInput, NotFound, TooLarge
from hanoi.store.blobs import BlobInfo, BlobStore


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


class CountingReader(io.RawIOBase):
    """An endless stream that counts how much was read from it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        n = len(buffer)
        buffer[:n] = b"x" * n
        self.read_bytes += n
        return n


def test_round_trip_stores_under_digest(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = b"subscriber,ip\nalice,192.0.2.1\n"
    info = store.put_stream(io.BytesIO(data), max_bytes=1000)
    digest = hashlib.sha256(data).hexdigest()
    assert info == BlobInfo(digest, len(data))
    assert store.path(digest) == tmp_path / "sha256" / digest[:2] / digest[2:4] / digest
    assert store.exists(digest)
    with store.open(digest) as f:
        assert f.read() == data
    assert store.verify(digest)
    assert all_files(tmp_path) == [store.path(digest)]


def test_same_content_twice_keeps_one_copy(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    a = store.put_stream(io.BytesIO(b"same"), max_bytes=10)
    b = store.put_stream(io.BytesIO(b"same"), max_bytes=10)
    assert a == b
    assert len(all_files(tmp_path)) == 1


def test_exactly_max_bytes_is_accepted(tmp_path: Path) -> None:
    info = BlobStore(tmp_path).put_stream(io.BytesIO(b"12345"), max_bytes=5)
    assert info.size == 5


def test_oversize_upload_refused_and_leaves_nothing(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    with pytest.raises(TooLarge) as exc:
        store.put_stream(io.BytesIO(b"123456"), max_bytes=5)
    assert exc.value.problems[0].field == "file"
    assert exc.value.status == 413
    assert all_files(tmp_path) == []
    assert not store.exists(hashlib.sha256(b"123456").hexdigest())


def test_oversize_stream_is_not_read_to_the_end(tmp_path: Path) -> None:
    # An endless stream: the store must stop soon after the limit, not read it all.
    stream = CountingReader()
    with pytest.raises(TooLarge):
        BlobStore(tmp_path).put_stream(io.BufferedReader(stream), max_bytes=3 * 1024 * 1024)
    assert stream.read_bytes <= 5 * 1024 * 1024
    assert all_files(tmp_path) == []


def test_failed_read_leaves_nothing(tmp_path: Path) -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            raise OSError("connection reset")

    with pytest.raises(OSError):
        BlobStore(tmp_path).put_stream(Broken(), max_bytes=100)  # type: ignore[arg-type]
    assert all_files(tmp_path) == []


def test_permissions_are_private(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    store = BlobStore(root)
    info = store.put_stream(io.BytesIO(b"secret evidence"), max_bytes=100)
    assert stat.S_IMODE(store.path(info.sha256).stat().st_mode) == 0o600
    for d in (root, root / "sha256", store.path(info.sha256).parent):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700


def test_verify_detects_altered_file(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    info = store.put_stream(io.BytesIO(b"original"), max_bytes=100)
    store.path(info.sha256).write_bytes(b"altered!")
    assert not store.verify(info.sha256)


def test_missing_blob(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    digest = "0" * 64
    assert not store.exists(digest)
    assert not store.verify(digest)
    with pytest.raises(NotFound):
        store.open(digest)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "AB" * 32, "a" * 63, ""])
def test_bad_digest_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidInput):
        BlobStore(tmp_path).path(bad)


@settings(max_examples=25, deadline=None)
@given(data=st.binary(max_size=4096), limit=st.integers(min_value=0, max_value=4096))
def test_put_accepts_iff_within_limit(tmp_path_factory: pytest.TempPathFactory, data: bytes,
                                      limit: int) -> None:
    root = tmp_path_factory.mktemp("blobs")
    store = BlobStore(root)
    if len(data) <= limit:
        info = store.put_stream(io.BytesIO(data), max_bytes=limit)
        assert info.sha256 == hashlib.sha256(data).hexdigest()
        assert store.path(info.sha256).read_bytes() == data
    else:
        with pytest.raises(TooLarge):
            store.put_stream(io.BytesIO(data), max_bytes=limit)
        assert all_files(root) == []
