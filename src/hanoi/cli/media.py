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

from hanoi.cli.common import (
    JsonFlag,
    NodeToken,
    NodeUrl,
    UsageProblem,
    actor,
    console,
    err_console,
    error_line,
    node_client,
    open_node,
    print_json,
    print_table,
    progress,
    read_input,
    styled,
    table,
)
from hanoi.core.bounds import BIGINT_MAX
from hanoi.core.errors import HanoiError, InvalidInput, Problem, invalid
from hanoi.core.nesting import check_json_depth
from hanoi.media import model
from hanoi.media.algorithms import EXACT, Pdq

# Hashing (numpy, Pillow, pdqhash) and the media service are imported inside the commands that
# use them, so every other `hanoi` command starts without them.

app = typer.Typer(help="Media hash lists (NCII, CSAM): submit, distribute, withdraw, match, "
                       "feedback. Images never leave the device: use `hanoi hash`.",
                  no_args_is_help=True)

ListId = Annotated[str, typer.Argument(help="The hash list's id (`hanoi media lists` shows them)")]
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


def hash_files(paths: Sequence[Path], *, dihedral: bool = False, max_pixels: int | None = None,
               as_json: bool = False) -> tuple[list[dict[str, Any]], list[str]]:
    """Hash files and folders (recursively): one record per image or video, and one message per
    file refused. Other files inside folders are skipped; named explicitly, they are refused."""
    from hanoi.media.pdq import MAX_PIXELS, detect_kind, hash_path

    limit = max_pixels or MAX_PIXELS
    files, missing = _files(paths)
    errors = [f"{m}: no such file or folder" for m in missing]
    records: list[dict[str, Any]] = []
    skipped = 0
    with progress("hashing", len(files), as_json=as_json, minimum=2) as bar:
        for f, explicit in files:
            bar.advance()
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
        err_console.print(f"skipped {skipped} file(s) that are neither images nor videos")
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
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, one record per file (the "
                                                         "default)")] = False,
) -> None:
    """Hash images (PDQ + quality, MD5, SHA-256) and videos (MD5, SHA-256) on this device.

    Nothing is sent anywhere: only the output can be submitted (`hanoi media submit`) or
    matched (`hanoi media match --hashes`). Exit 1 if any file was refused.
    """
    if as_json and as_csv:
        raise UsageProblem("--json and --csv exclude each other: JSON lines are the default")
    records, errors = hash_files(paths, dihedral=dihedral, max_pixels=max_pixels, as_json=as_json)
    if output is not None:
        with open(output, "w", encoding="utf-8", newline="") as fh:
            write_records(records, fh, as_csv=as_csv)
    else:
        write_records(records, sys.stdout, as_csv=as_csv)
    for e in errors:
        err_console.print(error_line(e))
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


def _batches(items: Sequence[dict[str, Any]], limit: int = model.MAX_BATCH) -> Iterator[list[Any]]:
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


def _print_list(lst: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(lst)
        return
    counts = lst.get("counts", {})
    console.print(styled((lst["id"], "bold"), f" {lst['name']} ({lst['category']}, TLP:{lst['tlp']}, "
                         f"threshold {lst['threshold']}) " +
                         (f"from {lst['origin']} " if lst["origin"] else "") +
                         " ".join(f"{k} {v}" for k, v in counts.items() if v)))


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
    as_json: JsonFlag = False,
) -> None:
    """Create a hash list of this node."""
    from hanoi.media import service

    lst = service.create_list(open_node(), actor(), {
        "name": name, "category": category, "threshold": threshold, "tlp": tlp,
        "recipients": recipient or [], "spike_matches": spike_matches,
        "spike_minutes": spike_minutes})
    _print_list(lst, as_json)


@app.command("update-list")
def update_list(
    list_id: ListId,
    threshold: Annotated[int | None, typer.Option(help="PDQ Hamming distance counted as a match")] = None,
    tlp: Annotated[str | None, typer.Option(help="TLP level (AMBER: only named recipients)")] = None,
    recipient: Annotated[list[str] | None,
                         typer.Option("--recipient", help="Replace the named recipients (repeat)")] = None,
    spike_matches: Annotated[int | None, typer.Option(help="Quarantine a hash above this many "
                                                           "matches ...")] = None,
    spike_minutes: Annotated[int | None, typer.Option(help="... within this many minutes")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a list's threshold, TLP, named recipients or spike rule."""
    from hanoi.media import service

    data: dict[str, Any] = {k: v for k, v in {
        "threshold": threshold, "tlp": tlp, "recipients": recipient,
        "spike_matches": spike_matches, "spike_minutes": spike_minutes}.items() if v is not None}
    _print_list(service.update_list(open_node(), actor(), list_id, data), as_json)


@app.command("lists")
def lists(as_json: JsonFlag = False) -> None:
    """The hash lists of this node (its own and those received)."""
    from hanoi.media import service

    out = service.list_lists(open_node())
    if as_json:
        print_json(out)
        return
    t = table("id", "name", "category", "TLP", "threshold", "origin", "active", "quarantined",
              "withdrawn", "deleted", "subscribers", whole=("id", "origin"))
    for lst in out:
        c = lst["counts"]
        t.add_row(lst["id"], lst["name"], lst["category"], lst["tlp"], str(lst["threshold"]),
                  lst["origin"] or "-", str(c["active"]), str(c["quarantined"]),
                  str(c["withdrawn"]), str(c["deleted"]), ", ".join(lst["subscribers"]))
    print_table(t)


@app.command("hashes")
def hashes(
    list_id: ListId,
    status: Annotated[str | None, typer.Option(help="Only hashes in this status: active, quarantined, "
                                                    "withdrawn or deleted")] = None,
    case_ref: Annotated[str | None, typer.Option(help="Only the hashes of this case")] = None,
) -> None:
    """The hashes of a list (JSON)."""
    from hanoi.media import service

    print_json(service.list_hashes(open_node(), list_id, status=status, case_ref=case_ref,
                                 limit=100_000))


@app.command("submit")
def submit(
    list_id: Annotated[str, typer.Argument(help="One of this node's lists")],
    file: Annotated[Path, typer.Argument(help="`hanoi hash` output (JSON lines or CSV), or - for stdin")],
    case_ref: Annotated[str | None, typer.Option(help="The case reference for records without one")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Submit hashes from a file (all or nothing per batch of 10,000 hashes)."""
    from hanoi.media import service

    items = [_submittable(r) for r in read_hash_file(file)]
    node = open_node()
    stored = already = 0
    distributed: list[dict[str, Any]] = []
    with progress("submitting", len(items), as_json=as_json, minimum=model.MAX_BATCH + 1) as bar:
        for batch in _batches(items):
            res = service.submit(node, actor(), list_id, batch, case_ref=case_ref)
            bar.advance(len(batch))
            stored += res["stored"]
            already += res["already_listed"]
            distributed += [{"member": member, **d} for member, d in res["distributed"].items()]
    if as_json:
        print_json({"stored": stored, "already_listed": already, "distributed": distributed})
        return
    for d in distributed:
        console.print(f"  to {d['member']}: {d['outcome']}, {d['sent']} sent")
    console.print(f"{stored} hash(es) stored, {already} already listed")


@app.command("distribute")
def distribute(
    list_id: ListId,
    to: Annotated[str, typer.Option("--to", help="The member to receive the list")],
    as_json: JsonFlag = False,
) -> None:
    """Pass a list to a member (gate: standing and TLP), now and for every later hash."""
    from hanoi.media import service

    res = service.distribute(open_node(), actor(), list_id, to)
    if as_json:
        print_json(res)
        return
    console.print(f"{res['sent']} hash(es) queued for {to} in {len(res['envelopes'])} item(s)")


@app.command("withdraw")
def withdraw(
    hash_ids: Annotated[list[int] | None, typer.Argument(help="Hash ids", min=1, max=BIGINT_MAX)] = None,
    list_id: Annotated[str | None, typer.Option("--list", help="With --case-ref: every hash of a case")] = None,
    case_ref: Annotated[str | None, typer.Option(help="The case whose hashes to withdraw (with --list)")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Deleted (the person asked) rather than withdrawn")] = False,
    reason: Annotated[str, typer.Option(help="Why (recorded in the ledger)")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Withdraw (or delete) hashes; every member that received them is told to drop them."""
    from hanoi.media import service

    res = service.withdraw(open_node(), actor(), hash_ids=hash_ids or None, list_id=list_id,
                         case_ref=case_ref, status="deleted" if delete else "withdrawn",
                         reason=reason)
    if as_json:
        print_json(res)
        return
    console.print(f"{res['changed']} hash(es) {res['status']}; members told: " +
                  (", ".join(f"{k} ({v})" for k, v in res["told"].items()) or "none"))


@app.command("review")
def review(
    hash_id: Annotated[int, typer.Argument(help="The quarantined hash's id", min=1, max=BIGINT_MAX)],
    decision: Annotated[str, typer.Argument(help="release or withdraw")],
    note: Annotated[str, typer.Option(help="The reviewer's note")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Review a quarantined hash."""
    from hanoi.media import matching

    res = matching.review(open_node(), actor(), hash_id, decision, note)
    if as_json:
        print_json(res)
        return
    console.print(f"hash {hash_id} is now {res['status']}")


# --- matching and feedback -------------------------------------------------------------------


def _queries(records: Sequence[dict[str, Any]],
             dihedral: bool) -> tuple[dict[str, list[Any]], dict[tuple[str, int], int]]:
    """The query arrays, and (algorithm, query index) -> record index."""
    q: dict[str, list[Any]] = {name: [] for name in model.QUERY_FIELDS}
    back: dict[tuple[str, int], int] = {}
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise InvalidInput("a hash record is not an object", [Problem(f"records[{i}]", "must be an object")])
        recs = dict(r)
        if "algorithm" in recs:
            recs[str(recs.pop("algorithm")).lower().replace("-", "")] = recs.pop("value", None)
        if dihedral and recs.get(model.DIHEDRAL):
            back[(model.DIHEDRAL, len(q[model.DIHEDRAL]))] = i
            q[model.DIHEDRAL].append(recs[model.DIHEDRAL])
        elif recs.get(Pdq.name):
            back[(Pdq.name, len(q[Pdq.name]))] = i
            q[Pdq.name].append(recs[Pdq.name])
        for algo in EXACT:
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
    as_json: JsonFlag = False,
) -> None:
    """Match files (hashed on this device) or a file of hashes against the node's lists."""
    from hanoi.media import matching

    if hashes_file is not None:
        records = read_hash_file(hashes_file, algorithm)
        errors: list[str] = []
    elif paths:
        records, errors = hash_files(paths, dihedral=dihedral, as_json=as_json)
    else:
        raise invalid("paths", "give files or folders to hash, or --hashes FILE")
    q, back = _queries(records, dihedral)
    node = open_node()
    matches: list[dict[str, Any]] = []
    # at most 10,000 hashes per call: walk each array in slices
    for algo in model.QUERY_FIELDS:
        for start in range(0, len(q[algo]), model.MAX_BATCH):
            part = q[algo][start:start + model.MAX_BATCH]
            res = matching.match(node, actor(), **{algo: part})  # type: ignore[arg-type]
            for m in res["matches"]:
                m["query"] += start
                rec = records[back[(algo, m["query"])]]
                m["path"] = rec.get("path") if isinstance(rec, dict) else None
                matches.append(m)
    if as_json:
        print_json({"records": len(records), "matches": matches})
    else:
        t = table("file", "algorithm", "list", "category", "source", "distance", "match id",
                  title="matches", whole=("match id", "source"))
        for m in matches:
            t.add_row(str(m["path"] or f"#{back[(m['algorithm'], m['query'])]}"),
                      m["algorithm"], m["list"], m["category"], m["source"],
                      str(m["distance"]), str(m["match_id"]) +
                      (" (quarantined)" if m["quarantined"] else ""))
        if matches:
            print_table(t)
        hit = len({back[(m["algorithm"], m["query"])] for m in matches})
        console.print(f"{hit} of {len(records)} record(s) matched")
    for e in errors:
        err_console.print(error_line(e))
    if errors:
        raise typer.Exit(1)


def _digests(paths: Sequence[Path], as_json: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """MD5, SHA-256 and size of every file named or inside the folders named (any kind of file:
    exact hashes do not care), computed here; and one message per file that could not be read."""
    from hanoi.media.pdq import digests_of_stream

    files, missing = _files(paths)
    errors = [f"{m}: no such file or folder" for m in missing]
    records: list[dict[str, Any]] = []
    with progress("hashing", len(files), as_json=as_json, minimum=2) as bar:
        for f, _ in files:
            bar.advance()
            try:
                with open(f, "rb") as fh:
                    d = digests_of_stream(fh)
            except OSError as exc:
                errors.append(f"{f}: {exc.strerror}")
                continue
            records.append({"path": str(f), "md5": d.md5, "sha256": d.sha256, "size": d.size})
    return records, errors


@app.command("check")
def check(
    paths: Annotated[list[Path], typer.Argument(help="Files, or folders (recursive), to hash here (MD5 and "
                                                     "SHA-256) and check against the node")],
    private_: Annotated[bool, typer.Option("--private", help="Send only short prefixes of each hash's "
                                                              "digest; match in full only the files the "
                                                              "node holds (no other hash leaves)")] = False,
    url: NodeUrl = None,
    token: NodeToken = None,
    matches_only: Annotated[bool, typer.Option("--matches", help="Print matching files only")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (files, their hashes and "
                                                         "matches, what was sent)")] = False,
) -> None:
    """Check files against a node over its API, hashing them here. Plain: every file's MD5 and
    SHA-256 are sent. --private: prefixes only, then the hashes of real hits (docs/privacy.md).
    PDQ is not checked here (`hanoi media match` on the node does). Exit 1 if the node cannot be
    reached or refuses the token, or a file could not be read; 2 for usage errors (nothing sent)."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:  # before anything is hashed or sent
        raise UsageProblem(f"{missing[0]}: no such file or folder")
    records, errors = _digests(paths, as_json)
    pairs = [(algo, r[algo]) for r in records for algo in EXACT]
    with node_client(url, token) as client:
        got = client.match_media(pairs, private=private_)
        sent = ({"mode": "private", "prefixes": client.asked, "hashes_in_clear": client.revealed}
                if private_ else {"mode": "plain", "prefixes": 0, "hashes_in_clear": client.revealed})
    for i, r in enumerate(records):
        r["matches"] = [m for j in range(len(EXACT)) for m in got[i * len(EXACT) + j]]
        r["match"] = bool(r["matches"])
    shown = [r for r in records if r["match"] or not matches_only]
    matched = sum(r["match"] for r in records)
    if as_json:
        print_json({"files": shown, "checked": len(records), "matched": matched, "sent": sent,
                    "errors": errors})
    else:
        t = table("file", "match", "algorithm", "list", "category", "source", "match id",
                  whole=("match id",))
        for r in shown:
            if not r["matches"]:
                t.add_row(r["path"], "no", "", "", "", "", "")
            for m in r["matches"]:
                t.add_row(r["path"], styled(("yes", "bold")), m["algorithm"], m["list"], m["category"],
                          m["source"] or "", str(m["match_id"]) + (" (quarantined)" if m["quarantined"] else ""))
        if shown:
            print_table(t)
        how = (f"{sent['prefixes']} prefix(es) sent, {sent['hashes_in_clear']} hash(es) of matching files"
               if private_ else f"{sent['hashes_in_clear']} hash(es) sent in clear")
        console.print(f"{matched} of {len(records)} file(s) matched ({how})")
    for e in errors:
        err_console.print(error_line(e))
    if errors:
        raise typer.Exit(1)


@app.command("feedback")
def feedback(
    match_id: Annotated[int, typer.Argument(help="The match's id (`hanoi media match` prints it)")],
    verdict: Annotated[str, typer.Argument(help="confirmed, false-positive or not-violating")],
    as_json: JsonFlag = False,
) -> None:
    """Report a match's verdict (it flows back to the hash's source)."""
    from hanoi.media import matching

    res = matching.feedback(open_node(), actor(), [{"match_id": match_id, "verdict": verdict}])
    if as_json:
        print_json(res)
        return
    console.print(f"recorded; sent to: {', '.join(res['sent_to']) or 'nobody (our own hash)'}")


@app.command("feedback-log")
def feedback_log(
    list_id: Annotated[str | None, typer.Option("--list", help="Only feedback on this list's hashes")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Feedback on this node's hashes."""
    from hanoi.media import matching

    out = matching.list_feedback(open_node(), list_id=list_id)
    if as_json:
        print_json(out)
        return
    t = table("at", "hash", "case", "verdict", "from", "distance", whole=("hash", "case", "from"))
    for f in out:
        t.add_row(f["created_at"][:19], str(f["hash_id"]), f["case_ref"] or "-", f["verdict"],
                  f["member_id"] or f["reporter"], str(f["distance"]))
    print_table(t)


@app.command("index")
def index(
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Rebuild from the store")] = False,
    save: Annotated[bool, typer.Option("--save", help="Write the snapshot")] = False,
) -> None:
    """The PDQ index: status, rebuild, snapshot."""
    from hanoi.media import read_model

    node = open_node()
    if rebuild:
        print_json(read_model.rebuild_index(node))
        return
    if save:
        print_json(read_model.save_snapshot(node))
        return
    print_json(read_model.index_status(node))
