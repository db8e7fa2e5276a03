"""Tiny hand-made canonical frames for feature unit tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from claimguard.schema import CARDS, CLAIM_LINES, CLAIMS, FACILITIES, Table

DAY0 = pd.Timestamp("2024-01-01")


def t(day: float, hour: float = 9.0) -> pd.Timestamp:
    """A timestamp ``day`` days after 2024-01-01 at ``hour`` o'clock."""
    return DAY0 + pd.Timedelta(days=day) + pd.Timedelta(hours=hour)


def frame(table: Table, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Canonical dtypes for the columns given (absent optional columns stay absent)."""
    df = pd.DataFrame(rows)
    out = {}
    for col in df.columns:
        c = table.column(col)
        s = df[col]
        if c.kind in ("id", "str"):
            out[col] = s.astype("string")
        elif c.kind in ("datetime", "date"):
            out[col] = pd.to_datetime(s).astype("datetime64[ns]")
        elif c.kind == "float":
            out[col] = s.astype("float64")
        else:
            out[col] = pd.Categorical(s, categories=list(c.enum))
    return pd.DataFrame(out)


def claims(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Claims with defaults for required columns; claim ids C0, C1, ... unless given."""
    full = []
    for i, r in enumerate(rows):
        base: dict[str, Any] = {
            "claim_id": f"C{i}",
            "card_id": "A",
            "facility_id": "F1",
            "admit_time": t(0),
            "visit_type": "outpatient",
            "primary_dx": "J06.9",
            "total_cost": 100_000.0,
        }
        base.update(r)
        full.append(base)
    return frame(CLAIMS, full)


def lines(rows: list[dict[str, Any]]) -> pd.DataFrame:
    full = [{"quantity": 1.0, "amount": 10_000.0, **r} for r in rows]
    return frame(CLAIM_LINES, full)


def cards(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return frame(CARDS, rows)


def facilities(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return frame(FACILITIES, rows)


def col(df: pd.DataFrame, name: str) -> dict[str, float]:
    """One feature column as {entity id: value}."""
    return {str(k): float(v) for k, v in df[name].items()}


def approx(a: float, b: float) -> bool:
    return bool(np.isclose(a, b, rtol=1e-6, atol=1e-6))  # peer expectations are float32
