"""Pattern features (claimguard.features.patterns) on tiny hand-made frames."""

from __future__ import annotations

import pandas as pd

from claimguard.features.build import build_features
from claimguard.settings import FeatureSettings
from tests.features.frames import cards, claims, col, lines, t

JAN = (pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-31"))
S = FeatureSettings(min_peer_group_size=1)


def build(c, li=None, ca=None):
    return build_features(c, li, ca, None, settings=S, period=JAN)


def test_same_dx_same_day_claims_are_one_visit_billed_twice() -> None:
    c = claims(
        [
            {"card_id": "A", "admit_time": t(0, 8)},  # J06.9 twice at F1 on day 0
            {"card_id": "A", "admit_time": t(0, 10), "primary_dx": "J06.0"},  # same J06
            {"card_id": "B", "admit_time": t(0, 8)},  # a second, different complaint
            {"card_id": "B", "admit_time": t(0, 10), "primary_dx": "I10"},
            {"card_id": "C", "admit_time": t(2, 8)},  # three claims for one visit
            {"card_id": "C", "admit_time": t(2, 9)},
            {"card_id": "C", "admit_time": t(2, 10)},
            {"card_id": "D", "admit_time": t(3, 8), "visit_type": "inpatient"},
            {"card_id": "D", "admit_time": t(3, 10)},  # admission + visit: not a split
            {"card_id": "E", "admit_time": t(4)},  # same dx, other facility / other day
            {"card_id": "E", "admit_time": t(4), "facility_id": "F2"},
            {"card_id": "E", "admit_time": t(5)},
            {"card_id": "G", "admit_time": t(6)},  # a single claim
        ]
    )
    fs = build(c)
    got = col(fs.card, "card_same_dx_same_day_claims_count")
    # extra claims = claims - 1 per (card, facility, day, ICD-10 category) group
    assert got == {"A": 1, "B": 0, "C": 2, "D": 0, "E": 0, "G": 0}
    flag = fs.claim_flags.set_index("claim_id")["split_billing"]
    assert flag["C0"] >= 1 and flag["C1"] >= 1


def test_visits_strictly_inside_a_stay_elsewhere() -> None:
    c = claims(
        [
            # A: admitted at F1 days 0..5; visits F2 on day 2 (inside), F1 on day 3 (same
            # facility), F2 on day 5 (discharge day: a follow-up)
            {"card_id": "A", "admit_time": t(0), "discharge_time": t(5, 10),
             "visit_type": "inpatient"},
            {"card_id": "A", "admit_time": t(2), "facility_id": "F2"},
            {"card_id": "A", "admit_time": t(3)},
            {"card_id": "A", "admit_time": t(5, 14), "facility_id": "F2"},
            # B: overnight stay, visit elsewhere on the discharge day
            {"card_id": "B", "admit_time": t(0, 20), "discharge_time": t(1, 9),
             "visit_type": "inpatient"},
            {"card_id": "B", "admit_time": t(1, 11), "facility_id": "F2"},
            # C: two stays at two places at once are card_overlap_days' business
            {"card_id": "C", "admit_time": t(0), "discharge_time": t(6),
             "visit_type": "inpatient"},
            {"card_id": "C", "admit_time": t(2), "discharge_time": t(4), "facility_id": "F2",
             "visit_type": "inpatient"},
            {"card_id": "G", "admit_time": t(0)},
        ]
    )  # fmt: skip
    fs = build(c)
    assert col(fs.card, "card_visits_inside_other_stay_count") == {
        "A": 1, "B": 0, "C": 0, "G": 0,
    }  # fmt: skip
    flag = fs.claim_flags.set_index("claim_id")["overlapping_care"]
    assert flag["C1"] >= 1 and flag["C0"] >= 1 and flag["C3"] == 0  # visit and its stay


def test_concurrent_supply_from_another_facility() -> None:
    c = claims(
        [
            {"card_id": "A", "admit_time": t(0), "primary_dx": "I10"},
            {"card_id": "A", "admit_time": t(10), "primary_dx": "I10", "facility_id": "F2"},
            {"card_id": "B", "admit_time": t(0), "primary_dx": "I10"},  # same prescriber
            {"card_id": "B", "admit_time": t(10), "primary_dx": "I10"},
            {"card_id": "E", "admit_time": t(0), "primary_dx": "I10"},  # had run out
            {"card_id": "E", "admit_time": t(20), "primary_dx": "I10", "facility_id": "F2"},
            {"card_id": "G", "admit_time": t(0), "primary_dx": "I10"},  # another class
            {"card_id": "G", "admit_time": t(5), "primary_dx": "E11.9", "facility_id": "F2"},
        ]
    )
    li = lines(
        [
            {"claim_id": "C0", "line_type": "drug", "item_code": "C09AA01", "days_supply": 30},
            {"claim_id": "C1", "line_type": "drug", "item_code": "C09AA05", "days_supply": 30},
            {"claim_id": "C2", "line_type": "drug", "item_code": "C09AA01", "days_supply": 30},
            {"claim_id": "C3", "line_type": "drug", "item_code": "C09AA01", "days_supply": 30},
            {"claim_id": "C4", "line_type": "drug", "item_code": "C09AA01", "days_supply": 10},
            {"claim_id": "C5", "line_type": "drug", "item_code": "C09AA01", "days_supply": 30},
            {"claim_id": "C6", "line_type": "drug", "item_code": "C09AA01", "days_supply": 30},
            {"claim_id": "C7", "line_type": "drug", "item_code": "A10BA02", "days_supply": 30},
        ]
    )
    fs = build(c, li)
    # A: F1's 30 days from day 0 still have 20 days left at F2's dispensing on day 10
    assert col(fs.card, "card_concurrent_supply_days") == {"A": 20, "B": 0, "E": 0, "G": 0}
    assert fs.claim_flags.set_index("claim_id")["drug_oversupply"]["C1"] == 20


def test_atypical_diagnosis_counts_only_away_from_the_registered_facility() -> None:
    ca = cards(
        [
            {"card_id": "AWAY", "sex": "M", "birth_date": "1990-01-01",
             "registered_facility_id": "F1"},
            {"card_id": "HOME", "sex": "M", "birth_date": "1990-01-01",
             "registered_facility_id": "F1"},
            {"card_id": "NOREG", "sex": "M", "birth_date": "1990-01-01"},
        ]
        + [{"card_id": f"P{i}", "sex": "F", "birth_date": "1950-01-01",
            "registered_facility_id": "F1"} for i in range(6)]
        + [{"card_id": f"Y{i}", "sex": "M", "birth_date": "1990-01-01",
            "registered_facility_id": "F1"} for i in range(10)]
    )  # fmt: skip
    c = claims(
        [
            {"card_id": "AWAY", "primary_dx": "M17.9", "facility_id": "F2"},
            {"card_id": "HOME", "primary_dx": "M17.9", "facility_id": "F1"},
            {"card_id": "NOREG", "primary_dx": "M17.9", "facility_id": "F2"},
        ]
        + [{"card_id": f"P{i}", "primary_dx": "M17.9", "facility_id": "F1"} for i in range(6)]
        + [{"card_id": f"Y{i}", "primary_dx": "J06.9", "facility_id": "F1"} for i in range(10)]
    )
    fs = build(c, ca=ca)
    # knee arthrosis: 9 of 19 claims overall, 3 of 13 among young men -> atypical for them
    away = col(fs.card, "card_max_dx_atypicality_away_ratio")
    anywhere = col(fs.card, "card_max_dx_atypicality_ratio")
    assert anywhere["AWAY"] > 1 and anywhere["HOME"] == anywhere["AWAY"]
    assert away["AWAY"] == anywhere["AWAY"]  # all its claims are away from F1
    assert away["HOME"] == 1 and away["NOREG"] == 1  # at home / registration unknown


def test_pattern_features_switch_off_without_their_columns() -> None:
    c = claims([{"card_id": "A"}, {"card_id": "A", "admit_time": t(0, 11)}])
    fs = build(c)
    assert "card_same_dx_same_day_claims_count" in fs.card.columns
    for name in (
        "card_visits_inside_other_stay_count",
        "card_concurrent_supply_days",
        "card_max_dx_atypicality_away_ratio",
    ):
        assert name not in fs.card.columns and name in fs.switched_off


def test_admission_a_day_after_a_discharge_there_is_a_split_stay() -> None:
    c = claims(
        [
            # A: discharged from F1 on day 4, admitted to F1 again on day 5 (split stay)
            {"card_id": "A", "admit_time": t(0), "discharge_time": t(4, 10),
             "visit_type": "inpatient"},
            {"card_id": "A", "admit_time": t(5, 8), "discharge_time": t(9),
             "visit_type": "inpatient"},
            # B: readmitted to another facility (a transfer), and to F1 a week later
            {"card_id": "B", "admit_time": t(0), "discharge_time": t(3),
             "visit_type": "inpatient"},
            {"card_id": "B", "admit_time": t(3, 12), "discharge_time": t(6), "facility_id": "F2",
             "visit_type": "inpatient"},
            {"card_id": "B", "admit_time": t(14), "discharge_time": t(16),
             "visit_type": "inpatient"},
            # C: admitted before the first stay ended: an overlap, not a split
            {"card_id": "C", "admit_time": t(0), "discharge_time": t(6),
             "visit_type": "inpatient"},
            {"card_id": "C", "admit_time": t(2), "discharge_time": t(8),
             "visit_type": "inpatient"},
            # D: an outpatient follow-up the day after the discharge is ordinary
            {"card_id": "D", "admit_time": t(0), "discharge_time": t(2),
             "visit_type": "inpatient"},
            {"card_id": "D", "admit_time": t(3)},
        ]
    )  # fmt: skip
    fs = build(c)
    assert col(fs.card, "card_split_stay_admissions_count") == {
        "A": 1, "B": 0, "C": 0, "D": 0,
    }  # fmt: skip
    flagged = fs.claim_flags.loc[fs.claim_flags["split_billing"] > 0, "card_id"]
    assert list(flagged) == ["A", "A"]
