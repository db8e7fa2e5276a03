"""Naive baselines: what an isolation forest does without claimguard's features.

Why: the issue's acceptance measures claimguard against the obvious first attempt — an
anomaly detector on simple per-entity totals — so gains are shown, not asserted. Both
baselines score the same way as the detector: higher = more anomalous.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

Method = Literal["iforest", "ecod"]


def naive_aggregates(claims: pd.DataFrame, entity_type: str) -> pd.DataFrame:
    """Per-entity totals any analyst would start with (index = entity id).

    cards: claim_count, total_cost, mean_cost, distinct_facilities, inpatient_claims;
    facilities: claim_count, card_count, mean_cost, cost_per_card, inpatient_share.
    """
    inpatient = (claims["visit_type"].astype(str) == "inpatient").astype("float64")
    frame = pd.DataFrame(
        {
            "card_id": claims["card_id"].astype(str).to_numpy(),
            "facility_id": claims["facility_id"].astype(str).to_numpy(),
            "cost": claims["total_cost"].to_numpy(dtype="float64", na_value=np.nan),
            "inpatient": inpatient.to_numpy(),
        }
    )
    if entity_type == "card":
        g = frame.groupby("card_id", sort=True)
        out = pd.DataFrame(
            {
                "claim_count": g.size().astype("float64"),
                "total_cost": g["cost"].sum(),
                "mean_cost": g["cost"].mean(),
                "distinct_facilities": g["facility_id"].nunique().astype("float64"),
                "inpatient_claims": g["inpatient"].sum(),
            }
        )
    elif entity_type == "facility":
        g = frame.groupby("facility_id", sort=True)
        cards = g["card_id"].nunique().astype("float64")
        total = g["cost"].sum()
        out = pd.DataFrame(
            {
                "claim_count": g.size().astype("float64"),
                "card_count": cards,
                "mean_cost": g["cost"].mean(),
                "cost_per_card": total / cards,
                "inpatient_share": g["inpatient"].mean(),
            }
        )
    else:
        raise ValueError(f"entity_type must be 'card' or 'facility', not {entity_type!r}")
    out.index.name = f"{entity_type}_id"
    return out.fillna(0.0)


def baseline_scores(
    claims: pd.DataFrame,
    entity_type: str,
    method: Method = "iforest",
    fit_claims: pd.DataFrame | None = None,
    random_state: int = 0,
) -> pd.Series:
    """Anomaly scores (higher = more anomalous) on naive aggregates.

    Fitted on ``fit_claims`` (the training period) when given, else on ``claims``.
    ``iforest``: scikit-learn IsolationForest (200 trees, 256 samples);
    ``ecod``: PyOD's ECOD (parameter-free, empirical-CDF tails).
    """
    X = naive_aggregates(claims, entity_type)
    X_fit = X if fit_claims is None else naive_aggregates(fit_claims, entity_type)
    if method == "iforest":
        forest = IsolationForest(n_estimators=200, max_samples=256, random_state=random_state)
        forest.fit(X_fit.to_numpy())
        values = -forest.score_samples(X.to_numpy())
    elif method == "ecod":
        from pyod.models.ecod import ECOD

        ecod = ECOD()
        ecod.fit(X_fit.to_numpy())
        values = ecod.decision_function(X.to_numpy())
    else:
        raise ValueError(f"method must be 'iforest' or 'ecod', not {method!r}")
    return pd.Series(np.asarray(values, dtype="float64"), index=X.index, name=f"{method}_score")
