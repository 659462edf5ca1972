"""Where the tests' reference data lives: shipped under ``tests/fixtures`` so that every clone
runs every test (nothing depends on a folder beside the project)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
PDQ_FIXTURES = FIXTURES / "pdq"
PDQ_ORIGINAL = PDQ_FIXTURES / "bridge-mods" / "aaa-orig.jpg"

# The eight symmetries of the square, named as the reference set's dih/ files (its rotations are
# counter-clockwise, its flipx mirrors top and bottom); expected.tsv holds their reference hashes.
DIHEDRAL = ("1-original", "2-rotate-90", "3-rotate-180", "4-rotate-270", "5-flipx", "6-flipy",
            "7-flip-plus-1", "8-flip-minus-1")


def dihedral_variants(folder: Path) -> list[Path]:
    """The original photo and its seven rotations and flips as JPEG files in ``folder`` (made,
    not shipped: the reference set's 2.9 MB of them would be most of the fixtures).

    Pillow's transposes are lossless; each result is re-encoded as JPEG (quality 95, as photo
    editors save), so a variant's PDQ hash is near, not equal to, the original's matching
    dihedral hash, as with the reference files. Sorted by name, the original comes first."""
    from PIL import Image

    transpose = Image.Transpose
    ops = (None, transpose.ROTATE_90, transpose.ROTATE_180, transpose.ROTATE_270,
           transpose.FLIP_TOP_BOTTOM, transpose.FLIP_LEFT_RIGHT, transpose.TRANSPOSE,
           transpose.TRANSVERSE)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    with Image.open(PDQ_ORIGINAL) as im:
        rgb = im.convert("RGB")
        for name, op in zip(DIHEDRAL, ops, strict=True):
            path = folder / f"bridge-{name}.jpg"
            if op is None:
                path.write_bytes(PDQ_ORIGINAL.read_bytes())
            else:
                rgb.transpose(op).save(path, "JPEG", quality=95)
            out.append(path)
    return out
