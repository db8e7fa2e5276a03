"""Champion against challenger on the same held-out month.

Why: promoting a model on its in-sample metrics is blind. Both models score the same
month with the same settings; average precision, precision at review capacity and how
many alerts they share are put side by side. The challenger *loses* when its mean
average precision over the entity types is lower than the champion's; the result is
recorded on the challenger's MLflow run so ``claimguard model promote`` can refuse it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from claimguard.evaluation.metrics import entity_metrics
from claimguard.jobs.labels import read_labels
from claimguard.schema import ENTITY_TYPES
from claimguard.settings import Settings


def compare_models(
    champion: str, challenger: str, data: Path, labels: Path, settings: Settings
) -> dict[str, Any]:
    """Score ``data`` with both models; per model and entity type: AP, precision@capacity."""
    from claimguard.io.load import load_dataset
    from claimguard.model.bundle import load_bundle
    from claimguard.scoring.score import score_dataset

    ds = load_dataset(data)
    label_frame, _ = read_labels(labels)
    capacity = settings.scoring.review_capacity
    out: dict[str, Any] = {"data": str(Path(data).absolute()), "models": {}}
    alerts: dict[str, set[tuple[str, str]]] = {}
    for role, uri in (("champion", champion), ("challenger", challenger)):
        bundle = load_bundle(uri, settings)
        result = score_dataset(ds, bundle, settings)
        per: dict[str, Any] = {"uri": uri, "model_version": str(bundle.model_version)}
        for et in ENTITY_TYPES:
            s = result.scores.loc[result.scores["entity_type"] == et]
            scores = s.set_index(s["entity_id"].astype(str))["score"]
            k = max(1, min(capacity[et], len(scores)))
            m = entity_metrics(scores, label_frame, et, [k])
            per[et] = {
                "average_precision": m.get("average_precision"),
                "precision_at_capacity": m.get(f"precision@{k}"),
                "capacity": k,
            }
        out["models"][role] = per
        a = result.alerts
        alerts[role] = set(
            zip(a["entity_type"].astype(str), a["entity_id"].astype(str), strict=True)
        )
    both = alerts["champion"] & alerts["challenger"]
    union = alerts["champion"] | alerts["challenger"]
    out["alert_overlap"] = {"shared": len(both), "union": len(union),
                            "share": len(both) / len(union) if union else 1.0}  # fmt: skip
    out["challenger_wins"] = bool(_mean_ap(out["models"]["challenger"]) >= _mean_ap(
        out["models"]["champion"]))  # fmt: skip
    return out


def _mean_ap(per: dict[str, Any]) -> float:
    values = [per[et]["average_precision"] for et in ENTITY_TYPES]
    finite = [float(v) for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")
