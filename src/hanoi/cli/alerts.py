"""``hanoi alerts``: who is told of what, by a signed webhook (``hanoi.node.alerts``)."""

from __future__ import annotations

from typing import Annotated

import typer

from hanoi.cli.common import JsonFlag, UsageProblem, actor, console, open_node, print_json, print_table, table
from hanoi.node import alerts

app = typer.Typer(help="Alerts: an event (an emergency request arriving...) sent to a webhook in seconds.",
                  no_args_is_help=True)


@app.command("subscribe")
def subscribe(
    event: Annotated[str, typer.Option(help=", ".join(alerts.EVENTS))],
    role: Annotated[str, typer.Option(help="The subscriber's role: the alert carries only what it may see")],
    name: Annotated[str, typer.Option(help="Who this is for")],
    webhook: Annotated[str | None, typer.Option(help="The URL the alert is POSTed to")] = None,
    email: Annotated[str | None, typer.Option(help="The address the alert is mailed to (smtp_host in "
                                                   "config.yaml)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Subscribe a webhook or an e-mail address to an event; prints the webhook's signing
    secret once."""
    if (webhook is None) == (email is None):
        raise UsageProblem("alerts subscribe: give --webhook URL or --email ADDRESS")
    out = alerts.subscribe(open_node(), actor(), {"event": event, "channel": "webhook" if webhook else "email",
                                                  "target": webhook or email, "role": role, "name": name})
    if as_json:
        print_json(out)
        return
    console.print(f"subscription {out['id']}: {out['event']} -> {out['target']} ({out['role']})")
    console.print(f"signing secret (shown once): {out['secret']}")


@app.command("list")
def list_(as_json: JsonFlag = False) -> None:
    """The subscriptions, and an error of one whose alerts are not getting through."""
    rows = alerts.listing(open_node())
    if as_json:
        print_json(rows)
        return
    t = table("id", "name", "event", "target", "role", "failing", whole=("id",))
    for r in rows:
        t.add_row(str(r["id"]), r["name"], r["event"], r["target"], r["role"], r["pending_error"] or "")
    print_table(t)


@app.command("remove")
def remove(sid: Annotated[int, typer.Argument(help="The subscription's id", min=1, max=2**31 - 1)],
           as_json: JsonFlag = False) -> None:
    """Remove a subscription (its undelivered alerts with it)."""
    out = alerts.unsubscribe(open_node(), actor(), sid)
    print_json(out) if as_json else console.print(f"subscription {sid} removed")
