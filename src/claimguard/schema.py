"""The canonical tables of docs/contract.md section 1: names, kinds, requiredness, enums.

This module is the single source of truth for what a validated table looks like.
Readers coerce to these kinds, validation checks them, and every later stage may
rely on them without re-checking:

* ``id`` / ``str`` columns hold pandas strings (never floats: ``"0123"`` stays ``"0123"``);
* ``datetime`` / ``date`` columns hold naive ``datetime64[ns]`` (dates at midnight);
* ``float`` columns hold ``float64`` (integers such as ``sick_leave_days`` too, so
  that a missing value is ``NaN`` and arithmetic stays vectorised);
* ``enum`` columns hold pandas ``category`` with exactly the listed categories.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

Kind = Literal["id", "str", "datetime", "date", "float", "enum"]


# Times without an offset are the fund's local wall-clock time; a time with an offset (``Z``,
# ``+07:00``) is converted to it, row by row (claimguard.io.coerce.to_datetime). A mapping file
# may name another zone (``timezone:``).
LOCAL_TIMEZONE = "Asia/Ho_Chi_Minh"

# Longest values (UTF-8 bytes): ids (card numbers, claim and facility codes) and codes or
# short texts (diagnoses, item codes, provinces); secondary diagnoses are a joined list.
# The triage database sizes its columns from these (claimguard.triage.store).
MAX_ID_BYTES = 64
MAX_CODE_BYTES = 200
MAX_TEXT_BYTES = 4000

# Plausible maxima: a value above is a data error, not a claim (quarantined when the column
# is required, emptied when optional), and keeps feature sums over millions of claims finite.
# 10^12 VND (about 40 million USD) is far above any single visit, line or stay;
# ten years of days; a million units on one line.
MAX_VND = 1e12
MAX_DAYS = 3650.0
MAX_QUANTITY = 1e6


@dataclass(frozen=True)
class Column:
    """One canonical column: its name, kind, whether it is required, and its rules."""

    name: str
    kind: Kind
    required: bool = False
    enum: tuple[str, ...] = ()
    min_value: float | None = None
    strictly_positive: bool = False
    description: str = ""
    max_value: float | None = None  # plausible maximum: above it a value is an error
    max_bytes: int | None = None  # id/str: longest UTF-8 value (default by kind, see below)

    @property
    def byte_limit(self) -> int:
        """Longest accepted UTF-8 value of an id or text column: one limit for validation and
        for the triage database's column sizes."""
        if self.max_bytes is not None:
            return self.max_bytes
        return MAX_ID_BYTES if self.kind == "id" else MAX_CODE_BYTES


@dataclass(frozen=True)
class Table:
    """One canonical table and its key."""

    name: str
    columns: tuple[Column, ...]
    key: str | None = None

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


VISIT_TYPES = ("outpatient", "inpatient", "day_care")
SEXES = ("M", "F", "U")
OUTCOMES = ("recovered", "improved", "unchanged", "worse", "died", "unknown")
LINE_TYPES = ("drug", "service", "supply")
TIERS = ("central", "provincial", "district", "commune", "private")
FACILITY_KINDS = ("hospital", "clinic", "health_station")

CLAIMS = Table(
    "claims",
    (
        Column("claim_id", "id", True, description="unique id of the visit record (MA_LK)"),
        Column("card_id", "id", True, description="insurance card number (MA_THE_BHYT)"),
        Column("facility_id", "id", True, description="treating, billing facility (MA_CSKCB)"),
        Column("admit_time", "datetime", True, description="start of visit (NGAY_VAO)"),
        Column("discharge_time", "datetime", description="end; absent = admit_time (NGAY_RA)"),
        Column("visit_type", "enum", True, enum=VISIT_TYPES, description="MA_LOAI_KCB"),
        Column("primary_dx", "str", True, description="main ICD-10 diagnosis (MA_BENH_CHINH)"),
        Column(
            "secondary_dx",
            "str",
            description="ICD-10 codes joined by ';' (MA_BENH_KT)",
            max_bytes=MAX_TEXT_BYTES,
        ),
        Column(
            "total_cost",
            "float",
            True,
            min_value=0.0,
            description="T_TONGCHI_BH, VND",
            max_value=MAX_VND,
        ),
        Column(
            "insurance_paid", "float", min_value=0.0, description="T_BHTT, VND", max_value=MAX_VND
        ),
        Column("drug_cost", "float", min_value=0.0, description="T_THUOC, VND", max_value=MAX_VND),
        Column("supply_cost", "float", min_value=0.0, description="T_VTYT, VND", max_value=MAX_VND),
        Column("patient_birth_date", "date", description="NGAY_SINH"),
        Column("patient_sex", "enum", enum=SEXES, description="GIOI_TINH"),
        Column("registered_facility_id", "id", description="MA_DKBD"),
        Column("card_valid_from", "date", description="GT_THE_TU"),
        Column("card_valid_to", "date", description="GT_THE_DEN"),
        Column("doctor_id", "id", description="examining doctor (MA_BAC_SI)"),
        Column("department_id", "id", description="MA_KHOA"),
        Column("referral_from", "id", description="MA_NOI_DI"),
        Column("outcome", "enum", enum=OUTCOMES, description="KET_QUA_DTRI"),
        Column(
            "sick_leave_days",
            "float",
            min_value=0.0,
            description="sick-leave days issued",
            max_value=MAX_DAYS,
        ),
    ),
    key="claim_id",
)

CLAIM_LINES = Table(
    "claim_lines",
    (
        Column("claim_id", "id", True),
        Column("line_type", "enum", True, enum=LINE_TYPES),
        Column("item_code", "str", True),
        Column(
            "quantity", "float", True, min_value=0.0, strictly_positive=True, max_value=MAX_QUANTITY
        ),
        Column("amount", "float", True, min_value=0.0, max_value=MAX_VND),
        Column("days_supply", "float", min_value=0.0, strictly_positive=True, max_value=MAX_DAYS),
        Column("doctor_id", "id"),
        Column("order_time", "datetime"),
    ),
)

FACILITIES = Table(
    "facilities",
    (
        Column("facility_id", "id", True),
        Column("province", "str"),
        Column("tier", "enum", enum=TIERS),
        Column("kind", "enum", enum=FACILITY_KINDS),
        Column("beds", "float", min_value=0.0),
    ),
    key="facility_id",
)

CARDS = Table(
    "cards",
    (
        Column("card_id", "id", True),
        Column("birth_date", "date"),
        Column("sex", "enum", enum=SEXES),
        Column("province", "str"),
        Column("registered_facility_id", "id"),
        Column("valid_from", "date"),
        Column("valid_to", "date"),
        Column("death_date", "date"),
    ),
    key="card_id",
)

TABLES: dict[str, Table] = {t.name: t for t in (CLAIMS, CLAIM_LINES, FACILITIES, CARDS)}

QUARANTINE_COLUMNS = ("table", "source_file", "source_row", "column", "reason", "action", "raw")

# The fixed signal vocabulary of docs/contract.md section 4: every reason names one of these.
SIGNALS: tuple[str, ...] = (
    "visit_frequency",
    "multi_facility",
    "overlapping_care",
    "geography",
    "demographic_mismatch",
    "drug_oversupply",
    "cost",
    "service_intensity",
    "admission_pattern",
    "doctor_load",
    "sick_leave",
    "eligibility",
    "split_billing",
    "other",
)

SCORE_COLUMNS = ("entity_type", "entity_id", "period_start", "period_end", "score", "rank")
ALERT_COLUMNS = (
    "alert_id",
    "entity_type",
    "entity_id",
    "period_start",
    "period_end",
    "score",
    "rank",
    "top_signal",
    "reasons",
    "evidence_claim_ids",
    "model_version",
)
LABEL_COLUMNS = ("entity_type", "entity_id", "scenario")
DECISION_COLUMNS = (*LABEL_COLUMNS, "decision", "reviewer", "decided_at")
# Reviewer decisions (docs/contract.md section 4). Evaluation and feedback read confirmed as positive,
# dismissed as negative and ignore the rest; a few common spellings from other tools count too.
DECISIONS = ("confirmed_abuse", "dismissed", "needs_information")
POSITIVE_DECISIONS = frozenset(
    {"confirmed_abuse", "confirmed", "confirm", "abuse", "fraud", "positive"}
)
NEGATIVE_DECISIONS = frozenset({"dismissed", "dismiss", "negative", "normal", "no_abuse"})
ENTITY_TYPES = ("card", "facility")
# Abuse scenarios (labels.scenario, docs/contract.md section 4), by the entity they concern:
# the one list the generator plants, evaluation reads and reviewers tag.
CARD_SCENARIOS = (
    "borrowed_card",
    "medicine_hoarding",
    "overlapping_care",
    "post_death",
    "ineligible",
    "split_billing",
)
FACILITY_SCENARIOS = (
    "overbilling",
    "admission_inflation",
    "sick_leave_mill",
    "phantom_visits",
    "doctor_overload",
)
SCENARIOS = (*CARD_SCENARIOS, *FACILITY_SCENARIOS)


def decision_labels(decisions: pd.Series) -> np.ndarray:
    """Per (normalised, lower-case) decision: 1 confirmed, 0 dismissed, -1 anything else
    or missing; the one decision -> label mapping of evaluation and feedback."""
    positive = decisions.isin(POSITIVE_DECISIONS).fillna(False).to_numpy(dtype=bool)
    negative = decisions.isin(NEGATIVE_DECISIONS).fillna(False).to_numpy(dtype=bool)
    return np.where(positive, 1, np.where(negative, 0, -1))
