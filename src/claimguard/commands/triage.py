"""CLI commands of the triage area: `serve` and `triage export`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from claimguard.commands.options import ConfigOption
from claimguard.errors import UserError
from claimguard.stores import absolute_url, announce, require_existing

log = logging.getLogger(__name__)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Alert store URL: sqlite:///triage.db (default: triage.db_url) or "
        "postgresql://user:pass@host:5432/db.",
    ),
]


def serve(
    folder: Annotated[
        Path, typer.Argument(help="Scored folder written by `claimguard score --out`.")
    ],
    db: DbOption = None,
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on.")] = None,
    trust_proxy_header: Annotated[
        str | None,
        typer.Option(
            "--trust-proxy-header",
            help="Header with the signed-in username set by your single-sign-on reverse "
            "proxy (e.g. X-Remote-User). Only when the app is reachable through that proxy "
            "alone; the user must exist (claimguard users add).",
        ),
    ] = None,
    config: ConfigOption = None,
    trends: Annotated[
        Path | None, typer.Option("--trends", help="Output folder of `claimguard monitor`.")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Server processes (uvicorn workers); about one per core serves more "
            "reviewers at once (docs/triage.md).",
        ),
    ] = 1,
) -> None:
    """Load a scored folder into the alert store and serve the reviewers' triage app.

    Loading is idempotent (alerts are keyed by alert_id) and keeps earlier decisions.

    Example: `claimguard serve out/ --db sqlite:///triage.db --port 8000`
    """
    import uvicorn

    from claimguard.settings import load_settings
    from claimguard.triage.app import KEEP_ALIVE_S, create_app
    from claimguard.triage.load import load_folder
    from claimguard.triage.store import Store

    settings = load_settings(config)
    t = settings.triage
    url = absolute_url(db or t.db_url)
    announce("Triage store", url)
    h, p = host or t.host, port or t.port
    _check_port_free(h, p)
    store = Store.open(url, lock_timeout_s=t.db_lock_timeout_seconds)
    with store.lock_guard():
        load_folder(store, folder)
    from claimguard.triage.auth import count_users

    if count_users(store) == 0:
        typer.echo(
            "No users yet: nobody can sign in. Create the first admin with\n"
            f"  claimguard users add NAME --role admin --db {db or t.db_url}\n"
            "then add reviewers and supervisors the same way (--role reviewer|supervisor)."
        )
    log.info("Serving the triage app on http://%s:%d/ (Ctrl+C to stop)", h, p)
    try:
        if workers > 1:  # each worker opens the store itself
            store.close()
            _serve_workers(url, config, trust_proxy_header, trends, h, p, workers)
            return
        app = create_app(
            store,
            page_size=t.page_size,
            doctor_daily_cap=settings.features.doctor_daily_cap,
            settings=t,
            trust_proxy_header=trust_proxy_header,
            trends_dir=trends,
        )
        uvicorn.run(app, host=h, port=p, log_level="warning", timeout_keep_alive=KEEP_ALIVE_S)
    except SystemExit as exc:  # uvicorn exits 3 when it cannot start (our drift code)
        raise _port_error(h, p, "the server could not start") from exc


def _serve_workers(
    url: str,
    config: Path | None,
    trust_proxy_header: str | None,
    trends: Path | None,
    host: str,
    port: int,
    workers: int,
) -> None:
    """uvicorn with ``workers`` processes, each building its app from the environment."""
    import json
    import os

    import uvicorn

    from claimguard.triage.app import KEEP_ALIVE_S, SERVE_ENV

    os.environ[SERVE_ENV] = json.dumps(
        {
            "url": url,
            "config": str(config) if config else None,
            "trust_proxy_header": trust_proxy_header,
            "trends": str(trends) if trends else None,
        }
    )
    uvicorn.run(
        "claimguard.triage.app:app_from_environment",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="warning",
        timeout_keep_alive=KEEP_ALIVE_S,
    )


def _port_error(host: str, port: int, why: str) -> UserError:
    return UserError(
        f"Cannot listen on {host}:{port} ({why})",
        where=f"--host {host} --port {port}",
        fix="stop the program using that port, or pick another one with --port "
        "(or triage.port in the config)",
    )


def _check_port_free(host: str, port: int) -> None:
    """A readable exit 2 for a busy port, before the store is loaded."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise _port_error(host, port, f"unknown address: {exc}") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind(address)
        except OSError as exc:
            raise _port_error(host, port, exc.strerror or str(exc)) from exc


def export(
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV file to write.")] = Path(
        "labels.csv"
    ),
    db: DbOption = None,
    history: Annotated[
        bool, typer.Option("--history", help="Every decision, not only each alert's latest.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Write reviewer decisions as labels.csv (docs/contract.md section 4 + decision, reviewer,
    decided_at).

    Example: `claimguard triage export --db sqlite:///triage.db --out labels.csv`
    """
    from claimguard.settings import load_settings
    from claimguard.triage.export import write_labels
    from claimguard.triage.store import Store

    settings = load_settings(config)
    url = absolute_url(db or settings.triage.db_url)
    announce("Triage store", url)
    require_existing(
        url,
        "triage store",
        "pass --db with the store `claimguard serve` used (e.g. sqlite:////srv/claimguard/"
        "triage.db), or set triage.db_url / CLAIMGUARD_TRIAGE__DB_URL",
    )
    store = Store.open(url, lock_timeout_s=settings.triage.db_lock_timeout_seconds)
    try:
        with store.lock_guard():
            n = write_labels(store, out, history=history)
    finally:
        store.close()
    log.info("Wrote %d decision(s) to %s", n, out)
    typer.echo(f"{n} decision(s) written to {out}")


def register(app: typer.Typer) -> None:
    """Add `serve` and the `triage` group (`triage export`) to the main app."""
    app.command("serve")(serve)
    group = typer.Typer(
        help="Triage store tools (export reviewer decisions).", no_args_is_help=True
    )
    group.command("export")(export)
    app.add_typer(group, name="triage")
