"""Per-facility features: volume, doctor load, service intensity, admissions, sick leave.

Each value compares the facility with what peers treating the same diagnoses in the
same tier would bill (``peers``), so central hospitals and busy district hospitals are
judged against their own kind. Only the facility's own claims (and the reference
tables) are needed, so the same code runs per partition of facilities.
"""

from __future__ import annotations

import numpy as np

from claimguard.features import items, windows
from claimguard.features.claim_stats import (
    away_from_registered,
    busiest_doctor_vs_colleagues,
    doctor_days,
    facility_volume,
    outside_home,
    treatment_vnd,
)
from claimguard.features.peers import PeerTables, expected_tier
from claimguard.features.prepare import INPATIENT, Prepared
from claimguard.settings import FeatureSettings

Arrays = dict[str, np.ndarray]
DoctorDays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def volume(p: Prepared, peers: PeerTables) -> Arrays:
    """Claims, cards and cost per day against the median facility of the same tier."""
    vol = facility_volume(p)
    out: Arrays = {}
    for stat, name in (
        ("claims_per_day", "facility_claims_per_day_ratio_to_peers"),
        ("cards_per_day", "facility_cards_per_day_ratio_to_peers"),
        ("cost_per_day", "facility_cost_per_day_ratio_to_peers"),
    ):
        typical = expected_tier(peers, p, stat)
        out[name] = vol[stat] / np.maximum(typical, 1e-9)
    return out


def doctor_load(
    p: Prepared, settings: FeatureSettings, dd: DoctorDays | None, flags: Arrays
) -> Arrays:
    """Outpatient examinations per doctor per day: the maximum and the share above the cap."""
    nf = p.n_facilities
    if dd is None:
        return {}
    fac_of, _, counts, per_claim = dd
    cap = settings.doctor_daily_cap
    days_total = np.bincount(fac_of, minlength=nf).astype(np.float64)
    over = np.bincount(fac_of, weights=counts > cap, minlength=nf)
    flags["doctor_load"] = np.where(per_claim > cap, per_claim / cap, 0.0).astype(np.float32)
    return {
        "facility_busiest_doctor_exams_ratio_to_colleagues": busiest_doctor_vs_colleagues(p, dd),
        "facility_max_exams_per_doctor_day_count": windows.group_max(counts, fac_of, nf),
        "facility_doctor_days_over_cap_share": over / np.maximum(days_total, 1.0),
        "facility_doctor_days_over_cap_count": over,
        "facility_doctor_days_count": days_total,
    }


MIN_EVENTS = 5.0  # prior mass, in events, of count ratios (see windows.shrunk_ratio)


def _sums(
    p: Prepared, actual: np.ndarray, expected: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Per facility: observed sum, expected sum, sum of squared expectations, claims counted;
    and the floor of one claim's expectation."""
    nf = p.n_facilities
    exp = np.nan_to_num(expected, nan=0.0)
    if mask is not None:
        actual = np.where(mask, actual, 0.0)
        exp = np.where(mask, exp, 0.0)
        n = windows.group_sum(mask, p.fac, nf)
    else:
        n = windows.group_count(p.fac, nf)
    floor = max(float(exp.mean()) * 0.01, 1e-6) if len(exp) else 1e-6
    observed = windows.group_sum(actual, p.fac, nf)
    return (
        observed,
        windows.group_sum(exp, p.fac, nf),
        windows.group_sum(exp * exp, p.fac, nf),
        n,
        floor,
    )


def _ratio(
    p: Prepared,
    actual: np.ndarray,
    expected: np.ndarray,
    mask: np.ndarray | None = None,
    events: bool = True,
) -> np.ndarray:
    """Facility ratio of actual to peer-expected sums, shrunk towards 1 when small."""
    observed, exp_sum, _, n, floor = _sums(p, actual, expected, mask)
    return windows.shrunk_ratio(observed, exp_sum, n, 5.0, floor, MIN_EVENTS if events else 0.0)


def _ratio_and_z(
    out: Arrays,
    name: str,
    p: Prepared,
    actual: np.ndarray,
    expected: np.ndarray,
    heterogeneity: float,
    mask: np.ndarray | None = None,
    events: bool = True,
) -> None:
    """Put the shrunk ratio under ``name`` and, from the same sums, the facility's excess over
    its peer expectation in standard errors under the ``_excess_z`` name.

    ``(O - E) / sqrt(V + (h * E)^2)``: ``V`` is the sampling variance of the facility's sum
    (Poisson, ``E``, for event counts; ``sum e^2``, one coefficient of variation per claim,
    for amounts and days) and ``h`` (``features.peer_heterogeneity``) the legitimate spread
    between facilities as a share of the expectation. So the same 25% excess is strong
    evidence on 2,000 visits and weak on 20, and no size turns a few percent into certainty.
    """
    observed, exp_sum, exp_sq, n, floor = _sums(p, actual, expected, mask)
    out[name] = windows.shrunk_ratio(
        observed, exp_sum, n, 5.0, floor, MIN_EVENTS if events else 0.0
    )
    sampling = np.maximum(exp_sum, 1.0) if events else np.maximum(exp_sq, floor * floor)
    out[_z_name(name)] = (observed - exp_sum) / np.sqrt(sampling + (heterogeneity * exp_sum) ** 2)


def _z_name(ratio_name: str) -> str:
    return ratio_name.replace("ratio_to_peers", "excess_z")


def service_intensity(
    p: Prepared, expected: dict[str, np.ndarray], flags: Arrays, h: float
) -> Arrays:
    """Tests, imaging, drugs and supplies per visit against same-diagnosis same-tier peers."""
    if p.lines is None:
        return {}
    out: Arrays = {}
    total_actual = np.zeros(p.n)
    total_exp = np.zeros(p.n)
    for stat, cls, name in (
        ("lab_test", items.LAB_TEST, "facility_tests_per_visit_ratio_to_peers"),
        ("imaging", items.IMAGING, "facility_imaging_per_visit_ratio_to_peers"),
        ("drug", items.DRUG, "facility_drugs_per_visit_ratio_to_peers"),
        ("supply", items.SUPPLY, "facility_supplies_per_visit_ratio_to_peers"),
    ):
        if stat not in expected:
            continue
        actual = p.lines.counts[:, cls].astype(np.float64)
        _ratio_and_z(out, name, p, actual, expected[stat], h)
        total_actual += actual
        total_exp += np.nan_to_num(expected[stat])
    flags["service_intensity"] = np.maximum(
        total_actual / np.maximum(total_exp, 1.0) - 1.0, 0.0
    ).astype(np.float32)
    return out


def thin_visits(p: Prepared, settings: FeatureSettings, expected: dict[str, np.ndarray]) -> Arrays:
    """Visits billing almost nothing beyond the exam, against same-diagnosis peers."""
    treat = treatment_vnd(p)
    if treat is None or "thin" not in expected:
        return {}
    thin = (treat < settings.near_zero_treatment_vnd).astype(np.float64)
    out: Arrays = {}
    name = "facility_thin_visits_ratio_to_peers"
    _ratio_and_z(out, name, p, thin, expected["thin"], settings.peer_heterogeneity)
    return out


def cost(p: Prepared, expected: dict[str, np.ndarray], flags: Arrays, h: float) -> Arrays:
    """Cost billed against the peer-expected cost of the same claims."""
    out: Arrays = {}
    name = "facility_cost_per_visit_ratio_to_peers"
    _ratio_and_z(out, name, p, p.cost, expected["cost"], h, events=False)
    return out


def admissions(p: Prepared, expected: dict[str, np.ndarray], flags: Arrays, h: float) -> Arrays:
    """Admission rate and length of stay against peers for the same diagnoses and tier."""
    out: Arrays = {}
    if "inpatient" not in expected:
        return out
    inpatient = p.visit_type == INPATIENT
    p_adm = np.nan_to_num(expected["inpatient"], nan=0.0)
    name = "facility_admission_rate_ratio_to_peers"
    _ratio_and_z(out, name, p, inpatient.astype(np.float64), p_adm, h)
    strength = np.where(inpatient, 1.0 - p_adm, 0.0)
    if "stay_days" in expected:
        stay = (p.discharge_s - p.admit_s) / 86_400.0
        exp_stay = expected["stay_days"]
        name = "facility_length_of_stay_ratio_to_peers"
        _ratio_and_z(out, name, p, stay, exp_stay, h, inpatient, events=False)
        excess = stay / np.maximum(np.nan_to_num(exp_stay, nan=1.0), 0.5) - 1.0
        strength = strength + np.where(inpatient, np.maximum(excess, 0.0), 0.0)
    flags["admission_pattern"] = strength.astype(np.float32)
    return out


def sick_leave(
    p: Prepared, settings: FeatureSettings, expected: dict[str, np.ndarray], flags: Arrays
) -> Arrays:
    """Sick-leave certificates per visit, days per certificate, share at near-empty visits."""
    if "sick_leave" not in expected:
        return {}
    nf = p.n_facilities
    days = np.nan_to_num(p.sick_days, nan=0.0)
    cert = days > 0
    n_cert = windows.group_sum(cert, p.fac, nf)
    out: Arrays = {
        "facility_sick_leave_days_per_certificate_days": windows.group_sum(days, p.fac, nf)
        / np.maximum(n_cert, 1.0),
    }
    name = "facility_sick_leave_per_visit_ratio_to_peers"
    _ratio_and_z(
        out, name, p, cert.astype(np.float64), expected["sick_leave"], settings.peer_heterogeneity
    )
    treat = treatment_vnd(p)
    near = np.zeros(p.n, dtype=bool)
    if treat is not None:
        near = cert & (treat < settings.near_zero_treatment_vnd)
        out["facility_sick_leave_near_zero_treatment_share"] = windows.group_sum(
            near, p.fac, nf
        ) / np.maximum(n_cert, 1.0)
    flags["sick_leave"] = np.where(near, 1.0 + days / 10.0, np.where(cert, 0.1, 0.0)).astype(
        np.float32
    )
    return out


def patients(p: Prepared, expected: dict[str, np.ndarray]) -> Arrays:
    """Where the facility's patients come from (against peers), how many are seen once."""
    nf = p.n_facilities
    out: Arrays = {}
    for stat, name in (
        ("outside_home", "facility_outside_province_visits_ratio_to_peers"),
        ("away", "facility_registered_elsewhere_ratio_to_peers"),
    ):
        if stat not in expected:
            continue
        actual = outside_home(p) if stat == "outside_home" else away_from_registered(p)
        known = np.isfinite(actual)
        out[name] = _ratio(p, np.nan_to_num(actual, nan=0.0), expected[stat], known)
    uniq, counts = np.unique(windows.combined_key(p.fac, p.card), return_counts=True)
    fac_of = (uniq >> 32).astype(np.int64)
    out["facility_one_visit_cards_share"] = np.bincount(
        fac_of, weights=counts == 1, minlength=nf
    ) / np.maximum(np.bincount(fac_of, minlength=nf), 1)
    return out


def integrity(p: Prepared, sizes: np.ndarray) -> Arrays:
    """Split billing (same card, same day, same facility), after-death and invalid claims."""
    nf = p.n_facilities
    extra = 1.0 - 1.0 / sizes
    split = np.round(windows.group_sum(extra, p.fac, nf), 6)
    return {
        "facility_split_billing_count": split,
        "facility_split_billing_share": split / np.maximum(windows.group_count(p.fac, nf), 1.0),
        "facility_after_death_claims_count": windows.group_sum(p.day > p.death, p.fac, nf),
        "facility_outside_validity_claims_count": windows.group_sum(
            (p.day < p.valid_from) | (p.day > p.valid_to), p.fac, nf
        ),
    }


def facility_features(
    p: Prepared,
    peers: PeerTables,
    settings: FeatureSettings,
    expected: dict[str, np.ndarray],
    sizes: np.ndarray,
) -> tuple[Arrays, Arrays]:
    """All facility features (aligned with ``p.fac_ids``) and per-claim evidence flags."""
    flags: Arrays = {}
    out: Arrays = {}
    dd = doctor_days(p)
    out.update(volume(p, peers))
    h = settings.peer_heterogeneity
    out.update(cost(p, expected, flags, h))
    out.update(doctor_load(p, settings, dd, flags))
    del dd
    out.update(thin_visits(p, settings, expected))
    out.update(service_intensity(p, expected, flags, h))
    out.update(admissions(p, expected, flags, h))
    out.update(sick_leave(p, settings, expected, flags))
    out.update(patients(p, expected))
    out.update(integrity(p, sizes))
    return out, flags
