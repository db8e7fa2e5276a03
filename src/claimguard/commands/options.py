"""Options shared by every command, declared once so their names and help never drift apart."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML settings file (default: configs/default.yaml)."),
]
MappingOption = Annotated[
    Path | None,
    typer.Option(
        "--mapping", "-m", help="Mapping YAML for a foreign layout (see configs/mappings/)."
    ),
]
DataArg = Annotated[
    Path,
    typer.Argument(
        help="Dataset folder, a claims .parquet/.csv file, or an XML 130 file or folder."
    ),
]
