"""Card numbers written with lookalike characters are one card.

Why: exports typed or pasted by hand hold fullwidth digits, zero-width characters and
lowercase letters in card numbers; read as written they split one holder into several
cards (and hide a borrowed card's history). Validation normalises them and records each
changed value in the quarantine with action ``normalised``.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from claimguard.io.keys import chunked_of

CARD_ID_COLUMNS = ("card_id",)
_LOOKALIKE = r"[^\x21-\x7E]|[a-z]"  # anything but printable ASCII, or lowercase letters


def normalise_card_ids(
    df: pd.DataFrame,
) -> tuple[pd.DataFrame, list[tuple[str, np.ndarray, np.ndarray]]]:
    """Card numbers written with lookalike characters -- fullwidth digits, zero-width
    characters, lowercase letters -- are the same card: NFKC-normalised, format characters
    removed, upper-cased. Returns the frame and, per changed column, (column, changed rows,
    original values) for the quarantine's ``normalised`` rows. Only values that contain such
    characters are touched (an Arrow regex over the column, Python on those few values)."""
    changed_cols: list[tuple[str, np.ndarray, np.ndarray]] = []
    out = df
    for col in CARD_ID_COLUMNS:
        if col not in df.columns or len(df) == 0:
            continue
        values = chunked_of(df[col])
        odd = np.asarray(
            pc.fill_null(pc.match_substring_regex(values, _LOOKALIKE), False).to_numpy(
                zero_copy_only=False
            ),
            dtype=bool,
        )
        if not odd.any():
            continue
        rows = np.flatnonzero(odd)
        was = df[col].to_numpy(dtype=object)
        fixed = np.array([_plain_card(str(v)) for v in was[rows]], dtype=object)
        changed = np.zeros(len(df), dtype=bool)
        changed[rows] = fixed != was[rows]
        if out is df:
            out = df.copy(deep=False)
        col_values = was.copy()
        col_values[rows] = fixed
        out[col] = pd.Series(col_values, index=df.index).astype(df[col].dtype)
        changed_cols.append((col, changed, was))
    return out, changed_cols


def _plain_card(value: str) -> str:
    text = unicodedata.normalize("NFKC", value)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return text.strip().upper()
