"""CLI command of the monitoring area: ``claimguard monitor DATA --model PATH --out DIR``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from claimguard.commands.options import ConfigOption, MappingOption

log = logging.getLogger(__name__)


def monitor(
    data: Annotated[
        Path,
        typer.Argument(
            help="Dataset folder, claims file, XML 130 file/folder, or a folder of dataset "
            "folders (one per monthly extract, read one at a time)."
        ),
    ],
    model: Annotated[str, typer.Option("--model", help="Model bundle path or models:/NAME@alias.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (replaced atomically).")],
    months: Annotated[
        int | None, typer.Option("--months", min=1, help="Only the last N months of DATA.")
    ] = None,
    mapping: MappingOption = None,
    config: ConfigOption = None,
) -> None:
    """Early warnings: monthly indicators per facility, province and fund against same-tier
    peers, and warnings where one changed against its own history and its peers.

    Writes indicators.parquet, warnings.parquet/.csv and monitor.json; `claimguard serve
    --trends OUT` shows them on the triage app's Trends page.

    Example: `claimguard monitor data/2024 --model models/claimguard.bundle --out runs/monitor`
    """
    from claimguard.io.load import dataset_folders, load_dataset
    from claimguard.model.bundle import load_bundle
    from claimguard.progress import step
    from claimguard.scoring.monitor import (
        monitor_dataset,
        monitor_folders,
        write_monitor_folder,
    )
    from claimguard.settings import load_settings

    settings = load_settings(config)
    timings: dict[str, float] = {}
    with step("Loading model", timings):
        bundle = load_bundle(model, settings)
    extracts = dataset_folders(data)
    if extracts:  # one folder per monthly extract: read one at a time (bounded memory)
        log.info("Reading %d extracts of %s one at a time", len(extracts), data)
        with step("Computing monthly indicators and warnings", timings):
            result = monitor_folders(
                extracts,
                bundle,
                settings,
                lambda f: load_dataset(f, mapping, settings.io),
                months=months,
            )
    else:
        with step("Reading data", timings):
            ds = load_dataset(data, mapping, settings.io)
        with step("Computing monthly indicators and warnings", timings):
            result = monitor_dataset(ds, bundle, settings, months=months)
    result.run["timings_seconds"] = timings
    write_monitor_folder(result, out)
    log.info(
        "Wrote %d indicator rows and %d warnings for %d months to %s",
        len(result.indicators),
        len(result.warnings),
        len(result.run["months"]),
        out,
    )


def register(app: typer.Typer) -> None:
    """Add `monitor` to the main app."""
    app.command("monitor")(monitor)
