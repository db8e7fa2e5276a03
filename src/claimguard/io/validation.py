"""Validation of coerced canonical tables, and the quarantine (docs/contract.md section 2).

Why: every later stage trusts what this hands on, and no input row may vanish.
A problem in a required column removes the row (``action = quarantined``); a
problem in an optional column empties that field and keeps the row
(``action = nulled``). Duplicate keys keep the first copy; lines whose claim is
absent or quarantined are quarantined. Every check is a vectorised column mask.

The declarative contract (pandera) is claimguard.io.contract; the row checks here are
plain NumPy/pandas masks so that 10M rows cost seconds.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from claimguard.io.cardids import normalise_card_ids
from claimguard.io.keys import chunked_of, first_copy_mask, known_keys
from claimguard.io.problems import Problem
from claimguard.schema import QUARANTINE_COLUMNS, Table

# Plausible windows for dates (docs/contract.md section 2: birth date not in the future, not before 1900;
# dates within a sane window). Visits before 1990 are data errors in any fund's export.
EARLIEST_BIRTH = pd.Timestamp("1900-01-01")
EARLIEST_EVENT = pd.Timestamp("1990-01-01")
LATEST_VALIDITY = pd.Timestamp("2200-01-01")
RAW_VALUE_CHARS = 200  # raw values longer than this are cut in the quarantine's JSON


@dataclass
class SourceFiles:
    """Which file each row came from, without a 10M-element object array."""

    names: list[str]
    codes: np.ndarray | None = None  # int32 index into names per row; None: all names[0]

    def at(self, rows: np.ndarray) -> np.ndarray:
        if self.codes is None:
            return np.full(len(rows), self.names[0] if self.names else "", dtype=object)
        return np.asarray(np.asarray(self.names, dtype=object)[self.codes[rows]])


@dataclass
class Checked:
    """Result of validating one table: the kept rows and the problems found."""

    valid: pd.DataFrame
    quarantine: pd.DataFrame
    rows_in: int
    rows_quarantined: int
    keys_quarantined: pd.Series | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _mask(s: pd.Series | np.ndarray) -> np.ndarray:
    if isinstance(s, np.ndarray):
        return s.astype(bool, copy=False)
    return s.to_numpy(dtype=bool, na_value=False)


def _now() -> pd.Timestamp:
    return pd.Timestamp.now().normalize() + pd.Timedelta(days=1)


_NAT = np.iinfo(np.int64).min


def _i8(s: pd.Series) -> np.ndarray:
    """datetime64[ns] values as int64 nanoseconds (NaT = int64 min), no copy."""
    return s.to_numpy(dtype="datetime64[ns]").view("i8")


def _outside(s: pd.Series, lo: pd.Timestamp, hi: pd.Timestamp) -> np.ndarray:
    v = _i8(s)
    return np.asarray(((v < lo.value) & (v != _NAT)) | (v > hi.value))


def _before(later: pd.Series, earlier: pd.Series) -> np.ndarray:
    a, b = _i8(later), _i8(earlier)
    return np.asarray((a < b) & (a != _NAT))  # b is never above a real value when NaT


def _flags(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An Arrow boolean result as a NumPy mask (nulls = False)."""
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def value_problems(df: pd.DataFrame, table: Table) -> list[Problem]:
    """Range, window, length and cross-column rules on a coerced frame."""
    out: list[Problem] = []
    now = _now()
    for col in table.columns:
        if col.name not in df.columns:
            continue
        s = df[col.name]
        if col.kind == "float":
            v = s.to_numpy()
            if col.strictly_positive:
                out.append(Problem(col.name, v <= 0, "must be greater than 0"))
            elif col.min_value is not None:
                out.append(Problem(col.name, v < col.min_value, f"below {col.min_value:g}"))
            if col.max_value is not None:
                out.append(
                    Problem(col.name, v > col.max_value, f"above the plausible {col.max_value:g}")
                )
        elif col.kind in ("id", "str"):
            limit = col.byte_limit
            if isinstance(s.dtype, pd.CategoricalDtype):  # check each distinct value once
                cats = pa.array(s.cat.categories.astype(str).array)
                codes = np.asarray(s.cat.codes)  # code -1 -> the trailing False
                long_cat = np.append(_flags(pc.greater(pc.binary_length(cats), limit)), False)
                nul_cat = np.append(_flags(pc.match_substring(cats, "\x00")), False)
                out.append(Problem(col.name, long_cat[codes], f"longer than {limit} bytes"))
                out.append(Problem(col.name, nul_cat[codes], "contains a NUL byte"))
                continue
            # byte length needs only the offsets (UTF-8 characters take 1-4 bytes each)
            values = chunked_of(s)
            too_long = _flags(pc.greater(pc.binary_length(values), limit))
            out.append(Problem(col.name, too_long, f"longer than {limit} bytes"))
            out.append(
                Problem(col.name, _flags(pc.match_substring(values, "\x00")), "contains a NUL byte")
            )
        elif col.kind in ("datetime", "date"):
            if col.name in ("patient_birth_date", "birth_date"):
                lo, hi, what = EARLIEST_BIRTH, now, "before 1900 or in the future"
            elif col.name in ("card_valid_from", "card_valid_to", "valid_from", "valid_to"):
                lo, hi, what = EARLIEST_BIRTH, LATEST_VALIDITY, "outside 1900-2200"
            else:
                lo, hi, what = EARLIEST_EVENT, now, "before 1990 or in the future"
            out.append(Problem(col.name, _outside(s, lo, hi), f"date {what}"))
    cols = set(df.columns)

    def pair(later: str, earlier: str, reason: str) -> None:
        if later in cols and earlier in cols:
            out.append(Problem(later, _before(df[later], df[earlier]), reason))

    if table.name == "claims":
        pair("discharge_time", "admit_time", "discharge before admission")
        pair("card_valid_to", "card_valid_from", "card valid to before valid from")
        if "patient_birth_date" in cols and "admit_time" in cols:
            after = _before(df["admit_time"], df["patient_birth_date"])
            out.append(Problem("patient_birth_date", after, "birth date after the visit"))
    elif table.name == "cards":
        pair("valid_to", "valid_from", "valid to before valid from")
        pair("death_date", "birth_date", "death before birth")
    return [p for p in out if p.mask.any()]


def required_problems(df: pd.DataFrame, table: Table) -> list[Problem]:
    """Missing values in required columns."""
    out = []
    for name in table.required:
        if name in df.columns:
            m = _mask(df[name].isna())
            if m.any():
                out.append(Problem(name, m, "missing required value"))
    return out


def _raw_json(raw: pd.DataFrame, positions: np.ndarray) -> list[str]:
    """JSON of the raw values of the given rows (only problem rows: never the whole table)."""
    if len(positions) == 0:
        return []
    sub = raw.iloc[positions]
    records = sub.to_dict(orient="records")

    def clean(v: Any) -> Any:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        if v is pd.NaT or v is pd.NA:
            return None
        if isinstance(v, str):
            return v if len(v) <= RAW_VALUE_CHARS else v[:RAW_VALUE_CHARS] + "..."
        if isinstance(v, (bytes, bytearray)):
            return v[:RAW_VALUE_CHARS].decode("utf-8", "replace")
        if isinstance(v, (int, float, bool)):
            return v
        return str(v)

    return [
        json.dumps({str(k): clean(v) for k, v in r.items()}, ensure_ascii=False) for r in records
    ]


def quarantine_frame(
    table: str,
    source_file: np.ndarray | str,
    source_row: np.ndarray,
    column: np.ndarray | list[str | None] | str | None,
    reason: np.ndarray | list[str] | str,
    action: str,
    raw: list[str],
) -> pd.DataFrame:
    """A quarantine frame with the quarantine columns of docs/contract.md section 2 (``source_row`` as int64)."""
    n = len(source_row)
    return pd.DataFrame(
        {
            "table": pd.Series([table] * n, dtype="str"),
            "source_file": pd.Series(
                np.broadcast_to(np.asarray(source_file, dtype=object), n)
            ).astype("str"),
            "source_row": pd.Series(source_row, dtype="int64"),
            "column": pd.Series(np.broadcast_to(np.asarray(column, dtype=object), n)).astype("str"),
            "reason": pd.Series(np.broadcast_to(np.asarray(reason, dtype=object), n)).astype("str"),
            "action": pd.Series([action] * n, dtype="str"),
            "raw": pd.Series(raw, dtype="str"),
        },
        columns=list(QUARANTINE_COLUMNS),
    )


def _cell_problems(df: pd.DataFrame, table: Table, problems: list[Problem] | None) -> list[Problem]:
    """Coercion, value and required-column problems, each bad cell under its first reason."""
    all_problems = list(problems or [])
    bad_cells = {p.column: p.mask.copy() for p in all_problems}
    for p in value_problems(df, table):
        if p.column in bad_cells:
            p.mask &= ~bad_cells[p.column]
            bad_cells[p.column] |= p.mask
        else:
            bad_cells[p.column] = p.mask.copy()
        all_problems.append(p)
    for p in required_problems(df, table):
        if p.column in bad_cells:
            p.mask &= ~bad_cells[p.column]
        all_problems.append(p)
    return [p for p in all_problems if p.mask.any()]


def _key_problems(
    df: pd.DataFrame,
    table: Table,
    drop: np.ndarray,
    parent_keys: pd.Series | None,
    parent_quarantined: pd.Series | None,
) -> list[Problem]:
    """Lines whose claim is absent or quarantined, then later copies of a key, among the rows
    not yet dropped; ``drop`` is updated in place."""
    out: list[Problem] = []
    if parent_keys is not None and "claim_id" in df.columns:
        known = known_keys(df["claim_id"], parent_keys)
        orphan = ~known & ~drop & _mask(df["claim_id"].notna())
        if orphan.any():
            in_q = np.zeros(len(df), dtype=bool)
            if parent_quarantined is not None and len(parent_quarantined):
                in_q = known_keys(df["claim_id"], parent_quarantined.astype("str"))
            out.append(
                Problem("claim_id", orphan & in_q, "its claim was quarantined", removes_row=True)
            )
            out.append(Problem("claim_id", orphan & ~in_q, "claim_id not among the claims", True))
            drop |= orphan
    if table.key is not None and table.key in df.columns:
        dup = first_copy_mask(df[table.key], ~drop)
        if dup.any():
            out.append(
                Problem(table.key, dup, f"duplicate {table.key} (the first copy is kept)", True)
            )
            drop |= dup
    return out


def _normalised_rows(
    table: Table,
    renamed: list[tuple[str, np.ndarray, np.ndarray]],
    kept: np.ndarray,
    source_file: SourceFiles,
    source_row: np.ndarray,
) -> list[pd.DataFrame]:
    """Quarantine rows (action ``normalised``) for kept rows whose card number was written
    with lookalike characters, with the value as written."""
    parts = []
    for col, changed, was in renamed:
        rows = np.flatnonzero(changed & kept)
        if len(rows):
            raws = [json.dumps({col: v}, ensure_ascii=False) for v in was[rows].tolist()]
            parts.append(
                quarantine_frame(
                    table.name,
                    source_file.at(rows),
                    source_row[rows],
                    col,
                    f"{col} written with lookalike characters (fullwidth, zero-width or lowercase)",
                    "normalised",
                    raws,
                )
            )
    return parts


def validate_table(
    df: pd.DataFrame,
    table: Table,
    *,
    raw: pd.DataFrame,
    source_file: SourceFiles,
    source_row: np.ndarray,
    problems: list[Problem] | None = None,
    parent_keys: pd.Series | None = None,
    parent_quarantined: pd.Series | None = None,
) -> Checked:
    """Apply the quarantine policy to a coerced frame; return kept rows and the quarantine.

    ``problems`` are the coercion failures; ``parent_keys`` (valid claim ids) and
    ``parent_quarantined`` (quarantined claim ids) check a lines table's claim_id.
    ``raw``, ``source_file`` and ``source_row`` align with ``df`` row by row.
    """
    n = len(df)
    required = set(table.required)
    df, renamed = normalise_card_ids(df)
    all_problems = _cell_problems(df, table, problems)
    drop = np.zeros(n, dtype=bool)
    for p in all_problems:
        if p.column in required:
            drop |= p.mask
    all_problems += _key_problems(df, table, drop, parent_keys, parent_quarantined)

    def removes(p: Problem) -> bool:
        return p.removes_row or p.column in required

    emitted = [(p, np.flatnonzero(p.mask & (drop if removes(p) else ~drop))) for p in all_problems]
    emitted = [(p, rows) for p, rows in emitted if len(rows)]
    need = (
        np.unique(np.concatenate([rows for _, rows in emitted]))
        if emitted
        else np.array([], np.int64)
    )
    raw_of = dict(zip(need.tolist(), _raw_json(raw, need), strict=True))
    parts = []
    nulled: dict[str, np.ndarray] = {}
    for p, rows in emitted:
        if not removes(p):
            nulled[p.column] = nulled.get(p.column, np.zeros(n, dtype=bool)) | p.mask
        parts.append(
            quarantine_frame(
                table.name,
                source_file.at(rows),
                source_row[rows],
                p.column,
                p.reason,
                "quarantined" if removes(p) else "nulled",
                [raw_of[r] for r in rows.tolist()],
            )
        )
    out = df
    if nulled:
        out = df.copy(deep=False)
        for col, m in nulled.items():
            out[col] = out[col].mask(m)
    keys_q = None
    if drop.any():
        if table.key is not None and table.key in df.columns:
            keys_q = df[table.key][drop].dropna()
        out = out[~drop].reset_index(drop=True)
    parts += _normalised_rows(table, renamed, ~drop, source_file, source_row)
    quarantine = pd.concat(parts, ignore_index=True) if parts else empty_frame()
    return Checked(
        valid=out,
        quarantine=quarantine,
        rows_in=n,
        rows_quarantined=int(drop.sum()),
        keys_quarantined=keys_q,
    )


def empty_frame() -> pd.DataFrame:
    """An empty quarantine with the quarantine columns of docs/contract.md section 2 and dtypes."""
    return quarantine_frame(
        "", np.array([], dtype=object), np.array([], dtype=np.int64), None, "", "", []
    )
