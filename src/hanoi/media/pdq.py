"""Hashing media on the device: PDQ (with its 8 dihedral variants) for images, MD5 and SHA-256
for every file.

Only hashes leave the device, never the image. PDQ uses the ``pdqhash`` binding of Meta's C++
reference on the pixels Pillow decodes, converted to RGB: the same pipeline the reference
fixtures were made with, so the hashes are bit-identical to them. EXIF orientation is *not*
applied (the reference does not either); rotated copies are found through the dihedral hashes.

Bad input fails early with a clear ``InvalidInput``: a file that is not an image, a truncated
image, or one whose header declares more pixels than ``max_pixels`` (a decompression bomb: a
few kilobytes that would expand to gigabytes) is refused before its pixels are decoded.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, Literal

import numpy as np
import pdqhash
from PIL import Image, UnidentifiedImageError

from hanoi.core.errors import invalid

MediaKind = Literal["image", "video", "other"]

#: Default ceiling on decoded pixels (50 megapixels: larger than any camera photo a hotline
#: receives, and ~150 MB as RGB). Pillow's own bomb limit is ~179 Mpx; ours is stricter.
MAX_PIXELS: Final = 50_000_000
_CHUNK: Final = 1 << 20

#: Order of ``PdqResult.dihedral``, as the reference computes them.
DIHEDRAL_NAMES: Final = (
    "original",
    "rotate-90",
    "rotate-180",
    "rotate-270",
    "flip-x",
    "flip-y",
    "flip-plus-1",
    "flip-minus-1",
)


@dataclass(frozen=True, slots=True)
class PdqResult:
    """A PDQ hash (64 hex digits), its quality (0-100) and, if asked, the 8 dihedral hashes
    (in ``DIHEDRAL_NAMES`` order; the first equals ``hash``)."""

    hash: str
    quality: int
    dihedral: tuple[str, ...] | None = None

    def hashes(self) -> tuple[str, ...]:
        """The hashes to query with: the 8 dihedral ones if computed, else just ``hash``."""
        return self.dihedral if self.dihedral is not None else (self.hash,)


@dataclass(frozen=True, slots=True)
class Digests:
    md5: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class FileHashes:
    """Everything the device computes for one file. ``pdq`` is set for images only."""

    kind: MediaKind
    md5: str
    sha256: str
    size: int
    pdq: PdqResult | None = None


# --- digests ---------------------------------------------------------------------------------


def digests_of_chunks(chunks: Iterable[bytes]) -> Digests:
    """MD5 and SHA-256 of a byte stream given as chunks (one pass, constant memory)."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.sha256()
    size = 0
    for chunk in chunks:
        md5.update(chunk)
        sha.update(chunk)
        size += len(chunk)
    return Digests(md5.hexdigest(), sha.hexdigest(), size)


def digests_of_stream(stream: BinaryIO) -> Digests:
    """MD5 and SHA-256 of everything left in ``stream``, read in 1 MiB chunks."""
    return digests_of_chunks(iter(lambda: stream.read(_CHUNK), b""))


def digests_of_path(path: str | os.PathLike[str]) -> Digests:
    """MD5 and SHA-256 of a file of any kind and size (streamed, never loaded whole)."""
    with open(path, "rb") as f:
        return digests_of_stream(f)


# --- kind detection --------------------------------------------------------------------------

_IMAGE_BRANDS: Final = frozenset({b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif"})


def detect_kind(head: bytes) -> MediaKind:
    """Guess image / video / other from the first bytes of a file (at least 16 are needed).

    By magic numbers, not file names: a renamed file is still recognised.
    """
    if head.startswith(
        (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00",
         b"MM\x00*", b"\x00\x00\x01\x00")
    ) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if head[4:8] == b"ftyp":  # ISO base media: MP4, MOV, 3GP, M4V ... and HEIF/AVIF stills
        return "image" if head[8:12] in _IMAGE_BRANDS else "video"
    if (
        head.startswith((b"\x1a\x45\xdf\xa3", b"FLV", b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3",
                         b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"))
        or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")
        or (head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"))  # old QuickTime
        or (len(head) > 188 and head[0] == 0x47 and head[188] == 0x47)  # MPEG transport stream
    ):
        return "video"
    return "other"


# --- PDQ -------------------------------------------------------------------------------------


def _bits_to_hex(bits: np.ndarray) -> str:
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def pdq_from_image(image: Image.Image, *, dihedral: bool = False) -> PdqResult:
    """PDQ of an already decoded Pillow image (converted to RGB, as the reference does)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    pixels = np.asarray(rgb)
    if pixels.ndim != 3 or pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise invalid("file", "the image has no pixels")
    if dihedral:
        vectors, quality = pdqhash.compute_dihedral(pixels)
        hexes = tuple(_bits_to_hex(v) for v in vectors)
        return PdqResult(hexes[0], int(quality), hexes)
    vector, quality = pdqhash.compute(pixels)
    return PdqResult(_bits_to_hex(vector), int(quality))


def _open_image(source: BinaryIO, max_pixels: int, field: str) -> Image.Image:
    """Open and fully decode an image, refusing non-images, bombs and truncated files."""
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice it; we refuse on our own limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(source)
    except UnidentifiedImageError:
        raise invalid(
            field, "not an image Pillow can decode (unknown or unsupported format)"
        ) from None
    except Image.DecompressionBombError as e:
        raise invalid(field, f"image refused as a decompression bomb: {e}") from None
    except OSError as e:
        raise invalid(field, f"cannot read the image: {e}") from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise invalid(
            field,
            f"image of {width}x{height} = {width * height:,} pixels exceeds the limit of "
            f"{max_pixels:,} (possible decompression bomb); refused before decoding",
        )
    if width == 0 or height == 0:
        raise invalid(field, "the image has no pixels")
    try:
        image.load()  # decode now so truncation is reported here, not as a wrong hash
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        msg = str(e) or type(e).__name__
        if "truncated" in msg.lower() or isinstance(e, EOFError):
            raise invalid(field, f"the image file is truncated or damaged: {msg}") from None
        raise invalid(field, f"cannot decode the image: {msg}") from None
    return image


def pdq_from_bytes(
    data: bytes, *, dihedral: bool = False, max_pixels: int = MAX_PIXELS, field: str = "file"
) -> PdqResult:
    """PDQ of an image file's bytes (JPEG, PNG, GIF, WebP, BMP, TIFF ...)."""
    with _open_image(io.BytesIO(data), max_pixels, field) as image:
        return pdq_from_image(image, dihedral=dihedral)


def pdq_from_path(
    path: str | os.PathLike[str],
    *,
    dihedral: bool = False,
    max_pixels: int = MAX_PIXELS,
    field: str = "file",
) -> PdqResult:
    """PDQ of an image file on disk."""
    with open(path, "rb") as f, _open_image(f, max_pixels, field) as image:
        return pdq_from_image(image, dihedral=dihedral)


def hash_bytes(
    data: bytes, *, dihedral: bool = False, max_pixels: int = MAX_PIXELS, field: str = "file"
) -> FileHashes:
    """Digests of any file, plus PDQ if it is an image (non-images get digests only)."""
    if not data:
        raise invalid(field, "the file is empty")
    d = digests_of_chunks([data])
    kind = detect_kind(data[:256])
    pdq = None
    if kind == "image":
        pdq = pdq_from_bytes(data, dihedral=dihedral, max_pixels=max_pixels, field=field)
    return FileHashes(kind, d.md5, d.sha256, d.size, pdq)


def hash_path(
    path: str | os.PathLike[str],
    *,
    dihedral: bool = False,
    max_pixels: int = MAX_PIXELS,
    field: str = "file",
) -> FileHashes:
    """Digests of any file (streamed: a multi-gigabyte video is fine), plus PDQ for images."""
    p = Path(path)
    if not p.is_file():
        raise invalid(field, f"no such file: {p}")
    with open(p, "rb") as f:
        head = f.read(256)
    if not head:
        raise invalid(field, "the file is empty")
    kind = detect_kind(head)
    d = digests_of_path(p)
    pdq = None
    if kind == "image":
        pdq = pdq_from_path(p, dihedral=dihedral, max_pixels=max_pixels, field=field)
    return FileHashes(kind, d.md5, d.sha256, d.size, pdq)
