"""Classify claim lines: exam, bed day, lab test, imaging, other service, drug, supply.

Why: "tests per visit" must mean the same thing on any fund's data, not only on the
codes our generator happens to use. The rules, in order (first match wins):

1. ``line_type`` decides drug and supply lines outright.
2. Service lines are classified by their ``item_code`` (upper-cased, spaces removed):
   * Vietnamese MoH technical-service codes ``CC.NNNN.NNNN`` (Circulars 43/2013,
     21/2017, price list 22/2023) by chapter ``CC``: 22-25 (haematology, biochemistry,
     microbiology, pathology) are lab tests; 18-21 (radiology, nuclear medicine,
     endoscopy, functional exploration) are imaging; other chapters are other services
     (procedures, surgery, dialysis, therapy);
   * two-part MoH codes ``NN.NNNN`` (``02.1896``) are examinations; ``K`` + department
     number (``K03.1906``) is a bed day;
   * a leading word followed by a non-letter or the end: exam ``KB KHAM EXAM CONS
     CONSULT VISIT``; bed day ``GB GIUONG BED``; lab test ``XN XETNGHIEM LAB TEST
     LOINC``; imaging ``CDHA IMG IMAGING XQ XRAY SA SIEUAM CT MRI US RAD``;
   * numbering standards: a LOINC code (``12345-6``) is a lab test; a five-digit CPT
     code 70010-79999 is imaging, 80047-89398 a lab test, 99201-99499 an exam;
   * anything else is ``other_service``: counted as a service, never as a test.
3. Drug class (for supply logic): an ATC code gives its level-4 group (``C09AA``), or
   level 3 (``C09A``) when shorter. Other drug codes (national lists number products,
   not classes) are grouped by the 3-character ICD-10 diagnosis of the claim that
   dispensed them: drugs dispensed for the same condition count as one class.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CLASSES: tuple[str, ...] = (
    "drug",
    "supply",
    "exam",
    "bed_day",
    "lab_test",
    "imaging",
    "other_service",
)
DRUG, SUPPLY, EXAM, BED_DAY, LAB_TEST, IMAGING, OTHER_SERVICE = range(len(CLASSES))

_WORDS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (EXAM, ("KB", "KHAM", "EXAM", "CONS", "CONSULT", "VISIT")),
    (BED_DAY, ("GB", "GIUONG", "BED")),
    (LAB_TEST, ("XN", "XETNGHIEM", "LAB", "TEST", "LOINC")),
    (IMAGING, ("CDHA", "IMG", "IMAGING", "XQ", "XRAY", "SA", "SIEUAM", "CT", "MRI", "US", "RAD")),
)
_CPT_RANGES: tuple[tuple[int, int, int], ...] = (
    (70010, 79999, IMAGING),
    (80047, 89398, LAB_TEST),
    (99201, 99499, EXAM),
)


_MOH_CHAPTERS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("22", "23", "24", "25"), LAB_TEST),
    (("18", "19", "20", "21"), IMAGING),
)


def classify_service_codes(codes: np.ndarray) -> np.ndarray:
    """Class id (EXAM .. OTHER_SERVICE) of each distinct service code."""
    s = pd.Series(np.asarray(codes, dtype=object)).fillna("").astype(str)
    s = s.str.upper().str.replace(" ", "", regex=False)
    out = np.full(len(s), OTHER_SERVICE, dtype=np.int8)
    done = np.zeros(len(s), dtype=bool)
    moh = s.str.fullmatch(r"\d{2}\.\d{4}\.\d{4}").to_numpy()
    chapter = s.str[:2].to_numpy()
    for chapters, cls in _MOH_CHAPTERS:
        hit = moh & np.isin(chapter, chapters)
        out[hit] = cls
        done |= hit
    done |= moh  # other chapters: procedures and therapy
    exam = ~done & s.str.fullmatch(r"\d{2}\.\d{4}").to_numpy()
    out[exam] = EXAM
    bed = ~done & ~exam & s.str.match(r"^K\d{2}\.").to_numpy()
    out[bed] = BED_DAY
    done |= exam | bed
    for cls, words in _WORDS:
        pattern = r"^(?:" + "|".join(sorted(words, key=len, reverse=True)) + r")(?![A-Z])"
        hit = ~done & s.str.contains(pattern, regex=True).to_numpy()
        out[hit] = cls
        done |= hit
    loinc = ~done & s.str.fullmatch(r"\d{1,5}-\d").to_numpy()
    out[loinc] = LAB_TEST
    done |= loinc
    num = pd.to_numeric(s.where(s.str.fullmatch(r"\d{5}")), errors="coerce").to_numpy()
    for lo, hi, cls in _CPT_RANGES:
        hit = ~done & (num >= lo) & (num <= hi)
        out[hit] = cls
        done |= hit
    return out


def drug_classes(codes: np.ndarray) -> np.ndarray:
    """ATC class label (level 4, else 3) of each distinct drug code; '' when not ATC."""
    s = pd.Series(np.asarray(codes, dtype=object)).fillna("").astype(str)
    s = s.str.upper().str.replace(" ", "", regex=False)
    atc4 = s.str.match(r"^[A-V]\d\d[A-Z][A-Z]").to_numpy()
    atc3 = s.str.match(r"^[A-V]\d\d[A-Z]").to_numpy()
    return np.where(atc4, s.str[:5], np.where(atc3, s.str[:4], "")).astype(object)
