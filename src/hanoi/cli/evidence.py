"""``hanoi evidence``: attach files, export signed packages (verify lives beside them)."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Annotated

import typer

from hanoi.cli.common import JsonFlag, actor, console, open_node, print_json, progress
from hanoi.cli.evidence_verify import app
from hanoi.core.errors import InvalidInput, Problem
from hanoi.requests import custody

RequestId = Annotated[str, typer.Argument(help="The request's id, e.g. FR-2026-1a2b3c4d")]

@app.command("add")
def add(
    request_id: RequestId,
    file: Annotated[Path, typer.Argument(help="The file to attach")],
    description: Annotated[str, typer.Option(help="What the file holds")] = "",
    media_type: Annotated[str | None, typer.Option(help="Default: guessed from the name")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Attach a file to a request (stored by SHA-256; the handling is ledgered)."""
    if not file.is_file():
        raise InvalidInput(f"{file} is not a readable file", [Problem("file", "not found")])
    guessed = media_type or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    with file.open("rb") as fh:
        rec = custody.add(open_node(), actor(), request_id, name=file.name, stream=fh, media_type=guessed,
                           description=description)
    if as_json:
        print_json(rec)
    else:
        console.print(f"attached {rec['name']} to {request_id}: sha256 {rec['sha256']} ({rec['size']} bytes)")


@app.command("export")
def export(
    request_id: RequestId,
    output: Annotated[Path, typer.Option("-o", "--output", help="The package to write (.zip)")],
    received: Annotated[bool, typer.Option("--received", help="The package the partner sent, signed by it")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Write a signed evidence package for a request (ours, or with --received the partner's)."""
    with progress("writing the package", as_json=as_json):
        out = (custody.export_received if received else custody.export)(open_node(), actor(), request_id,
                                                                          output)
    if as_json:
        print_json(out)
    elif received:
        console.print(f"wrote {out['path']}: {out['files']} file(s) from {out['signer']}, "
                      f"signed by {out['signer_fingerprint']}")
    else:
        console.print(f"wrote {out['path']}: {out['files']} file(s), package {out['package_id']}, "
                      f"signed by {out['signer_fingerprint']}")
