"""Tiny valid canonical tables for io tests (seeded; no dependency on the synth area)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from claimguard.io.coerce import canonical_dtype
from claimguard.io.compact import encode_repetitive
from claimguard.schema import TABLES
from claimguard.tables import Dataset


def _typed(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Canonical dtypes, repetitive codes as categoricals: what ``load_dataset`` returns."""
    t = TABLES[table]
    typed = pd.DataFrame(
        {c: df[c].astype(canonical_dtype(t.column(c))) for c in t.names if c in df}
    )
    return encode_repetitive(typed, table)


def make_dataset(n: int = 40, seed: int = 0, *, with_doctor_exam: bool = True) -> Dataset:
    """``n`` valid claims with 1-3 lines each, facilities and cards, canonical dtypes.

    When ``with_doctor_exam`` every claim's doctor has a service line (the XML exam line),
    so the claim's doctor_id survives an XML round trip without an added line.
    """
    rng = np.random.default_rng(seed)
    n_cards, n_fac = max(2, n // 3), max(2, n // 10)
    cards = [f"HS40{rng.integers(10**10, 10**11 - 1)}" for _ in range(n_cards)]
    facs = [f"{79000 + i:05d}" for i in range(n_fac)]
    admit = pd.Timestamp("2024-01-01 07:00") + pd.to_timedelta(
        rng.integers(0, 30 * 24 * 60, n), unit="min"
    )
    stay = pd.to_timedelta(rng.integers(0, 5 * 24 * 60, n), unit="min")
    birth = pd.Timestamp("1950-01-01") + pd.to_timedelta(rng.integers(0, 60 * 365, n), unit="D")
    card_idx = rng.integers(0, n_cards, n)
    claims = pd.DataFrame(
        {
            "claim_id": [f"LK{i:07d}" for i in range(n)],
            "card_id": np.array(cards)[card_idx],
            "facility_id": rng.choice(facs, n),
            "admit_time": admit,
            "discharge_time": admit + stay,
            "visit_type": rng.choice(["outpatient", "inpatient", "day_care"], n),
            "primary_dx": rng.choice(["J06.9", "E11", "I10", "K29.7"], n),
            "secondary_dx": rng.choice(["", "I10", "E11;I10"], n),
            "total_cost": rng.integers(1, 5_000_000, n).astype(float),
            "insurance_paid": rng.integers(0, 1_000_000, n).astype(float),
            "drug_cost": rng.integers(0, 1_000_000, n).astype(float),
            "supply_cost": rng.integers(0, 100_000, n).astype(float),
            "patient_birth_date": birth.normalize(),
            "patient_sex": rng.choice(["M", "F", "U"], n),
            "registered_facility_id": rng.choice(facs, n),
            "card_valid_from": pd.Timestamp("2024-01-01"),
            "card_valid_to": pd.Timestamp("2024-12-31"),
            "doctor_id": rng.choice(["BS001", "BS002", "BS003"], n),
            "department_id": rng.choice(["K01", "K02"], n),
            "referral_from": rng.choice(["", "01001"], n),
            "outcome": rng.choice(["recovered", "improved", "unknown"], n),
        }
    )
    for c in ("secondary_dx", "referral_from"):
        claims[c] = claims[c].replace("", None)
    per = rng.integers(1, 4, n)
    cid = np.repeat(claims["claim_id"].to_numpy(), per)
    m = len(cid)
    kinds = rng.choice(["drug", "service", "supply"], m)
    lines = pd.DataFrame(
        {
            "claim_id": cid,
            "line_type": kinds,
            "item_code": np.where(
                kinds == "drug", "40.17", np.where(kinds == "supply", "N01", "18.0001")
            ),
            "quantity": rng.integers(1, 30, m).astype(float),
            "amount": rng.integers(0, 500_000, m).astype(float),
            "doctor_id": rng.choice(["BS001", "BS002", "BS003"], m),
            "order_time": np.repeat(admit.to_numpy(), per),
        }
    )
    if with_doctor_exam:
        exam = pd.DataFrame(
            {
                "claim_id": claims["claim_id"],
                "line_type": "service",
                "item_code": "02.1896",
                "quantity": 1.0,
                "amount": 38_700.0,
                "doctor_id": claims["doctor_id"],
                "order_time": claims["admit_time"],
            }
        )
        lines = pd.concat([exam, lines], ignore_index=True)
    facilities = pd.DataFrame(
        {
            "facility_id": facs,
            "province": rng.choice(["79", "01"], n_fac),
            "tier": rng.choice(["district", "provincial"], n_fac),
            "kind": "hospital",
            "beds": rng.integers(10, 500, n_fac).astype(float),
        }
    )
    card_frame = pd.DataFrame(
        {
            "card_id": cards,
            "birth_date": pd.Timestamp("1980-05-01"),
            "sex": rng.choice(["M", "F"], n_cards),
            "province": "79",
            "registered_facility_id": rng.choice(facs, n_cards),
            "valid_from": pd.Timestamp("2024-01-01"),
            "valid_to": pd.Timestamp("2024-12-31"),
            "death_date": pd.NaT,
        }
    )
    return Dataset(
        claims=_typed(claims, "claims"),
        claim_lines=_typed(lines, "claim_lines"),
        facilities=_typed(facilities, "facilities"),
        cards=_typed(card_frame, "cards"),
    )


def write_folder(ds: Dataset, folder, fmt: str = "csv") -> None:
    """Write the tables of ``ds`` into ``folder`` as CSV or Parquet."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("claims", "claim_lines", "facilities", "cards"):
        df = ds.table(name)
        if df is None:
            continue
        if fmt == "csv":
            df.to_csv(folder / f"{name}.csv", index=False)
        else:
            df.to_parquet(folder / f"{name}.parquet", index=False)
