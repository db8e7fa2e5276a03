"""The feature table: one :class:`FeatureSpec` per feature column, card features first.

Why a module of its own: the table is long and only data; :mod:`claimguard.features.catalog`
adds the derived z-score features, indexes it and renders docs/feature_catalog.md from it.
``requires`` holds "table.column" entries; alternatives that each satisfy a requirement
are joined by "|".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeatureSpec:
    """One feature column: higher values are more suspicious unless the text says otherwise."""

    name: str
    entity: str  # "card" | "facility"
    unit: str
    signal: str  # docs/contract.md section 4 vocabulary (claimguard.schema.SIGNALS)
    description: str
    requires: tuple[str, ...]
    text: str  # reviewer sentence template, formatted with value=...


_SEX = "cards.sex|claims.patient_sex"
_AGE = "cards.birth_date|claims.patient_birth_date"
_VALID = "cards.valid_from|cards.valid_to|claims.card_valid_from|claims.card_valid_to"
_REG = "cards.registered_facility_id|claims.registered_facility_id"
_HOME = "cards.province"  # also derived from 15-character card numbers
_TREAT = "claim_lines.amount|claims.drug_cost"

SPECS: tuple[FeatureSpec, ...] = (
    # ------------------------------------------------------------------ card
    FeatureSpec(
        "card_visits_count", "card", "visits", "visit_frequency",
        "Claims (visits or admissions) of the card in the period.",
        (), "{value:.0f} visits in the period",
    ),
    FeatureSpec(
        "card_max_visits_7d_count", "card", "visits", "visit_frequency",
        "Most claims of the card within any 7 consecutive days.",
        (), "{value:.0f} visits in the busiest 7 days",
    ),
    FeatureSpec(
        "card_max_visits_30d_count", "card", "visits", "visit_frequency",
        "Most claims of the card within any 30 consecutive days.",
        (), "{value:.0f} visits in the busiest 30 days",
    ),
    FeatureSpec(
        "card_visits_ratio_to_peers", "card", "ratio", "visit_frequency",
        "Visits divided by the mean visits of cards with the same main diagnosis, age band and "
        "number of distinct diagnoses.",
        (), "{value:.1f}× the visits of cards with the same main diagnosis and age",
    ),
    FeatureSpec(
        "card_distinct_facilities_count", "card", "facilities", "multi_facility",
        "Distinct facilities that billed the card in the period.",
        (), "care at {value:.0f} different facilities",
    ),
    FeatureSpec(
        "card_distinct_provinces_count", "card", "provinces", "geography",
        "Distinct provinces of the facilities that billed the card.",
        ("facilities.province",), "care in {value:.0f} different provinces",
    ),
    FeatureSpec(
        "card_outside_home_province_excess_count", "card", "visits", "geography",
        "Visits outside the card's home province without a referral, minus the number peers "
        "with the same diagnoses at the same tier of facility would make (home: card registry, "
        "else the province digits of a 15-character card number).",
        ("facilities.province", _HOME),
        "{value:.1f} more visits outside the home province than comparable patients",
    ),
    FeatureSpec(
        "card_away_from_registered_excess_count", "card", "visits", "geography",
        "Visits away from the registered facility without a referral, minus the number peers "
        "with the same diagnoses at the same tier of facility would make.",
        (_REG,), "{value:.1f} more visits away from the registered facility than comparable patients",
    ),
    FeatureSpec(
        "card_overlapping_stays_count", "card", "claims", "overlapping_care",
        "Claims that start while an earlier stay or visit of the card at another facility "
        "is still open.",
        ("claims.discharge_time",), "{value:.0f} claims overlapping care at another facility",
    ),
    FeatureSpec(
        "card_overlap_days", "card", "days", "overlapping_care",
        "Days in care at two facilities at once (each overlap rounded up to whole days).",
        ("claims.discharge_time",), "{value:.0f} days in care at two facilities at once",
    ),
    FeatureSpec(
        "card_same_day_same_facility_claims_count", "card", "claims", "split_billing",
        "Extra claims on a day on which the same facility already billed the card.",
        (), "{value:.0f} extra claims on the same day at the same facility",
    ),
    FeatureSpec(
        "card_drug_days_supplied_ratio", "card", "ratio", "drug_oversupply",
        "Largest, over drug classes, of days of drug supplied divided by days in the period.",
        ("claim_lines.days_supply",), "{value:.1f}× the days of the period supplied in one drug class",
    ),
    FeatureSpec(
        "card_drug_stockpile_days", "card", "days", "drug_oversupply",
        "Most days of one drug class still on hand at a refill, had every earlier "
        "dispensing been taken as prescribed.",
        ("claim_lines.days_supply",), "{value:.0f} days of drugs still on hand at a refill",
    ),
    FeatureSpec(
        "card_early_refill_count", "card", "dispensings", "drug_oversupply",
        "Refills of a drug class while more than a quarter of the previous dispensing was "
        "still on hand.",
        ("claim_lines.days_supply",), "{value:.0f} refills before the previous supply ran out",
    ),
    FeatureSpec(
        "card_demographic_mismatch_count", "card", "claims", "demographic_mismatch",
        "Claims with a diagnosis that cannot fit the card holder's sex or age "
        "(built-in ICD-10 table: obstetric, male/female genital, perinatal, senility).",
        (f"{_SEX}|{_AGE}",), "{value:.0f} claims with diagnoses that do not fit the card holder",
    ),
    FeatureSpec(
        "card_impossible_dx_claims_count", "card", "claims", "demographic_mismatch",
        "Claims whose main diagnosis the card holder cannot have: pregnancy care or a female "
        "genital disease for a man, a male genital disease for a woman, perinatal conditions "
        "after infancy (the cited table in claimguard/data/clinical_impossibility.csv; sex and "
        "birth date from the card registry when present).",
        (f"{_SEX}|{_AGE}",), "{value:.0f} claims with a diagnosis the card holder cannot have",
    ),
    FeatureSpec(
        "card_unfitting_main_dx_distinct_count", "card", "diagnoses", "demographic_mismatch",
        "Distinct main diagnoses (ICD-10 categories) of the card's claims that do not fit the "
        "holder's sex or age (the built-in table below, near-impossible adult diseases in "
        "young children included). Distinct, because one person's unusual condition recurs "
        "on every claim while someone else using the card brings other conditions.",
        (f"{_SEX}|{_AGE}",), "{value:.0f} different main diagnoses that do not fit the card holder",
    ),
    FeatureSpec(
        "card_max_dx_atypicality_ratio", "card", "ratio", "demographic_mismatch",
        "For the card's most atypical diagnosis: how many times rarer it is among claims of "
        "the holder's sex and age band than among all claims (1 = typical).",
        (f"{_SEX}|{_AGE}",),
        "a diagnosis {value:.0f}× rarer for the holder's sex and age than overall",
    ),
    FeatureSpec(
        "card_outside_validity_claims_count", "card", "claims", "eligibility",
        "Claims admitted before the card's validity starts or after it ends.",
        (_VALID,), "{value:.0f} claims outside the card's validity",
    ),
    FeatureSpec(
        "card_after_death_claims_count", "card", "claims", "eligibility",
        "Claims admitted after the card holder's recorded death date.",
        ("cards.death_date",), "{value:.0f} claims after the card holder's death",
    ),
    FeatureSpec(
        "card_cost_per_visit_ratio_to_peers", "card", "ratio", "cost",
        "Total cost divided by the peer-expected cost of the same claims "
        "(same diagnosis, tier, visit type, age band).",
        (), "{value:.1f}× the cost of comparable visits",
    ),
    FeatureSpec(
        "card_same_dx_same_day_claims_count", "card", "claims", "split_billing",
        "Extra outpatient claims on a day on which the same facility already billed the card "
        "for the same diagnosis category (one visit billed as several claims).",
        (), "{value:.0f} extra claims for the same diagnosis on the same day at one facility",
    ),
    FeatureSpec(
        "card_back_to_back_claims_count", "card", "claims", "split_billing",
        "Claims at one facility on one day starting less than features.back_to_back_minutes "
        "(default 30) after the card's previous claim there: one sitting billed as several "
        "claims (a genuine same-day revisit needs a new consultation).",
        (), "{value:.0f} claims billed minutes after another at the same facility",
    ),
    FeatureSpec(
        "card_split_stay_admissions_count", "card", "claims", "split_billing",
        "Inpatient admissions at the facility that discharged the card holder the same or "
        "the previous day: one hospital stay billed as two admissions.",
        ("claims.discharge_time",),
        "{value:.0f} admissions the day after a discharge from the same facility",
    ),
    FeatureSpec(
        "card_visits_inside_other_stay_count", "card", "claims", "overlapping_care",
        "Outpatient or day-care claims at another facility on a day strictly between the "
        "admission and discharge days of an inpatient stay of the card.",
        ("claims.discharge_time",), "{value:.0f} visits elsewhere while admitted to hospital",
    ),
    FeatureSpec(
        "card_concurrent_supply_days", "card", "days", "drug_oversupply",
        "Most days of a drug class dispensed by another facility still on hand when the card "
        "was dispensed the same class again (two prescribers at once).",
        ("claim_lines.days_supply",),
        "{value:.0f} days of another facility's supply still on hand at a new dispensing",
    ),
    FeatureSpec(
        "card_max_dx_atypicality_away_ratio", "card", "ratio", "demographic_mismatch",
        "card_max_dx_atypicality_ratio over claims away from the card's registered facility "
        "only (1 = typical, or registered facility unknown).",
        (f"{_SEX}|{_AGE}", _REG),
        "a diagnosis {value:.0f}× rarer for the holder's sex and age, away from the registered facility",
    ),
    # ------------------------------------------------------------------ facility
    FeatureSpec(
        "facility_claims_per_day_ratio_to_peers", "facility", "ratio", "visit_frequency",
        "Claims per day divided by the median of facilities of the same tier.",
        (), "{value:.1f}× the claims per day of facilities of the same tier",
    ),
    FeatureSpec(
        "facility_cards_per_day_ratio_to_peers", "facility", "ratio", "visit_frequency",
        "Distinct cards per day divided by the median of facilities of the same tier.",
        (), "{value:.1f}× the patients per day of facilities of the same tier",
    ),
    FeatureSpec(
        "facility_cost_per_day_ratio_to_peers", "facility", "ratio", "cost",
        "Cost billed per day divided by the median of facilities of the same tier.",
        (), "{value:.1f}× the cost per day of facilities of the same tier",
    ),
    FeatureSpec(
        "facility_cost_per_visit_ratio_to_peers", "facility", "ratio", "cost",
        "Cost billed divided by the peer-expected cost of the same claims "
        "(same diagnosis, tier, visit type, age band).",
        (), "{value:.1f}× the cost of comparable visits at peer facilities",
    ),
    FeatureSpec(
        "facility_busiest_doctor_exams_ratio_to_colleagues", "facility", "ratio", "doctor_load",
        "The busiest doctor's mean outpatient examinations per day worked, divided by the "
        "median of that figure over the facility's doctors (1 with a single doctor).",
        ("claims.doctor_id",), "busiest doctor examines {value:.1f}× as many patients a day as colleagues",
    ),
    FeatureSpec(
        "facility_max_exams_per_doctor_day_count", "facility", "examinations", "doctor_load",
        "Most outpatient examinations billed under one doctor on one day.",
        ("claims.doctor_id",), "up to {value:.0f} examinations by one doctor in a day",
    ),
    FeatureSpec(
        "facility_doctor_days_over_cap_share", "facility", "share", "doctor_load",
        "Share of doctor-days with more outpatient examinations than "
        "features.doctor_daily_cap (default 65).",
        ("claims.doctor_id",), "{value:.0%} of doctor-days above the daily examination cap",
    ),
    FeatureSpec(
        "facility_tests_per_visit_ratio_to_peers", "facility", "ratio", "service_intensity",
        "Lab-test lines per visit divided by the peer expectation for the same diagnoses, "
        "tier and visit type.",
        ("claim_lines.item_code",), "{value:.1f}× the lab tests per visit of peers",
    ),
    FeatureSpec(
        "facility_imaging_per_visit_ratio_to_peers", "facility", "ratio", "service_intensity",
        "Imaging lines per visit divided by the peer expectation for the same diagnoses, "
        "tier and visit type.",
        ("claim_lines.item_code",), "{value:.1f}× the imaging per visit of peers",
    ),
    FeatureSpec(
        "facility_drugs_per_visit_ratio_to_peers", "facility", "ratio", "service_intensity",
        "Drug lines per visit divided by the peer expectation for the same diagnoses, "
        "tier and visit type.",
        ("claim_lines.line_type",), "{value:.1f}× the drugs per visit of peers",
    ),
    FeatureSpec(
        "facility_supplies_per_visit_ratio_to_peers", "facility", "ratio", "service_intensity",
        "Supply lines per visit divided by the peer expectation for the same diagnoses, "
        "tier and visit type.",
        ("claim_lines.line_type",), "{value:.1f}× the supplies per visit of peers",
    ),
    FeatureSpec(
        "facility_admission_rate_ratio_to_peers", "facility", "ratio", "admission_pattern",
        "Inpatient admissions divided by the peer-expected admissions for the same diagnoses, "
        "tier and age band.",
        (), "{value:.1f}× the admissions of peers for the same diagnoses",
    ),
    FeatureSpec(
        "facility_length_of_stay_ratio_to_peers", "facility", "ratio", "admission_pattern",
        "Inpatient days divided by the peer-expected days for the same diagnoses and tier.",
        ("claims.discharge_time",), "{value:.1f}× the length of stay of peers",
    ),
    FeatureSpec(
        "facility_thin_visits_ratio_to_peers", "facility", "ratio", "visit_frequency",
        "Visits billing almost nothing beyond the exam (below features.near_zero_treatment_vnd) "
        "divided by the peer expectation for the same diagnoses, tier and visit type.",
        (_TREAT,), "{value:.1f}× the near-empty visits of peers",
    ),
    FeatureSpec(
        "facility_sick_leave_per_visit_ratio_to_peers", "facility", "ratio", "sick_leave",
        "Sick-leave certificates divided by the peer-expected certificates for the same "
        "diagnoses, visit type and age band.",
        ("claims.sick_leave_days",), "{value:.1f}× the sick-leave certificates of peers",
    ),
    FeatureSpec(
        "facility_sick_leave_days_per_certificate_days", "facility", "days", "sick_leave",
        "Mean days of sick leave per certificate issued.",
        ("claims.sick_leave_days",), "{value:.1f} days of sick leave per certificate",
    ),
    FeatureSpec(
        "facility_sick_leave_near_zero_treatment_share", "facility", "share", "sick_leave",
        "Share of sick-leave certificates issued at visits billing almost no treatment beyond "
        "the exam (below features.near_zero_treatment_vnd).",
        ("claims.sick_leave_days", _TREAT),
        "{value:.0%} of sick-leave certificates at visits with almost no treatment",
    ),
    FeatureSpec(
        "facility_outside_province_visits_ratio_to_peers", "facility", "ratio", "geography",
        "Visits without referral by cards from another province, divided by the peer "
        "expectation for the same diagnoses, tier and visit type.",
        ("facilities.province", _HOME), "{value:.1f}× the out-of-province patients of peers",
    ),
    FeatureSpec(
        "facility_registered_elsewhere_ratio_to_peers", "facility", "ratio", "geography",
        "Visits without referral by cards registered at another facility, divided by the peer "
        "expectation for the same diagnoses, tier and visit type.",
        (_REG,), "{value:.1f}× the patients registered elsewhere of peers",
    ),
    FeatureSpec(
        "facility_one_visit_cards_share", "facility", "share", "visit_frequency",
        "Share of the facility's cards seen exactly once in the period.",
        (), "{value:.0%} of patients seen only once",
    ),
    FeatureSpec(
        "facility_split_billing_count", "facility", "claims", "split_billing",
        "Extra claims for a card on a day on which the facility already billed that card.",
        (), "{value:.0f} extra claims for the same patient on the same day",
    ),
    FeatureSpec(
        "facility_split_billing_share", "facility", "share", "split_billing",
        "Split-billing extra claims divided by all claims of the facility.",
        (), "{value:.1%} of claims are same-day extra claims for one patient",
    ),
    FeatureSpec(
        "facility_after_death_claims_count", "facility", "claims", "eligibility",
        "Claims admitted after the card holder's recorded death date.",
        ("cards.death_date",), "{value:.0f} claims for patients after their death",
    ),
    FeatureSpec(
        "facility_outside_validity_claims_count", "facility", "claims", "eligibility",
        "Claims admitted outside the card's validity dates.",
        (_VALID,), "{value:.0f} claims outside the card's validity",
    ),
    FeatureSpec(
        "facility_doctor_days_over_cap_count", "facility", "doctor-days", "doctor_load",
        "Doctor-days with more outpatient examinations than features.doctor_daily_cap.",
        ("claims.doctor_id",), "{value:.0f} doctor-days above the daily examination cap",
    ),
    FeatureSpec(
        "facility_doctor_days_count", "facility", "doctor-days", "doctor_load",
        "Doctor-days with outpatient examinations (the exposure of the doctor-load evidence; "
        "not suspicious in itself).",
        ("claims.doctor_id",), "{value:.0f} doctor-days worked",
    ),
)  # fmt: skip
