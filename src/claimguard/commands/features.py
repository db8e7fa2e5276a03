"""CLI command of the features area: ``claimguard features DATA --out DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

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
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="Use this model bundle's peers and settings, and build in card/facility "
            "partitions as scoring does (bounded memory). Default: peers fitted on DATA.",
        ),
    ] = None,
) -> None:
    """Write the per-card and per-facility feature tables of a dataset.

    Peers are fitted on the same data (for exploration and debugging), or taken from
    --model (the peers of its training data; the build then runs in partitions, for
    months larger than memory). Also writes claim_flags.parquet (per-claim evidence
    strengths) and switched_off.json.

    Example: `claimguard features data/demo --out features/ [--model models/model.joblib]`
    """
    import json

    from claimguard.features.build import build_features
    from claimguard.io.load import load_dataset
    from claimguard.progress import step
    from claimguard.settings import load_settings

    settings = load_settings(config)
    bundle = None
    if model is not None:
        from claimguard.model.bundle import load_bundle

        bundle = load_bundle(model, settings)  # a bad bundle fails before the data is read
    ds = load_dataset(data, mapping, settings.io)
    with step("Building features"):
        if bundle is None:
            fs = build_features(
                ds.claims, ds.claim_lines, ds.cards, ds.facilities, settings=settings.features
            )
        else:
            fs = _partitioned(ds, bundle)
    out.mkdir(parents=True, exist_ok=True)
    with step("Writing feature tables"):
        fs.card.to_parquet(out / "card_features.parquet")
        fs.facility.to_parquet(out / "facility_features.parquet")
        if fs.claim_flags is not None:
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


def _partitioned(ds: Any, bundle: Any) -> Any:
    """Features with the bundle's peers, in partitions; the partitions' claim flags
    gathered into one claim_flags table (one row per claim, a column per signal)."""
    import dataclasses

    import numpy as np
    import pandas as pd

    from claimguard.features.lookup import positions
    from claimguard.features.partitioned import build_partitioned
    from claimguard.features.prepare import period_of
    from claimguard.scoring.evidence import flag_columns

    claims = ds.claims
    strengths: dict[str, np.ndarray] = {}

    def gather(entity: str, flags: pd.DataFrame, rows: np.ndarray) -> None:
        at = rows[positions(flags["claim_id"], claims["claim_id"].iloc[rows])]
        for col in flag_columns(flags):
            column = strengths.setdefault(col, np.zeros(len(claims), dtype=np.float32))
            column[at] = np.maximum(column[at], flags[col].to_numpy(dtype=np.float32))

    fs = build_partitioned(
        claims,
        ds.claim_lines,
        ds.cards,
        ds.facilities,
        peers=bundle.peers,
        settings=bundle.settings.features,
        period=period_of(claims),
        on_flags=gather,
    )
    flags = claims[["claim_id", "card_id", "facility_id"]].reset_index(drop=True)
    for col, values in strengths.items():
        flags[col] = values
    return dataclasses.replace(fs, claim_flags=flags)


def register(app: typer.Typer) -> None:
    """Add this area's commands to `app`."""
    app.command("features")(features)
