"""Detection metrics per entity type: how well a ranking puts labelled abuse first.

Why ranking metrics: reviewers work a queue from the top, so what matters is average
precision (the whole ranking), precision and recall in the first k (the review capacity),
recall per planted scenario (which abuse a model misses) and how many legitimate heavy
users (traps) crowd the top of the queue.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from claimguard.schema import decision_labels
from claimguard.settings import ScoringSettings


def _ids(values: Any) -> pd.Index:
    """Entity ids as a plain object Index (hash-based isin, much faster than Arrow strings)."""
    arr = np.asarray(pd.Index(values).astype(str).to_numpy(dtype=object), dtype=object)
    return cast("pd.Index", pd.Index(arr, dtype="object"))


def _ranked(scores: pd.Series) -> pd.Series:
    """Scores sorted riskiest first; ties broken by entity id so rankings are reproducible."""
    s = pd.Series(scores.to_numpy(dtype="float64"), index=_ids(scores.index))
    frame = pd.DataFrame({"score": s.to_numpy(), "id": s.index.to_numpy()})
    order = frame.sort_values(["score", "id"], ascending=[False, True], kind="stable").index
    return s.iloc[order.to_numpy()]


def entity_metrics(
    scores: pd.Series,
    labels: pd.DataFrame,
    entity_type: str,
    ks: list[int],
    traps: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Metrics of ``scores`` (index = entity id, higher = riskier) against ``labels``.

    ``labels`` has entity_type, entity_id, scenario (docs/contract.md section 4); listed entities are
    positive, all others negative. When it also has a ``decision`` column (reviewer
    decisions exported from triage), only decided entities count: ``confirmed`` positive,
    ``dismissed`` negative, anything else ignored. Returns roc_auc, average_precision,
    n_entities, n_positive, ``precision@k``, ``recall@k``, ``recall_by_scenario@k`` (dict)
    and, with ``traps``, ``trap_share@k`` for every k.
    """
    lab = labels.loc[labels["entity_type"].astype(str) == entity_type].copy()
    lab["entity_id"] = _ids(lab["entity_id"]).to_numpy()
    ranked = _ranked(scores)
    ids = ranked.index
    if "decision" in lab.columns:
        decision = lab["decision"].astype(str).str.lower()
        label = decision_labels(decision)
        pos_ids = set(lab.loc[label == 1, "entity_id"])
        neg_ids = set(lab.loc[label == 0, "entity_id"])
        keep = np.asarray(ids.isin(_ids(list(pos_ids | neg_ids))))
        ranked, ids = ranked[keep], ids[keep]
        lab = lab.loc[lab["entity_id"].isin(pos_ids)]
    positive = np.asarray(ids.isin(_ids(lab["entity_id"])))
    y_score = ranked.to_numpy(dtype="float64")
    n_pos = int(positive.sum())
    out: dict[str, Any] = {"n_entities": int(len(ranked)), "n_positive": n_pos}
    both = 0 < n_pos < len(ranked)
    out["roc_auc"] = float(roc_auc_score(positive, y_score)) if both else float("nan")
    out["average_precision"] = (
        float(average_precision_score(positive, y_score)) if n_pos else float("nan")
    )
    scenario = lab.drop_duplicates("entity_id").set_index("entity_id")["scenario"].astype(str)
    scenario.index = _ids(scenario.index)
    per_entity = pd.Series(scenario.reindex(ids).to_numpy(), index=ids)
    trap_ids = (
        _ids(traps.loc[traps["entity_type"].astype(str) == entity_type, "entity_id"])
        if traps is not None
        else None
    )
    for k in ks:
        top = slice(0, min(k, len(ranked)))
        hits = int(positive[top].sum())
        out[f"precision@{k}"] = hits / k if k else float("nan")
        out[f"recall@{k}"] = hits / n_pos if n_pos else float("nan")
        found = per_entity.iloc[top].value_counts()
        total = scenario.loc[scenario.index.isin(ids)].value_counts()
        out[f"recall_by_scenario@{k}"] = {
            str(s): round(float(found.get(s, 0)) / float(n), 4) for s, n in total.items()
        }
        if trap_ids is not None:
            in_top = np.asarray(ids[top].isin(trap_ids))
            out[f"trap_share@{k}"] = float(in_top.sum()) / k if k else float("nan")
    return out


def scenario_ap(scores: pd.Series, labels: pd.DataFrame, entity_type: str) -> dict[str, float]:
    """Average precision of each planted scenario (and variant) against normal entities only.

    Keys are ``"scenario:variant"`` (e.g. ``"borrowed_card:strong"``), or ``"scenario"``
    when ``labels`` has no variant column. For each key the positives are the scored
    entities labelled with that scenario and variant; the negatives are the scored
    entities of ``entity_type`` that are not in ``labels`` at all, so the other
    scenarios' positives are left out (one scenario ranked below another is not a
    miss). Entities without a score are ignored, as in :func:`entity_metrics`; missing
    scores rank last.
    """
    lab = labels.loc[labels["entity_type"].astype(str) == entity_type]
    ids = _ids(scores.index)
    s = scores.to_numpy(dtype="float64")
    finite = np.isfinite(s)
    low = float(s[finite].min()) - 1.0 if finite.any() else 0.0
    s = np.where(finite, s, low)
    labelled = np.asarray(ids.isin(_ids(lab["entity_id"])))
    key = lab["scenario"].astype(str)
    if "variant" in lab.columns:
        key = key + ":" + lab["variant"].astype(str)
    out: dict[str, float] = {}
    for name, group in lab.groupby(key.to_numpy(), sort=True):
        pos = np.asarray(ids.isin(_ids(group["entity_id"])))
        keep = pos | ~labelled
        n_pos = int(pos.sum())
        out[str(name)] = (
            float(average_precision_score(pos[keep], s[keep])) if n_pos else float("nan")
        )
    return out


def flat_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Flatten nested metrics into MLflow-safe names (``card.recall@200.post_death``)."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}".replace("@", "_at_")
        if isinstance(value, dict):
            flat.update(flat_metrics(value, prefix=f"{name}."))
        elif isinstance(value, int | float | np.floating | np.integer) and not isinstance(
            value, bool
        ):
            if np.isfinite(value):
                flat[name] = float(value)
    return flat


def metric_ks(scoring: ScoringSettings) -> dict[str, list[int]]:
    """The k of precision/recall@k per entity type: a fixed reference (100 cards, 10
    facilities, comparable across runs) and the review capacity of the settings."""
    capacity = scoring.review_capacity
    return {"card": sorted({100, capacity["card"]}), "facility": sorted({10, capacity["facility"]})}
