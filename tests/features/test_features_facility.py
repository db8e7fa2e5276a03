"""Facility features on tiny hand-made frames; every expected value is worked out by hand."""

from __future__ import annotations

import pandas as pd

from claimguard.features.build import build_features
from claimguard.settings import FeatureSettings
from tests.features.frames import approx, cards, claims, col, facilities, lines, t

JAN = (pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-31"))
S = FeatureSettings(min_peer_group_size=1)
PRIOR = 5.0  # facility count ratios: (A + m) / (E + m), m = max(5 E / visits, 5 events)


def shrunk(a: float, e: float, n: int) -> float:
    m = max(PRIOR * e / n, 5.0)
    return (a + m) / (e + m)


def build(c, li=None, ca=None, fa=None, settings=S):
    return build_features(c, li, ca, fa, settings=settings, period=JAN)


def test_doctor_load_max_share_over_cap_and_busiest_doctor() -> None:
    rows = [
        {"facility_id": "F1", "doctor_id": "D1", "admit_time": t(0), "card_id": f"a{i}"}
        for i in range(70)
    ]
    rows += [
        {"facility_id": "F1", "doctor_id": "D1", "admit_time": t(1), "card_id": f"b{i}"}
        for i in range(10)
    ]
    rows += [  # inpatient admissions are not outpatient examinations
        {
            "facility_id": "F1",
            "doctor_id": "D1",
            "admit_time": t(1),
            "visit_type": "inpatient",
            "card_id": f"c{i}",
        }
        for i in range(3)
    ]
    rows += [
        {"facility_id": "F1", "doctor_id": "D2", "admit_time": t(0), "card_id": f"d{i}"}
        for i in range(5)
    ]
    rows += [
        {"facility_id": "F2", "doctor_id": "D3", "admit_time": t(0), "card_id": f"e{i}"}
        for i in range(20)
    ]
    rows += [{"facility_id": "F2", "admit_time": t(0), "card_id": "nodoctor"}]
    fs = build(claims(rows))
    assert col(fs.facility, "facility_max_exams_per_doctor_day_count") == {"F1": 70, "F2": 20}
    # F1 doctor-days: 70, 10 (D1) and 5 (D2): one of three above 65
    share = col(fs.facility, "facility_doctor_days_over_cap_share")
    assert approx(share["F1"], 1 / 3) and share["F2"] == 0
    # busiest doctor: F1 D1 (70 + 10) / 2 = 40 a day, D2 5: median (40 + 5) / 2 = 22.5;
    # F2 has a single doctor -> 1
    busy = col(fs.facility, "facility_busiest_doctor_exams_ratio_to_colleagues")
    assert approx(busy["F1"], 40 / 22.5) and busy["F2"] == 1.0
    load = fs.claim_flags.set_index("claim_id")["doctor_load"]
    assert approx(load["C0"], 70 / 65) and load["C70"] == 0
    fs_cap = build(
        claims(rows), settings=FeatureSettings(min_peer_group_size=1, doctor_daily_cap=5)
    )
    assert approx(col(fs_cap.facility, "facility_doctor_days_over_cap_share")["F1"], 2 / 3)


def test_services_per_visit_against_same_dx_peers() -> None:
    c = claims(
        [
            {"facility_id": "F1"},
            {"facility_id": "F1", "admit_time": t(1)},
            {"facility_id": "F2"},
            {"facility_id": "F2", "admit_time": t(1)},
        ]
    )
    li = [{"claim_id": f"C{i}", "line_type": "service", "item_code": "02.1896"} for i in range(4)]
    li += [{"claim_id": "C0", "line_type": "service", "item_code": "22.0120.1370"}]
    li += [{"claim_id": "C1", "line_type": "service", "item_code": "23.0075.1494"}]
    li += [
        {"claim_id": c_, "line_type": "service", "item_code": "XN-01"}
        for c_ in ("C2", "C3")
        for _ in range(3)
    ]
    li += [{"claim_id": "C2", "line_type": "service", "item_code": "18.0001.0001"}]
    li += [{"claim_id": "C2", "line_type": "supply", "item_code": "N03.01.070"}]
    li += [{"claim_id": "C0", "line_type": "drug", "item_code": "40.30", "days_supply": 5.0}]
    fs = build(c, lines(li))
    # lab tests: F1 1+1, F2 3+3; expected per claim = 8/4 = 2
    tests = col(fs.facility, "facility_tests_per_visit_ratio_to_peers")
    assert approx(tests["F1"], shrunk(2, 4, 2)) and approx(tests["F2"], shrunk(6, 4, 2))
    # imaging: only C2 -> expected 1/4 per claim
    img = col(fs.facility, "facility_imaging_per_visit_ratio_to_peers")
    assert approx(img["F1"], shrunk(0, 0.5, 2)) and approx(img["F2"], shrunk(1, 0.5, 2))
    sup = col(fs.facility, "facility_supplies_per_visit_ratio_to_peers")
    assert approx(sup["F2"], shrunk(1, 0.5, 2))
    drugs = col(fs.facility, "facility_drugs_per_visit_ratio_to_peers")
    assert approx(drugs["F1"], shrunk(1, 0.5, 2))


def test_admissions_and_length_of_stay_against_peers() -> None:
    rows = [
        {
            "facility_id": "F1",
            "primary_dx": "K35.8",
            "visit_type": "inpatient",
            "admit_time": t(0, 8),
            "discharge_time": t(2, 8),
        },
        {
            "facility_id": "F1",
            "primary_dx": "K35.8",
            "visit_type": "inpatient",
            "admit_time": t(1, 8),
            "discharge_time": t(5, 8),
        },
        {"facility_id": "F1", "primary_dx": "K35.8", "admit_time": t(2)},
        {"facility_id": "F1", "primary_dx": "K35.8", "admit_time": t(3)},
        {
            "facility_id": "F2",
            "primary_dx": "K35.8",
            "visit_type": "inpatient",
            "admit_time": t(0, 8),
            "discharge_time": t(6, 8),
        },
        {"facility_id": "F2", "primary_dx": "K35.8", "admit_time": t(2)},
        {"facility_id": "F2", "primary_dx": "K35.8", "admit_time": t(3)},
        {"facility_id": "F2", "primary_dx": "K35.8", "admit_time": t(4)},
    ]
    for i, r in enumerate(rows):
        r["card_id"] = f"P{i}"
    fs = build(claims(rows))
    # admission probability 3/8 for K35 at unknown tier
    adm = col(fs.facility, "facility_admission_rate_ratio_to_peers")
    assert approx(adm["F1"], shrunk(2, 4 * 3 / 8, 4)) and approx(adm["F2"], shrunk(1, 4 * 3 / 8, 4))
    # stays 2, 4 (F1) and 6 (F2) days: expected 4 per admission
    los = col(fs.facility, "facility_length_of_stay_ratio_to_peers")
    assert approx(los["F1"], shrunk(6, 8, 2)) and approx(los["F2"], shrunk(6, 4, 1))


def test_sick_leave_thin_visits_and_days_per_certificate() -> None:
    rows = [
        {"facility_id": "F1", "sick_leave_days": 3.0},  # C0: exam only -> near-zero
        {"facility_id": "F1", "sick_leave_days": 5.0, "admit_time": t(1)},  # C1: treated
        {"facility_id": "F1", "sick_leave_days": 0.0, "admit_time": t(2)},  # C2: no lines
        {"facility_id": "F1", "admit_time": t(3)},  # C3: no lines, no sick-leave value
    ] + [{"facility_id": "F2", "sick_leave_days": 0.0, "admit_time": t(i)} for i in range(4)]
    for i, r in enumerate(rows):
        r["card_id"] = f"P{i}"
    li = [{"claim_id": "C0", "line_type": "service", "item_code": "02.1896", "amount": 41_100.0}]
    li += [
        {
            "claim_id": "C1",
            "line_type": "drug",
            "item_code": "40.30",
            "amount": 100_000.0,
            "days_supply": 5.0,
        }
    ]
    li += [
        {
            "claim_id": f"C{i}",
            "line_type": "drug",
            "item_code": "40.30",
            "amount": 100_000.0,
            "days_supply": 5.0,
        }
        for i in range(4, 8)
    ]
    fs = build(claims(rows), lines(li))
    cert = col(fs.facility, "facility_sick_leave_per_visit_ratio_to_peers")
    assert approx(cert["F1"], shrunk(2, 4 * 2 / 8, 4)) and approx(
        cert["F2"], shrunk(0, 4 * 2 / 8, 4)
    )
    assert col(fs.facility, "facility_sick_leave_days_per_certificate_days") == {
        "F1": 4.0,
        "F2": 0.0,
    }
    assert col(fs.facility, "facility_sick_leave_near_zero_treatment_share") == {
        "F1": 0.5,
        "F2": 0.0,
    }
    # thin (< 50,000 VND beyond the exam): C0, C2, C3 -> expected 3/8 per claim
    thin = col(fs.facility, "facility_thin_visits_ratio_to_peers")
    assert approx(thin["F1"], shrunk(3, 4 * 3 / 8, 4)) and approx(
        thin["F2"], shrunk(0, 4 * 3 / 8, 4)
    )
    sick = fs.claim_flags.set_index("claim_id")["sick_leave"]
    assert sick["C0"] > sick["C1"] > sick["C2"] == 0


def test_sick_leave_near_zero_falls_back_to_drug_and_supply_cost() -> None:
    rows = [
        {"facility_id": "F1", "sick_leave_days": 3.0, "drug_cost": 0.0, "supply_cost": 0.0},
        {"facility_id": "F1", "sick_leave_days": 3.0, "drug_cost": 90_000.0, "admit_time": t(1)},
    ]
    fs = build(claims(rows))
    assert col(fs.facility, "facility_sick_leave_near_zero_treatment_share") == {"F1": 0.5}


def test_patients_origin_one_visit_split_and_after_death() -> None:
    fa = facilities(
        [{"facility_id": "F1", "province": "01"}, {"facility_id": "F2", "province": "79"}]
    )
    ca = cards(
        [
            {"card_id": "A", "province": "01", "registered_facility_id": "F1"},
            {
                "card_id": "B",
                "province": "79",
                "registered_facility_id": "F2",
                "death_date": "2024-01-02",
            },
            {"card_id": "C", "province": "01", "registered_facility_id": "F2"},
        ]
    )
    rows = [
        {"card_id": "A", "facility_id": "F1", "admit_time": t(0)},
        {"card_id": "A", "facility_id": "F1", "admit_time": t(5)},
        {"card_id": "B", "facility_id": "F1", "admit_time": t(5, 8)},  # after death, other province
        {"card_id": "B", "facility_id": "F1", "admit_time": t(5, 9)},  # same day again: split
        {"card_id": "C", "facility_id": "F1", "admit_time": t(6), "referral_from": "F2"},
        {"card_id": "C", "facility_id": "F2", "admit_time": t(7)},
    ]
    fs = build(claims(rows), None, ca, fa)
    # outside the home province without referral: F1 claims 0, 0, 1, 1, 0 (C referred);
    # F2 1 -> peers 3/6 per visit
    out = col(fs.facility, "facility_outside_province_visits_ratio_to_peers")
    assert approx(out["F1"], shrunk(2, 5 * 0.5, 5)) and approx(out["F2"], shrunk(1, 0.5, 1))
    # registered elsewhere without referral: F1 0, 0, 1, 1, 0; F2 0 -> peers 2/6 per visit
    reg = col(fs.facility, "facility_registered_elsewhere_ratio_to_peers")
    assert approx(reg["F1"], shrunk(2, 5 / 3, 5)) and approx(reg["F2"], shrunk(0, 1 / 3, 1))
    # F1 cards: A twice, B twice, C once -> 1 of 3 seen once
    one = col(fs.facility, "facility_one_visit_cards_share")
    assert approx(one["F1"], 1 / 3) and one["F2"] == 1.0
    assert col(fs.facility, "facility_split_billing_count") == {"F1": 1, "F2": 0}
    assert approx(col(fs.facility, "facility_split_billing_share")["F1"], 1 / 5)
    assert col(fs.facility, "facility_after_death_claims_count") == {"F1": 2, "F2": 0}


def test_volume_per_day_against_tier_median() -> None:
    fa = facilities(
        [
            {"facility_id": "H1", "tier": "central"},
            {"facility_id": "S1", "tier": "commune"},
            {"facility_id": "S2", "tier": "commune"},
            {"facility_id": "S3", "tier": "commune"},
            {"facility_id": "S4", "tier": "commune"},
            {"facility_id": "S5", "tier": "commune"},
        ]
    )
    rows = [{"facility_id": "H1", "card_id": f"h{i}", "total_cost": 1000.0} for i in range(62)]
    for j, n in enumerate((1, 2, 2, 2, 4)):
        rows += [
            {"facility_id": f"S{j + 1}", "card_id": f"s{j}", "total_cost": 10.0, "admit_time": t(k)}
            for k in range(n)
        ]
    fs = build(claims(rows), None, None, fa, settings=FeatureSettings(min_peer_group_size=5))
    per_day = col(fs.facility, "facility_claims_per_day_ratio_to_peers")
    # the central hospital is alone in its tier (< 5 facilities): compared with the median of
    # all six facilities' claims per day, (2 + 2) / 2 / 31; communes with their median 2 / 31
    assert (
        approx(per_day["H1"], 62 / 2)
        and approx(per_day["S5"], 4 / 2)
        and approx(per_day["S1"], 0.5)
    )
    cards_ = col(fs.facility, "facility_cards_per_day_ratio_to_peers")
    assert approx(cards_["S5"], 1.0) and approx(cards_["H1"], 62.0)
    cost = col(fs.facility, "facility_cost_per_day_ratio_to_peers")
    assert approx(cost["S5"], 40 / 20)
