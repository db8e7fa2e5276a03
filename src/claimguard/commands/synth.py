"""CLI command of the synth area: ``claimguard generate OUT --claims N --seed S``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from claimguard.commands.options import ConfigOption


def generate(
    out: Annotated[Path, typer.Argument(help="Folder to write the synthetic dataset into.")],
    claims: Annotated[
        int | None, typer.Option("--claims", "-n", help="Number of claims (default: config).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", "-s", help="Random seed.")] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="First day, ISO date (e.g. 2024-01-01).")
    ] = None,
    months: Annotated[int | None, typer.Option("--months", help="Months to generate.")] = None,
    abuse_rate: Annotated[
        float | None, typer.Option("--abuse-rate", help="Share of entities with planted abuse.")
    ] = None,
    variant: Annotated[
        int | None,
        typer.Option(
            "--variant",
            min=0,
            help="Population variant: 0 = the default population; N >= 1 draws other visit "
            "rates, same-day revisits, travellers, rare diagnoses, busy clinics, data-entry "
            "noise, absent columns and abuse strength (bench/README.md lists them).",
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Write a synthetic, labelled claims dataset: the four tables plus labels and traps.

    Writes claims/claim_lines/facilities/cards .parquet, labels.csv (planted abuse:
    entity_type, entity_id, scenario, variant), traps.csv (legitimate heavy users)
    and truth_claims.parquet (every planted claim). Same seed, same files.
    Defaults come from the `generate` section of the config; flags override them.

    Example: `claimguard generate data/demo --claims 200000 --seed 7 --start 2024-01-01`
    (add `--variant 3` for another population, to test that a model holds on it)
    """
    from claimguard.progress import step
    from claimguard.settings import load_settings
    from claimguard.synth.generate import generate as make
    from claimguard.synth.generate import write_synthetic
    from claimguard.synth.variants import variant as population_variant

    g = load_settings(config).generate
    n = g.claims if claims is None else claims
    timings: dict[str, float] = {}
    with step(f"Generating {n:,} claims", timings):
        data = make(
            n,
            g.seed if seed is None else seed,
            start=g.start if start is None else start,
            months=g.months if months is None else months,
            abuse_rate=g.abuse_rate if abuse_rate is None else abuse_rate,
            population=population_variant(g.variant if variant is None else variant),
        )
    with step(f"Writing {out}", timings):
        write_synthetic(data, out)
    Console().print(
        f"Wrote {len(data.claims):,} claims, {len(data.claim_lines):,} lines, "
        f"{len(data.cards):,} cards, {len(data.facilities):,} facilities, "
        f"{len(data.labels):,} labelled entities, {len(data.traps):,} traps to {out}",
        markup=False,
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add `generate` to the main app."""
    app.command("generate")(generate)
