"""Clinical reference rules: diagnosis groups and sex-/age-specific ICD-10 ranges.

Why: a borrowed card shows itself when the care does not fit the card holder (a man
in antenatal care, a child with prostate disease). The table is small, built in and
deliberately conservative: ranges ICD-10 marks as sex- or age-specific, plus a few
adult diseases with a low age floor, so that a legitimate patient is hardly ever
flagged by a rule (softer oddities are left to the data-driven atypicality feature).
All functions work on the *distinct* codes of a column (a few thousand), never per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

NO_SEX = 0
FEMALE = 1
MALE = 2


@dataclass(frozen=True)
class DxRule:
    """ICD-10 3-character range [first, last] allowed only for one sex and/or an age span."""

    first: str
    last: str
    sex: int  # NO_SEX, FEMALE or MALE: the only sex the codes fit
    min_age: float
    max_age: float
    label: str


# Ranges compare on the normalised 3-character category ("O9A" sorts inside O00-O9A).
DX_RULES: tuple[DxRule, ...] = (
    # narrower rules first: the first matching rule decides
    DxRule("N40", "N40", MALE, 30.0, 200.0, "hyperplasia of prostate"),
    DxRule("N95", "N95", FEMALE, 30.0, 200.0, "menopausal and perimenopausal disorders"),
    DxRule("O00", "O9A", FEMALE, 10.0, 55.0, "pregnancy, childbirth and the puerperium"),
    DxRule("Z32", "Z36", FEMALE, 10.0, 55.0, "pregnancy test, supervision and antenatal screening"),
    DxRule("Z37", "Z39", FEMALE, 10.0, 55.0, "outcome of delivery and postpartum care"),
    DxRule("N70", "N98", FEMALE, 0.0, 200.0, "diseases of the female pelvic and genital organs"),
    DxRule("C51", "C58", FEMALE, 0.0, 200.0, "malignant neoplasms of female genital organs"),
    DxRule("D25", "D28", FEMALE, 0.0, 200.0, "benign neoplasms of female genital organs"),
    DxRule("E28", "E28", FEMALE, 0.0, 200.0, "ovarian dysfunction"),
    DxRule("N40", "N53", MALE, 0.0, 200.0, "diseases of the male genital organs (prostate, ...)"),
    DxRule("C60", "C63", MALE, 0.0, 200.0, "malignant neoplasms of male genital organs"),
    DxRule("D29", "D29", MALE, 0.0, 200.0, "benign neoplasms of male genital organs"),
    DxRule("E29", "E29", MALE, 0.0, 200.0, "testicular dysfunction"),
    DxRule("P00", "P96", NO_SEX, 0.0, 2.0, "conditions originating in the perinatal period"),
    DxRule("R54", "R54", NO_SEX, 40.0, 200.0, "age-related physical debility (senility)"),
    # adult diseases that do not occur (or are coded otherwise) in young children
    DxRule("I10", "I10", NO_SEX, 10.0, 200.0, "essential (primary) hypertension"),
    DxRule("E11", "E11", NO_SEX, 10.0, 200.0, "type 2 diabetes mellitus"),
    DxRule("I20", "I25", NO_SEX, 15.0, 200.0, "ischaemic heart diseases"),
    DxRule(
        "J43", "J44", NO_SEX, 15.0, 200.0, "emphysema and chronic obstructive pulmonary disease"
    ),
    DxRule("M15", "M19", NO_SEX, 15.0, 200.0, "arthrosis (osteoarthritis)"),
)


IMPOSSIBILITY_TABLE = "clinical_impossibility.csv"
_SEX_CODES = {"F": FEMALE, "M": MALE, "any": NO_SEX}


@cache
def impossibility_rules() -> tuple[DxRule, ...]:
    """The versioned, cited table of diagnoses a holder of the other sex or age cannot have.

    Read from ``claimguard/data/clinical_impossibility.csv`` (sources in its header). Unlike
    ``DX_RULES`` (which also holds near-impossible adult diseases in small children), a hit
    here contradicts the card holder outright. Ages are completed years, inclusive.
    """
    with resources.files("claimguard.data").joinpath(IMPOSSIBILITY_TABLE).open() as f:
        table = pd.read_csv(f, comment="#", dtype={"first": str, "last": str, "sex": str})
    rows = table.to_dict("records")
    return tuple(
        DxRule(
            str(r["first"]),
            str(r["last"]),
            _SEX_CODES[str(r["sex"])],
            float(r["min_age"]),
            float(r["max_age"]) + 1.0,  # completed years: max 64 = possible until 65
            str(r["label"]),
        )
        for r in rows
    )


def normalise_dx(codes: pd.Series | np.ndarray, width: int = 3) -> np.ndarray:
    """Upper-case ICD-10 code without dots, cut to ``width`` characters ('' if malformed).

    width 3 gives the category (``N18``), 4 the subcategory (``N185``: dialysis-stage
    kidney disease, not stage 3); a 3-character code stays 3 characters.
    """
    s = pd.Series(np.asarray(codes, dtype=object)).fillna("").astype(str)
    s = s.str.upper().str.replace(r"[^A-Z0-9]", "", regex=True)
    ok = s.str.match(r"^[A-Z][0-9][0-9A-Z]")
    return np.where(ok.to_numpy(), s.str[:width].to_numpy(dtype=object), "").astype(object)


def dx_constraints(
    categories: np.ndarray, rules: tuple[DxRule, ...] = DX_RULES
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For 3-character categories: (required sex, min age, max age) from ``rules``.

    Codes matching no rule get (NO_SEX, 0, 200), i.e. no constraint.
    """
    cats = np.asarray(categories, dtype=object).astype(str)
    sex = np.zeros(len(cats), dtype=np.int8)
    lo = np.zeros(len(cats), dtype=np.float32)
    hi = np.full(len(cats), 200.0, dtype=np.float32)
    done = np.zeros(len(cats), dtype=bool)
    valid = np.char.str_len(cats.astype("U3")) == 3 if len(cats) else np.zeros(0, bool)
    for rule in rules:
        hit = valid & ~done & (cats >= rule.first) & (cats <= rule.last)
        sex[hit] = rule.sex
        lo[hit] = rule.min_age
        hi[hit] = rule.max_age
        done |= hit
    return sex, lo, hi


def secondary_constraints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Combined constraints of ';'-joined secondary diagnosis strings (one entry per string).

    A string holding a female-only and a male-only code gets sex 3 (fits nobody).
    """
    vals = pd.Series(np.asarray(values, dtype=object)).fillna("").astype(str)
    exploded = vals.str.split(r"[;,]").explode()
    owner = exploded.index.to_numpy()
    s, lo, hi = dx_constraints(normalise_dx(exploded.to_numpy()))
    n = len(vals)
    fem = np.zeros(n, dtype=bool)
    mal = np.zeros(n, dtype=bool)
    np.logical_or.at(fem, owner, s == FEMALE)
    np.logical_or.at(mal, owner, s == MALE)
    min_age = np.zeros(n, dtype=np.float32)
    max_age = np.full(n, 200.0, dtype=np.float32)
    np.maximum.at(min_age, owner, lo)
    np.minimum.at(max_age, owner, hi)
    sex = np.where(fem & mal, 3, np.where(fem, FEMALE, np.where(mal, MALE, NO_SEX))).astype(np.int8)
    return sex, min_age, max_age


def chapter_of(categories: np.ndarray) -> np.ndarray:
    """Coarse diagnosis group: the ICD-10 letter (0..25), 26 when unknown."""
    cats = np.asarray(categories, dtype=object).astype(str)
    first = np.array([c[:1] for c in cats], dtype="U1") if len(cats) else np.zeros(0, "U1")
    codes = np.frombuffer(first.astype("S1"), dtype=np.uint8).astype(np.int16) - ord("A")
    codes = np.where((codes >= 0) & (codes < 26), codes, 26)
    return codes.astype(np.int16)
