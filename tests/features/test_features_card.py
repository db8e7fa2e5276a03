"""Card features on tiny hand-made frames; every expected value is worked out by hand."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from claimguard.features.build import build_features
from claimguard.settings import FeatureSettings
from tests.features.frames import approx, cards, claims, col, facilities, lines, t

JAN = (pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-31"))  # 31 days
S = FeatureSettings(min_peer_group_size=1)


def build(c, li=None, ca=None, fa=None, **kw):
    return build_features(c, li, ca, fa, settings=S, period=JAN, **kw)


def test_visits_and_busiest_windows_with_ties_at_the_edge() -> None:
    c = claims(
        [
            {"card_id": "A", "admit_time": t(0)},
            {"card_id": "A", "admit_time": t(6)},
            {"card_id": "A", "admit_time": t(7)},  # day 7 is outside [day 0, day 6]
            {"card_id": "B", "admit_time": t(0)},
            {"card_id": "B", "admit_time": t(30)},  # day 30 is outside [day 0, day 29]
            {"card_id": "C", "admit_time": t(3)},  # a single claim
        ]
    )
    fs = build(c)
    assert col(fs.card, "card_visits_count") == {"A": 3, "B": 2, "C": 1}
    assert col(fs.card, "card_max_visits_7d_count") == {"A": 2, "B": 1, "C": 1}
    assert col(fs.card, "card_max_visits_30d_count") == {"A": 3, "B": 1, "C": 1}
    # same main diagnosis, unknown age: peers' mean visits = (3 + 2 + 1) / 3 = 2
    assert col(fs.card, "card_visits_ratio_to_peers") == {"A": 1.5, "B": 1.0, "C": 0.5}


def test_facilities_provinces_home_and_registered() -> None:
    c = claims(
        [
            {"card_id": "A", "facility_id": "F1"},
            {"card_id": "A", "facility_id": "F2", "admit_time": t(1)},
            {"card_id": "A", "facility_id": "F2", "admit_time": t(2), "referral_from": "F1"},
            {"card_id": "HS4790123456789", "facility_id": "F1"},  # province 79 in the number
        ]
    )
    fa = facilities(
        [{"facility_id": "F1", "province": "01"}, {"facility_id": "F2", "province": "79"}]
    )
    ca = cards([{"card_id": "A", "province": "1", "registered_facility_id": "F1"}])
    fs = build(c, None, ca, fa)
    assert col(fs.card, "card_distinct_facilities_count") == {"A": 2, "HS4790123456789": 1}
    assert col(fs.card, "card_distinct_provinces_count") == {"A": 2, "HS4790123456789": 1}
    # outside home province without referral: A@F1 0, A@F2 1, A@F2 referred 0, HS479@F1 1;
    # peers (all the same kind of visit) make 2/4 = 0.5 such visits per visit
    home = col(fs.card, "card_outside_home_province_excess_count")
    assert approx(home["A"], 3 * 0 + 1 - 3 * 0.5) and approx(home["HS4790123456789"], 0.5)
    # away from the registered facility without referral: A 0, 1, 0 (peers 1/3 a visit);
    # the other card has no registered facility anywhere -> unknown -> 0
    away = col(fs.card, "card_away_from_registered_excess_count")
    assert approx(away["A"], 1 - 3 / 3) and away["HS4790123456789"] == 0.0


def test_overlapping_stays_overnight_transfer_and_same_facility() -> None:
    c = claims(
        [
            # stay at F1 day 1 08:00 .. day 5 10:00
            {
                "facility_id": "F1",
                "admit_time": t(1, 8),
                "discharge_time": t(5, 10),
                "visit_type": "inpatient",
            },
            # outpatient visit at F2 during it: 1 hour -> 1 day
            {"facility_id": "F2", "admit_time": t(3, 9), "discharge_time": t(3, 10)},
            # overnight stay at F2 from day 4 00:00: shares 1 day 10 h with F1 -> 2 days
            {
                "facility_id": "F2",
                "admit_time": t(4, 0),
                "discharge_time": t(8, 0),
                "visit_type": "inpatient",
            },
            # transfer: F2 stay ends day 8 00:00, F3 starts then -> no overlap
            {
                "facility_id": "F3",
                "admit_time": t(8, 0),
                "discharge_time": t(9, 0),
                "visit_type": "inpatient",
            },
            # same facility as the open stay -> not overlapping care
            {"facility_id": "F3", "admit_time": t(8, 12), "discharge_time": t(8, 13)},
            {"card_id": "B", "facility_id": "F1", "admit_time": t(2)},  # no discharge time
        ]
    )
    fs = build(c)
    assert col(fs.card, "card_overlapping_stays_count") == {"A": 2, "B": 0}
    assert col(fs.card, "card_overlap_days") == {"A": 3, "B": 0}
    flags = fs.claim_flags.set_index("claim_id")["overlapping_care"]
    assert flags["C1"] == 1 and flags["C2"] == 2 and flags["C0"] == 2  # C0 is the other side
    assert flags["C3"] == 0 and flags["C4"] == 0 and flags["C5"] == 0


def test_same_day_same_facility_claims() -> None:
    c = claims(
        [
            {"card_id": "D", "facility_id": "F1", "admit_time": t(3, 8)},
            {"card_id": "D", "facility_id": "F1", "admit_time": t(3, 9)},
            {"card_id": "D", "facility_id": "F1", "admit_time": t(3, 10)},
            {"card_id": "D", "facility_id": "F2", "admit_time": t(3, 11)},
            {"card_id": "D", "facility_id": "F1", "admit_time": t(4, 8)},
            {"card_id": "E", "facility_id": "F1", "admit_time": t(3, 8)},
        ]
    )
    fs = build(c)
    assert col(fs.card, "card_same_day_same_facility_claims_count") == {"D": 2, "E": 0}
    sb = fs.claim_flags.set_index("claim_id")["split_billing"]
    assert list(sb[["C0", "C1", "C2", "C3", "C4", "C5"]]) == [2, 2, 2, 0, 0, 0]


def test_drug_supply_per_class_stock_and_early_refills() -> None:
    c = claims(
        [
            {"card_id": "A", "admit_time": t(0), "primary_dx": "I10"},
            {"card_id": "A", "admit_time": t(10), "primary_dx": "I10"},
            {"card_id": "A", "admit_time": t(10, 11), "primary_dx": "E11.9"},
            {"card_id": "B", "admit_time": t(0), "primary_dx": "I10"},
            {"card_id": "B", "admit_time": t(25), "primary_dx": "I10"},
            {"card_id": "E", "admit_time": t(0), "primary_dx": "J45.9"},
            {"card_id": "E", "admit_time": t(20), "primary_dx": "J45.9"},
            {"card_id": "E", "admit_time": t(25), "primary_dx": "J45.9"},
        ]
    )
    li = lines(
        [
            # A: two ATC C09AA drugs in one claim last 30 days, not 60
            {"claim_id": "C0", "line_type": "drug", "item_code": "C09AA01", "days_supply": 30},
            {"claim_id": "C0", "line_type": "drug", "item_code": "C09AA02", "days_supply": 30},
            {"claim_id": "C1", "line_type": "drug", "item_code": "C09AA05", "days_supply": 30},
            {"claim_id": "C2", "line_type": "drug", "item_code": "A10BA02", "days_supply": 30},
            {"claim_id": "C2", "line_type": "service", "item_code": "02.1896"},
            # B: national codes of two products, both for I10 -> one class
            {"claim_id": "C3", "line_type": "drug", "item_code": "40.484", "days_supply": 30},
            {"claim_id": "C4", "line_type": "drug", "item_code": "40.473", "days_supply": 30},
            # E: 10 days, then 30 days at day 20 (ran out in between), then 30 at day 25
            {"claim_id": "C5", "line_type": "drug", "item_code": "R03AC02", "days_supply": 10},
            {"claim_id": "C6", "line_type": "drug", "item_code": "R03AC03", "days_supply": 30},
            {"claim_id": "C7", "line_type": "drug", "item_code": "R03AC02", "days_supply": 30},
        ]
    )
    fs = build(c, li)
    ratio = col(fs.card, "card_drug_days_supplied_ratio")
    assert (
        approx(ratio["A"], 60 / 31) and approx(ratio["B"], 60 / 31) and approx(ratio["E"], 70 / 31)
    )
    # A: 30 - 10 days used = 20 on hand at day 10; B: 30 - 25 = 5; E: 30 - 5 = 25 at day 25
    assert col(fs.card, "card_drug_stockpile_days") == {"A": 20, "B": 5, "E": 25}
    # early = more than 25% of the previous dispensing left: A 20 > 7.5, B 5 < 7.5, E 25 > 7.5
    assert col(fs.card, "card_early_refill_count") == {"A": 1, "B": 0, "E": 1}
    flag = fs.claim_flags.set_index("claim_id")["drug_oversupply"]
    assert flag["C1"] == 20 and flag["C0"] == 0 and flag["C6"] == 0


def test_demographic_mismatch_by_sex_age_and_secondary_dx() -> None:
    ca = cards(
        [
            {"card_id": "M", "sex": "M", "birth_date": "1980-01-01"},
            {"card_id": "OLD", "sex": "F", "birth_date": "1954-01-01"},
            {"card_id": "YOUNG", "sex": "F", "birth_date": "1994-01-01"},
            {"card_id": "BABY", "sex": "M", "birth_date": "2023-06-01"},
        ]
    )
    c = claims(
        [
            {"card_id": "M", "primary_dx": "O80"},  # obstetric, male
            {"card_id": "M", "primary_dx": "P07.3"},  # perinatal, age 44
            {"card_id": "M", "primary_dx": "N40"},  # prostate, fits
            {"card_id": "OLD", "primary_dx": "Z34.9"},  # antenatal at 70
            {"card_id": "YOUNG", "primary_dx": "Z34.9"},  # fits
            {"card_id": "YOUNG", "primary_dx": "J06.9", "secondary_dx": "I10;N40"},  # male code
            {"card_id": "BABY", "primary_dx": "P07.3"},  # fits at 7 months
        ]
    )
    fs = build(c, None, ca)
    assert col(fs.card, "card_demographic_mismatch_count") == {
        "BABY": 0,
        "M": 2,
        "OLD": 1,
        "YOUNG": 1,
    }


def test_dx_atypicality_for_sex_and_age_band() -> None:
    young = [{"card_id": f"Y{i}", "sex": "M", "birth_date": "2000-01-01"} for i in range(11)]
    old = [{"card_id": f"O{i}", "sex": "M", "birth_date": "1950-01-01"} for i in range(10)]
    ca = cards(young + old)
    rows = [{"card_id": f"Y{i}", "primary_dx": "J06.9"} for i in range(10)]
    rows += [{"card_id": "Y10", "primary_dx": "N40"}]
    rows += [{"card_id": f"O{i}", "primary_dx": "N40"} for i in range(10)]
    fs = build(claims(rows), None, ca)
    atyp = col(fs.card, "card_max_dx_atypicality_ratio")
    # N40: 11 of 21 claims overall; 1 of the 11 claims of young men. With a prior of 20
    # pseudo-claims: share = (1 + 20 * 11/21) / (11 + 20); ratio = (11/21) / share
    share = (1 + 20 * 11 / 21) / (11 + 20)
    assert approx(atyp["Y10"], (11 / 21) / share)
    j06_share = (10 + 20 * 10 / 21) / (11 + 20)
    assert approx(atyp["Y0"], (10 / 21) / j06_share)  # < 1: J06 is typical for them
    assert atyp["Y10"] > max(atyp[f"O{i}"] for i in range(10))


def test_demographics_from_claim_columns_when_no_registry() -> None:
    c = claims(
        [
            {"card_id": "M", "primary_dx": "N76.0", "patient_sex": "M"},
            {"card_id": "F", "primary_dx": "N76.0", "patient_sex": "F"},
        ]
    )
    fs = build(c)
    assert col(fs.card, "card_demographic_mismatch_count") == {"F": 0, "M": 1}


def test_eligibility_validity_and_death() -> None:
    ca = cards(
        [
            {"card_id": "V", "valid_from": "2023-01-01", "valid_to": "2024-01-10"},
            {"card_id": "D", "death_date": "2024-01-05"},
        ]
    )
    c = claims(
        [
            {"card_id": "V", "admit_time": t(5)},
            {"card_id": "V", "admit_time": t(15)},  # after valid_to
            {"card_id": "D", "admit_time": t(3)},
            {"card_id": "D", "admit_time": t(4)},  # the day of death: fine
            {"card_id": "D", "admit_time": t(5)},  # after death
        ]
    )
    fs = build(c, None, ca)
    assert col(fs.card, "card_outside_validity_claims_count") == {"D": 0, "V": 1}
    assert col(fs.card, "card_after_death_claims_count") == {"D": 1, "V": 0}
    el = fs.claim_flags.set_index("claim_id")["eligibility"]
    assert list(el[["C0", "C1", "C2", "C3", "C4"]]) == [0, 1, 0, 0, 2]


def test_validity_from_claim_columns() -> None:
    c = claims(
        [
            {
                "card_id": "V",
                "admit_time": t(2),
                "card_valid_from": "2024-01-05",
                "card_valid_to": "2024-12-31",
            },
            {
                "card_id": "V",
                "admit_time": t(9),
                "card_valid_from": "2024-01-05",
                "card_valid_to": "2024-12-31",
            },
        ]
    )
    fs = build(c)
    assert col(fs.card, "card_outside_validity_claims_count") == {"V": 1}


def test_cost_per_visit_against_peers() -> None:
    c = claims(
        [
            {"card_id": "X", "total_cost": 100.0},
            {"card_id": "X", "total_cost": 100.0, "admit_time": t(1)},
            {"card_id": "Y", "total_cost": 400.0},
        ]
    )
    fs = build(c)
    # expected per claim = mean 200; ratio = (A + e) / (E + e) with e = E / n (prior 1 visit)
    r = col(fs.card, "card_cost_per_visit_ratio_to_peers")
    assert approx(r["X"], (200 + 200) / (400 + 200)) and approx(r["Y"], (400 + 200) / (200 + 200))


def test_missing_optional_columns_switch_features_off(caplog: pytest.LogCaptureFixture) -> None:
    c = claims([{"card_id": "A"}, {"card_id": "A", "admit_time": t(2)}])
    with caplog.at_level(logging.INFO, logger="claimguard.features.build"):
        fs = build(c)
    off_lines = [r for r in caplog.records if "switched off" in r.getMessage()]
    assert len(off_lines) == 1
    for name in (
        "card_overlap_days",
        "card_drug_days_supplied_ratio",
        "card_after_death_claims_count",
        "card_outside_home_province_excess_count",
        "card_demographic_mismatch_count",
        "facility_max_exams_per_doctor_day_count",
        "facility_tests_per_visit_ratio_to_peers",
        "facility_sick_leave_per_visit_ratio_to_peers",
    ):
        assert name in fs.switched_off and name in off_lines[0].getMessage()
        assert name not in fs.card.columns and name not in fs.facility.columns
    assert "card_visits_count" in fs.card.columns and not fs.card.isna().any().any()
    assert "eligibility" not in fs.claim_flags.columns


def test_period_filters_claims_and_sets_dates() -> None:
    c = claims([{"card_id": "A", "admit_time": t(-3)}, {"card_id": "A", "admit_time": t(2)}])
    fs = build(c)
    assert col(fs.card, "card_visits_count") == {"A": 1}
    assert fs.period_start == JAN[0] and fs.period_end == JAN[1]
    fs2 = build_features(c, settings=S)
    assert fs2.period_start == pd.Timestamp("2023-12-29") and col(
        fs2.card, "card_visits_count"
    ) == {"A": 2}
