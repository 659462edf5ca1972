"""``hanoi members``: the registry of partner organisations and their standing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hanoi.cli.common import (
    KINDS_HELP,
    JsonFlag,
    actor,
    cell,
    console,
    load_file,
    open_node,
    print_json,
    print_table,
    styled,
    table,
)
from hanoi.node import members

app = typer.Typer(help="Members (partner organisations), their keys and standing.", no_args_is_help=True)

STANDING_STYLE = {"good": "green", "concerns": "yellow", "suspended": "bold red"}
MemberId = Annotated[str, typer.Argument(help="The member's id, e.g. fr-pharos")]


@app.command("add")
def add(
    name: Annotated[str | None, typer.Option(help="Organisation name")] = None,
    kind: Annotated[str | None, typer.Option(help=KINDS_HELP)] = None,
    country: Annotated[str | None, typer.Option(help="ISO 3166-1 alpha-2 code of its State")] = None,
    state_status: Annotated[str, typer.Option(help="party, signatory or non-party")] = "party",
    member_id: Annotated[str | None, typer.Option("--id", help="Short id (default: from country and name)")] = None,
    endpoint: Annotated[str | None, typer.Option(help="Its node's URL")] = None,
    key: Annotated[list[str] | None, typer.Option(help="Ed25519 public key (repeatable)")] = None,
    language: Annotated[list[str] | None, typer.Option(help="Accepted language (repeatable)")] = None,
    available_24_7: Annotated[bool, typer.Option("--24-7/--office-hours", help="Reachable around the clock")] = False,
    from_file: Annotated[Path | None, typer.Option("--from", help="YAML or JSON with all fields")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Register a member. Without an assessment its standing starts at 'concerns'."""
    data: dict[str, Any] = dict(load_file(from_file) or {}) if from_file else {}
    given = {"name": name, "kind": kind, "country": country, "id": member_id, "endpoint": endpoint,
             "keys": key, "languages": language}
    data.update({k: v for k, v in given.items() if v})
    data.setdefault("state_status", state_status)
    if available_24_7:
        data["available_24_7"] = True
    shown = members.add(open_node(), actor(), data)
    _out(shown, as_json)


@app.command("list")
def list_(
    standing: Annotated[str | None, typer.Option(help="Only members of this standing: good, concerns "
                                                      "or suspended")] = None,
    country: Annotated[str | None, typer.Option(help="Only members of this State (ISO 3166-1 alpha-2)")] = None,
    kind: Annotated[str | None, typer.Option(help=f"Only members of this kind: {KINDS_HELP}")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List members."""
    rows = members.list_members(open_node(), standing=standing, country=country, kind=kind)
    if as_json:
        print_json(rows)
        return
    t = table("id", "name", "kind", "State", "status", "standing", "24/7", title=f"{len(rows)} members")
    for m in rows:
        t.add_row(m["id"], m["name"], m["kind"], m["country"], m["state_status"],
                  cell(m["standing"], STANDING_STYLE[m["standing"]]), "yes" if m["available_24_7"] else "")
    print_table(t)


@app.command("show")
def show(member_id: MemberId, as_json: JsonFlag = False) -> None:
    """A member with its keys and the history of its assessments."""
    _out(members.show(open_node(), member_id), as_json)


@app.command("assess")
def assess(
    member_id: MemberId,
    standing: Annotated[str | None, typer.Option(help="good, concerns or suspended")] = None,
    assessor: Annotated[str | None, typer.Option(help="Who made the assessment")] = None,
    findings: Annotated[str | None, typer.Option(help="What was found")] = None,
    article: Annotated[
        list[str] | None, typer.Option(help="Cited article, e.g. 6 or 'UNCC Art. 24' (repeatable)")
    ] = None,
    source: Annotated[list[str] | None, typer.Option(help="Source relied on (repeatable)")] = None,
    assessed_at: Annotated[str | None, typer.Option(help="When (ISO 8601; default now)")] = None,
    from_file: Annotated[Path | None, typer.Option("--from", help="YAML or JSON assessment")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Record a safeguards assessment: the only way to change a member's standing."""
    data: dict[str, Any] = dict(load_file(from_file) or {}) if from_file else {}
    given = {"standing": standing, "assessor": assessor, "findings": findings, "articles": article,
             "sources": source, "assessed_at": assessed_at}
    data.update({k: v for k, v in given.items() if v})
    _out(members.assess(open_node(), actor(), member_id, data), as_json)


@app.command("add-key")
def add_key(
    member_id: MemberId,
    public_key: Annotated[str, typer.Argument(help="The Ed25519 public key (base64url, hex or PEM)")],
    kid: Annotated[str | None, typer.Option(help="Key id")] = None,
    not_before: Annotated[str | None, typer.Option(help="Valid from (ISO 8601; default now)")] = None,
    not_after: Annotated[str | None, typer.Option(help="Valid until (ISO 8601; default open)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a public key; let it overlap the old one, then expire the old one (rotation)."""
    spec = {"public_key": public_key, "kid": kid, "not_before": not_before, "not_after": not_after}
    _out(members.add_key(open_node(), actor(), member_id, {k: v for k, v in spec.items() if v}), as_json)


@app.command("expire-key")
def expire_key(
    member_id: MemberId,
    kid: Annotated[str, typer.Argument(help="The key's id (`hanoi members show` lists them)")],
    at: Annotated[str | None, typer.Option(help="When it stops being valid (default now)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """End a key's validity window."""
    _out(members.expire_key(open_node(), actor(), member_id, kid, at), as_json)


def _out(m: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(m)
        return
    console.print(styled((m["name"], "bold"), f" ({m['id']}) — {m['kind']}, {m['country_name']} "
                         f"[{m['country']}], {m['state_status']}"))
    console.print(styled("standing: ", (m["standing"], STANDING_STYLE[m["standing"]]),
                         "" if m["assessments"] else " (not yet assessed)"))
    if m.get("endpoint"):
        console.print(f"endpoint: {m['endpoint']}")
    if m.get("languages"):
        console.print(f"languages: {', '.join(m['languages'])}; 24/7: {'yes' if m['available_24_7'] else 'no'}")
    for k in m.get("keys", []):
        window = f"{k['not_before']} .. {k['not_after'] or 'open'}"
        console.print(f"key {k['kid']}: {k['fingerprint']}  [{window}]{'' if k['valid_now'] else ' (not valid now)'}")
    for a in m.get("assessments", []):
        console.print(styled(f"assessed {a['assessed_at']} by {a['assessor']}: ",
                             (a["standing"], STANDING_STYLE[a["standing"]]),
                             f" — {a['findings']} (Arts. {', '.join(a['articles'])})"))
