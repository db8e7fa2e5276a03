"""CLI command of the features area: ``claimguard features DATA --out DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from claimguard.commands.options import ConfigOption, DataArg, MappingOption


def features(
    data: DataArg,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for card_/facility_features.parquet.")
    ],
    mapping: MappingOption = None,
    config: ConfigOption = None,
) -> None:
    """Write the per-card and per-facility feature tables of a dataset.

    Peers are fitted on the same data (for exploration and debugging; a model bundle
    keeps the peers of its training data). Also writes claim_flags.parquet (per-claim
    evidence strengths) and switched_off.json.

    Example: `claimguard features data/demo --out features/`
    """
    import json

    from claimguard.features.build import build_features
    from claimguard.io.load import load_dataset
    from claimguard.progress import step
    from claimguard.settings import load_settings

    settings = load_settings(config)
    ds = load_dataset(data, mapping)
    with step("Building features"):
        fs = build_features(
            ds.claims, ds.claim_lines, ds.cards, ds.facilities, settings=settings.features
        )
    out.mkdir(parents=True, exist_ok=True)
    with step("Writing feature tables"):
        fs.card.to_parquet(out / "card_features.parquet")
        fs.facility.to_parquet(out / "facility_features.parquet")
        fs.claim_flags.to_parquet(out / "claim_flags.parquet", index=False)
        (out / "switched_off.json").write_text(
            json.dumps(fs.switched_off, indent=2, sort_keys=True), encoding="utf-8"
        )
    Console().print(
        f"{len(fs.card):,} cards x {fs.card.shape[1]} features, "
        f"{len(fs.facility):,} facilities x {fs.facility.shape[1]} features, "
        f"period {fs.period_start.date()} .. {fs.period_end.date()} -> {out}"
        + (f"; {len(fs.switched_off)} features switched off" if fs.switched_off else "")
    )


def register(app: typer.Typer) -> None:
    """Add this area's commands to `app`."""
    app.command("features")(features)
