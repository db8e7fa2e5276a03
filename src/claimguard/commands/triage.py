"""CLI commands of the triage area: `serve` and `triage export`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from claimguard.commands.options import ConfigOption

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
    config: ConfigOption = None,
    trends: Annotated[
        Path | None, typer.Option("--trends", help="Output folder of `claimguard monitor`.")
    ] = None,
) -> None:
    """Load a scored folder into the alert store and serve the reviewers' triage app.

    Loading is idempotent (alerts are keyed by alert_id) and keeps earlier decisions.

    Example: `claimguard serve out/ --db sqlite:///triage.db --port 8000`
    """
    import uvicorn

    from claimguard.settings import load_settings
    from claimguard.triage.app import create_app
    from claimguard.triage.load import load_folder
    from claimguard.triage.store import Store

    settings = load_settings(config)
    t = settings.triage
    store = Store.open(db or t.db_url, lock_timeout_s=t.db_lock_timeout_seconds)
    load_folder(store, folder)
    app = create_app(
        store,
        page_size=t.page_size,
        doctor_daily_cap=settings.features.doctor_daily_cap,
        trends_dir=trends,
    )
    h, p = host or t.host, port or t.port
    log.info("Serving the triage app on http://%s:%d/ (Ctrl+C to stop)", h, p)
    uvicorn.run(app, host=h, port=p, log_level="warning")


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
    """Write reviewer decisions as labels.csv (SPEC section 4 + decision, reviewer, decided_at).

    Example: `claimguard triage export --db sqlite:///triage.db --out labels.csv`
    """
    from claimguard.settings import load_settings
    from claimguard.triage.export import write_labels
    from claimguard.triage.store import Store

    settings = load_settings(config)
    store = Store.open(
        db or settings.triage.db_url, lock_timeout_s=settings.triage.db_lock_timeout_seconds
    )
    try:
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
