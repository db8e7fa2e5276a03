"""Monthly indicators per facility, province and the fund, mix-adjusted against peers.

Why: a provincial office watches how a facility's admission rate or cost per visit moves
month by month against facilities of the same tier. Raw rates move with the case mix (a
month of flu, a new dialysis ward), so every indicator is compared with what the
facility's own claims would show at same-tier peer rates: each claim's expected value
comes from the model bundle's peer tables (diagnosis, tier, visit type, age band; see
:mod:`claimguard.features.peers`), and the indicator's *expected* is the mean of those
over the facility's claims (indirect standardisation). ``ratio`` = value / expected is
the mix-adjusted indicator; ``z`` is its robust departure (median/MAD of log ratios)
from the other same-tier facilities in the same month, whose median ratio is
``peer_ratio``. ``expected_total`` is the month's expected numerator (events, days, VND),
whose square root gives the sampling noise of count indicators.

Everything is a bincount over the month's integer facility codes: no Python loop over
claims, and one month's arrays at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from claimguard.features import peers as pe
from claimguard.features.prepare import Prepared
from claimguard.features.windows import distinct_per_group, group_count


@dataclass(frozen=True)
class Indicator:
    """One monitored indicator: its peer stat, the alert signal it feeds, how it reads."""

    name: str
    label: str  # plain words for sentences and chart titles
    signal: str  # one of claimguard.schema.SIGNALS
    unit: str


INDICATORS: tuple[Indicator, ...] = (
    Indicator("visits_per_day", "visits per day", "visit_frequency", "visits"),
    Indicator("cards_per_day", "cards per day", "visit_frequency", "cards"),
    Indicator("admission_rate", "admissions per visit", "admission_pattern", "share"),
    Indicator(
        "rare_admission_rate",
        "admissions for diagnoses peers seldom admit",
        "admission_pattern",
        "share",
    ),
    Indicator("length_of_stay", "average length of stay", "admission_pattern", "days"),
    Indicator("tests_per_visit", "lab tests per visit", "service_intensity", "lines"),
    Indicator("imaging_per_visit", "imaging per visit", "service_intensity", "lines"),
    Indicator("drugs_per_visit", "drug lines per visit", "service_intensity", "lines"),
    Indicator("supplies_per_visit", "supply lines per visit", "service_intensity", "lines"),
    Indicator("cost_per_visit", "cost per visit", "cost", "VND"),
    Indicator("sick_leave_rate", "sick-leave certificates per visit", "sick_leave", "share"),
    Indicator("doctor_days_over_cap", "doctor-days over the cap", "doctor_load", "doctor-days"),
)
BY_NAME = {i.name: i for i in INDICATORS}
# indicator -> per-claim peer stat (claimguard.features.peers.CLAIM_STATS)
CLAIM_INDICATORS = {
    "admission_rate": "inpatient",
    "length_of_stay": "stay_days",
    "tests_per_visit": "lab_test",
    "imaging_per_visit": "imaging",
    "drugs_per_visit": "drug",
    "supplies_per_visit": "supply",
    "cost_per_visit": "cost",
    "sick_leave_rate": "sick_leave",
}
# indicators whose numerator counts events (one per claim at most): their month-to-month
# noise is binomial/Poisson in the expected count, which the warnings calibrate for
COUNT_INDICATORS = frozenset({"admission_rate", "rare_admission_rate", "sick_leave_rate"})
# a visit is "seldom admitted" when same-tier peers admit fewer than 1 in 10 such visits
RARE_ADMISSION_P = 0.1
VOLUME_INDICATORS = {"visits_per_day": "claims_per_day", "cards_per_day": "cards_per_day"}
SUM_COLUMNS = ("facility", "month", "indicator", "num", "den", "expected_num", "n_claims")
TIDY_COLUMNS = (
    "level",
    "facility",
    "province",
    "tier",
    "month",
    "indicator",
    "value",
    "expected",
    "ratio",
    "z",
    "peer_ratio",
    "expected_total",
    "n_claims",
)
MIN_PEERS = 5  # a tier with fewer facilities in a month is compared with all facilities


def _facility_sums(
    fac: np.ndarray, v: np.ndarray, e: np.ndarray, nf: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per facility: the sum of a claim statistic, the claims counted, the expected sum."""
    return (
        np.bincount(fac, weights=v, minlength=nf),
        np.bincount(fac, minlength=nf).astype(np.float64),
        np.bincount(fac, weights=e, minlength=nf),
    )


def month_sums(
    p: Prepared, peers: pe.PeerTables, month: str, near_zero_vnd: float, doctor_cap: int
) -> pd.DataFrame:
    """Per facility of one month's claims: numerator, denominator and expected numerator of
    every indicator the data allow (columns :data:`SUM_COLUMNS`).

    Sums, not rates, so provinces and the fund are the sums of their facilities.
    """
    nf = p.n_facilities
    if p.n == 0:
        return pd.DataFrame({c: [] for c in SUM_COLUMNS})
    n_claims = group_count(p.fac, nf)
    values = pe.claim_stat_values(p, near_zero_vnd)
    expected = pe.expected_claims(peers, p)
    parts: list[pd.DataFrame] = []

    def add(name: str, num: np.ndarray, den: np.ndarray, exp_num: np.ndarray) -> None:
        parts.append(
            pd.DataFrame(
                {
                    "facility": p.fac_ids,
                    "month": month,
                    "indicator": name,
                    "num": num,
                    "den": den,
                    "expected_num": exp_num,
                    "n_claims": n_claims,
                }
            )
        )

    for name, stat in CLAIM_INDICATORS.items():
        if stat not in values or stat not in expected:
            continue
        v = values[stat]
        e = expected[stat].astype(np.float64)
        ok = np.isfinite(v) & np.isfinite(e)
        if name == "admission_rate":
            # Why a second admission indicator: inflating admissions means admitting visits
            # that peers treat as outpatients. Among all visits those extra stays drown in
            # the expected ones (noise ~ sqrt(all expected admissions)); among the visits
            # peers seldom admit they are the same excess over a far smaller expectation.
            rare = ok & (e < RARE_ADMISSION_P)
            add("rare_admission_rate", *_facility_sums(p.fac[rare], v[rare], e[rare], nf))
        add(name, *_facility_sums(p.fac[ok], v[ok], e[ok], nf))
    days = np.full(nf, float(max(p.period_days, 1)))
    cards = distinct_per_group(p.fac, p.card, nf)
    for name, stat in VOLUME_INDICATORS.items():
        typical = pe.expected_tier(peers, p, stat) if stat in peers.tier_stats else None
        if typical is None:
            continue
        num = n_claims if stat == "claims_per_day" else cards
        add(name, num, days, typical * days)
    dd = pe.doctor_days(p)
    if dd is not None:
        over = np.bincount(dd[0], weights=dd[2] > doctor_cap, minlength=nf)
        # no peer table for this one: expected is filled from same-month peers later
        add("doctor_days_over_cap", over, np.ones(nf), np.full(nf, np.nan))
    del values, expected
    out = pd.concat(parts, ignore_index=True)
    return out[out["n_claims"] > 0].reset_index(drop=True)


def _robust_z(log_ratio: pd.Series, group: pd.Series) -> pd.Series:
    """(x - median) / (1.4826 * MAD) within each group; 0 where the spread is 0."""
    g = log_ratio.groupby(group, observed=True)
    med = g.transform("median")
    mad = (log_ratio - med).abs().groupby(group, observed=True).transform("median") * 1.4826
    z = (log_ratio - med) / mad.where(mad > 1e-9)
    return z.fillna(0.0)


CHI2_1_MEDIAN = 0.4549  # median of a chi-square with one degree of freedom


def smoothed_log_ratio(events: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log((O + 0.5) / (E + 0.5)) and its Poisson variance 1 / (E + 0.5).

    Why smoothed: a month with no event at a small facility is log(0) otherwise, and the
    log of a count is only roughly normal once half an event is added on both sides.
    """
    e = np.asarray(expected, dtype=np.float64) + 0.5
    return np.log((np.asarray(events, dtype=np.float64) + 0.5) / e), 1.0 / e


def extra_poisson_variance(dev: np.ndarray, var: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Per group, the additive variance tau^2 beyond the Poisson ``var`` of deviations ``dev``
    such that ``dev^2 / (var + tau^2)`` has the median of a chi-square(1) (0 when Poisson
    alone already explains them), found by bisection for all groups at once.

    Why: facilities differ from their peers (and from month to month) by more than chance,
    but by how much is estimated once over many facilities, not from each one's few months,
    and the Poisson part is kept separate so a small facility's noise is not taken for a
    big one's (the random-effects funnel plot of Spiegelhalter, 2005).
    """
    codes, uniq = pd.factorize(group)
    ok = np.isfinite(dev) & np.isfinite(var) & (codes >= 0)
    g = len(uniq)
    lo, hi = np.zeros(g), np.full(g, 4.0)
    d2, v, c = dev[ok] ** 2, var[ok], codes[ok]
    order = np.argsort(c, kind="stable")

    def med(tau2: np.ndarray) -> np.ndarray:
        q = (d2 / (v + tau2[c]))[order]
        return pd.Series(q).groupby(c[order]).median().reindex(range(g)).to_numpy()

    base = med(np.zeros(g))
    for _ in range(30):
        mid = (lo + hi) / 2.0
        above = med(mid) > CHI2_1_MEDIAN
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    tau2 = np.where(np.nan_to_num(base) > CHI2_1_MEDIAN, (lo + hi) / 2.0, 0.0)
    return tau2[np.maximum(codes, 0)]


def _with_place(sums: pd.DataFrame, facilities: pd.DataFrame | None) -> pd.DataFrame:
    """A copy of ``sums`` with each facility's province and tier ("unknown" when absent)."""
    s = sums.copy()
    s["province"] = "unknown"
    s["tier"] = "unknown"
    if facilities is not None and len(facilities):
        ref = facilities.drop_duplicates("facility_id").set_index("facility_id")
        for col in ("province", "tier"):
            if col in ref:
                s[col] = s["facility"].map(ref[col].astype(object)).fillna("unknown")
    s["province"] = s["province"].astype(str)
    s["tier"] = s["tier"].astype(str)
    return s


def tidy_indicators(sums: pd.DataFrame, facilities: pd.DataFrame | None) -> pd.DataFrame:
    """Facility, province and fund rows (columns :data:`TIDY_COLUMNS`) from month sums.

    ``facilities`` gives each facility's province and tier (unknown when absent).
    """
    s = _with_place(sums, facilities)
    # doctor-days over the cap: expected = same-tier median of this month
    doc = s["indicator"] == "doctor_days_over_cap"
    if doc.any():
        med = s[doc].groupby(["month", "tier"])["num"].transform("median")
        s.loc[doc, "expected_num"] = med
    s["level"] = "facility"
    keys = ["month", "indicator"]
    cols = ["num", "den", "expected_num", "n_claims"]
    prov = s.groupby(["province", *keys], as_index=False, observed=True)[cols].sum()
    prov["level"], prov["facility"], prov["tier"] = "province", prov["province"], "all"
    fund = s.groupby(keys, as_index=False, observed=True)[cols].sum()
    fund["level"], fund["facility"], fund["province"], fund["tier"] = "fund", "fund", "all", "all"
    t = pd.concat([s, prov, fund], ignore_index=True)
    den = t["den"].where(t["den"] > 0)
    t["value"] = t["num"] / den
    t["expected"] = t["expected_num"] / den
    t["expected_total"] = t["expected_num"]
    # +1 smoothing for the count indicator whose expectation is often 0
    is_doc = t["indicator"] == "doctor_days_over_cap"
    t["ratio"] = np.where(
        is_doc, (t["num"] + 1.0) / (t["expected_num"] + 1.0), t["value"] / t["expected"]
    )
    t["ratio"] = t["ratio"].where(np.isfinite(t["ratio"]))
    x = np.log(t["ratio"].clip(lower=1e-3))
    size = t.groupby(["level", "month", "indicator", "tier"])["ratio"].transform("size")
    peer_group = np.where(
        (t["level"] == "facility") & (size >= MIN_PEERS), t["tier"], "all"
    ).astype(object)
    grp = t["level"] + "|" + t["month"] + "|" + t["indicator"] + "|" + pd.Series(peer_group)
    t["z"] = _robust_z(x, grp)
    t["peer_ratio"] = np.exp(x.groupby(grp).transform("median")).where(t["ratio"].notna())
    # count indicators: a funnel z on the smoothed log ratio, its Poisson variance plus the
    # peers' extra-Poisson spread (a robust z of raw log ratios would take a small
    # facility's chance swings for departures and break on months without an event)
    cnt = t["indicator"].isin(COUNT_INDICATORS).to_numpy() & t["expected_num"].notna().to_numpy()
    if cnt.any():
        xs, var = smoothed_log_ratio(t["num"].to_numpy()[cnt], t["expected_num"].to_numpy()[cnt])
        gc = grp.to_numpy()[cnt]
        m = pd.Series(xs).groupby(gc).transform("median").to_numpy()
        tau2 = extra_poisson_variance(xs - m, var, gc)
        t.loc[cnt, "z"] = (xs - m) / np.sqrt(var + tau2)
        t.loc[cnt, "peer_ratio"] = np.exp(m)
    t["z"] = t["z"].where(t["level"] != "fund", 0.0)
    t["n_claims"] = t["n_claims"].astype(np.int64)
    return (
        t[list(TIDY_COLUMNS)]
        .sort_values(["level", "facility", "indicator", "month"])
        .reset_index(drop=True)
    )


def month_label(day: np.ndarray) -> np.ndarray:
    """'YYYY-MM' of each epoch day."""
    return np.datetime_as_string(day.astype("datetime64[D]"), unit="M")
