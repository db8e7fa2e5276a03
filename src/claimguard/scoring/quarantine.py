"""Quarantine limits: a month with too many rejected rows must not look like a good run.

Why: every invalid row is quarantined and the rest is scored, which is right for a few
bad rows but hides a broken extract (a new export format, a shifted column) that rejects
half a month. ``scoring.max_quarantine_share`` bounds the share per input table; above it
the outputs are still written (the quarantine is what the operator needs to read) and the
command exits 4 (docs/operations.md).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

TOP_REASONS = 3


def quarantine_check(
    counts: dict[str, dict[str, int]], quarantine: pd.DataFrame, limit: float
) -> dict[str, Any]:
    """Per-table quarantined shares, the tables above ``limit`` and their dominant reasons."""
    tables: dict[str, dict[str, Any]] = {}
    for name, c in counts.items():
        rows_in = int(c.get("in", 0))
        share = int(c.get("quarantined", 0)) / rows_in if rows_in else 0.0
        tables[name] = {"share": round(share, 6), "exceeded": share > limit}
    over = [name for name, t in tables.items() if t["exceeded"]]
    reasons: dict[str, list[dict[str, Any]]] = {}
    if over and len(quarantine) and {"table", "reason"} <= set(quarantine.columns):
        q = quarantine.loc[quarantine["table"].isin(over)]
        top = q.groupby(["table", "reason"], observed=True).size().sort_values(ascending=False)
        for key, n in top.items():
            table, reason = str(key[0]), str(key[1])  # type: ignore[index]
            if len(reasons.setdefault(table, [])) < TOP_REASONS:
                reasons[table].append({"reason": reason, "rows": int(n)})
    return {
        "max_share": limit,
        "exceeded": bool(over),
        "tables": tables,
        "dominant_reasons": reasons,
    }


def describe(check: dict[str, Any]) -> str:
    """One sentence per table over the limit: its share and dominant reasons."""
    parts = []
    for name, t in check["tables"].items():
        if not t["exceeded"]:
            continue
        why = ", ".join(
            f"{r['reason']} ({r['rows']} rows)" for r in check["dominant_reasons"].get(name, [])
        )
        parts.append(f"{name}: {t['share']:.1%} quarantined" + (f" — mostly {why}" if why else ""))
    return "; ".join(parts)
