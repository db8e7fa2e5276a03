"""The model card: what a bundle was trained on, how it scores, what it is (not) for.

Why: a reviewer or auditor reading ``model_card.json`` beside a bundle (or in its MLflow
run) must understand the model without opening Python.
"""

from __future__ import annotations

from typing import Any

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
    "Rule thresholds are fixed business limits; review them for another fund's rules.",
)
# The formula implemented by claimguard.model.rules.combine.
SCORE_FORMULA = (
    "forest = training-CDF of the isolation score (0..1, higher = riskier); "
    "final = forest + rule_weight * (1 - forest) when a decisive rule fires; "
    "rule_weight * (1 - (1 - s) * (1 - forest)) when only pattern rules (strength s < 1) "
    "fire, a tier just below decisive hits; forest otherwise"
)


def _public_fingerprint(fp: dict[str, Any]) -> dict[str, Any]:
    """The fingerprint without the (long) vocabularies kept for drift checks."""
    out = {k: v for k, v in fp.items() if not str(k).startswith("seen_")}
    for k in ("seen_facilities", "seen_diagnoses"):
        if k in fp:
            out[f"{k}_count"] = len(fp[k])
    return out


def model_card(bundle: Any) -> dict[str, Any]:
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
        "rules": {
            e: [
                {"name": r.name, "threshold": r.threshold, "signal": r.signal, "why": r.why}
                for r in rules
            ]
            for e, rules in bundle.rules.items()
        },
        "parameters": m.model_dump(mode="json"),
        "metrics": bundle.metrics,
        "versions": bundle.versions,
    }
