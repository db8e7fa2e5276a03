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

The final score (quoted in the README and the model card)::

    S_forest = -log10(1 - forest)                  forest = training CDF, 0..1
    E_g      = clip(max_{i in g} S_i - floor, 0, cap)   g = one signal's items
    S        = S_forest + w * sum_g E_g             w = model.evidence_weight
    T        = 1000 * H + min(S, 999)              H = hard-fact claims beyond tolerance
    score    = T / (1 + T)

Every term is non-negative and the map is monotone in each, so more evidence never lowers
a score; an entity with a hard fact (score >= 0.999) ranks above every entity without
one, and among hard facts the one showing more claims ranks first. Items of one signal
(two views of split billing, say) count once, by the strongest. ``S`` is in log10 units:
S = 3 means "as surprising as a one-in-a-thousand event" and gives score 0.75. Summing
surprisals treats the signals as independent evidence (Fisher's method without the
calibration); ``floor`` (``model.evidence_floor``, 1: rarer than one in ten) keeps the
many slightly-high signals of any busy entity from adding up to one strong one, and
``cap`` (``model.evidence_cap``, 6: one in a million) stops one signal whose tail model is
wrong from deciding alone.

Evidence whose features are absent from the data is skipped with one log line.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

log = logging.getLogger(__name__)

Kind = Literal["hard", "count", "z"]
LN10 = math.log(10.0)
HARD_SCALE = 1000.0  # T = HARD_SCALE * H + min(S, HARD_SCALE - 1)
FOREST_FLOOR = 1e-6  # 1 - forest is floored here: S_forest <= 6


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
    # count: the rate is also read off the one-event share (``_band_fit``), the lower of
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
        return np.asarray(self.band_rates)[volume_band(n, len(self.band_rates))]

    def dispersions(self, n: np.ndarray) -> np.ndarray:
        """Negative-binomial alpha for entities of volume ``n`` (0 = Poisson)."""
        if not self.band_dispersions:
            return np.zeros(len(n))
        return np.asarray(self.band_dispersions)[volume_band(n, len(self.band_dispersions))]

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


def count_surprisal(k: np.ndarray, mu: np.ndarray, alpha: np.ndarray | float) -> np.ndarray:
    """-log10 P(K >= k) for K ~ Poisson(mu) (alpha = 0) or NB(mean mu, var mu + alpha mu^2).

    ``alpha`` per row or one value; computed only where k > 0 (0 elsewhere), in scipy.
    """
    k = np.asarray(k, dtype=np.float64)
    mu = np.maximum(np.asarray(mu, dtype=np.float64), 1e-12)
    a = np.broadcast_to(np.asarray(alpha, dtype=np.float64), k.shape)
    out = np.zeros(len(k))
    rows = np.flatnonzero(k > 0)
    if len(rows) == 0:
        return out
    kk, mm, aa = k[rows] - 1.0, mu[rows], a[rows]
    logsf = stats.poisson.logsf(kk, mm)
    nb = aa > 0
    if nb.any():
        size = 1.0 / aa[nb]
        logsf[nb] = stats.nbinom.logsf(kk[nb], size, size / (size + mm[nb]))
    out[rows] = np.maximum(-logsf / LN10, 0.0)
    return np.nan_to_num(out, nan=0.0, posinf=300.0)


N_BANDS = 7  # volume bands 1, 2-3, 4-7, ..., 64+ (powers of two)
BAND_PRIOR = 200.0  # entities' worth of the next lighter band's rate mixed into a band's


def volume_band(n: np.ndarray, n_bands: int = N_BANDS) -> np.ndarray:
    """Volume band of each entity: floor(log2(exposure)), the last band open-ended."""
    b = np.floor(np.log2(np.maximum(np.asarray(n, dtype=np.float64), 1.0))).astype(np.int64)
    return np.minimum(b, n_bands - 1)


TRIM_QUANTILE = 0.99  # the bulk a band's dispersion is measured on
MIN_DISPERSION_EVENTS = 30  # entities with an event (in the bulk) needed to measure it


def _band_fit(k: np.ndarray, n: np.ndarray, repeat_robust: bool = False) -> tuple[float, float]:
    """(rate per exposure unit, NB alpha) of one volume band.

    The dispersion is a method-of-moments alpha, ``sum((k - mu)^2 - k) / sum(mu^2)``, on the
    band's bulk (counts up to its 99th percentile), and only where that bulk holds at least
    ``MIN_DISPERSION_EVENTS`` entities with an event: a common legitimate pattern (antibiotics
    refilled by a child seen every week) shows its spread there, while a rare one -- whose
    few carriers may all be abuse -- stays Poisson. The rate comes from the share of
    entities *without* the event under that distribution,
    ``P(K = 0) = exp(-mu)`` or ``(1 + alpha mu)^(-1/alpha)``: an entity with twenty events
    counts as one with one, so a few extreme entities (the abuse itself) cannot inflate it.

    With ``repeat_robust`` a Poisson band's rate is at most the one-event estimate
    ``P(K = 1) / P(K = 0) = mu``: entities with two or more events then do not count at
    all. Why: for a rare pattern (one sitting billed as several claims) most training
    entities with an event can be the abuse itself, repeated; an ordinary entity has
    one. Only where the bulk is Poisson: an over-dispersed bulk has fewer ones than that.
    """
    m = len(k)
    p0 = (float((k == 0).sum()) + 0.5) / (m + 1.0)
    alpha = 0.0
    if m:
        bulk = k <= float(np.quantile(k, TRIM_QUANTILE))
        kt, nt = k[bulk], n[bulk]
        if int((kt > 0).sum()) >= MIN_DISPERSION_EVENTS:
            mu = kt.sum() / max(float(nt.sum()), 1.0) * nt
            alpha = max(float(((kt - mu) ** 2 - kt).sum() / max(float((mu**2).sum()), 1e-12)), 0.0)
    mean_mu = -math.log(p0) if alpha == 0 else (p0 ** (-alpha) - 1.0) / alpha
    if repeat_robust and alpha == 0 and m:
        mean_mu = min(mean_mu, (float((k == 1).sum()) + 0.5) / (float((k == 0).sum()) + 1.0))
    return mean_mu / max(float(n.mean()) if m else 1.0, 1.0), alpha


def _fit_counts(
    k: np.ndarray, n: np.ndarray, repeat_robust: bool = False
) -> tuple[float, tuple[float, ...], tuple[float, ...]]:
    """(overall rate, rate per volume band, NB alpha per volume band) of training counts.

    Per volume band because heavy users have more of every event per visit than light ones;
    each band's fit (``_band_fit``) is shrunk towards the next lighter band's (the first
    band's towards the overall fit) with ``BAND_PRIOR`` entities, so a band of a few dozen
    heavy users, planted abuse among them, does not set its own rate.
    """
    if len(k) == 0:
        return 0.5, (), ()
    rate, alpha = _band_fit(k, n, repeat_robust)
    band = volume_band(n)
    rates: list[float] = []
    alphas: list[float] = []
    for b in range(N_BANDS):  # seven bands
        inb = band == b
        m = int(inb.sum())
        r_b, a_b = _band_fit(k[inb], n[inb], repeat_robust) if m else (rate, alpha)
        prior_r = rates[-1] if rates else rate
        prior_a = alphas[-1] if alphas else alpha
        rates.append((m * r_b + BAND_PRIOR * prior_r) / (m + BAND_PRIOR))
        alphas.append((m * a_b + BAND_PRIOR * prior_a) / (m + BAND_PRIOR))
    return rate, tuple(rates), tuple(alphas)


MIN_Z_ENTITIES = 20  # fewer facilities with a z-score than this: fit on all of them


def _fit_z(z: np.ndarray) -> tuple[float, float]:
    """(median, robust spread) of a z feature on the training facilities.

    Facilities with nothing to compare (no inpatients for a length-of-stay z, say) have
    exactly 0 and are left out, or the spread of the others would look tiny.
    """
    z = z[np.isfinite(z)]
    if int((z != 0).sum()) >= MIN_Z_ENTITIES:
        z = z[z != 0]
    if len(z) == 0:
        return 0.0, 1.0
    center = float(np.median(z))
    mad = 1.4826 * float(np.median(np.abs(z - center)))
    # the z-scores are standard errors by construction: training data can show that they
    # spread wider (heterogeneity the features did not model), never that they are
    # narrower -- with sparse events most facilities sit at ~0 and the MAD collapses
    return center, max(mad, 1.0) if np.isfinite(mad) else 1.0


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
            center, scale = _fit_z(_column(X, spec.feature))
            item = FittedEvidence(spec, center=center, scale=scale)
        else:
            k, n = item._counts(X)
            rate, bands, alphas = _fit_counts(k, n, spec.repeat_robust)
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


@dataclass(frozen=True)
class EvidenceSettings:
    """The knobs of the combination (``settings.model``), passed as one value."""

    weight: float = 1.0
    cap: float = 6.0
    fire_level: float = 3.0
    floor: float = 1.0


def weigh(
    X: pd.DataFrame, items: Sequence[FittedEvidence], cfg: EvidenceSettings
) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """(evidence surprisal ``w * sum over signals of min(max S_i, cap)``, hard-fact claims H,
    fired names as JSON)."""
    n = len(X)
    per_signal: dict[str, np.ndarray] = {}
    hard = np.zeros(n)
    fired = np.zeros((n, len(items)), dtype=bool)
    for j, item in enumerate(items):
        s, h, fired[:, j] = item.evaluate(X, cfg.fire_level)
        sig = item.spec.signal
        per_signal[sig] = np.maximum(per_signal[sig], s) if sig in per_signal else s
        hard += h
    total = np.zeros(n)
    for s in per_signal.values():  # one term per signal: two views of one pattern count once
        total += np.clip(s - cfg.floor, 0.0, cfg.cap)
    names = np.array([i.name for i in items], dtype=object)
    hits = np.full(n, "[]", dtype=object)
    rows = np.flatnonzero(fired.any(axis=1)) if cfg.weight > 0 else np.zeros(0, np.int64)
    # JSON lists only for the (few) rows where something fired: a loop over those rows
    hits[rows] = [json.dumps(list(names[fired[i]])) for i in rows]
    w = cfg.weight
    return w * total, (hard if w > 0 else np.zeros(n)), pd.Series(hits, index=X.index)


def forest_surprisal(forest: np.ndarray) -> np.ndarray:
    """-log10(1 - forest): the forest's training-CDF score as evidence (0..6)."""
    f = np.clip(np.asarray(forest, dtype=np.float64), 0.0, 1.0 - FOREST_FLOOR)
    return -np.log10(1.0 - f)


def combine(forest: np.ndarray, evidence: np.ndarray, hard: np.ndarray) -> np.ndarray:
    """The final 0..1 score (module docstring): monotone in forest, evidence and hard."""
    s = forest_surprisal(forest) + np.asarray(evidence, dtype=np.float64)
    t = HARD_SCALE * np.asarray(hard, dtype=np.float64) + np.minimum(s, HARD_SCALE - 1.0)
    return t / (1.0 + t)


__all__ = [
    "DEFAULT_EVIDENCE",
    "EvidenceSettings",
    "EvidenceSpec",
    "FittedEvidence",
    "combine",
    "count_surprisal",
    "evidence_for",
    "fit_evidence",
    "forest_surprisal",
    "weigh",
]
