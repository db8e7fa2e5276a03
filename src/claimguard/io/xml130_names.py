"""XML 130 (and 4210) element names and codes -> canonical tables, as one mapping.

Why one mapping: the XML reader turns each visit record into a flat row of element
names, so XML files and flat CSV exports with XML element names (the shipped
``configs/mappings/xml130_flat.yaml``, which a test keeps equal to this) go through
the same renames, code maps and date formats. Where 4210 and 130 differ, the 130
name comes first and the 4210 name second (the first non-empty wins).
"""

from __future__ import annotations

from typing import Any

from claimguard.io.mapping import Mapping

DATETIME = ["%Y%m%d%H%M", "%Y%m%d%H%M%S", "%Y%m%d"]
DATE = ["%Y%m%d", "%Y%m%d%H%M"]

XML130_MAPPING_DICT: dict[str, Any] = {
    "name": "xml130_flat",
    "description": "Vietnam MoH XML 130/4210 element names (XML1 visit, XML2/XML3 lines).",
    "tables": {
        "claims": {
            "columns": {
                "claim_id": "MA_LK",
                "card_id": ["MA_THE_BHYT", "MA_THE"],
                "facility_id": "MA_CSKCB",
                "admit_time": "NGAY_VAO",
                "discharge_time": "NGAY_RA",
                "visit_type": "MA_LOAI_KCB",
                "primary_dx": ["MA_BENH_CHINH", "MA_BENH"],
                "secondary_dx": ["MA_BENH_KT", "MA_BENHKHAC"],
                "total_cost": ["T_TONGCHI_BH", "T_TONGCHI"],
                "insurance_paid": "T_BHTT",
                "drug_cost": "T_THUOC",
                "supply_cost": "T_VTYT",
                "patient_birth_date": "NGAY_SINH",
                "patient_sex": "GIOI_TINH",
                "registered_facility_id": "MA_DKBD",
                "card_valid_from": "GT_THE_TU",
                "card_valid_to": "GT_THE_DEN",
                "doctor_id": "MA_BAC_SI",
                "department_id": "MA_KHOA",
                "referral_from": ["MA_NOI_DI", "MA_NOI_CHUYEN"],
                "outcome": "KET_QUA_DTRI",
                "sick_leave_days": "SO_NGAY_NGHI",
            },
            "values": {
                "visit_type": {
                    "01": "outpatient",
                    "02": "outpatient",
                    "03": "inpatient",
                    "04": "day_care",
                    "05": "outpatient",
                    "06": "outpatient",
                    "07": "outpatient",
                    "08": "outpatient",
                    "09": "inpatient",
                    "1": "outpatient",
                    "2": "day_care",
                    "3": "inpatient",
                },
                "patient_sex": {"1": "M", "2": "F", "3": "U"},
                "outcome": {
                    "1": "recovered",
                    "2": "improved",
                    "3": "unchanged",
                    "4": "worse",
                    "5": "died",
                    "6": "worse",
                    "7": "unknown",
                    "8": "died",
                },
            },
            "date_formats": {
                "admit_time": DATETIME,
                "discharge_time": DATETIME,
                "patient_birth_date": DATE,
                "card_valid_from": DATE,
                "card_valid_to": DATE,
            },
            "split": {
                "card_id": ";",
                "registered_facility_id": ";",
                "card_valid_from": ";",
                "card_valid_to": ";",
            },
        },
        "claim_lines": {
            "columns": {
                "claim_id": "MA_LK",
                "item_code": ["MA_THUOC", "MA_VAT_TU", "MA_DICH_VU"],
                "quantity": "SO_LUONG",
                "amount": ["THANH_TIEN_BH", "THANH_TIEN"],
                "doctor_id": "MA_BAC_SI",
                "order_time": "NGAY_YL",
            },
            "presence": {
                "line_type": {"MA_THUOC": "drug", "MA_VAT_TU": "supply", "MA_DICH_VU": "service"}
            },
            "date_formats": {"order_time": DATETIME},
        },
    },
}

XML130_MAPPING = Mapping.model_validate(XML130_MAPPING_DICT)

# Canonical code -> the 130 code the fixture writer emits.
VISIT_TYPE_CODES = {"outpatient": "01", "inpatient": "03", "day_care": "04"}
VISIT_TYPE_CODES_4210 = {"outpatient": "1", "day_care": "2", "inpatient": "3"}
SEX_CODES = {"M": "1", "F": "2", "U": "3"}
OUTCOME_CODES = {
    "recovered": "1",
    "improved": "2",
    "unchanged": "3",
    "worse": "4",
    "died": "5",
    "unknown": "7",
}
EXAM_GROUP = "13"  # MA_NHOM of the examination line that names the examining doctor
