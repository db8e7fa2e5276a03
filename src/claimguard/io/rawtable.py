"""A table's raw rows with where each came from, and the whole-file checks every reader
makes first (missing, empty), so a reader of any format fails with the same message."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from claimguard.errors import InputFileError
from claimguard.io.validation import SourceFiles, empty_frame


@dataclass
class RawTable:
    """Raw rows of one canonical table, with where each row came from.

    ``pre_quarantine`` holds rows rejected before they had columns (a CSV line that
    cannot be split into the header's fields, an undecodable XML record); they count
    as rows in and rows quarantined.
    """

    name: str
    frame: pd.DataFrame
    source_file: SourceFiles  # which file each row came from
    source_row: np.ndarray  # int64, 1-based
    pre_quarantine: pd.DataFrame = field(default_factory=empty_frame)
    # source column -> rows that held a list, map or structure instead of one value (Parquet
    # nested types); the column is emptied here and the rows reported by validation
    nested: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def rows_in(self) -> int:
        return len(self.frame) + len(self.pre_quarantine)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 8 MiB blocks (hashlib releases the GIL: thread-friendly)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(8 << 20):
            h.update(block)
    return h.hexdigest()


def check_file(path: Path, what: str) -> None:
    if not path.exists():
        raise InputFileError(
            f"the {what} file does not exist",
            where=str(path),
            fix="check the path; DATA is a dataset folder, a claims .parquet/.csv file, "
            "or an XML 130 file or folder",
        )
    if path.is_file() and path.stat().st_size == 0:
        raise InputFileError(
            f"the {what} file is empty (0 bytes)",
            where=str(path),
            fix="re-export the table with a header row and data rows",
        )
