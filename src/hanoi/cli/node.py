"""``hanoi node``: this node as a partner sees it; ``hanoi offences``: the offence catalogue."""

from __future__ import annotations

from typing import Annotated

import typer

from hanoi.cli.common import JsonFlag, console, open_node, print_json, print_table, styled, table
from hanoi.core import offences
from hanoi.node import peers

app = typer.Typer(help="This node: what to give a partner so it can register and trust it.",
                  no_args_is_help=True)


@app.command("show")
def show(
    public_key: Annotated[bool, typer.Option("--public-key", help="Print only the public key (for scripts: "
                                                                  "members add --key \"$(hanoi node show "
                                                                  "--public-key)\")")] = False,
    as_json: JsonFlag = False,
) -> None:
    """This node's id, public key and its fingerprint, and its descriptor URL: what a partner
    registers (`hanoi members add --key`) or fetches and confirms (`hanoi peers add URL`)."""
    me = peers.identity(open_node())
    if as_json:
        print_json(me)
        return
    if public_key:
        console.print(me["public_key"])
        return
    console.print(styled((me["name"], "bold"), f" ({me['node_id']}) — {me['kind']}, {me['country']}"))
    console.print(f"public key:     {me['public_key']}  (key id {me['key_id']})")
    console.print(f"fingerprint:    {me['fingerprint']}")
    console.print("descriptor URL: " + (me["descriptor_url"] or "none yet: set public_url in config.yaml "
                                                               "(or `hanoi init --public-url`)"))
    console.print("Give a partner the key and the fingerprint by a channel you trust; a peer confirms the "
                  "fingerprint before it trusts the descriptor.", style="dim")


def offences_command(as_json: JsonFlag = False) -> None:
    """The offence codes that requests, signals and media hashes name, with their articles."""
    rows = offences.catalogue()
    if as_json:
        print_json(rows)
        return
    t = table("code", "offence", "citation", title=f"{len(rows)} offences", whole=("code",))
    for o in rows:
        t.add_row(o["code"], o["name"], o["citation"])
    print_table(t)
