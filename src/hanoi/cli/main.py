"""Entry point of the ``hanoi`` command."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from hanoi.cli import evidence as evidence_cli
from hanoi.cli import ledger as ledger_cli
from hanoi.cli import media as media_cli
from hanoi.cli import members as members_cli
from hanoi.cli import outbox as outbox_cli
from hanoi.cli import peers as peers_cli
from hanoi.cli import policy as policy_cli
from hanoi.cli import requests as requests_cli
from hanoi.cli import signals as signals_cli
from hanoi.cli import tokens as tokens_cli
from hanoi.cli.common import KINDS_HELP, console, home, report, state
from hanoi.core.errors import HanoiError
from hanoi.services.node import init_node

app = typer.Typer(
    help="Hanoi Exchange: cross-border cooperation against cybercrime under the UN Convention "
         "against Cybercrime.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(members_cli.app, name="members")
app.add_typer(ledger_cli.app, name="ledger")
app.add_typer(tokens_cli.app, name="tokens")
app.add_typer(requests_cli.app, name="requests")
app.add_typer(policy_cli.app, name="policy")
app.add_typer(evidence_cli.app, name="evidence")
app.add_typer(signals_cli.app, name="signals")
app.add_typer(peers_cli.app, name="peers")
app.add_typer(outbox_cli.app, name="outbox")
app.add_typer(media_cli.app, name="media")
app.command("hash")(media_cli.hash_command)


@app.callback()
def _root(
    home_dir: Annotated[Path | None, typer.Option("--home", help="The node's directory (or HANOI_HOME)")] = None,
) -> None:
    state.home = home_dir


@app.command()
def init(
    name: Annotated[str, typer.Option(help="The organisation running this node")],
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2 code of its State")],
    kind: Annotated[str, typer.Option(help=KINDS_HELP)],
    region: Annotated[str | None, typer.Option(help="Default phone region (default: the country)")] = None,
    public_url: Annotated[str | None, typer.Option(help="URL where peers reach this node")] = None,
) -> None:
    """Create a node: config, identity key, migrated database, first admin token."""
    where = home()
    node, token = init_node(where, name=name, country=country, kind=kind, default_region=region,
                            public_url=public_url)
    from hanoi.core import keys

    console.print(f"node [bold]{node.config.name}[/] ({node.node_id}) created in {where}")
    console.print(f"identity key {node.config.key_id}: {keys.fingerprint(node.private_key.public_key())}")
    console.print(f"database: {node.engine.url.render_as_string(hide_password=True)}")
    console.print("first admin API token (shown once, store it now):")
    console.print(token, highlight=False, markup=False)
    node.close()


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="TCP port")] = 8600,
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    workers: Annotated[int, typer.Option(help="API worker processes")] = 1,
    worker: Annotated[bool, typer.Option("--worker/--no-worker", help="Deliver the outbox in the background")] = True,
) -> None:
    """Run the API (and OpenAPI at /openapi.json) and the outbox delivery worker."""
    import uvicorn

    from hanoi.services import outbox, peers
    from hanoi.services.node import Node

    where = home()
    node = Node.open(where)  # migrates once, before any worker starts
    if not node.config.public_url and host in ("127.0.0.1", "localhost"):
        os.environ[peers.PUBLIC_URL_ENV] = f"http://{host}:{port}"  # peers on this machine only
    if worker:  # one delivery thread in this process, whatever the number of API workers
        outbox.start_worker(Node.open(where, migrate=False))
    console.print(f"[bold]{node.config.name}[/] serving on http://{host}:{port}/api/v1 "
                  f"(OpenAPI: http://{host}:{port}/openapi.json)")
    if workers > 1:
        node.close()
        os.environ["HANOI_HOME"] = str(where)
        uvicorn.run("hanoi.api.app:app_from_env", factory=True, host=host, port=port,
                    workers=workers, log_level="warning")
    else:
        from hanoi.api.app import create_app

        uvicorn.run(create_app(node), host=host, port=port, log_level="warning")


@app.command()
def demo(
    once: Annotated[bool, typer.Option("--once", help="Play, verify, shut down and exit")] = False,
    directory: Annotated[Path, typer.Option("--dir", help="Where the demo nodes live (wiped first)")] = Path(".demo"),
    port: Annotated[int | None, typer.Option(help="API port (default: a free one)")] = None,
) -> None:
    """A node with sample partners on loopback, to explore (what `make demo` runs)."""
    from hanoi import demo as demo_module

    raise typer.Exit(demo_module.run(directory.resolve(), once=once, port=port, console=console))


def _usage_errors() -> tuple[type[Exception], ...]:
    """click's usage errors, and those of the copy of click newer typer versions run instead
    (``typer.TyperException`` is their base): without it a bad option value was a traceback."""
    import click

    own = getattr(typer, "TyperException", None)
    return (click.ClickException, own) if isinstance(own, type) else (click.ClickException,)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code: 0 ok, 1 refused or failed check, 2 usage error."""
    import click

    try:
        result = app(args=argv, standalone_mode=False, prog_name="hanoi")
    except HanoiError as err:
        report(err)
        return 1
    except (typer.Exit, click.exceptions.Exit) as exc:
        return int(exc.exit_code)
    except (typer.Abort, click.exceptions.Abort):
        return 130
    except _usage_errors() as exc:
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            print(f"Error: {exc}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 2))
    return result if isinstance(result, int) else 0


def main() -> None:
    sys.exit(run())
