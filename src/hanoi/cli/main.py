"""Entry point of the ``hanoi`` command."""

from __future__ import annotations

import functools
import inspect
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from hanoi.bootstrap import init_node, open_node
from hanoi.cli import alerts as alerts_cli
from hanoi.cli import backup as backup_cli
from hanoi.cli import evidence as evidence_cli
from hanoi.cli import feeds as feeds_cli
from hanoi.cli import ledger as ledger_cli
from hanoi.cli import media as media_cli
from hanoi.cli import members as members_cli
from hanoi.cli import node as node_cli
from hanoi.cli import outbox as outbox_cli
from hanoi.cli import peers as peers_cli
from hanoi.cli import policy as policy_cli
from hanoi.cli import requests as requests_cli
from hanoi.cli import signals as signals_cli
from hanoi.cli import tokens as tokens_cli
from hanoi.cli import users as users_cli
from hanoi.cli.common import (
    DEBUG_ENV,
    KINDS_HELP,
    JsonFlag,
    UsageProblem,
    console,
    err_console,
    error_line,
    home,
    one_line,
    print_json,
    report,
    state,
    styled,
)
from hanoi.core.errors import HanoiError
from hanoi.node import alerts, logs, outbox, peers
from hanoi.signals import feeds

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
app.add_typer(users_cli.app, name="users")
app.add_typer(feeds_cli.app, name="feeds")
app.add_typer(alerts_cli.app, name="alerts")
app.add_typer(node_cli.app, name="node")
app.command("hash")(media_cli.hash_command)
app.command("offences")(node_cli.offences_command)
app.command("backup")(backup_cli.backup_command)
app.command("restore")(backup_cli.restore_command)


@app.callback()
def _root(
    home_dir: Annotated[Path | None, typer.Option("--home", help="The node's directory (or HANOI_HOME)")] = None,
    debug: Annotated[bool, typer.Option("--debug", help=f"Show the Python traceback of an internal "
                                                        f"error (or set {DEBUG_ENV}=1)")] = False,
) -> None:
    state.home = home_dir
    state.debug = debug


@app.command()
def init(
    name: Annotated[str, typer.Option(help="The organisation running this node")],
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2 code of its State")],
    kind: Annotated[str, typer.Option(help=KINDS_HELP)],
    region: Annotated[str | None, typer.Option(help="Default phone region (default: the country)")] = None,
    public_url: Annotated[str | None, typer.Option(help="URL where peers reach this node")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a node: config, identity key, migrated database, first admin token."""
    where = home()
    node, token = init_node(where, name=name, country=country, kind=kind, default_region=region,
                            public_url=public_url)
    from hanoi.core import keys

    if as_json:
        print_json({"node_id": node.node_id, "name": node.config.name, "home": str(where),
                    "key_id": node.config.key_id,
                    "fingerprint": keys.fingerprint(node.private_key.public_key()),
                    "database": node.engine.url.render_as_string(hide_password=True), "admin_token": token})
        node.close()
        return
    console.print(styled("node ", (node.config.name, "bold"), f" ({node.node_id}) created in {where}"))
    console.print(f"identity key {node.config.key_id}: {keys.fingerprint(node.private_key.public_key())}")
    console.print(f"database: {node.engine.url.render_as_string(hide_password=True)}")
    console.print("first admin API token (shown once, store it now):")
    console.print(token)
    node.close()


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="TCP port")] = 8600,
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    workers: Annotated[int, typer.Option(help="API worker processes")] = 1,
    worker: Annotated[bool, typer.Option("--worker/--no-worker", help="Deliver the outbox in the background")] = True,
    feed_runner: Annotated[bool, typer.Option("--feeds/--no-feeds", help="Run the due feeds in the background "
                                                                         "(one runner across processes: a "
                                                                         "database lease)")] = True,
) -> None:
    """Run the API (and OpenAPI at /openapi.json) and the outbox delivery worker."""
    import uvicorn

    where = home()
    logs.configure()  # JSON lines on stderr, a request id on each (docs/operations.md)
    node = open_node(where)  # migrates once, before any worker starts
    if not node.config.public_url and host in ("127.0.0.1", "localhost"):
        os.environ[peers.PUBLIC_URL_ENV] = f"http://{host}:{port}"  # peers on this machine only
    if worker:  # one delivery thread in this process, whatever the number of API workers
        outbox.start_worker(open_node(where, migrate=False))
    if feed_runner:
        feeds.start_runner(open_node(where, migrate=False))
    if worker:  # alerts go with deliveries: a node that delivers nothing alerts nobody
        alerts.start_worker(open_node(where, migrate=False))
    console.print(styled((node.config.name, "bold"), f" serving on http://{host}:{port}/api/v1 "
                         f"(OpenAPI: http://{host}:{port}/openapi.json; console: http://{host}:{port}/console/)"))
    # Uvicorn believes X-Forwarded-Proto / -For from loopback by default; the node believes
    # them only when its config says a reverse proxy sets them (the console's Secure cookie
    # and the address its sign-in throttle counts depend on it).
    proxy = {"proxy_headers": node.config.trust_forwarded_headers,
             "forwarded_allow_ips": node.config.forwarded_allow_ips}
    if workers > 1:
        node.close()
        os.environ["HANOI_HOME"] = str(where)
        # A worker imports the whole stack before it answers the supervisor's health check:
        # on a busy 2-core machine that takes more than uvicorn's default 5 s, and the worker
        # was killed and restarted over and over. 60 s, where this uvicorn has the setting.
        extra: dict[str, Any] = ({"timeout_worker_healthcheck": 60}
                                 if "timeout_worker_healthcheck" in inspect.signature(uvicorn.run).parameters
                                 else {})
        uvicorn.run("hanoi.api.app:app_from_env", factory=True, host=host, port=port,
                    workers=workers, log_config=logs.UVICORN_LOG_CONFIG, access_log=False,
                    **proxy, **extra)  # type: ignore[arg-type]
    else:
        # Imported on use: the web stack would cost every other command its start-up time.
        from hanoi.api.app import create_app

        uvicorn.run(create_app(node), host=host, port=port, log_config=logs.UVICORN_LOG_CONFIG,
                    access_log=False, **proxy)  # type: ignore[arg-type]


@app.command()
def demo(
    once: Annotated[bool, typer.Option("--once", help="Play, verify, shut down and exit")] = False,
    directory: Annotated[Path, typer.Option("--dir", help="Where the demo nodes live (wiped first)")] = Path(".demo"),
    port: Annotated[int | None, typer.Option(help="API port (default: a free one)")] = None,
) -> None:
    """A node with sample partners on loopback, to explore (what `make demo` runs)."""
    from hanoi import demo as demo_module  # on use, as the web stack above

    raise typer.Exit(demo_module.run(directory.resolve(), once=once, port=port, console=console))


@functools.cache
def _command() -> Any:
    """The click command tree Typer builds from ``app``: built once (it takes a fifth of a
    second), then every ``run`` in the process parses with it."""
    return typer.main.get_command(app)


def _click_errors() -> tuple[type[Exception], ...]:
    """Usage errors as Typer raises them: from the click it bundles (``typer._click``, Typer
    0.19 and later) and from click itself (earlier Typer, and click-based extensions)."""
    import click

    kinds: list[type[Exception]] = [click.ClickException]
    try:
        from typer._click.exceptions import ClickException as BundledClickException
    except ImportError:  # a Typer that uses click itself
        pass
    else:
        kinds.append(BundledClickException)
    return tuple(kinds)


def _exits() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """The exceptions that end a command with a code, and those that interrupt it."""
    import click

    return (typer.Exit, click.exceptions.Exit), (typer.Abort, click.exceptions.Abort, KeyboardInterrupt)


def _usage_line(exc: Exception) -> str:
    """A usage error on one line, naming the command and where its usage is explained."""
    ctx = getattr(exc, "ctx", None)
    fmt = getattr(exc, "format_message", None)
    message = one_line(fmt() if callable(fmt) else exc)
    if ctx is None:
        return message
    return f"{message.rstrip('.')} (see '{ctx.command_path} --help')"


def _debugging() -> bool:
    return state.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0", "false", "no")


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code: 0 ok, 1 refused, failed check or internal error,
    2 usage error, 130 interrupted. Whatever goes wrong prints one line, never a traceback
    (unless --debug or HANOI_DEBUG asks for it)."""
    state.reset()
    exits, interrupts = _exits()
    try:
        result = _command().main(args=argv, standalone_mode=False, prog_name="hanoi")
    except HanoiError as err:
        report(err)
        return 1
    except UsageProblem as exc:
        err_console.print(error_line(exc))
        return 2
    except exits as exc:
        return int(getattr(exc, "exit_code", 1))
    except interrupts:
        err_console.print(error_line("interrupted"))
        return 130
    except _click_errors() as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            return 0  # a bare `hanoi` or `hanoi GROUP`: its help is printed, as --help would
        err_console.print(error_line(_usage_line(exc)))
        return int(getattr(exc, "exit_code", 2))
    except BrokenPipeError:  # `hanoi ... | head`: the reader left; say nothing more
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (Python flushes stdout at exit)
        return 1
    except Exception as exc:
        if _debugging():
            raise
        if isinstance(exc, OSError) and exc.filename:  # a file named on the command line, most often
            err_console.print(error_line(f"{exc.strerror}: {exc.filename}"))
        else:
            err_console.print(error_line(f"internal error ({type(exc).__name__}: {exc}); run again with "
                                         f"--debug (or {DEBUG_ENV}=1) to see the traceback"))
        return 1
    return result if isinstance(result, int) else 0


def main() -> None:
    sys.exit(run())
