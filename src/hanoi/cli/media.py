"""``hanoi hash`` (hashing on the device) and ``hanoi media`` (hash lists, matching, feedback).

``hanoi hash`` reads files and prints hashes; it never sends anything anywhere. What it prints
(JSON lines, or CSV with ``--csv``) is what ``hanoi media submit`` and ``hanoi media match
--hashes`` read, so an image never has to reach the node.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from hanoi.cli.common import actor, console, err_console, open_node, print_json, read_input
from hanoi.core.bounds import BIGINT_MAX
from hanoi.core.errors import HanoiError, InvalidInput, Problem, invalid
from hanoi.core.nesting import check_json_depth

# Hashing (numpy, Pillow, pdqhash) and the media service are imported inside the commands that
# use them, so every other `hanoi` command starts without them.
MAX_BATCH = 10_000  # as services.media.MAX_BATCH (checked there)

app = typer.Typer(help="Media hash lists (NCII, CSAM): submit, distribute, withdraw, match, "
                       "feedback. Images never leave the device: use `hanoi hash`.",
                  no_args_is_help=True)

CSV_COLUMNS = ("path", "kind", "pdq", "quality", "md5", "sha256", "dihedral")
_HEX = frozenset("0123456789abcdefABCDEF")


# --- hashing on the device -------------------------------------------------------------------


def _files(paths: Sequence[Path]) -> tuple[list[tuple[Path, bool]], list[str]]:
    """Files to hash, each with whether it was named explicitly; and paths that do not exist."""
    out: list[tuple[Path, bool]] = []
    missing: list[str] = []
    for p in paths:
        if p.is_dir():
            out += [(f, False) for f in sorted(p.rglob("*"))
                    if f.is_file() and not any(part.startswith(".") for part in
                                               f.relative_to(p).parts)]
        elif p.is_file():
            out.append((p, True))
        else:
            missing.append(str(p))
    return out, missing


def _progress(total: int) -> Progress:
    return Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                    MofNCompleteColumn(), TimeRemainingColumn(), console=err_console,
                    transient=True, disable=not err_console.is_terminal or total < 2)


def hash_files(paths: Sequence[Path], *, dihedral: bool = False,
               max_pixels: int | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Hash files and folders (recursively): one record per image or video, and one message per
    file refused. Other files inside folders are skipped; named explicitly, they are refused."""
    from hanoi.media.pdq import MAX_PIXELS, detect_kind, hash_path

    limit = max_pixels or MAX_PIXELS
    files, missing = _files(paths)
    errors = [f"{m}: no such file or folder" for m in missing]
    records: list[dict[str, Any]] = []
    skipped = 0
    with _progress(len(files)) as progress:
        task = progress.add_task("hashing", total=len(files))
        for f, explicit in files:
            progress.advance(task)
            try:
                with open(f, "rb") as fh:
                    head = fh.read(256)
            except OSError as exc:
                errors.append(f"{f}: {exc.strerror}")
                continue
            kind = detect_kind(head) if head else "other"
            if kind == "other":
                if explicit:
                    errors.append(f"{f}: not an image or a video (empty, or an unknown format)")
                else:
                    skipped += 1
                continue
            try:
                h = hash_path(f, dihedral=dihedral, max_pixels=limit, field=str(f))
            except HanoiError as err:
                errors.append(f"{f}: " + "; ".join(p.message for p in err.problems)
                              if err.problems else f"{f}: {err.detail}")
                continue
            rec: dict[str, Any] = {
                "path": str(f), "kind": h.kind,
                "pdq": h.pdq.hash if h.pdq else None,
                "quality": h.pdq.quality if h.pdq else None,
                "md5": h.md5, "sha256": h.sha256,
            }
            if dihedral:
                rec["dihedral"] = list(h.pdq.dihedral) if h.pdq and h.pdq.dihedral else None
            records.append(rec)
    if skipped:
        err_console.print(f"skipped {skipped} file(s) that are neither images nor videos",
                          highlight=False)
    return records, errors


def write_records(records: Sequence[dict[str, Any]], out: Any, *, as_csv: bool) -> None:
    if not as_csv:
        for r in records:
            out.write(json.dumps(r, ensure_ascii=False) + "\n")
        return
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in records:
        w.writerow(["" if r.get(c) is None else
                    (" ".join(r[c]) if c == "dihedral" else r[c]) for c in CSV_COLUMNS])


def hash_command(
    paths: Annotated[list[Path], typer.Argument(help="Image or video files, or folders (recursive)")],
    dihedral: Annotated[bool, typer.Option("--dihedral", help="Also the 8 rotated / flipped PDQ hashes")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV instead of JSON lines")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file, not stdout")] = None,
    max_pixels: Annotated[int | None, typer.Option(help="Refuse images with more pixels (bombs); "
                                                        "default 50,000,000")] = None,
) -> None:
    """Hash images (PDQ + quality, MD5, SHA-256) and videos (MD5, SHA-256) on this device.

    Nothing is sent anywhere: only the output can be submitted (`hanoi media submit`) or
    matched (`hanoi media match --hashes`). Exit 1 if any file was refused.
    """
    records, errors = hash_files(paths, dihedral=dihedral, max_pixels=max_pixels)
    if output is not None:
        with open(output, "w", encoding="utf-8", newline="") as fh:
            write_records(records, fh, as_csv=as_csv)
    else:
        write_records(records, sys.stdout, as_csv=as_csv)
    for e in errors:
        err_console.print(f"[bold red]error:[/] {e}", highlight=False)
    if errors:
        raise typer.Exit(1)


# --- reading hash files ----------------------------------------------------------------------


def _none(v: Any) -> Any:
    return None if v in ("", None) else v


def _bare(line: str, algorithm: str | None, n: int) -> dict[str, Any]:
    algo, _, value = line.partition(":") if ":" in line else ("", "", line)
    algo = algo.strip().lower().replace("-", "") or (algorithm or "")
    value = value.strip()
    if not algo:
        if len(value) == 32:
            algo = "md5"
        else:
            raise invalid(f"line {n}", "a bare 64-digit hash may be PDQ or SHA-256: write "
                                       "pdq:<hex> / sha256:<hex>, or give --algorithm")
    return {"algorithm": algo, "value": value}


def read_hash_file(path: Path, algorithm: str | None = None) -> list[dict[str, Any]]:
    """Hash records from ``hanoi hash`` output (JSON lines or CSV), a JSON array of hash
    objects, or lines of ``algorithm:hex`` (``-`` reads standard input)."""
    try:
        text = read_input(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid("file", f"cannot read {path}: {exc}") from None
    stripped = text.lstrip()
    if not stripped:
        raise invalid("file", f"{path} holds no hashes")
    if stripped.startswith(("[", "{")):
        check_json_depth(stripped, "file")
    try:
        if stripped.startswith("["):
            data = json.loads(stripped)
            if not isinstance(data, list):
                raise ValueError("not a list")
            return data
        if stripped.startswith("{"):
            return [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError as exc:
        raise invalid("file", f"{path} is not valid JSON: {exc}") from None
    first = stripped.splitlines()[0]
    if "," in first and "path" in first.split(","):
        out = []
        for row in csv.DictReader(io.StringIO(stripped)):
            rec: dict[str, Any] = {k: _none(row.get(k)) for k in CSV_COLUMNS if k in row}
            if rec.get("quality") is not None:
                with contextlib.suppress(ValueError):  # if not, the service names the field
                    rec["quality"] = int(rec["quality"])
            if rec.get("dihedral"):
                rec["dihedral"] = rec["dihedral"].split()
            out.append(rec)
        return out
    return [_bare(line.strip(), algorithm, n) for n, line in enumerate(text.splitlines(), 1)
            if line.strip() and not line.lstrip().startswith("#")]


def _submittable(rec: Any) -> Any:
    """Only the hashes (and a case reference) go to the node: the path and kind stay here."""
    if not isinstance(rec, dict):
        return rec
    return {k: v for k, v in rec.items()
            if k in ("pdq", "quality", "md5", "sha256", "case_ref", "algorithm", "value")
            and v is not None}


def _batches(items: Sequence[dict[str, Any]], limit: int = MAX_BATCH) -> Iterator[list[Any]]:
    batch: list[Any] = []
    size = 0
    for it in items:
        n = max(1, sum(1 for k in ("pdq", "md5", "sha256", "value") if k in it))
        if batch and size + n > limit:
            yield batch
            batch, size = [], 0
        batch.append(it)
        size += n
    if batch:
        yield batch


# --- lists -----------------------------------------------------------------------------------


def _print_list(lst: dict[str, Any]) -> None:
    counts = lst.get("counts", {})
    console.print(f"[bold]{lst['id']}[/] {lst['name']} ({lst['category']}, TLP:{lst['tlp']}, "
                  f"threshold {lst['threshold']}) " +
                  (f"from {lst['origin']} " if lst["origin"] else "") +
                  " ".join(f"{k} {v}" for k, v in counts.items() if v), highlight=False)


@app.command("create-list")
def create_list(
    name: Annotated[str, typer.Option(help="The list's name")],
    category: Annotated[str, typer.Option(help="ncii or csam")],
    threshold: Annotated[int, typer.Option(help="PDQ Hamming distance counted as a match")] = 31,
    tlp: Annotated[str, typer.Option(help="TLP level (AMBER: only named recipients)")] = "AMBER",
    recipient: Annotated[list[str] | None,
                         typer.Option("--recipient", help="A member allowed to receive it (repeat)")] = None,
    spike_matches: Annotated[int, typer.Option(help="Quarantine a hash above this many matches ...")] = 500,
    spike_minutes: Annotated[int, typer.Option(help="... within this many minutes")] = 60,
) -> None:
    """Create a hash list of this node."""
    from hanoi.services import media

    lst = media.create_list(open_node(), actor(), {
        "name": name, "category": category, "threshold": threshold, "tlp": tlp,
        "recipients": recipient or [], "spike_matches": spike_matches,
        "spike_minutes": spike_minutes})
    _print_list(lst)


@app.command("update-list")
def update_list(
    list_id: Annotated[str, typer.Argument()],
    threshold: Annotated[int | None, typer.Option()] = None,
    tlp: Annotated[str | None, typer.Option()] = None,
    recipient: Annotated[list[str] | None,
                         typer.Option("--recipient", help="Replace the named recipients (repeat)")] = None,
    spike_matches: Annotated[int | None, typer.Option()] = None,
    spike_minutes: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Change a list's threshold, TLP, named recipients or spike rule."""
    from hanoi.services import media

    data: dict[str, Any] = {k: v for k, v in {
        "threshold": threshold, "tlp": tlp, "recipients": recipient,
        "spike_matches": spike_matches, "spike_minutes": spike_minutes}.items() if v is not None}
    _print_list(media.update_list(open_node(), actor(), list_id, data))


@app.command("lists")
def lists(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The hash lists of this node (its own and those received)."""
    from hanoi.services import media

    out = media.list_lists(open_node())
    if as_json:
        print_json(out)
        return
    table = Table("id", "name", "category", "TLP", "threshold", "origin", "active", "quarantined",
                  "withdrawn", "deleted", "subscribers")
    for lst in out:
        c = lst["counts"]
        table.add_row(lst["id"], lst["name"], lst["category"], lst["tlp"], str(lst["threshold"]),
                      lst["origin"] or "-", str(c["active"]), str(c["quarantined"]),
                      str(c["withdrawn"]), str(c["deleted"]), ", ".join(lst["subscribers"]))
    console.print(table)


@app.command("hashes")
def hashes(
    list_id: Annotated[str, typer.Argument()],
    status: Annotated[str | None, typer.Option()] = None,
    case_ref: Annotated[str | None, typer.Option()] = None,
) -> None:
    """The hashes of a list (JSON)."""
    from hanoi.services import media

    print_json(media.list_hashes(open_node(), list_id, status=status, case_ref=case_ref,
                                 limit=100_000))


@app.command("submit")
def submit(
    list_id: Annotated[str, typer.Argument(help="One of this node's lists")],
    file: Annotated[Path, typer.Argument(help="`hanoi hash` output (JSON lines or CSV), or - for stdin")],
    case_ref: Annotated[str | None, typer.Option(help="The case reference for records without one")] = None,
) -> None:
    """Submit hashes from a file (all or nothing per batch of 10,000 hashes)."""
    from hanoi.services import media

    items = [_submittable(r) for r in read_hash_file(file)]
    node = open_node()
    stored = already = 0
    for batch in _batches(items):
        res = media.submit(node, actor(), list_id, batch, case_ref=case_ref)
        stored += res["stored"]
        already += res["already_listed"]
        for member, d in res["distributed"].items():
            console.print(f"  to {member}: {d['outcome']}, {d['sent']} sent", highlight=False)
    console.print(f"{stored} hash(es) stored, {already} already listed", highlight=False)


@app.command("distribute")
def distribute(
    list_id: Annotated[str, typer.Argument()],
    to: Annotated[str, typer.Option("--to", help="The member to receive the list")],
) -> None:
    """Pass a list to a member (gate: standing and TLP), now and for every later hash."""
    from hanoi.services import media

    res = media.distribute(open_node(), actor(), list_id, to)
    console.print(f"{res['sent']} hash(es) queued for {to} in {len(res['envelopes'])} item(s)",
                  highlight=False)


@app.command("withdraw")
def withdraw(
    hash_ids: Annotated[list[int] | None, typer.Argument(help="Hash ids", min=1, max=BIGINT_MAX)] = None,
    list_id: Annotated[str | None, typer.Option("--list", help="With --case-ref: every hash of a case")] = None,
    case_ref: Annotated[str | None, typer.Option()] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Deleted (the person asked) rather than withdrawn")] = False,
    reason: Annotated[str, typer.Option()] = "",
) -> None:
    """Withdraw (or delete) hashes; every member that received them is told to drop them."""
    from hanoi.services import media

    res = media.withdraw(open_node(), actor(), hash_ids=hash_ids or None, list_id=list_id,
                         case_ref=case_ref, status="deleted" if delete else "withdrawn",
                         reason=reason)
    console.print(f"{res['changed']} hash(es) {res['status']}; members told: " +
                  (", ".join(f"{k} ({v})" for k, v in res["told"].items()) or "none"),
                  highlight=False)


@app.command("review")
def review(
    hash_id: Annotated[int, typer.Argument(min=1, max=BIGINT_MAX)],
    decision: Annotated[str, typer.Argument(help="release or withdraw")],
    note: Annotated[str, typer.Option()] = "",
) -> None:
    """Review a quarantined hash."""
    from hanoi.services import media

    res = media.review(open_node(), actor(), hash_id, decision, note)
    console.print(f"hash {hash_id} is now {res['status']}", highlight=False)


# --- matching and feedback -------------------------------------------------------------------


def _queries(records: Sequence[dict[str, Any]],
             dihedral: bool) -> tuple[dict[str, list[Any]], dict[tuple[str, int], int]]:
    """The query arrays, and (algorithm, query index) -> record index."""
    q: dict[str, list[Any]] = {"pdq": [], "md5": [], "sha256": [], "dihedral": []}
    back: dict[tuple[str, int], int] = {}
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise InvalidInput("a hash record is not an object", [Problem(f"records[{i}]", "must be an object")])
        recs = dict(r)
        if "algorithm" in recs:
            recs[str(recs.pop("algorithm")).lower().replace("-", "")] = recs.pop("value", None)
        if dihedral and recs.get("dihedral"):
            back[("dihedral", len(q["dihedral"]))] = i
            q["dihedral"].append(recs["dihedral"])
        elif recs.get("pdq"):
            back[("pdq", len(q["pdq"]))] = i
            q["pdq"].append(recs["pdq"])
        for algo in ("md5", "sha256"):
            if recs.get(algo):
                back[(algo, len(q[algo]))] = i
                q[algo].append(recs[algo])
    return q, back


@app.command("match")
def match(
    paths: Annotated[list[Path] | None, typer.Argument(help="Images / videos / folders, hashed here first")] = None,
    hashes_file: Annotated[Path | None,
                           typer.Option("--hashes", help="Or a file of hashes (`hanoi hash` output)")] = None,
    dihedral: Annotated[bool, typer.Option("--dihedral", help="Also find rotated and flipped copies")] = False,
    algorithm: Annotated[str | None, typer.Option(help="Algorithm of bare lines in --hashes")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Match files (hashed on this device) or a file of hashes against the node's lists."""
    from hanoi.services import media

    if hashes_file is not None:
        records = read_hash_file(hashes_file, algorithm)
        errors: list[str] = []
    elif paths:
        records, errors = hash_files(paths, dihedral=dihedral)
    else:
        raise invalid("paths", "give files or folders to hash, or --hashes FILE")
    q, back = _queries(records, dihedral)
    node = open_node()
    matches: list[dict[str, Any]] = []
    # at most 10,000 hashes per call: walk each array in slices
    for algo in ("pdq", "dihedral", "md5", "sha256"):
        for start in range(0, len(q[algo]), MAX_BATCH):
            part = q[algo][start:start + MAX_BATCH]
            res = media.match(node, actor(), **{algo: part})  # type: ignore[arg-type]
            for m in res["matches"]:
                m["query"] += start
                rec = records[back[(algo, m["query"])]]
                m["path"] = rec.get("path") if isinstance(rec, dict) else None
                matches.append(m)
    if as_json:
        print_json({"records": len(records), "matches": matches})
    else:
        table = Table("file", "algorithm", "list", "category", "source", "distance", "match id",
                      title="matches")
        for m in matches:
            table.add_row(str(m["path"] or f"#{back[(m['algorithm'], m['query'])]}"),
                          m["algorithm"], m["list"], m["category"], m["source"],
                          str(m["distance"]), str(m["match_id"]) +
                          (" (quarantined)" if m["quarantined"] else ""))
        if matches:
            console.print(table)
        hit = len({back[(m["algorithm"], m["query"])] for m in matches})
        console.print(f"{hit} of {len(records)} record(s) matched", highlight=False)
    for e in errors:
        err_console.print(f"[bold red]error:[/] {e}", highlight=False)
    if errors:
        raise typer.Exit(1)


@app.command("feedback")
def feedback(
    match_id: Annotated[int, typer.Argument()],
    verdict: Annotated[str, typer.Argument(help="confirmed, false-positive or not-violating")],
) -> None:
    """Report a match's verdict (it flows back to the hash's source)."""
    from hanoi.services import media

    res = media.feedback(open_node(), actor(), [{"match_id": match_id, "verdict": verdict}])
    console.print(f"recorded; sent to: {', '.join(res['sent_to']) or 'nobody (our own hash)'}",
                  highlight=False)


@app.command("feedback-log")
def feedback_log(
    list_id: Annotated[str | None, typer.Option("--list")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Feedback on this node's hashes."""
    from hanoi.services import media

    out = media.list_feedback(open_node(), list_id=list_id)
    if as_json:
        print_json(out)
        return
    table = Table("at", "hash", "case", "verdict", "from", "distance")
    for f in out:
        table.add_row(f["created_at"][:19], str(f["hash_id"]), f["case_ref"] or "-", f["verdict"],
                      f["member_id"] or f["reporter"], str(f["distance"]))
    console.print(table)


@app.command("index")
def index(
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Rebuild from the store")] = False,
    save: Annotated[bool, typer.Option("--save", help="Write the snapshot")] = False,
) -> None:
    """The PDQ index: status, rebuild, snapshot."""
    from hanoi.services import media

    node = open_node()
    if rebuild:
        print_json(media.rebuild_index(node))
        return
    if save:
        print_json(media.save_snapshot(node))
        return
    print_json(media.index_status(node))
