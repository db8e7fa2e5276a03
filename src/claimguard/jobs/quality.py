"""Out-of-sample quality: train on one period, score another, compare with naive baselines.

Why in the package: the issue's acceptance (AP, precision@100, traps in the top 100,
recall per scenario, both baselines beaten) is measured the same way by the slow test,
``bench/quality.py`` and the notebooks, so it lives in one function.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from claimguard.evaluation.baselines import baseline_scores
from claimguard.evaluation.metrics import entity_metrics, metric_ks
from claimguard.features.build import FeatureSet
from claimguard.model.bundle import Bundle
from claimguard.schema import ENTITY_TYPES
from claimguard.settings import Settings
from claimguard.tables import Dataset

MODELS = ("claimguard", "iforest", "ecod")


def holdout_features(bundle: Bundle, ds: Dataset) -> FeatureSet:
    """Features of a held-out period, built with the bundle's peers and feature settings."""
    from claimguard.features.build import build_features

    return build_features(
        ds.claims,
        ds.claim_lines,
        ds.cards,
        ds.facilities,
        peers=bundle.peers,
        settings=bundle.settings.features,
    )


def score_holdout(bundle: Bundle, ds: Dataset) -> dict[str, pd.DataFrame]:
    """Build the held-out period's features with the bundle's peers and score them."""
    return bundle.score(holdout_features(bundle, ds))


def holdout_comparison(
    bundle: Bundle,
    train_ds: Dataset,
    test_ds: Dataset,
    settings: Settings,
    *,
    labels: pd.DataFrame,
    traps: pd.DataFrame | None = None,
    scored: dict[str, pd.DataFrame] | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Metrics per model (claimguard, iforest, ecod) per entity type on ``test_ds``.

    Baselines are fitted on the training period's claims and score the test period, the
    same protocol as the trained bundle. ``scored``: the bundle's scores of ``test_ds``
    when the caller already has them (:func:`score_holdout`), so they are not built twice.
    """
    if scored is None:
        scored = score_holdout(bundle, test_ds)
    ks = metric_ks(settings.scoring)
    out: dict[str, dict[str, dict[str, Any]]] = {m: {} for m in MODELS}
    for entity in ENTITY_TYPES:
        out["claimguard"][entity] = entity_metrics(
            scored[entity]["score"], labels, entity, ks[entity], traps=traps
        )
        for method in ("iforest", "ecod"):
            s = baseline_scores(
                test_ds.claims,
                entity,
                method,
                fit_claims=train_ds.claims,
                random_state=settings.model.random_state,
            )
            out[method][entity] = entity_metrics(s, labels, entity, ks[entity], traps=traps)
    return out


def comparison_table(results: dict[str, dict[str, dict[str, Any]]]) -> pd.DataFrame:
    """One row per (entity, metric), one column per model; per-scenario recall expanded."""
    rows: dict[tuple[str, str], dict[str, float]] = {}
    for model, per_entity in results.items():
        for entity, metrics in per_entity.items():
            for key, value in metrics.items():
                items = (
                    [(f"{key}:{s}", v) for s, v in value.items()]
                    if isinstance(value, dict)
                    else [(key, value)]
                )
                for name, v in items:
                    rows.setdefault((entity, name), {})[model] = float(v)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["entity", "metric"])
    return table.reindex(columns=[m for m in MODELS if m in table.columns])


def beats_baselines(table: pd.DataFrame) -> list[str]:
    """Headline metrics on which claimguard does not beat both baselines (empty = all beaten).

    Compared: roc_auc, average_precision, precision@k, recall@k (higher is better) and
    trap_share@k (lower is better).
    """
    failures = []
    for key, row in table.iterrows():
        entity, metric = str(key[0]), str(key[1])  # type: ignore[index]
        if ":" in metric or metric.startswith("n_"):
            continue
        cg = float(row["claimguard"])
        base = [float(row[m]) for m in ("iforest", "ecod")]
        if metric.startswith("trap_share"):
            ok = all(cg <= b for b in base)
        else:
            ok = all(cg > b for b in base)
        if not ok:
            failures.append(f"{entity} {metric}")
    return failures
