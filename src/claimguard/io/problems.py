"""A validation problem: which cells of one column fail one rule.

Its own module so that coercion (``io.coerce``) and validation (``io.validation``) can both
use it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Problem:
    """Cells of one column that fail one rule (``mask`` is True on the failing rows)."""

    column: str
    mask: np.ndarray
    reason: str
    removes_row: bool = False  # True: the row goes whatever the column (duplicates, orphans)

    def __post_init__(self) -> None:
        self.mask = np.array(self.mask, dtype=bool)  # own, writable copy
