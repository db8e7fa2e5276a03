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
        fac = p.fac[ok]
        add(
            name,
            np.bincount(fac, weights=v[ok], minlength=nf),
            np.bincount(fac, minlength=nf).astype(np.float64),
            np.bincount(fac, weights=e[ok], minlength=nf),
        )
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


def tidy_indicators(sums: pd.DataFrame, facilities: pd.DataFrame | None) -> pd.DataFrame:
    """Facility, province and fund rows (columns :data:`TIDY_COLUMNS`) from month sums.

    ``facilities`` gives each facility's province and tier (unknown when absent).
    """
    s = sums.copy()
    if facilities is not None and len(facilities):
        ref = facilities.drop_duplicates("facility_id").set_index("facility_id")
        prov_of = ref["province"] if "province" in ref else pd.Series(dtype=object)
        tier_of = ref["tier"] if "tier" in ref else pd.Series(dtype=object)
        s["province"] = s["facility"].map(prov_of.astype(object)).fillna("unknown")
        s["tier"] = s["facility"].map(tier_of.astype(object)).fillna("unknown")
    else:
        s["province"] = "unknown"
        s["tier"] = "unknown"
    s["province"] = s["province"].astype(str)
    s["tier"] = s["tier"].astype(str)
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
    t["z"] = _robust_z(x, grp).where(t["level"] != "fund", 0.0)
    t["peer_ratio"] = np.exp(x.groupby(grp).transform("median")).where(t["ratio"].notna())
    t["n_claims"] = t["n_claims"].astype(np.int64)
    return (
        t[list(TIDY_COLUMNS)]
        .sort_values(["level", "facility", "indicator", "month"])
        .reset_index(drop=True)
    )


def month_label(day: np.ndarray) -> np.ndarray:
    """'YYYY-MM' of each epoch day."""
    return np.datetime_as_string(day.astype("datetime64[D]"), unit="M")
