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
EngineOption = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="local (pandas in this process) or spark (card/facility partitions on Apache "
        "Spark, same results; docs/scaling.md). Default: the `engine` setting.",
    ),
]
SparkMasterOption = Annotated[
    str | None,
    typer.Option(
        "--spark-master",
        help="Spark master URL for --engine spark, e.g. local[4], spark://host:7077, yarn. "
        "Default: the `spark.master` setting.",
    ),
]
