"""Training: features from a dataset → one ClaimDetector per entity type → a Bundle.

Why split from MLflow: training is a pure function of (data, settings), testable and
reproducible on its own; ``claimguard.model.tracking`` records what it did.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from claimguard.errors import ConfigError, UserError
from claimguard.evaluation.metrics import metric_ks
from claimguard.features.build import FeatureSet
from claimguard.features.peers import PeerTables
from claimguard.model.bundle import Bundle
from claimguard.model.detector import ClaimDetector
from claimguard.model.evidence import FittedEvidence, evidence_for, fit_evidence
from claimguard.model.identity import content_version
from claimguard.model.training_stats import feature_stats
from claimguard.model.versions import library_versions
from claimguard.progress import step
from claimguard.schema import ENTITY_TYPES
from claimguard.settings import Settings
from claimguard.tables import Dataset

log = logging.getLogger(__name__)

QUANTILES = (0.5, 0.9, 0.99, 0.999)


def fingerprint(ds: Dataset) -> dict[str, Any]:
    """What the model was trained on: file hashes, row counts, period, vocabularies."""
    claims = ds.claims
    t = claims["admit_time"]
    rows = {
        name: int(len(df))
        for name in ("claims", "claim_lines", "facilities", "cards")
        if (df := ds.table(name)) is not None
    }
    return {
        "sources": dict(ds.sources),
        "rows": rows,
        "counts": dict(ds.counts),
        "period_start": str(t.min().date()) if len(t) else None,
        "period_end": str(t.max().date()) if len(t) else None,
        "n_cards": int(claims["card_id"].nunique()),
        "n_facilities": int(claims["facility_id"].nunique()),
        "seen_facilities": sorted(claims["facility_id"].dropna().astype(str).unique().tolist()),
        "seen_diagnoses": sorted(claims["primary_dx"].dropna().astype(str).unique().tolist()),
    }


def model_version(settings: Settings, fp: dict[str, Any]) -> str:
    """A provisional id until the bundle is fitted (then ``content_version`` replaces it)."""
    blob = json.dumps(
        {
            "claimguard": library_versions()["claimguard"],
            "config": settings.config_hash(),
            "sources": fp.get("sources"),
            "rows": fp.get("rows"),
            "period": [fp.get("period_start"), fp.get("period_end")],
        },
        sort_keys=True,
    )
    return "cg-" + hashlib.sha256(blob.encode()).hexdigest()[:12]


def select_features(entity_type: str, table: pd.DataFrame, settings: Settings) -> list[str]:
    """Configured subset (model.card_features / facility_features) or every usable column
    not in model.exclude_features.

    Columns that are entirely missing (their input was absent) are left out.
    """
    wanted = getattr(settings.model, f"{entity_type}_features")
    usable = [str(c) for c in table.columns if table[c].notna().any()]
    if wanted is None:
        excluded = set(settings.model.exclude_features)
        return [c for c in usable if c not in excluded]
    unknown = [f for f in wanted if f not in table.columns]
    if unknown:
        raise ConfigError(
            f"model.{entity_type}_features names features that do not exist: {', '.join(unknown)}",
            where=f"model.{entity_type}_features",
            fix="use names from docs/feature_catalog.md, or null for all features",
        )
    return [f for f in wanted if f in usable]


def _sample(X: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    if len(X) <= max_rows:
        return X
    idx = np.sort(np.random.default_rng(seed).choice(len(X), size=max_rows, replace=False))
    return X.iloc[idx]


def _fit_entity(
    entity: str, table: pd.DataFrame, settings: Settings, timings: dict[str, float]
) -> tuple[list[str], pd.DataFrame, ClaimDetector, list[FittedEvidence]]:
    """One entity type's (feature names, feature statistics, forest, weighed evidence)."""
    m = settings.model
    if len(table) == 0:
        raise UserError(
            f"No {entity}s to train on", where="training data", fix="train on a dataset with claims"
        )
    cols = select_features(entity, table, settings)
    if not cols:
        raise UserError(
            f"No usable {entity} features",
            where="training data",
            fix="check that the claims table has the columns features need",
        )
    X = table[cols].astype(np.float64)
    det = ClaimDetector(
        n_estimators=m.n_estimators,
        max_samples=m.max_samples,
        max_features=m.max_features,
        random_state=m.random_state,
        n_jobs=m.n_jobs,
    )
    with step(f"Fitting the {entity} forest", timings):
        det.fit(_sample(X, m.max_fit_rows, m.random_state))
    with step(f"Weighing the {entity} evidence", timings):
        evidence = fit_evidence(
            evidence_for(entity),
            table,
            max_hard_share=m.max_hard_fact_share,
            fire_level=m.evidence_fire_level,
        )
    return cols, feature_stats(X), det, evidence


def _training_metrics(
    bundle: Bundle, fs: FeatureSet, labels: pd.DataFrame | None, traps: pd.DataFrame | None,
    timings: dict[str, float],
) -> dict[str, Any]:  # fmt: skip
    """Evidence firing rates, training-score quantiles and (with labels) in-sample metrics."""
    from claimguard.evaluation.metrics import entity_metrics

    metrics: dict[str, Any] = {
        # each evidence item's training firing rate and whether it was demoted (model card,
        # MLflow run: evidence.card.card_after_death_claims_count.fire_share, ...)
        "evidence": {
            e: {i.name: {"fire_share": i.fire_share, "demoted": float(i.demoted)} for i in items}
            for e, items in bundle.evidence.items()
        }
    }
    ks = metric_ks(bundle.settings.scoring)
    for entity in ENTITY_TYPES:
        plural = {"card": "cards", "facility": "facilities"}[entity]
        with step(f"Scoring the training {plural}", timings):
            scored = bundle.score_entity(entity, fs.table(entity))
        q = np.quantile(scored["score"].to_numpy(), QUANTILES)
        for p, v in zip(QUANTILES, q, strict=True):
            metrics[f"{entity}_score_q{p:g}"] = float(v)
        metrics[f"{entity}_hard_fact_share"] = float((scored["hard_facts"] > 0).mean())
        if labels is not None:
            metrics[entity] = entity_metrics(
                scored["score"], labels, entity, ks[entity], traps=traps
            )
    return metrics


def fit_bundle(
    fs: FeatureSet,
    peers: PeerTables,
    settings: Settings,
    *,
    fp: dict[str, Any] | None = None,
    labels: pd.DataFrame | None = None,
    traps: pd.DataFrame | None = None,
    timings: dict[str, float] | None = None,
) -> Bundle:
    """Fit one detector per entity type on a FeatureSet (``.card``, ``.facility`` tables)."""
    timings = {} if timings is None else timings
    fp = fp or {}
    names: dict[str, list[str]] = {}
    stats: dict[str, pd.DataFrame] = {}
    detectors: dict[str, ClaimDetector] = {}
    evidence = {}
    for entity in ENTITY_TYPES:
        names[entity], stats[entity], detectors[entity], evidence[entity] = _fit_entity(
            entity, fs.table(entity), settings, timings
        )
    bundle = Bundle(
        model_version=model_version(settings, fp),  # replaced by the content hash below
        settings=settings,
        peers=peers,
        feature_names=names,
        feature_stats=stats,
        detectors=detectors,
        evidence=evidence,
        fingerprint=fp,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    bundle.metrics = _training_metrics(bundle, fs, labels, traps, timings)
    bundle.model_version = content_version(bundle)
    return bundle


def train(
    ds: Dataset,
    settings: Settings,
    *,
    labels: pd.DataFrame | None = None,
    config_path: Path | None = None,
    traps: pd.DataFrame | None = None,
    timings: dict[str, float] | None = None,
    feedback: pd.DataFrame | None = None,
) -> Bundle:
    """Build features with the features layer, fit the detectors, return the Bundle.

    ``feedback`` (``claimguard.model.decisions.read_feedback``: reviewer decisions) fits a
    score adjustment on confirmed/dismissed entities (``bundle.metrics["feedback"]``).

    ``labels`` (docs/contract.md section 4) only add in-sample metrics; fitting is unsupervised.
    ``config_path`` is recorded in the fingerprint (MLflow logs the file itself).
    """
    from claimguard.features.build import build_features
    from claimguard.features.peers import fit_peers

    timings = {} if timings is None else timings
    t0 = time.perf_counter()
    labels = labels if labels is not None else ds.labels
    with step("Fingerprinting the data", timings):
        fp = fingerprint(ds)
    if config_path is not None:
        fp["config_file"] = str(config_path)
    with step("Fitting peer groups", timings):
        peers = fit_peers(
            ds.claims, ds.claim_lines, ds.cards, ds.facilities, settings=settings.features
        )
    with step("Building features", timings):
        fs = build_features(
            ds.claims,
            ds.claim_lines,
            ds.cards,
            ds.facilities,
            peers=peers,
            settings=settings.features,
        )
    fp["switched_off"] = dict(fs.switched_off)
    fp["n_feature_rows"] = {e: int(len(fs.table(e))) for e in ENTITY_TYPES}
    bundle = fit_bundle(fs, peers, settings, fp=fp, labels=labels, traps=traps, timings=timings)
    if feedback is not None:
        from claimguard.model.feedback import apply_feedback

        with step("Fitting reviewer feedback", timings):
            apply_feedback(bundle, fs, feedback, seed=settings.model.random_state)
    bundle.model_version = content_version(bundle)  # after feedback: it changes the scores
    timings["Training total"] = round(time.perf_counter() - t0, 3)
    bundle.metrics["training_seconds"] = timings["Training total"]
    return bundle
