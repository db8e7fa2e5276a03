"""The model card: what a bundle was trained on, how it scores, what it is (not) for.

Why: a reviewer or auditor reading ``NAME.model_card.json`` beside bundle ``NAME`` (or in its MLflow
run) must understand the model without opening Python.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from claimguard.model.evidence import FittedEvidence
from claimguard.settings import Settings

INTENDED_USE = (
    "Rank insurance cards and facilities of one period by how unusual their claims are "
    "compared with similar cards/facilities, to prioritise human review. Scores are "
    "leads for a reviewer, not findings of abuse."
)
LIMITS = (
    "Unsupervised: it finds unusual usage, which includes legitimate heavy care "
    "(dialysis, chemotherapy, antenatal care, multimorbid elderly patients).",
    "Scores compare with the training period; retrain when coding, prices or the facility "
    "network change (see the drift section of run.json).",
    "Features switched off by absent input columns are not available to the model.",
    "Evidence is weighed against the training population: a pattern common in the training "
    "period (abuse included, since training is unlabelled) weighs less; hard facts that fired "
    "on more than model.max_hard_fact_share of training entities are demoted (see "
    "'evidence').",
)
# The formula implemented by claimguard.model.combine.combine.
SCORE_FORMULA = (
    "forest = training-CDF of the isolation score (0..1); S_i = -log10 of an evidence item's "
    "value under the training population (Poisson/negative-binomial tail of a count given "
    "the entity's volume band; normal tail of a robust-standardised peer z-score); per "
    "signal E = clip(max S_i - evidence_floor, 0, evidence_cap); S = -log10(1 - forest) + "
    "evidence_weight * sum of E; T = 1000 * H + min(S, 999), H = hard-fact claims beyond "
    "tolerance (after death, outside validity, impossible diagnoses beyond one); "
    "score = T / (1 + T)"
)


def card_path(bundle_path: str | Path) -> Path:
    """``NAME.model_card.json`` beside bundle ``NAME.<ext>``: each bundle keeps its own card
    when several are saved in one folder."""
    path = Path(bundle_path)
    return path.with_name(f"{path.stem}.model_card.json")


def _public_fingerprint(fp: dict[str, Any]) -> dict[str, Any]:
    """The fingerprint without the (long) vocabularies kept for drift checks."""
    out = {k: v for k, v in fp.items() if not str(k).startswith("seen_")}
    for k in ("seen_facilities", "seen_diagnoses"):
        if k in fp:
            out[f"{k}_count"] = len(fp[k])
    return out


class DescribedModel(Protocol):
    """What a model card reads of a :class:`claimguard.model.bundle.Bundle` (which writes
    the card when it is saved, so this module cannot import it)."""

    model_version: str
    trained_at: str
    settings: Settings
    fingerprint: dict[str, Any]
    feature_names: dict[str, list[str]]
    evidence: dict[str, list[FittedEvidence]]
    metrics: dict[str, Any]
    versions: dict[str, str]


def model_card(bundle: DescribedModel) -> dict[str, Any]:
    """A JSON-ready description of ``bundle`` (a :class:`claimguard.model.bundle.Bundle`)."""
    m = bundle.settings.model
    return {
        "model_version": bundle.model_version,
        "trained_at": bundle.trained_at,
        "intended_use": INTENDED_USE,
        "limits": list(LIMITS),
        "score": SCORE_FORMULA,
        "trained_on": _public_fingerprint(bundle.fingerprint),
        "features": bundle.feature_names,
        "evidence": {e: [i.describe() for i in items] for e, items in bundle.evidence.items()},
        "parameters": m.model_dump(mode="json"),
        "metrics": bundle.metrics,
        "versions": bundle.versions,
    }
