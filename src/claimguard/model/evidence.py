"""Evidence: rule-like signals weighed by how improbable they are in the training population.

Why not thresholds: a rule "fires when feature > t" with ``t`` chosen so that no normal
entity of one generated population fires it is tuned to that population. Elsewhere
genuine same-day revisits, visits on the day of an admission or busy legitimate users
fire it by the hundred, and a fixed tier puts them above everything else. Here every
signal is *evidence* whose weight comes from the training data:

* **count** evidence (events per entity: same-diagnosis same-day claims, visits inside
  another facility's stay, early refills, doctor-days over the cap, ...): the surprisal
  ``-log10 P(K >= k)`` of the entity's count ``k`` under the training population's rate
  for an entity of its volume (``exposure``, e.g. its visits; rates per volume band):
  Poisson -- negative binomial where the bulk of a common pattern is over-dispersed --
  with mean ``rate * exposure``, the rate estimated from the share of entities with no
  such event (so the abusers' own repeated events do not raise it). One common
  coincidence weighs little; repeated improbable events add up.
* **z** evidence (a facility's excess over its peers in standard errors,
  ``*_excess_z``): robust-standardised on the training facilities (median, 1.4826 MAD,
  the spread never below 1: a z-score can be over-dispersed, not under-dispersed)
  and turned into the surprisal of a one-sided normal tail, ``-log10(2 * P(Z >= z))``
  (0 at the median).
* **hard** facts (care after the holder's death, outside the card's validity, a diagnosis
  the holder cannot have): they need no comparison, and they rank by how much they show
  — the number of claims beyond a tolerance (one impossible diagnosis may be a typo) —
  never by the forest's view of the rest of the entity. They also count as count
  evidence. A hard fact that fires on more than ``model.max_hard_fact_share`` of the
  training entities is not a fact in this data (a fund whose registry lags, say): it is
  demoted to count evidence, with a log line, and the model card says so.

How the evidence, the forest and the hard facts make one score: claimguard.model.combine.

Evidence whose features are absent from the data is skipped with one log line.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from claimguard.model.surprisal import LN10, count_surprisal, fit_counts, fit_z, volume_band

log = logging.getLogger(__name__)

Kind = Literal["hard", "count", "z"]


@dataclass(frozen=True)
class EvidenceSpec:
    """One signal: which feature holds it, how it is weighed, what it means."""

    feature: str
    kind: Kind
    signal: str
    why: str
    exposure: str | None = None  # count/hard: the feature holding the entity's volume
    tolerance: float = 0.0  # hard: events tolerated as possible data-entry errors
    unit: float = 1.0  # count: the feature's value per event (30: days counted as months)
    offset: float = 0.0  # count: value that is no event at all (SUPPLY_GRACE for a ratio)
    # count: the rate is also read off the one-event share (``claimguard.model.surprisal.band_fit``), the lower of
    # the two kept -- for a rare pattern whose abusers repeat it within the month
    repeat_robust: bool = False

    @property
    def name(self) -> str:
        return self.feature

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.feature,) if self.exposure is None else (self.feature, self.exposure)


_CARD_VISITS = "card_visits_count"
# Supply ratio that is no event at all: the period plus a refill's few days of grace.
# Two 30-day fills are 2.0 periods in a 30-day month and 1.94 in a 31-day one; with a
# grace of exactly 1.0 the same patient is an event in April and none in March, so a
# model trained on a long month would find hundreds of ordinary refills improbable in a
# short one.
SUPPLY_GRACE = 1.1

DEFAULT_EVIDENCE: tuple[EvidenceSpec, ...] = (
    EvidenceSpec(
        "card_after_death_claims_count", "hard", "eligibility",
        "care billed after the card holder's recorded death", _CARD_VISITS,
    ),
    EvidenceSpec(
        "card_outside_validity_claims_count", "hard", "eligibility",
        "care billed outside the card's validity dates", _CARD_VISITS,
    ),
    EvidenceSpec(
        "card_impossible_dx_claims_count", "hard", "demographic_mismatch",
        "diagnoses the card holder cannot have (sex or age; one is tolerated as a typo)",
        _CARD_VISITS, 1.0,
    ),
    EvidenceSpec(
        "card_unfitting_main_dx_distinct_count", "count", "demographic_mismatch",
        "different main diagnoses that do not fit the holder's sex or age", _CARD_VISITS,
    ),
    EvidenceSpec(
        "card_same_dx_same_day_claims_count", "count", "split_billing",
        "claims for the same diagnosis at one facility on one day, more than the population "
        "shows for that many visits", _CARD_VISITS,
    ),
    EvidenceSpec(
        "card_back_to_back_claims_count", "count", "split_billing",
        "claims at one facility starting minutes after the card's previous one", _CARD_VISITS,
        repeat_robust=True,
    ),
    EvidenceSpec(
        "card_split_stay_admissions_count", "count", "split_billing",
        "admissions at the facility that discharged the holder a day earlier", _CARD_VISITS,
    ),
    EvidenceSpec(
        "card_same_day_same_facility_claims_count", "count", "split_billing",
        "extra claims on days the same facility already billed the card", _CARD_VISITS,
    ),
    EvidenceSpec(
        "card_visits_inside_other_stay_count", "count", "overlapping_care",
        "visits at another facility while the holder was admitted to hospital", _CARD_VISITS,
    ),
    EvidenceSpec(
        "card_overlap_days", "count", "overlapping_care",
        "days in care at two facilities at once (a same-day transfer is one)", _CARD_VISITS,
    ),
    EvidenceSpec(
        "card_early_refill_count", "count", "drug_oversupply",
        "refills while most of the previous supply was still on hand", _CARD_VISITS,
    ),
    EvidenceSpec(
        "card_drug_days_supplied_ratio", "count", "drug_oversupply",
        "periods' worth of one drug class supplied beyond the period itself",
        offset=SUPPLY_GRACE,
    ),
    EvidenceSpec(
        "card_drug_stockpile_days", "count", "drug_oversupply",
        "months of one drug class still on hand when it was dispensed again", unit=30.0,
    ),
    EvidenceSpec(
        "facility_doctor_days_over_cap_count", "count", "doctor_load",
        "doctor-days above the daily examination cap", "facility_doctor_days_count",
    ),
    EvidenceSpec(
        "facility_cost_per_visit_excess_z", "z", "cost",
        "cost per visit above same-tier peers treating the same diagnoses",
    ),
    EvidenceSpec(
        "facility_tests_per_visit_excess_z", "z", "service_intensity",
        "lab tests per visit above same-diagnosis same-tier peers",
    ),
    EvidenceSpec(
        "facility_imaging_per_visit_excess_z", "z", "service_intensity",
        "imaging per visit above same-diagnosis same-tier peers",
    ),
    EvidenceSpec(
        "facility_drugs_per_visit_excess_z", "z", "service_intensity",
        "drug lines per visit above same-diagnosis same-tier peers",
    ),
    EvidenceSpec(
        "facility_supplies_per_visit_excess_z", "z", "service_intensity",
        "supply lines per visit above same-diagnosis same-tier peers",
    ),
    EvidenceSpec(
        "facility_admission_rate_excess_z", "z", "admission_pattern",
        "admissions above peers for the same diagnoses",
    ),
    EvidenceSpec(
        "facility_length_of_stay_excess_z", "z", "admission_pattern",
        "longer stays than peers for the same diagnoses",
    ),
    EvidenceSpec(
        "facility_thin_visits_excess_z", "z", "visit_frequency",
        "visits with almost no treatment above peers",
    ),
    EvidenceSpec(
        "facility_sick_leave_per_visit_excess_z", "z", "sick_leave",
        "sick-leave certificates above peers for the same diagnoses",
    ),
)  # fmt: skip


@dataclass(frozen=True)
class FittedEvidence:
    """An evidence spec with what the training population says about it."""

    spec: EvidenceSpec
    rate: float = 0.0  # count/hard: events per exposure unit, all training entities
    band_rates: tuple[float, ...] = ()  # the same per volume band (``volume_band``)
    band_dispersions: tuple[float, ...] = ()  # negative-binomial alpha per band (0 = Poisson)
    center: float = 0.0  # z: training median
    scale: float = 1.0  # z: training robust spread
    fire_share: float = 0.0  # share of training entities on which it fires
    demoted: bool = False  # a hard fact that fired too often in training: count evidence

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def is_hard(self) -> bool:
        return self.spec.kind == "hard" and not self.demoted

    # ------------------------------------------------------------------ scoring
    def _counts(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        k = (
            np.nan_to_num(_column(X, self.spec.feature), nan=0.0) - self.spec.offset
        ) / self.spec.unit
        k = np.maximum(np.floor(k + 1e-9), 0.0)
        if self.spec.exposure is None:
            return k, np.ones(len(k))
        n = np.nan_to_num(_column(X, self.spec.exposure), nan=1.0)
        return k, np.maximum(n, 1.0)

    def evaluate(self, X: pd.DataFrame, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(surprisal, hard-fact claims beyond tolerance, fired) per entity, reading the
        entity's count and volume once."""
        if self.spec.kind == "z":
            z = (np.nan_to_num(_column(X, self.spec.feature), nan=0.0) - self.center) / self.scale
            s = np.zeros(len(z))
            pos = z > 0
            s[pos] = np.maximum(-(stats.norm.logsf(z[pos]) + math.log(2.0)) / LN10, 0.0)
            return s, np.zeros(len(z)), s >= level
        k, n = self._counts(X)
        s = count_surprisal(k, self.rates(n) * n, self.dispersions(n))
        hard = np.maximum(k - self.spec.tolerance, 0.0) if self.is_hard else np.zeros(len(k))
        fired = k > self.spec.tolerance if self.spec.kind == "hard" else s >= level
        return s, hard, fired

    def surprisal(self, X: pd.DataFrame) -> np.ndarray:
        """-log10 of how improbable each entity's value is for the training population."""
        return self.evaluate(X, math.inf)[0]

    def rates(self, n: np.ndarray) -> np.ndarray:
        """Events per exposure unit for entities of volume ``n`` (their volume band's)."""
        if not self.band_rates:
            return np.full(len(n), self.rate)
        return np.asarray(np.asarray(self.band_rates)[volume_band(n, len(self.band_rates))])

    def dispersions(self, n: np.ndarray) -> np.ndarray:
        """Negative-binomial alpha for entities of volume ``n`` (0 = Poisson)."""
        if not self.band_dispersions:
            return np.zeros(len(n))
        bands = volume_band(n, len(self.band_dispersions))
        return np.asarray(np.asarray(self.band_dispersions)[bands])

    def describe(self) -> dict[str, object]:
        """JSON-ready record for the model card and the MLflow run."""
        out: dict[str, object] = {
            "name": self.name,
            "kind": self.spec.kind,
            "signal": self.spec.signal,
            "why": self.spec.why,
            "training_fire_share": round(self.fire_share, 6),
            "demoted": self.demoted,
        }
        if self.spec.kind == "z":
            out.update(center=round(self.center, 6), scale=round(self.scale, 6))
        else:
            out.update(
                exposure=self.spec.exposure,
                tolerance=self.spec.tolerance,
                unit=self.spec.unit,
                offset=self.spec.offset,
                repeat_robust=self.spec.repeat_robust,
                rate_per_exposure=float(f"{self.rate:.6g}"),
                rate_by_volume_band=[float(f"{r:.6g}") for r in self.band_rates],
                dispersion_by_volume_band=[round(a, 6) for a in self.band_dispersions],
            )
        return out


def _column(X: pd.DataFrame, name: str) -> np.ndarray:
    return X[name].to_numpy(dtype=np.float64, na_value=np.nan)


def evidence_for(
    entity_type: str, specs: Iterable[EvidenceSpec] = DEFAULT_EVIDENCE
) -> list[EvidenceSpec]:
    """The evidence of one entity type (by feature-name prefix)."""
    return [s for s in specs if s.feature.startswith(f"{entity_type}_")]


def fit_evidence(
    specs: Sequence[EvidenceSpec],
    X: pd.DataFrame,
    *,
    max_hard_share: float,
    fire_level: float,
) -> list[FittedEvidence]:
    """Fit each spec whose columns exist on the training feature table ``X``.

    Measures every item's firing rate on the training entities and demotes hard facts
    that fire on more than ``max_hard_share`` of them (one log line each).
    """
    have = {str(c) for c in X.columns if X[c].notna().any()}
    missing = [s.name for s in specs if not set(s.columns) <= have]
    if missing:
        log.info("Evidence switched off (feature not available): %s", ", ".join(missing))
    fitted: list[FittedEvidence] = []
    for spec in specs:  # a loop over a dozen signals, each vectorised
        if not set(spec.columns) <= have:
            continue
        item = FittedEvidence(spec)
        if spec.kind == "z":
            center, scale = fit_z(_column(X, spec.feature))
            item = FittedEvidence(spec, center=center, scale=scale)
        else:
            k, n = item._counts(X)
            rate, bands, alphas = fit_counts(k, n, spec.repeat_robust)
            item = FittedEvidence(spec, rate=rate, band_rates=bands, band_dispersions=alphas)
        share = float(item.evaluate(X, fire_level)[2].mean()) if len(X) else 0.0
        demoted = spec.kind == "hard" and share > max_hard_share
        if demoted:
            log.warning(
                "Hard fact %s fires on %.2f%% of the training entities (limit %.2f%%): "
                "weighed as count evidence instead",
                spec.name,
                100 * share,
                100 * max_hard_share,
            )
        fitted.append(
            FittedEvidence(
                spec,
                rate=item.rate,
                band_rates=item.band_rates,
                band_dispersions=item.band_dispersions,
                center=item.center,
                scale=item.scale,
                fire_share=share,
                demoted=demoted,
            )
        )
    return fitted


__all__ = [
    "DEFAULT_EVIDENCE",
    "EvidenceSpec",
    "FittedEvidence",
    "evidence_for",
    "fit_evidence",
]
