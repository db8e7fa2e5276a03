"""The rule layer: named thresholds for rare, decisive signals an isolation forest misses.

Why: each tree of an isolation forest sees only ``max_samples`` (256) training entities. A
signal present in one card in ten thousand — a claim after the holder's death, the same card
in two hospitals on the same night — is absent from almost every subsample, so no tree ever
splits on it and the forest cannot isolate it. Such signals are decisive on their own, so
claimguard states them as plain rules a reviewer can read: "feature > threshold".

How the final score is formed (quoted in the README)::

    final = forest + rule_weight * (1 - forest)              a decisive rule fires (strength 1)
    final = rule_weight * (1 - (1 - s) * (1 - forest))       only pattern rules fire (s < 1)
    final = forest                                           no rule fires

``forest`` is the detector's 0..1 score (training CDF of the isolation score), ``rule_score``
is the largest ``strength`` of the rules that fire (0 when none), and ``rule_weight``
(``settings.model.rule_weight``, default 0.9999) is the share of the distance to 1 that a
hit removes: a card at forest 0.6 with a hit scores 0.99996, so hits rank above every
entity the forest alone puts below its top 0.01% of training entities. (Measured on
generated data: with 0.5, post-death cards sat at rank ~40,000 of 170,000.) The lift keeps
the forest's order among entities with hits and among those without, never lowers a score
and stays within 0..1. Every fired rule is reported by name in ``rule_hits``; a rule is
named after the feature it thresholds, so reasons can show that feature's value.

Two kinds of rule, in strict tiers. *Decisive* rules (strength 1) are facts that need no
comparison: care after death, outside validity, long double stays; their hits score in
[rule_weight, 1]. *Pattern* rules (strength ``s = PATTERN_STRENGTH``) are claim combinations
that are abuse in almost every case but have rare innocent explanations (two same-diagnosis
claims at one facility on one day; a visit elsewhere while admitted); their hits score in
[rule_weight * s, rule_weight) = [0.999, 0.9999) at the defaults: above every entity outside
the forest's training top 0.1%, always below decisive hits, so a handful of innocent pattern
hits with a high forest score cannot push decisive cases out of a review queue. Within each
tier the forest's order is kept. (Measured, 200k claims/month, seeds 1→2 / 3→4 / 5→6:
as decisive rules they cost precision@100 1.00 → 0.87 on 1→2; as overlapping tiers 0.96 / 1.00
/ 0.88; as strict tiers see the README / bench/quality.py.)

Thresholds were chosen on generated data so that no normal card or trap (legitimate heavy
user) fires them; short overlaps, single same-day extra claims and diagnoses that do not fit
the holder's age or sex are left to the forest, because children and multimorbid patients
show them too (a demographic-mismatch rule hit 178 frequently ill children per 200k claims).
The pattern rules narrow those signals to their abusive form: same-day claims *for the same
diagnosis*, a visit elsewhere *strictly inside* a stay, a diagnosis 20x rarer for the
holder's sex and age *away from the registered facility* (measured, 200k claims/month, two
seed pairs: 1-3 normal cards or traps per month for the split and atypical-diagnosis
rules, 11-25 for the visit-inside-a-stay rule, against 24-67 planted cards per rule; the
innocent hits are mostly frequently ill children and young chemotherapy patients).

A rule whose feature is absent from the data (its input column was missing) is skipped
with one log line; rules never stop a run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    """A decisive threshold: fires when ``feature > threshold``."""

    feature: str
    threshold: float
    signal: str
    why: str
    strength: float = 1.0  # rule_score when it fires; < 1 = a pattern rule (see module doc)

    @property
    def name(self) -> str:
        return self.feature


# Pattern rules (strength < 1) lift into [rule_weight * s, rule_weight) = [0.999, 0.9999) at
# the default weight: above every entity outside the forest's training top 0.1%, always below
# decisive hits (see the module docstring).
PATTERN_STRENGTH = 0.999 / 0.9999

# Decisive thresholds on catalogue features (claimguard.features.catalog). Thresholds are
# business limits, not fitted quantiles: a fitted quantile would move with the very abuse
# it should catch, since training data are unlabelled.
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(
        "card_after_death_claims_count",
        0.0,
        "eligibility",
        "care billed after the card holder's recorded death",
    ),
    Rule(
        "card_outside_validity_claims_count",
        0.0,
        "eligibility",
        "care billed outside the card's validity dates",
    ),
    Rule(
        "card_same_day_same_facility_claims_count",
        2.0,
        "split_billing",
        "three or more extra claims on days the same facility already billed the card",
    ),
    Rule(
        "card_same_dx_same_day_claims_count",
        0.0,
        "split_billing",
        "one facility billed the card twice on one day for the same diagnosis",
        PATTERN_STRENGTH,
    ),
    Rule(
        "card_visits_inside_other_stay_count",
        0.0,
        "overlapping_care",
        "a visit at another facility while the holder was admitted to hospital",
        PATTERN_STRENGTH,
    ),
    Rule(
        "card_max_dx_atypicality_away_ratio",
        20.0,
        "demographic_mismatch",
        "away from the registered facility, a diagnosis over 20 times rarer for the holder's "
        "sex and age than overall",
        PATTERN_STRENGTH,
    ),
    Rule(
        "card_overlap_days",
        3.0,
        "overlapping_care",
        "more than three days in care at two facilities at once",
    ),
    Rule(
        "card_drug_days_supplied_ratio",
        4.0,
        "drug_oversupply",
        "one drug class supplied for more than four times the days of the period",
    ),
    Rule(
        "facility_doctor_days_over_cap_share",
        0.05,
        "doctor_load",
        "over 5% of doctor-days above the daily examination cap",
    ),
)


def rules_for(entity_type: str, rules: Iterable[Rule] = DEFAULT_RULES) -> list[Rule]:
    """The rules of one entity type (by feature-name prefix)."""
    return [r for r in rules if r.feature.startswith(f"{entity_type}_")]


def active_rules(rules: Sequence[Rule], features: Iterable[str]) -> list[Rule]:
    """Rules whose feature exists; logs the ones switched off."""
    have = set(features)
    active = [r for r in rules if r.feature in have]
    missing = [r.name for r in rules if r.feature not in have]
    if missing:
        log.info("Rules switched off (feature not available): %s", ", ".join(missing))
    return active


def apply_rules(X: pd.DataFrame, rules: Sequence[Rule]) -> tuple[np.ndarray, pd.Series]:
    """Evaluate rules on a feature table: (rule_score per row = the largest strength of the
    rules that fire, 0 when none; rule_hits JSON per row)."""
    n = len(X)
    if not rules or n == 0:
        return np.zeros(n), pd.Series(["[]"] * n, index=X.index, dtype="object")
    values = X[[r.feature for r in rules]].to_numpy(dtype=np.float64, na_value=np.nan)
    thresholds = np.array([r.threshold for r in rules])
    hit = np.nan_to_num(values, nan=-np.inf) > thresholds[None, :]
    names = np.array([r.name for r in rules], dtype=object)
    any_hit = hit.any(axis=1)
    strength = np.array([r.strength for r in rules])
    score = np.max(np.where(hit, strength[None, :], 0.0), axis=1)
    hits = np.full(n, "[]", dtype=object)
    rows = np.flatnonzero(any_hit)
    # JSON lists only for the (few) rows with hits; a loop over hit rows, not over claims
    hits[rows] = [json.dumps(list(names[hit[i]])) for i in rows]
    return score, pd.Series(hits, index=X.index, dtype="object")


def combine(forest: np.ndarray, rule_score: np.ndarray, rule_weight: float) -> np.ndarray:
    """The final score in tiers (see module docstring): decisive hits
    ``forest + w * (1 - forest)``, pattern hits ``w * (1 - (1 - s) * (1 - forest))``."""
    forest = np.asarray(forest, dtype=np.float64)
    s = np.asarray(rule_score, dtype=np.float64)
    decisive = forest + rule_weight * (1.0 - forest)
    pattern = rule_weight * (1.0 - (1.0 - s) * (1.0 - forest))
    return np.where(s >= 1.0, decisive, np.where(s > 0.0, pattern, forest))
