"""The validated dataset handed from the input layer to every later stage.

Readers in ``claimguard.io`` build a :class:`Dataset`; features, model, scoring
and triage only consume it. Its frames follow ``claimguard.schema`` exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from claimguard.schema import QUARANTINE_COLUMNS


def empty_quarantine() -> pd.DataFrame:
    """A quarantine frame with no rows and the quarantine columns of docs/contract.md section 2."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in QUARANTINE_COLUMNS})


@dataclass
class Dataset:
    """Canonical tables (optional ones may be None) plus what happened on the way in.

    ``counts`` maps table name to ``{"in": n, "valid": n, "quarantined": n}`` with
    ``in == valid + quarantined`` always. ``sources`` maps each input file to its
    SHA-256, for run fingerprints. ``labels`` holds ``labels.csv`` when the folder has one.
    Repetitive code columns (``claimguard.io.compact.DICTIONARY_COLUMNS``) are categoricals.
    """

    claims: pd.DataFrame
    claim_lines: pd.DataFrame | None = None
    facilities: pd.DataFrame | None = None
    cards: pd.DataFrame | None = None
    quarantine: pd.DataFrame = field(default_factory=empty_quarantine)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    labels: pd.DataFrame | None = None

    def table(self, name: str) -> pd.DataFrame | None:
        """A canonical table by name (``claims``, ``claim_lines``, ``facilities``, ``cards``)."""
        tables = {
            "claims": self.claims,
            "claim_lines": self.claim_lines,
            "facilities": self.facilities,
            "cards": self.cards,
        }
        return tables[name]
