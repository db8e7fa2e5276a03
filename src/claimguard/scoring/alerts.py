"""Ranked scores and the alert queue: who a reviewer sees, in which order, under which id.

Why: reviewers work a fixed number of cases a month, so the queue is cut at the
review capacity per entity type (plus anything above an optional score threshold),
and an alert keeps the same id when the same entity, period and model is re-scored,
so a re-run never duplicates the reviewers' queue.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from claimguard.schema import ENTITY_TYPES, SCORE_COLUMNS


def alert_id(
    entity_type: str,
    entity_id: str,
    period_start: pd.Timestamp,
    period_end: pd.Timestamp,
    model_version: str,
) -> str:
    """Stable id: a hash of what the alert is about (not of when it was computed)."""
    key = "|".join(
        (
            entity_type,
            str(entity_id),
            pd.Timestamp(period_start).strftime("%Y-%m-%d"),
            pd.Timestamp(period_end).strftime("%Y-%m-%d"),
            str(model_version),
        )
    )
    return "A" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:15]


def rank_scores(
    scores: dict[str, pd.DataFrame], period_start: pd.Timestamp, period_end: pd.Timestamp
) -> pd.DataFrame:
    """``scores.parquet``: every entity, rank 1 = most anomalous within its entity type.

    Ties are broken by entity id so that ranks are reproducible.
    """
    parts = []
    for entity_type in ENTITY_TYPES:
        frame = scores.get(entity_type)
        if frame is None or frame.empty:
            continue
        ids = frame.index.astype("string")
        score = frame["score"].to_numpy(dtype="float64")
        # Arrow's multi-key sort: ~4x faster than pandas on millions of string ids, and
        # twice as fast again on one chunk (the index of stacked partitions has several)
        id_array = pa.array(ids)
        if isinstance(id_array, pa.ChunkedArray):
            id_array = id_array.combine_chunks()
        order = pc.sort_indices(
            pa.table({"s": score, "id": id_array}),
            sort_keys=[("s", "descending"), ("id", "ascending")],
        ).to_numpy()
        part = pd.DataFrame(
            {
                "entity_type": entity_type,
                "entity_id": ids[order],
                "score": score[order],
                "rank": np.arange(1, len(order) + 1, dtype="int64"),
            }
        )
        parts.append(part)
    if not parts:
        out = pd.DataFrame({c: pd.Series(dtype="object") for c in SCORE_COLUMNS})
    else:
        out = pd.concat(parts, ignore_index=True)
    out["entity_type"] = out["entity_type"].astype("string")
    out["entity_id"] = out["entity_id"].astype("string")
    for col, value in (("period_start", period_start), ("period_end", period_end)):
        day = pd.Timestamp(value).normalize()
        out[col] = pd.Series(day, index=out.index).astype("datetime64[ns]")
    out["score"] = out["score"].astype("float64")
    out["rank"] = out["rank"].astype("int64")
    return out[list(SCORE_COLUMNS)].reset_index(drop=True)


def select_alerts(
    ranked: pd.DataFrame, capacity: dict[str, int], threshold: float | None = None
) -> pd.DataFrame:
    """Rows of ``ranked`` that go to reviewers: within capacity, or above the threshold."""
    cap = ranked["entity_type"].map(capacity).fillna(0).to_numpy()
    keep = ranked["rank"].to_numpy() <= cap
    if threshold is not None:
        keep |= ranked["score"].to_numpy() >= threshold
    return ranked.loc[keep].reset_index(drop=True)


def within_capacity(cand: pd.DataFrame, capacity: int, threshold: float | None) -> pd.DataFrame:
    """The explained candidates of one entity type that make the queue (ranked, with
    ``_reasons``): a candidate without a reason is dropped and the next takes its place,
    then the first ``capacity`` and any scoring at least ``threshold`` are kept."""
    cand = cand.loc[cand["_reasons"].map(len) > 0]
    within = np.arange(len(cand)) < capacity
    if threshold is not None:
        within |= cand["score"].to_numpy() >= threshold
    return cand.loc[within]


def alert_ids(frame: pd.DataFrame, model_version: str) -> pd.Series:
    """``alert_id`` for each row of an alerts frame (a loop over alerts, not claims)."""
    ids = [
        alert_id(et, eid, ps, pe, model_version)
        for et, eid, ps, pe in zip(
            frame["entity_type"],
            frame["entity_id"],
            frame["period_start"],
            frame["period_end"],
            strict=True,
        )
    ]
    return pd.Series(ids, index=frame.index, dtype="string")
