"""CLI commands of the data-in area: ``validate`` and ``convert``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from claimguard.commands.options import ConfigOption, DataArg, MappingOption


def _print_summary(s: dict[str, Any], console: Console) -> None:
    t = Table(title="Rows per table")
    for col in ("table", "read", "valid", "quarantined"):
        t.add_column(col, justify="left" if col == "table" else "right")
    for name, c in s["tables"].items():
        t.add_row(name, f"{c['in']:,}", f"{c['valid']:,}", f"{c['quarantined']:,}")
    console.print(t)
    if s["top_reasons"]:
        r = Table(title="Top quarantine reasons")
        for col in ("table", "column", "reason", "action", "count"):
            r.add_column(col, justify="right" if col == "count" else "left")
        for x in s["top_reasons"][:10]:
            r.add_row(
                x["table"], str(x["column"] or "-"), x["reason"], x["action"], f"{x['count']:,}"
            )
        console.print(r)
    else:
        console.print("No problems found: every row is valid.")
    ok = "holds" if s["invariant_rows_in_equals_valid_plus_quarantined"] else "BROKEN"
    console.print(f"rows read = valid + quarantined: {ok}")


def validate(
    data: DataArg,
    mapping: MappingOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for quarantine.parquet (default: current)."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Check a dataset: rows read/valid/quarantined per table, top reasons, quarantine.parquet.

    Exits 0 when the data could be read (even with quarantined rows), 2 when not.

    Example: `claimguard validate data/claims --mapping configs/mappings/xml130_flat.yaml --out checks/`
    """
    from claimguard.io import load_dataset, write_quarantine
    from claimguard.io.atomic import atomic_file
    from claimguard.io.write import summary
    from claimguard.settings import load_settings

    settings = load_settings(config)
    ds = load_dataset(data, mapping, settings.io)
    out_dir = out or Path.cwd()
    with atomic_file(out_dir / "quarantine.parquet") as tmp:  # never a half-written file
        write_quarantine(ds.quarantine, tmp)
    console = Console()
    _print_summary(summary(ds), console)
    console.print(f"Quarantine written to {out_dir / 'quarantine.parquet'}")


def convert(
    data: DataArg,
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Output folder for the Parquet files (replaced atomically)."
        ),
    ],
    mapping: MappingOption = None,
    config: ConfigOption = None,
) -> None:
    """Read any supported input and write canonical Parquet + quarantine.parquet + summary.json.

    Example: `claimguard convert xml_exports/ --out data/2024-01`
    """
    from claimguard.io import load_dataset
    from claimguard.io.write import write_dataset_folder
    from claimguard.settings import load_settings

    settings = load_settings(config)
    ds = load_dataset(data, mapping, settings.io)
    s = write_dataset_folder(ds, out)
    console = Console()
    _print_summary(s, console)
    console.print(f"Canonical tables written to {out}")


def register(app: typer.Typer) -> None:
    """Add ``validate`` and ``convert`` to the main app."""
    app.command("validate")(validate)
    app.command("convert")(convert)
