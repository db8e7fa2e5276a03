"""Reviewer feedback: tune the unsupervised score with confirmed and dismissed entities.

Why: an isolation forest only knows "rare". It cannot know that reviewers keep dismissing
dialysis patients whose visit counts are rare but legitimate, or that a modest
drug-oversupply signal is nearly always confirmed. Reviewer decisions (docs/contract.md section 4 layout
plus ``decision``) say exactly that, but they are few and come from the top of the queue, so
the adjustment must be small, explainable, and able to say "no change".

The model, per entity type::

    eta = logit(score) + b + w_rule * rule_score + sum_s w_s * z_s

``score`` is the bundle's unadjusted final score, ``z_s`` the forest's attribution summed
over the features of signal ``s`` (standardised on the training entities). The weights are
fitted by logistic loss on the labelled entities with an L2 penalty ``alpha * |w|^2``
(``b`` free), so a strong penalty means "no change" (``w = 0``, same ranking as before).
``alpha`` is chosen by repeated stratified cross-validation on average precision (the
strongest penalty within one standard error of the best, since reviewed entities come from
the top of the queue and weak penalties extrapolate badly to the rest); the adjustment is
kept only when its cross-validated AP beats the unadjusted score's AP on the same folds by
more than the standard error of that gain and at least ``MIN_AP_GAIN``. With fewer than ``MIN_PER_CLASS`` confirmed or
dismissed entities of a type, nothing changes. The adjusted score is the training-entity CDF of ``eta`` (0..1, "riskier
than this share of training entities", as before).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from sklearn.metrics import average_precision_score
from sklearn.model_selection import RepeatedStratifiedKFold

from claimguard.features.build import FeatureSet
from claimguard.model.bundle import Bundle

log = logging.getLogger(__name__)

MIN_PER_CLASS = 5
MIN_AP_GAIN = 0.01  # smaller cross-validated gains are not worth a changed score
ALPHAS: tuple[float, ...] = (10.0, 3.0, 1.0, 0.3, 0.1, 0.03)
MAX_REFERENCE_ROWS = 20_000  # training entities used for scaling and the CDF
_N_QUANTILES = 1001
_EPS = 1e-6


# ------------------------------------------------------------------ the adjustment
def feature_signals(features: list[str]) -> dict[str, str]:
    """Feature → signal (docs/contract.md section 4), from the feature catalogue (``other`` when not catalogued)."""
    try:
        from claimguard.features.catalog import CATALOG
    except ImportError:  # pragma: no cover - the catalogue ships with the features layer
        CATALOG = {}
    return {f: (CATALOG[f].signal if f in CATALOG else "other") for f in features}


def signal_sums(attributions: pd.DataFrame, feature_signal: dict[str, str]) -> pd.DataFrame:
    """Sum a per-feature attribution table into one column per signal."""
    groups = pd.Series({c: feature_signal.get(str(c), "other") for c in attributions.columns})
    return attributions.T.groupby(groups.to_numpy()).sum().T


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.asarray(np.log(p) - np.log1p(-p))


@dataclass
class FeedbackAdjustment:
    """A fitted reviewer-feedback adjustment of one entity type's score (see module doc)."""

    entity_type: str
    columns: list[str]  # "rule_score" then signals
    feature_signal: dict[str, str]
    center: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    intercept: float
    alpha: float
    cdf_x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cdf_p: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def design(self, rule_score: np.ndarray, attributions: pd.DataFrame) -> np.ndarray:
        """Standardised inputs: rule score and per-signal attribution sums."""
        sums = signal_sums(attributions, self.feature_signal)
        cols = [
            np.asarray(rule_score, dtype=np.float64)
            if c == "rule_score"
            else (sums[c].to_numpy(dtype=np.float64) if c in sums else np.zeros(len(attributions)))
            for c in self.columns  # a loop over a handful of signals
        ]
        X = np.column_stack(cols) if cols else np.zeros((len(attributions), 0))
        return np.asarray((X - self.center) / self.scale)

    def eta(
        self, score: np.ndarray, rule_score: np.ndarray, attributions: pd.DataFrame
    ) -> np.ndarray:
        """The adjusted log-odds (unbounded)."""
        X = self.design(rule_score, attributions)
        return np.asarray(_logit(score) + self.intercept + X @ self.weights)

    def adjust(
        self, score: np.ndarray, rule_score: np.ndarray, attributions: pd.DataFrame
    ) -> np.ndarray:
        """Adjusted score in 0..1: training CDF of ``eta``, strictly increasing above it."""
        e = self.eta(score, rule_score, attributions)
        out = np.interp(e, self.cdf_x, self.cdf_p)
        top_x, top_p = self.cdf_x[-1], self.cdf_p[-1]
        above = e > top_x
        out[above] = top_p + (1.0 - top_p) * (1.0 - np.exp(-(e[above] - top_x)))
        return np.asarray(out)

    def weight_table(self) -> dict[str, float]:
        """Weight per input (0 = as the unsupervised model had it)."""
        return {c: float(w) for c, w in zip(self.columns, self.weights, strict=True)}


def _fit_weights(
    X: np.ndarray, offset: np.ndarray, y: np.ndarray, alpha: float
) -> tuple[float, np.ndarray]:
    """Penalised logistic regression with an offset: returns (intercept, weights)."""
    n, k = X.shape

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        b, w = theta[0], theta[1:]
        eta = offset + b + X @ w
        value = np.mean(np.logaddexp(0.0, eta) - y * eta) + alpha * float(w @ w)
        r = (1.0 / (1.0 + np.exp(-eta)) - y) / n
        grad = np.concatenate([[r.sum()], X.T @ r + 2.0 * alpha * w])
        return float(value), grad

    res = minimize(loss, np.zeros(k + 1), jac=True, method="L-BFGS-B")
    return float(res.x[0]), np.asarray(res.x[1:], dtype=np.float64)


def _cross_validated_ap(
    X: np.ndarray,
    offset: np.ndarray,
    y: np.ndarray,
    alphas: tuple[float, ...],
    n_splits: int,
    seed: int,
) -> tuple[list[float], dict[float, list[float]]]:
    """Per fold, AP of the unadjusted score and of the adjustment fitted with each penalty."""
    cv = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=3, random_state=seed)
    base_ap: list[float] = []
    ap: dict[float, list[float]] = {a: [] for a in alphas}
    for tr, te in cv.split(X, y):  # a loop over a handful of folds
        base_ap.append(average_precision_score(y[te], offset[te]))
        for a in alphas:
            b, w = _fit_weights(X[tr], offset[tr], y[tr], a)
            ap[a].append(average_precision_score(y[te], offset[te] + b + X[te] @ w))
    return base_ap, ap


def _unfitted(
    entity_type: str, feature_signal: dict[str, str], reference: pd.DataFrame, feats: list[str]
) -> FeedbackAdjustment:
    """An adjustment with zero weights whose design columns (the rule score and each signal's
    attribution sum that varies) are standardised on the training reference sample."""
    ref_sums = signal_sums(reference[feats], feature_signal)
    spread = ref_sums.std(ddof=0)
    signals = [str(s) for s in ref_sums.columns if spread[s] > 0]
    columns = (["rule_score"] if reference["rule_score"].std(ddof=0) > 0 else []) + signals
    ref_X = np.column_stack(
        [reference["rule_score"].to_numpy(np.float64)] * ("rule_score" in columns)
        + [ref_sums[s].to_numpy(np.float64) for s in signals]
    )
    center, scale = ref_X.mean(axis=0), ref_X.std(axis=0)
    return FeedbackAdjustment(
        entity_type=entity_type,
        columns=columns,
        feature_signal=dict(feature_signal),
        center=center,
        scale=np.where(scale > 0, scale, 1.0),
        weights=np.zeros(len(columns)),
        intercept=0.0,
        alpha=float("inf"),
    )


def fit_adjustment(
    entity_type: str,
    feature_signal: dict[str, str],
    labelled: pd.DataFrame,
    y: np.ndarray,
    reference: pd.DataFrame,
    *,
    seed: int = 0,
    alphas: tuple[float, ...] = ALPHAS,
) -> tuple[FeedbackAdjustment | None, dict[str, Any]]:
    """Fit the adjustment on labelled entities; None when feedback cannot improve the score.

    ``labelled`` and ``reference`` (a sample of training entities) hold columns ``score``,
    ``rule_score`` and one attribution column per feature.
    """
    y = np.asarray(y, dtype=np.float64)
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    report: dict[str, Any] = {
        "n_confirmed": n_pos,
        "n_dismissed": n_neg,
        "status": "unchanged",
        "adjusted": 0,
    }
    if min(n_pos, n_neg) < MIN_PER_CLASS:
        report["reason"] = (
            f"needs at least {MIN_PER_CLASS} confirmed and {MIN_PER_CLASS} dismissed entities"
        )
        return None, report
    feats = [c for c in reference.columns if c not in ("score", "rule_score")]
    adj = _unfitted(entity_type, feature_signal, reference, feats)
    columns = adj.columns
    X = adj.design(labelled["rule_score"].to_numpy(np.float64), labelled[feats])
    offset = _logit(labelled["score"].to_numpy(np.float64))
    base_ap, ap = _cross_validated_ap(X, offset, y, alphas, min(5, n_pos, n_neg), seed)
    mean_ap = {a: float(np.mean(v)) for a, v in ap.items()}
    top = max(alphas, key=lambda a: mean_ap[a])
    # one-standard-error rule: the strongest penalty within one SE of the best, because
    # reviewed entities come from the top of the queue and weak penalties overfit them
    se = float(np.std(ap[top], ddof=1) / np.sqrt(len(ap[top])))
    best = max(a for a in alphas if mean_ap[a] >= mean_ap[top] - se)
    report.update(
        {
            "cv_ap_before": float(np.mean(base_ap)),
            "cv_ap_after": mean_ap[best],
            "cv_ap_by_alpha": {str(a): v for a, v in mean_ap.items()},
            "alpha": best,
            "weights_before": {c: 0.0 for c in columns},
        }
    )
    # keep it only when the gain over the same folds exceeds its own standard error
    gain = np.asarray(ap[best]) - np.asarray(base_ap)
    report["cv_ap_gain_se"] = float(np.std(gain, ddof=1) / np.sqrt(len(gain)))
    if gain.mean() <= max(report["cv_ap_gain_se"], MIN_AP_GAIN):
        report["reason"] = (
            "no penalty strength beat the unadjusted score in cross-validation by more than "
            f"one standard error and {MIN_AP_GAIN} AP"
        )
        report["weights_after"] = dict(report["weights_before"])
        return None, report
    adj.intercept, adj.weights = _fit_weights(X, offset, y, best)
    adj.alpha = best
    ref_eta = adj.eta(
        reference["score"].to_numpy(np.float64),
        reference["rule_score"].to_numpy(np.float64),
        reference[feats],
    )
    n = len(ref_eta)
    adj.cdf_x = np.quantile(ref_eta, np.linspace(0.0, 1.0, _N_QUANTILES))
    adj.cdf_p = np.linspace(0.0, 1.0, _N_QUANTILES) * (n / (n + 1.0))
    report["status"] = "adjusted"
    report["adjusted"] = 1
    report["weights_after"] = adj.weight_table()
    return adj, report


# ------------------------------------------------------------------ bundle level
def _frame(bundle: Bundle, entity_type: str, X: pd.DataFrame) -> pd.DataFrame:
    """Unadjusted score, rule score and attributions of some entities."""
    scored = bundle.score_entity(entity_type, X, feedback=False)
    attr = bundle.attributions(entity_type, X)
    return pd.concat([scored[["score", "rule_score"]], attr], axis=1)


def _no_decisions(n_unknown: int) -> dict[str, Any]:
    """The report of an entity type none of whose decisions is on a training entity."""
    return {
        "status": "unchanged",
        "adjusted": 0,
        "reason": "no decisions on these entities",
        "n_confirmed": 0,
        "n_dismissed": 0,
        "n_unknown_entities": n_unknown,
    }


def apply_feedback(
    bundle: Bundle,
    fs: FeatureSet,
    labels: pd.DataFrame,
    *,
    seed: int = 0,
    alphas: tuple[float, ...] = ALPHAS,
) -> dict[str, Any]:
    """Fit reviewer-feedback adjustments on a trained bundle, in place; returns the report.

    ``fs`` is the training FeatureSet (``.card``, ``.facility``), ``labels`` the output of
    :func:`claimguard.model.decisions.feedback_labels`. Entity types without enough
    decisions keep their score. The
    report (what changed, cross-validated AP before/after) is also stored in
    ``bundle.metrics["feedback"]``, which the training run logs to MLflow
    (``feedback.card.cv_ap_after``, ``feedback.card.weights_after.drug_oversupply``, ...).
    """
    bundle.feedback = {}
    report: dict[str, Any] = {}
    rng = np.random.default_rng(seed)
    for entity in bundle.detectors:
        table = fs.table(entity)
        mine = labels[labels["entity_type"] == entity]
        ids = pd.Index(mine["entity_id"].astype(str))
        index = table.index.astype(str)
        known = ids.isin(index)
        mine = mine[known]
        if len(mine) == 0:
            report[entity] = _no_decisions(int((~known).sum()))
            continue
        pos = index.get_indexer(pd.Index(mine["entity_id"].astype(str)))
        ref_pos = np.arange(len(table))
        if len(ref_pos) > MAX_REFERENCE_ROWS:
            ref_pos = np.sort(rng.choice(len(table), MAX_REFERENCE_ROWS, replace=False))
        labelled = _frame(bundle, entity, table.iloc[pos])
        reference = _frame(bundle, entity, table.iloc[ref_pos])
        feature_signal = feature_signals(list(bundle.feature_names[entity]))
        adj, rep = fit_adjustment(
            entity,
            feature_signal,
            labelled,
            mine["y"].to_numpy(np.float64),
            reference,
            seed=seed,
            alphas=alphas,
        )
        rep["n_unknown_entities"] = int((~known).sum())
        report[entity] = rep
        if adj is not None:
            bundle.feedback[entity] = adj
        log.info(
            "Feedback on %ss: %s (confirmed %d, dismissed %d, CV AP %s → %s)",
            entity,
            rep["status"],
            rep["n_confirmed"],
            rep["n_dismissed"],
            _fmt(rep.get("cv_ap_before")),
            _fmt(rep.get("cv_ap_after")),
        )
    not_applied = dict(labels.attrs.get("not_applied", {}))
    not_applied["entity_not_in_the_training_data"] = sum(
        int(r.get("n_unknown_entities", 0)) for r in report.values()
    )
    report["rows_not_applied"] = not_applied
    if any(not_applied.values()):
        log.warning(
            "%d reviewer-decision row(s) not applied: %s",
            sum(not_applied.values()),
            ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in not_applied.items() if v),
        )
    bundle.metrics["feedback"] = report
    return report


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"
