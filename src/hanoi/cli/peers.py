"""``hanoi peers``: fetch a peer's descriptor, confirm its fingerprint, trust it; rotate keys."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer

from hanoi.cli.common import JsonFlag, actor, console, fail, open_node, print_json, print_table, styled, table
from hanoi.node import peers

app = typer.Typer(help="Peers: other nodes this node exchanges with, their keys and endpoints.",
                  no_args_is_help=True)


def _show_descriptor(d: dict[str, Any]) -> None:
    console.print(styled((d["name"], "bold"), f" ({d['id']}) — {d['kind']}, {d['country']}"))
    console.print(f"endpoint: {d['endpoint']}" + ("" if d["endpoint"] == d["url"] else
                                                  f"  (fetched from {d['url']})"))
    for k in d["keys"]:
        mark = " (signed this descriptor)" if k["kid"] == d["signed_by"] else ""
        known = " [already registered]" if k["registered"] else ""
        console.print(f"key {k['kid']}{mark}{known}")
        console.print(styled("  fingerprint: ", (k["fingerprint"], "bold")))


@app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="The peer's base URL, e.g. https://node.example.org")],
    fingerprint: Annotated[str | None, typer.Option(
        help="The fingerprint you confirmed out of band (skips the question)")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Trust without asking (scripts; you "
                                                    "confirmed the fingerprint already)")] = False,
    state_status: Annotated[str, typer.Option(help="party, signatory or non-party")] = "party",
    as_json: JsonFlag = False,
) -> None:
    """Fetch a peer's signed descriptor, show its key fingerprint, and trust it once confirmed."""
    node = open_node()
    shown = peers.fetch(node, actor(), url)
    if not as_json:
        _show_descriptor(shown)
    if fingerprint is None:
        if yes:
            fingerprint = shown["fingerprint"]
        else:
            console.print("Compare this fingerprint with the one the peer's operator gives you "
                          "out of band (phone, letter), not through this connection.")
            if not typer.confirm(f"Does {shown['fingerprint']} match?", default=False):
                raise fail("not trusted: nothing was changed except the fetched descriptor")
            fingerprint = shown["fingerprint"]
    member = peers.trust(node, actor(), shown["id"], fingerprint, state_status=state_status)
    if as_json:
        print_json({"descriptor": shown, "member": member})
        return
    console.print(styled("trusted ", (member["id"], "bold"), f": standing {member['standing']}"
                         + (" (not yet assessed: the gate holds exchanges until `hanoi members assess`)"
                            if not member["assessments"] else "")))


@app.command("list")
def list_(as_json: JsonFlag = False) -> None:
    """Fetched peers, whether trusted, their standing and open outbox rows."""
    rows = peers.list_peers(open_node())
    if as_json:
        print_json(rows)
        return
    t = table("id", "name", "State", "endpoint", "trusted", "standing", "open outbox",
              title=f"{len(rows)} peers", whole=("id", "endpoint"))
    for p in rows:
        t.add_row(p["id"], p["name"], p["country"], p["endpoint"],
                  "yes" if p["trusted"] else "no", p["standing"] or "-", str(p["open_outbox"]))
    print_table(t)


@app.command("ping")
def ping(
    peer: Annotated[str, typer.Argument(help="The peer's member id")],
    count: Annotated[int, typer.Option(help="How many")] = 1,
    as_json: JsonFlag = False,
) -> None:
    """Queue ping envelopes to a peer (delivered by the outbox worker)."""
    ids = peers.ping(open_node(), actor(), peer, count)
    if as_json:
        print_json({"peer": peer, "envelopes": ids})
        return
    console.print(f"queued {len(ids)} ping(s) to {peer}")


@app.command("rotate-key")
def rotate_key(
    grace_hours: Annotated[float, typer.Option(
        help="Hours the old key stays valid (0: retired at once, for a compromised key; each peer "
             "then adds this node again and confirms the new fingerprint)")] = 24.0,
    as_json: JsonFlag = False,
) -> None:
    """Make a new node key and announce it to every peer, signed with the old key."""
    out = peers.rotate_key(open_node(), actor(), grace=timedelta(hours=grace_hours))
    if as_json:
        print_json(out)
        return
    console.print(styled(f"new key {out['new_key_id']}: ", (out["fingerprint"], "bold")))
    if out["readd_by"]:
        console.print(f"old key {out['old_key_id']} is retired now (no grace), so nothing signed "
                      f"with it can announce the new one: ask {', '.join(out['readd_by'])} to add "
                      "this node again (hanoi peers add URL) and confirm the new fingerprint")
    else:
        console.print(f"old key {out['old_key_id']} stays valid until {out['old_key_valid_until']}; "
                      f"announced to {len(out['announcements'])} peer(s) through the outbox")
    console.print("restart `hanoi serve` so it signs with the new key")
