"""``hanoi feeds``: signals pulled on a schedule from a URL or a folder (``hanoi serve`` runs
the due ones; ``hanoi feeds run`` from cron or by hand)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hanoi.cli.common import JsonFlag, actor, console, open_node, print_json, print_table, styled, table
from hanoi.signals import feeds

app = typer.Typer(help="Feeds: TAXII collections, MISP feeds, STIX, CSV and URLhaus documents pulled "
                       "on a schedule.", no_args_is_help=True)
NAME = Annotated[str, typer.Argument(help="The feed's name")]


def _line(f: dict[str, Any]) -> str:
    state = "paused" if f["paused"] else f"next {f['next_run_at']}"
    error = f"; failing ({f['failures']}x): {f['last_error']}" if f["last_error"] else ""
    return f"{f['name']}: {f['format']} every {f['every_seconds']} s, {state}{error}"


@app.command("add")
def add(
    name: NAME,
    url: Annotated[str | None, typer.Option(help="Where to pull from (a TAXII collection URL, a MISP "
                                                 "feed URL, a document URL)")] = None,
    path: Annotated[Path | None, typer.Option(help="A folder (MISP feed) or file on this machine")] = None,
    format_: Annotated[str, typer.Option("--format", help=", ".join(feeds.FORMATS))] = "stix",
    every: Annotated[str, typer.Option(help="How often: 15m, 1h, 1d")] = "1h",
    tlp: Annotated[str, typer.Option(help="TLP for entries that carry none")] = "GREEN",
    offence: Annotated[str | None, typer.Option(help="Offence code for entries that name none")] = None,
    source: Annotated[str | None, typer.Option(help="The member the signals come from")] = None,
    token_env: Annotated[str | None, typer.Option(help="Environment variable holding a bearer token "
                                                       "for the URL")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a feed; its first run is due at once."""
    data: dict[str, Any] = {"name": name, "format": format_, "every": every, "tlp": tlp}
    for key, value in (("url", url), ("path", str(path.resolve()) if path else None), ("offence", offence),
                       ("source", source), ("token_env", token_env)):
        if value is not None:
            data[key] = value
    out = feeds.add(open_node(), actor(), data)
    if as_json:
        print_json(out)
        return
    console.print(_line(out))


@app.command("list")
def list_(as_json: JsonFlag = False) -> None:
    """Every feed, when it runs next, and whether it is failing."""
    rows = feeds.listing(open_node())
    if as_json:
        print_json(rows)
        return
    t = table("name", "format", "every", "next run", "last ok", "failures", "last error", whole=("name",))
    for f in rows:
        t.add_row(f["name"], f["format"], f"{f['every_seconds']} s", "paused" if f["paused"] else f["next_run_at"],
                  f["last_ok_at"] or "", str(f["failures"]), f["last_error"] or "")
    print_table(t)


@app.command("run")
def run(name: NAME, as_json: JsonFlag = False) -> None:
    """Run a feed now (under the same lease as `hanoi serve`'s runner); exit 1 if it failed."""
    out = feeds.run_named(open_node(), name)
    if as_json:
        print_json(out)
    elif out["ok"]:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(out["counts"].items()))
        console.print(f"{name}: {out['pages']} pages{'; ' + counts if counts else ''}")
    else:
        console.print(styled((f"{name} failed ({out['failures']}x): {out['error']}", "bold red")))
    raise typer.Exit(0 if out["ok"] else 1)


@app.command("pause")
def pause(name: NAME, as_json: JsonFlag = False) -> None:
    """Stop running a feed on its schedule (its checkpoint is kept)."""
    out = feeds.set_paused(open_node(), actor(), name, True)
    print_json(out) if as_json else console.print(_line(out))


@app.command("resume")
def resume(name: NAME, as_json: JsonFlag = False) -> None:
    """Run a paused feed again (due at once)."""
    out = feeds.set_paused(open_node(), actor(), name, False)
    print_json(out) if as_json else console.print(_line(out))


@app.command("remove")
def remove(name: NAME, as_json: JsonFlag = False) -> None:
    """Remove a feed (what it imported stays)."""
    out = feeds.remove(open_node(), actor(), name)
    print_json(out) if as_json else console.print(f"feed {name} removed")
