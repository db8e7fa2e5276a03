"""CSV files a person may open in a spreadsheet: no cell runs as a formula.

Why one place, low in the layers: ids, codes and reason texts come from facility
exports, so any of them may start with ``=``, ``+``, ``-`` or ``@`` (OWASP "CSV
injection": ``=HYPERLINK(...)`` runs when a reviewer opens alerts.csv). Every CSV
claimguard writes goes through :func:`write_csv`; the Parquet files beside them keep
the raw values. The escape is lossless: :func:`restore` gives back the original text,
so a neutralised ``labels.csv`` read back by ``evaluate`` still matches its ids.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

# a cell a spreadsheet would run as a formula; values already starting with the escape
# followed by such a character are escaped once more, so restore() is exact
_FORMULA_START = r"^'*[=+\-@\t\r]"
_ESCAPED = r"^'+[=+\-@\t\r]"


def _is_text(s: pd.Series) -> bool:
    dtype = s.dtype
    return (
        pd.api.types.is_object_dtype(dtype)
        or isinstance(dtype, pd.StringDtype | pd.CategoricalDtype)
        or (isinstance(dtype, pd.ArrowDtype) and pd.api.types.is_string_dtype(dtype))
    )


def neutralise(df: pd.DataFrame) -> pd.DataFrame:
    """Prefix ``'`` to text cells starting with = + - @ tab or CR, so none runs as a formula.

    Numbers, dates and booleans are left alone (a negative amount stays a number).
    """
    out = df.copy()
    for c in out.columns:
        if _is_text(out[c]):
            s = out[c].astype("string")
            hit = s.str.contains(_FORMULA_START, regex=True, na=False)
            if hit.any():
                out[c] = s.mask(hit, "'" + s)
            elif isinstance(out[c].dtype, pd.CategoricalDtype):
                out[c] = s
    return out


def restore(df: pd.DataFrame) -> pd.DataFrame:
    """Undo :func:`neutralise` on text columns (for CSV files claimguard reads back)."""
    out = df.copy()
    for c in out.columns:
        if _is_text(out[c]):
            s = out[c].astype("string")
            hit = s.str.contains(_ESCAPED, regex=True, na=False).to_numpy(dtype=bool)
            if hit.any():  # only the escaped cells change; the rest keep their values
                col = out[c].astype(object)
                col[hit] = s[hit].str.slice(1).astype(object)
                dtype = out[c].dtype
                out[c] = col.astype("category" if isinstance(dtype, pd.CategoricalDtype) else dtype)
    return out


# CRLF rows (RFC 4180): the writer then quotes every cell holding a CR or LF. With "\n" rows
# a bare CR inside a cell is written unquoted and spreadsheets start a new row there, so
# "x\r=1" would put a live formula at the start of that row.
LINE_END = "\r\n"


def write_csv(df: pd.DataFrame, path: str | Path, **to_csv: Any) -> None:
    """``df.to_csv(path, index=False, ...)`` with every text cell neutralised."""
    neutralise(df).to_csv(path, index=False, lineterminator=LINE_END, **to_csv)


def csv_text(df: pd.DataFrame) -> str:
    """The CSV text of ``df`` (header row, no index), every text cell neutralised."""
    return str(neutralise(df).to_csv(index=False, lineterminator=LINE_END))
