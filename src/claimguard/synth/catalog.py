"""Built-in reference lists: provinces, ICD-10 conditions, drugs, services, supplies.

Small, hand-made catalogues in the shape of Vietnam's national lists. Prices are
rounded figures of the 2023-2024 insurance price schedule (Circular 22/2023/TT-BYT
for examinations, bed days and technical services; typical tender prices for
drugs and supplies) so that mean costs land where the fund's reports put them.

Service codes follow the MoH technical-service numbering ``CC.NNNN.NNNN`` whose
chapter says what the service is (22-24 lab tests, 18 imaging, 20-21 functional
tests / endoscopy, others procedures); examinations are ``02.1896``-style
two-part codes and bed days start with ``K``. :func:`service_kind` maps a code to
its kind with these rules, so features can tell tests from imaging from bed days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# 63 provinces (codes as on card numbers / facility codes) with population in millions.
PROVINCES: tuple[tuple[str, float], ...] = (
    ("01", 8.4), ("02", 0.9), ("04", 0.55), ("06", 0.33), ("08", 0.8), ("10", 0.78),
    ("11", 0.64), ("12", 0.49), ("14", 1.28), ("15", 0.84), ("17", 0.87), ("19", 1.33),
    ("20", 0.8), ("22", 1.36), ("24", 1.9), ("25", 1.5), ("26", 1.2), ("27", 1.5),
    ("30", 1.95), ("31", 2.1), ("33", 1.3), ("34", 1.9), ("35", 0.87), ("36", 1.88),
    ("37", 1.0), ("38", 3.7), ("40", 3.4), ("42", 1.3), ("44", 0.92), ("45", 0.65),
    ("46", 1.15), ("48", 1.2), ("49", 1.5), ("51", 1.25), ("52", 1.5), ("54", 0.9),
    ("56", 1.25), ("58", 0.6), ("60", 1.25), ("62", 0.56), ("64", 1.6), ("66", 1.9),
    ("67", 0.67), ("68", 1.33), ("70", 1.0), ("72", 1.2), ("74", 2.7), ("75", 3.2),
    ("77", 1.2), ("79", 9.4), ("80", 1.7), ("82", 1.8), ("83", 1.3), ("84", 1.0),
    ("86", 1.0), ("87", 1.6), ("89", 1.9), ("91", 1.75), ("92", 1.25), ("93", 0.73),
    ("94", 1.2), ("95", 0.9), ("96", 1.2),
)  # fmt: skip
PROVINCE_CODES = np.array([p for p, _ in PROVINCES])
PROVINCE_POP = np.array([w for _, w in PROVINCES])
# Provinces hosting central (national) hospitals: Hanoi, Ho Chi Minh City, Hue.
CENTRAL_PROVINCES = ("01", "79", "46")

TIER_NAMES = ("central", "provincial", "district", "commune", "private")
CENTRAL, PROVINCIAL, DISTRICT, COMMUNE, PRIVATE = range(5)

# Age bands used by condition weights and prevalences.
AGE_BANDS = np.array([0, 6, 18, 40, 65, 200])  # [0,6) [6,18) [18,40) [40,65) [65,..)
N_BANDS = 5


@dataclass(frozen=True)
class Condition:
    """An ICD-10 condition and how it is treated.

    ``weight`` is the relative acute incidence per age band (0 = never seen in that
    band); ``sex`` limits it (``A`` any); ``p_inpatient`` at a district hospital
    (tiers scale it); ``los`` mean stay; lab/img mean tests and imaging per visit;
    ``drugs`` mean drug lines and the drug classes they come from; ``supply`` mean
    supply lines; ``procedure`` a service code always billed (surgery, delivery).
    """

    code: str
    weight: tuple[float, float, float, float, float]
    sex: str = "A"
    p_inpatient: float = 0.0
    los: float = 0.0
    lab: float = 0.3
    img: float = 0.1
    drugs: float = 2.5
    classes: tuple[str, ...] = ("analgesic",)
    supply: float = 0.1
    procedure: str = ""
    dept: str = "K03"


_W0 = (0.0, 0.0, 0.0, 0.0, 0.0)
CONDITIONS: tuple[Condition, ...] = (
    # acute outpatient-type conditions
    Condition("J06.9", (30, 18, 11, 7, 5), p_inpatient=0.01, los=3, lab=0.2, img=0.03, drugs=3, classes=("antibiotic", "analgesic", "antihist", "vitamin"), dept="K15"),
    Condition("J20.9", (10, 6, 4, 6, 8), p_inpatient=0.05, los=5, lab=0.6, img=0.35, drugs=3.2, classes=("antibiotic", "analgesic", "mucolytic"), dept="K03"),
    Condition("J21.9", (6, 0, 0, 0, 0), p_inpatient=0.25, los=5, lab=0.8, img=0.5, drugs=2.5, classes=("mucolytic", "antibiotic", "fluid"), dept="K17"),
    Condition("J18.9", (3, 1, 0.8, 1.5, 5), p_inpatient=0.5, los=7, lab=2.2, img=1.0, drugs=4, classes=("antibiotic_iv", "antibiotic", "fluid", "analgesic"), supply=0.8, dept="K03"),
    Condition("A09", (12, 5, 3.5, 2.5, 3), p_inpatient=0.06, los=3, lab=0.5, img=0.1, drugs=3, classes=("ors", "antidiarrheal", "probiotic"), dept="K03"),
    Condition("B08.4", (4, 0.4, 0, 0, 0), p_inpatient=0.08, los=4, lab=0.5, drugs=2, classes=("analgesic", "vitamin"), dept="K17"),
    Condition("A90", (0.3, 2, 2, 1, 0.4), p_inpatient=0.35, los=4, lab=2.5, img=0.3, drugs=2, classes=("analgesic", "fluid", "ors"), dept="K03"),
    Condition("K29.7", (0, 1.5, 7, 8, 6), p_inpatient=0.02, los=4, lab=0.3, img=0.35, drugs=3, classes=("ppi", "antacid", "antispasm"), dept="K03"),
    Condition("K35.8", (0.1, 0.8, 0.8, 0.4, 0.2), p_inpatient=0.96, los=5, lab=3, img=1.3, drugs=4, classes=("antibiotic_iv", "analgesic", "fluid"), supply=3, procedure="10.0558.0501", dept="K23"),
    Condition("K80.2", (0, 0, 0.3, 0.8, 0.8), p_inpatient=0.4, los=6, lab=2.5, img=1.3, drugs=3, classes=("antispasm", "analgesic", "antibiotic_iv"), supply=1, procedure="10.0600.0512", dept="K23"),
    Condition("M54.5", (0, 0.3, 4, 7, 6), p_inpatient=0.02, los=6, lab=0.1, img=0.35, drugs=3, classes=("nsaid", "muscle", "vitamin", "enzyme"), dept="K03"),
    Condition("S82.2", (0.3, 1.5, 1.2, 1, 1.5), p_inpatient=0.5, los=7, lab=1.5, img=1.8, drugs=3, classes=("analgesic", "antibiotic_iv", "enzyme"), supply=3, procedure="10.0913.0569", dept="K24"),
    Condition("S61.0", (0.8, 2, 2, 1.2, 0.5), p_inpatient=0.01, los=2, lab=0.05, img=0.1, drugs=2.5, classes=("antibiotic", "analgesic", "enzyme"), supply=2, procedure="03.3911.0207", dept="K24"),
    Condition("R51", (0, 1, 3, 3, 2), p_inpatient=0.01, los=2, lab=0.3, img=0.1, drugs=2, classes=("analgesic", "vitamin"), dept="K03"),
    Condition("H10.9", (3, 2, 1.5, 1, 1), lab=0.0, img=0.0, drugs=2, classes=("eyedrop", "antihist"), dept="K31"),
    Condition("L23.9", (2, 1.5, 2, 1.5, 1), lab=0.05, img=0.0, drugs=2.5, classes=("antihist", "topical", "vitamin"), dept="K30"),
    Condition("N39.0", (0.4, 0.5, 2, 2, 3), p_inpatient=0.05, los=5, lab=1.2, img=0.4, drugs=2.5, classes=("antibiotic", "analgesic"), dept="K03"),
    Condition("F32.9", (0, 0.2, 1, 1, 0.5), lab=0.2, img=0.0, drugs=2, classes=("psych", "vitamin"), dept="K21"),
    Condition("I63.9", (0, 0, 0.04, 0.5, 2), p_inpatient=0.9, los=10, lab=3.5, img=1.6, drugs=5, classes=("antiplatelet", "fluid", "statin", "antihyp", "neuro"), supply=1.5, dept="K03"),
    Condition("I21.9", (0, 0, 0.02, 0.25, 0.7), p_inpatient=0.95, los=8, lab=4, img=1.5, drugs=5, classes=("antiplatelet", "statin", "antihyp", "fluid"), supply=2, procedure="21.0014.1778", dept="K03"),
    # sex-specific conditions
    Condition("N76.0", (0, 0.2, 3, 2, 0.3), sex="F", lab=0.4, img=0.3, drugs=2, classes=("antibiotic", "topical"), dept="K19"),
    Condition("N92.0", (0, 0.3, 1.5, 1, 0), sex="F", lab=0.4, img=0.6, drugs=2, classes=("hormone", "iron"), dept="K19"),
    Condition("N95.1", (0, 0, 0, 1.5, 0.5), sex="F", lab=0.3, img=0.4, drugs=2, classes=("hormone", "vitamin"), dept="K19"),
    Condition("N40", (0, 0, 0, 1, 3), sex="M", p_inpatient=0.04, los=6, lab=0.8, img=0.7, drugs=2, classes=("urology",), dept="K03"),
    # chronic conditions (refills); their acute weight covers exacerbation visits
    Condition("I10", (0, 0, 0.1, 1, 2), p_inpatient=0.02, los=5, lab=0.25, img=0.05, drugs=2.5, classes=("antihyp",), dept="K03"),
    Condition("E11.9", (0, 0, 0.05, 0.5, 0.8), p_inpatient=0.03, los=6, lab=0.45, img=0.05, drugs=2, classes=("antidiab",), dept="K03"),
    Condition("E78.5", (0, 0, 0.02, 0.3, 0.4), lab=0.3, img=0.0, drugs=1, classes=("statin",), dept="K03"),
    Condition("J44.9", (0, 0, 0.01, 0.3, 1.2), p_inpatient=0.2, los=8, lab=0.8, img=0.5, drugs=3, classes=("inhaler", "mucolytic", "antibiotic"), dept="K03"),
    Condition("I25.9", (0, 0, 0.01, 0.3, 1), p_inpatient=0.06, los=7, lab=0.4, img=0.2, drugs=3, classes=("antiplatelet", "statin", "antihyp"), dept="K03"),
    Condition("J45.9", (0.5, 0.8, 0.4, 0.3, 0.3), p_inpatient=0.08, los=4, lab=0.2, img=0.2, drugs=2, classes=("inhaler", "mucolytic"), dept="K03"),
    Condition("M17.9", (0, 0, 0.05, 1, 1.5), lab=0.05, img=0.3, drugs=3, classes=("nsaid", "enzyme", "vitamin", "joint"), dept="K03"),
    Condition("B18.1", (0, 0.05, 0.3, 0.3, 0.1), lab=0.6, img=0.2, drugs=1, classes=("antiviral",), dept="K03"),
    Condition("N18.3", (0, 0, 0.02, 0.1, 0.3), lab=0.6, img=0.1, drugs=2, classes=("antihyp", "iron"), dept="K03"),
    Condition("F20.9", (0, 0.05, 0.2, 0.2, 0.05), lab=0.05, img=0.0, drugs=2, classes=("psych",), dept="K21"),
    # special care
    Condition("Z34.9", _W0, sex="F", lab=0.5, img=0.9, drugs=1, classes=("prenatal",), dept="K19"),
    Condition("O80", _W0, sex="F", p_inpatient=1, los=2.5, lab=2, img=1, drugs=3, classes=("oxytocic", "antibiotic", "prenatal"), supply=2, procedure="13.0091.0660", dept="K19"),
    Condition("O82", _W0, sex="F", p_inpatient=1, los=5, lab=3, img=1, drugs=4, classes=("oxytocic", "antibiotic_iv", "fluid", "analgesic"), supply=4, procedure="13.0017.0628", dept="K19"),
    Condition("N18.5", _W0, lab=0.3, img=0.0, drugs=0, classes=("epo",), supply=0, procedure="02.0152.0219", dept="K05"),
    Condition("C50.9", _W0, sex="F", lab=1.5, img=0.3, drugs=3, classes=("chemo", "antiemetic", "fluid"), supply=2, procedure="12.0325.2047", dept="K26"),
    Condition("C34.9", _W0, lab=1.5, img=0.4, drugs=3, classes=("chemo", "antiemetic", "fluid"), supply=2, procedure="12.0325.2047", dept="K26"),
    Condition("C18.9", _W0, lab=1.5, img=0.3, drugs=3, classes=("chemo", "antiemetic", "fluid"), supply=2, procedure="12.0325.2047", dept="K26"),
    Condition("C22.0", _W0, lab=1.5, img=0.4, drugs=3, classes=("chemo", "antiemetic", "fluid"), supply=2, procedure="12.0325.2047", dept="K26"),
    Condition("Z51.1", _W0, dept="K26"),
    Condition("D63.8", _W0),
    # rare but legal conditions, only given by Population.rare_dx_share (never drawn acutely)
    Condition("M10.9", _W0, lab=1.0, img=0.3, drugs=2.5, classes=("nsaid", "analgesic"), dept="K03"),
    Condition("M81.9", _W0, lab=0.6, img=1.0, drugs=2, classes=("vitamin", "joint"), dept="K03"),
)  # fmt: skip
DX_CODES = np.array([c.code for c in CONDITIONS])
DX_INDEX = {c.code: i for i, c in enumerate(CONDITIONS)}
N_DX = len(CONDITIONS)

# Chronic conditions managed by monthly refills, with prevalence per age band.
CHRONIC: tuple[tuple[str, tuple[float, float, float, float, float]], ...] = (
    ("I10", (0, 0, 0.012, 0.16, 0.42)),
    ("E11.9", (0, 0, 0.006, 0.065, 0.15)),
    ("E78.5", (0, 0, 0.005, 0.06, 0.12)),
    ("J44.9", (0, 0, 0.001, 0.02, 0.08)),
    ("I25.9", (0, 0, 0.001, 0.02, 0.08)),
    ("J45.9", (0.008, 0.02, 0.01, 0.01, 0.02)),
    ("M17.9", (0, 0, 0.002, 0.04, 0.12)),
    ("B18.1", (0, 0.003, 0.02, 0.02, 0.01)),
    ("N18.3", (0, 0, 0.002, 0.01, 0.04)),
    ("F20.9", (0, 0.001, 0.004, 0.004, 0.002)),
)
CHRONIC_DX = np.array([DX_INDEX[c] for c, _ in CHRONIC], dtype=np.int16)
CHRONIC_PREV = np.array([p for _, p in CHRONIC])  # (n_chronic, N_BANDS)
CANCERS_F = np.array([DX_INDEX[c] for c in ("C50.9", "C34.9", "C18.9", "C22.0")], dtype=np.int16)
CANCERS_M = np.array([DX_INDEX[c] for c in ("C34.9", "C18.9", "C22.0")], dtype=np.int16)

# Conditions that do not fit a card holder: sex-specific, pregnancy, old-age chronic.
FEMALE_ONLY = np.array([DX_INDEX[c] for c in ("N76.0", "N92.0", "N95.1", "Z34.9", "O80", "O82", "C50.9")], dtype=np.int16)  # fmt: skip
MALE_ONLY = np.array([DX_INDEX["N40"]], dtype=np.int16)
ADULT_ONLY = np.array([DX_INDEX[c] for c in ("I10", "E11.9", "J44.9", "I25.9", "M17.9", "N40", "N95.1", "I63.9")], dtype=np.int16)  # fmt: skip


@dataclass(frozen=True)
class Item:
    """A drug, service or supply: code, class/kind, unit price (VND), units per day."""

    code: str
    group: str
    price: float
    per_day: float = 1.0


DRUGS: tuple[Item, ...] = (
    Item("40.30", "antibiotic", 1_100, 2), Item("40.42", "antibiotic", 5_800, 2),
    Item("40.61", "antibiotic", 2_300, 2), Item("40.50", "antibiotic_iv", 24_000, 2),
    Item("40.52", "antibiotic_iv", 38_000, 2), Item("40.5", "analgesic", 250, 3),
    Item("40.7", "analgesic", 900, 2), Item("40.11", "nsaid", 650, 2),
    Item("40.13", "nsaid", 1_500, 1), Item("40.18", "antihist", 350, 1),
    Item("40.20", "antihist", 900, 1), Item("40.991", "mucolytic", 700, 3),
    Item("40.990", "mucolytic", 1_200, 2), Item("40.1012", "ors", 2_500, 3),
    Item("40.700", "antidiarrheal", 1_300, 3), Item("40.1024", "probiotic", 2_200, 2),
    Item("40.677", "ppi", 900, 1), Item("40.680", "ppi", 3_500, 1),
    Item("40.655", "antacid", 2_800, 3), Item("40.692", "antispasm", 1_400, 3),
    Item("40.1039", "vitamin", 300, 2), Item("40.1050", "vitamin", 600, 1),
    Item("40.64", "enzyme", 950, 3), Item("40.425", "muscle", 1_800, 2),
    Item("40.1006", "fluid", 12_000, 2), Item("40.1008", "fluid", 15_500, 1),
    Item("40.484", "antihyp", 1_500, 1), Item("40.473", "antihyp", 3_200, 1),
    Item("40.456", "antihyp", 5_800, 1), Item("40.747", "antidiab", 2_200, 2),
    Item("40.743", "antidiab", 1_800, 1), Item("40.770", "antidiab", 125_000, 0.1),
    Item("40.517", "statin", 2_500, 1), Item("40.521", "statin", 6_500, 1),
    Item("40.978", "inhaler", 80_000, 0.05), Item("40.985", "inhaler", 260_000, 0.034),
    Item("40.511", "antiplatelet", 700, 1), Item("40.513", "antiplatelet", 9_000, 1),
    Item("40.402", "neuro", 6_500, 2), Item("40.1066", "joint", 4_200, 2),
    Item("40.1112", "eyedrop", 28_000, 0.1), Item("40.1210", "topical", 18_000, 0.1),
    Item("40.840", "psych", 1_900, 2), Item("40.852", "psych", 5_200, 1),
    Item("40.820", "hormone", 3_600, 1), Item("40.780", "urology", 5_900, 1),
    Item("40.227", "antiviral", 8_500, 1), Item("40.600", "iron", 1_600, 1),
    Item("40.604", "prenatal", 1_900, 1), Item("40.792", "oxytocic", 9_000, 2),
    Item("40.613", "epo", 260_000, 0.15), Item("40.368", "chemo", 2_400_000, 1),
    Item("40.352", "chemo", 1_650_000, 1), Item("40.380", "chemo", 4_300_000, 1),
    Item("40.701", "antiemetic", 16_000, 2),
)  # fmt: skip

SERVICES: tuple[Item, ...] = (
    # examinations (price by tier below) and bed days
    Item("02.1896", "exam", 41_100), Item("K03.1906", "bed", 200_000),
    # lab tests (chapters 22-24)
    Item("22.0120.1370", "lab", 46_200), Item("23.0075.1494", "lab", 21_500),
    Item("23.0083.1523", "lab", 101_000), Item("23.0051.1494", "lab", 21_500),
    Item("23.0019.1493", "lab", 21_500), Item("23.0020.1493", "lab", 21_500),
    Item("23.0041.1506", "lab", 26_900), Item("23.0058.1487", "lab", 29_000),
    Item("23.0166.1596", "lab", 27_400), Item("22.0002.1311", "lab", 53_800),
    Item("24.0001.1714", "lab", 81_000), Item("22.0280.1369", "lab", 40_400),
    # imaging (chapter 18)
    Item("18.0001.0001", "imaging", 43_900), Item("18.0068.0028", "imaging", 65_400),
    Item("18.0119.0028", "imaging", 65_400), Item("18.0200.0041", "imaging", 536_000),
    Item("18.0231.0041", "imaging", 970_000), Item("18.0288.0045", "imaging", 2_300_000),
    # functional tests / endoscopy (chapters 20-21)
    Item("21.0014.1778", "functional", 32_800), Item("20.0080.0131", "functional", 244_000),
    # procedures (surgery, obstetrics, dialysis, chemotherapy infusion, dressing)
    Item("10.0558.0501", "procedure", 2_950_000), Item("10.0600.0512", "procedure", 4_100_000),
    Item("10.0913.0569", "procedure", 3_900_000), Item("03.3911.0207", "procedure", 182_000),
    Item("13.0091.0660", "procedure", 706_000), Item("13.0017.0628", "procedure", 2_950_000),
    Item("02.0152.0219", "procedure", 543_000), Item("12.0325.2047", "procedure", 165_000),
)  # fmt: skip

SUPPLIES: tuple[Item, ...] = (
    Item("N03.01.070", "basic", 1_200), Item("N03.02.040", "basic", 2_600),
    Item("N04.01.020", "basic", 3_100), Item("N03.05.010", "basic", 8_500),
    Item("N03.05.030", "basic", 6_200), Item("N05.02.050", "basic", 15_000),
    Item("N07.01.110", "surgical", 42_000), Item("N06.04.030", "surgical", 480_000),
    Item("N06.04.120", "implant", 4_800_000), Item("N04.03.010", "dialysis", 265_000),
    Item("N04.03.020", "dialysis", 118_000),
)  # fmt: skip

# Price of one examination and one bed day by tier (central..private), VND.
EXAM_PRICE = np.array([50_600, 50_600, 41_100, 38_700, 45_000], dtype=np.float64)
BED_PRICE = np.array([299_000, 243_000, 187_000, 120_000, 216_000], dtype=np.float64)
# Tests and imaging per visit relative to district hospitals.
TIER_TEST_FACTOR = np.array([2.0, 1.6, 1.0, 0.25, 1.1])
TIER_IMG_FACTOR = np.array([2.2, 1.6, 1.0, 0.1, 1.0])
# Inpatient probability and stay length relative to district hospitals.
TIER_INPATIENT_FACTOR = np.array([1.6, 1.35, 1.0, 0.08, 0.6])
TIER_LOS_FACTOR = np.array([1.35, 1.15, 1.0, 0.8, 0.8])
# Share paid by the fund by benefit level 1..5.
BENEFIT_SHARE = np.array([0.0, 1.0, 1.0, 0.95, 0.8, 1.0])

# Beneficiary groups: (code, benefit level, age_lo, age_hi, weight)
GROUPS: tuple[tuple[str, int, int, int, float], ...] = (
    ("TE", 1, 0, 5, 1.0),
    ("HS", 4, 6, 22, 0.8),
    ("DN", 4, 18, 60, 0.55),
    ("HC", 4, 22, 60, 0.08),
    ("HT", 3, 55, 120, 0.35),
    ("CN", 2, 0, 120, 0.07),
    ("HN", 3, 0, 120, 0.05),
    ("CB", 2, 60, 120, 0.05),
    ("GD", 4, 0, 120, 0.45),
)
GROUP_CODES = np.array([g[0] for g in GROUPS])
GROUP_LEVEL = np.array([g[1] for g in GROUPS], dtype=np.int8)
EMPLOYED_GROUPS = np.array([i for i, g in enumerate(GROUPS) if g[0] in ("DN", "HC")])


def _pool(items: tuple[Item, ...], key: str) -> np.ndarray:
    return np.array([i for i, it in enumerate(items) if it.group == key], dtype=np.int16)


DRUG_CODES = np.array([d.code for d in DRUGS])
DRUG_PRICE = np.array([d.price for d in DRUGS])
DRUG_PER_DAY = np.array([d.per_day for d in DRUGS])
SERVICE_CODES = np.array([s.code for s in SERVICES])
SERVICE_PRICE = np.array([s.price for s in SERVICES])
SUPPLY_CODES = np.array([s.code for s in SUPPLIES])
SUPPLY_PRICE = np.array([s.price for s in SUPPLIES])
SERVICE_INDEX = {s.code: i for i, s in enumerate(SERVICES)}
SUPPLY_INDEX = {s.code: i for i, s in enumerate(SUPPLIES)}
LAB_POOL = _pool(SERVICES, "lab")
IMG_POOL = np.concatenate([_pool(SERVICES, "imaging"), _pool(SERVICES, "functional")])
# Cheap imaging dominates; CT/MRI are rare and mostly at higher tiers.
IMG_WEIGHT = np.array([0.34, 0.22, 0.1, 0.04, 0.015, 0.005, 0.2, 0.08])
BASIC_SUPPLY = _pool(SUPPLIES, "basic")
SURGICAL_SUPPLY = _pool(SUPPLIES, "surgical")


def drug_classes() -> tuple[np.ndarray, np.ndarray]:
    """CSR of drug indices per condition: (offsets (N_DX+1,), drug indices)."""
    lists = []
    for c in CONDITIONS:
        idx = [i for i, d in enumerate(DRUGS) if d.group in c.classes]
        lists.append(idx)
    offsets = np.zeros(N_DX + 1, dtype=np.int32)
    offsets[1:] = np.cumsum([len(x) for x in lists])
    return offsets, np.array([i for x in lists for i in x], dtype=np.int16)


def condition_array(attr: str) -> np.ndarray:
    """One attribute of every condition as an array indexed by dx code."""
    return np.array([getattr(c, attr) for c in CONDITIONS])


_EXAM = re.compile(r"^\d{2}\.\d{4}$")


def service_kind(code: str) -> str:
    """Kind of a service code: exam, bed, lab, imaging, functional or procedure."""
    if code.startswith("K"):
        return "bed"
    if _EXAM.match(code):
        return "exam"
    chapter = code[:2]
    if chapter in ("22", "23", "24"):
        return "lab"
    if chapter == "18":
        return "imaging"
    if chapter in ("20", "21"):
        return "functional"
    return "procedure"
