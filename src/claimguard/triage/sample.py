"""A small, seeded scored folder in exactly the layout ``claimguard score`` writes.

Why: the triage app's tests and benchmark need alerts and evidence without training a
model. This is a fixture writer (like the XML 130 writer for the readers), not a
scorer: scores are random, reasons are plausible sentences, evidence claims are drawn
for each alert. Columns follow docs/contract.md section 3 and the triage context files of
``docs`` / interfaces (evidence_claims, evidence_lines, entity_info, card_facilities,
doctor_days).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from claimguard.schema import ALERT_COLUMNS, CLAIM_LINES, CLAIMS, SCORE_COLUMNS

CARD_SIGNALS = {
    "visit_frequency": ("card_visits_max_30d_count", "{value:.0f} visits in the busiest 30 days"),
    "multi_facility": ("card_distinct_facilities_30d_count", "{value:.0f} different facilities"),
    "drug_oversupply": ("card_drug_days_per_period_day_ratio", "{value:.1f} days of drugs per day"),
    "geography": ("card_provinces_count", "care in {value:.0f} provinces"),
    "eligibility": ("card_visits_outside_validity_count", "{value:.0f} visits outside validity"),
    "overlapping_care": ("card_overlapping_stays_count", "{value:.0f} overlapping stays"),
    "cost": ("card_cost_ratio_to_peers", "cost {value:.1f}x its peers"),
}
FACILITY_SIGNALS = {
    "doctor_load": ("facility_doctor_days_over_cap_count", "{value:.0f} doctor-days over the cap"),
    "service_intensity": ("facility_services_per_visit_ratio", "{value:.1f} services per visit"),
    "admission_pattern": ("facility_admission_rate_ratio", "admits {value:.1f}x its peers"),
    "sick_leave": ("facility_sick_leave_share", "{value:.0%} of visits with sick leave"),
    "cost": ("facility_cost_per_visit_ratio", "cost per visit {value:.1f}x peers"),
}
PROVINCES = ("Ha Noi", "Ho Chi Minh", "Da Nang", "Can Tho", "Hai Phong", "Nghe An")
TIERS = ("central", "provincial", "district", "commune", "private")
PERIOD = (pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-31"))


def alert_id(entity_type: str, entity_id: str, period_start: str, model_version: str) -> str:
    """Stable id for the same entity, period and model (docs/contract.md section 3)."""
    key = f"{entity_type}|{entity_id}|{period_start}|{model_version}"
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def _reasons(rng: np.random.Generator, signals: dict[str, tuple[str, str]], n: int) -> list[str]:
    names = list(signals)
    picks = np.argsort(rng.random((n, len(names))), axis=1)[:, :3]
    k = rng.integers(1, 4, n)
    values = rng.uniform(3, 30, (n, 3)).round(1)
    typical = (values / rng.uniform(2, 6, (n, 3))).round(1)
    out = []
    for i in range(n):  # per alert (fixture only): builds each alert's JSON reasons list
        rs = []
        for j in range(k[i]):
            sig = names[picks[i, j]]
            feature, text = signals[sig]
            v, t = float(values[i, j]), float(typical[i, j])
            if "share" in feature:
                v, t = v / 100, t / 100
            rs.append(
                {
                    "signal": sig,
                    "feature": feature,
                    "value": v,
                    "typical": t,
                    "text": text.format(value=v),
                }
            )
        out.append(json.dumps(rs))
    return out


def sample_alerts(
    n_cards: int, n_facilities: int, seed: int = 0, model_version: str = "sample-1"
) -> pd.DataFrame:
    """Alerts in the layout of docs/contract.md section 3, ranked within entity type."""
    rng = np.random.default_rng(seed)
    parts = []
    for etype, n, signals in (
        ("card", n_cards, CARD_SIGNALS),
        ("facility", n_facilities, FACILITY_SIGNALS),
    ):
        if n == 0:
            continue
        ids = [f"{'HN' if etype == 'card' else 'F'}{i:07d}" for i in range(n)]
        score = np.sort(rng.uniform(0.55, 0.99, n))[::-1]
        reasons = _reasons(rng, signals, n)
        df = pd.DataFrame(
            {
                "entity_type": etype,
                "entity_id": pd.array(ids, dtype="string"),
                "period_start": PERIOD[0],
                "period_end": PERIOD[1],
                "score": score,
                "rank": np.arange(1, n + 1, dtype="int64"),
                "reasons": reasons,
            }
        )
        df["top_signal"] = [json.loads(r)[0]["signal"] for r in reasons]
        parts.append(df)
    alerts = pd.concat(parts, ignore_index=True)
    alerts["model_version"] = model_version
    alerts["alert_id"] = [
        alert_id(t, e, str(PERIOD[0].date()), model_version)
        for t, e in zip(alerts["entity_type"], alerts["entity_id"], strict=True)
    ]
    alerts["evidence_claim_ids"] = "[]"
    return alerts


def write_sample_folder(
    out: Path,
    n_cards: int = 30,
    n_facilities: int = 6,
    seed: int = 0,
    *,
    context: bool = True,
    evidence_per_alert: int = 4,
    lines_per_claim: int = 2,
    model_version: str = "sample-1",
    card_visits: int = 2,
) -> pd.DataFrame:
    """Write alerts, scores, entity_info (+ the other context files when ``context``).

    Each alerted card also gets ``card_visits`` visits that are not evidence (its story).
    The random draws are made in one fixed order, so a seed always gives the same folder.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 1)
    alerts = sample_alerts(n_cards, n_facilities, seed, model_version)
    n = len(alerts)
    k = evidence_per_alert if context else 0
    alert_idx = np.repeat(np.arange(n), k)
    claim_ids = np.char.add(
        np.char.add("C", alerts["alert_id"].to_numpy(str)[alert_idx].astype(str)),
        np.char.add("-", np.tile(np.arange(k), n).astype(str)),
    )
    if k:
        grouped = pd.Series(claim_ids).groupby(alert_idx).agg(list)
        alerts["evidence_claim_ids"] = [json.dumps(grouped.get(i, [])) for i in range(n)]
    alerts[list(ALERT_COLUMNS)].to_parquet(out / "alerts.parquet", index=False)
    alerts[list(SCORE_COLUMNS)].to_parquet(out / "scores.parquet", index=False)
    (out / "run.json").write_text(json.dumps({"model_version": model_version, "sample": True}))
    info = _alert_info(alerts)
    if not context:  # alerts, scores and entity_info only
        info.to_parquet(out / "entity_info.parquet", index=False)
        return alerts
    etype = alerts["entity_type"].to_numpy(str)[alert_idx]
    ent = alerts["entity_id"].to_numpy(str)[alert_idx]
    facilities = np.array([f"F{i:07d}" for i in range(max(n_facilities, 3))])
    claims = _evidence_claims(claim_ids, etype, ent, facilities, rng)
    admit = pd.DatetimeIndex(claims["admit_time"])
    claims = pd.concat([claims, _other_visits(claims, etype, card_visits, seed)], ignore_index=True)
    claims.to_parquet(out / "evidence_claims.parquet", index=False)
    _all_info(info, facilities).to_parquet(out / "entity_info.parquet", index=False)
    _feature_peers(seed).to_parquet(out / "feature_peers.parquet", index=False)
    _lines(claim_ids, admit, lines_per_claim, rng).to_parquet(
        out / "evidence_lines.parquet", index=False
    )
    is_fac = (alerts["entity_type"] == "facility").to_numpy()
    cards = alerts.loc[~is_fac, "entity_id"].to_numpy(str)
    _card_facilities(cards, facilities, rng).to_parquet(
        out / "card_facilities.parquet", index=False
    )
    facs = alerts.loc[is_fac, "entity_id"].to_numpy(str)
    _doctor_days(facs, rng).to_parquet(out / "doctor_days.parquet", index=False)
    return alerts


def _facility_places(facilities: np.ndarray) -> tuple[pd.Series, pd.Series]:
    """Each sample facility's province and tier, in turn through the lists."""
    idx = np.arange(len(facilities))
    province = pd.Series(np.array(PROVINCES)[idx % len(PROVINCES)], index=facilities)
    return province, pd.Series(np.array(TIERS)[idx % len(TIERS)], index=facilities)


def _alert_info(alerts: pd.DataFrame) -> pd.DataFrame:
    """entity_info of the alerted cards and facilities."""
    is_fac = (alerts["entity_type"] == "facility").to_numpy()
    idx = np.arange(len(alerts))
    return pd.DataFrame(
        {
            "entity_type": alerts["entity_type"],
            "entity_id": alerts["entity_id"],
            "province": np.array(PROVINCES)[idx % len(PROVINCES)],
            "tier": pd.Series(np.array(TIERS)[idx % len(TIERS)]).where(is_fac),
            "label": np.where(
                is_fac, "Facility " + alerts["entity_id"], "Card " + alerts["entity_id"]
            ),
        }
    )


def _all_info(info: pd.DataFrame, facilities: np.ndarray) -> pd.DataFrame:
    """entity_info with the visited facilities that have no alert, names and kinds."""
    fac_province, fac_tier = _facility_places(facilities)
    known = set(info.loc[info["entity_type"] == "facility", "entity_id"])
    extra = [f for f in facilities if f not in known]
    more = pd.DataFrame(
        {
            "entity_type": "facility",
            "entity_id": extra,
            "province": fac_province.reindex(extra).to_numpy(),
            "tier": fac_tier.reindex(extra).to_numpy(),
            "label": ["Facility " + f for f in extra],
        }
    )
    info = pd.concat([info, more], ignore_index=True)
    is_f = info["entity_type"] == "facility"
    info["kind"] = pd.Series("hospital", index=info.index, dtype="string").where(is_f)
    names = "Benh vien " + info["entity_id"].astype("string").str[-3:]
    info["name"] = names.where(is_f)
    return info


def _evidence_claims(
    claim_ids: np.ndarray,
    etype: np.ndarray,
    ent: np.ndarray,
    facilities: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """The alerts' evidence claims in the claims schema (draws in a fixed order)."""
    m = len(claim_ids)
    fac = np.where(etype == "facility", ent, facilities[rng.integers(0, len(facilities), m)])
    card = np.where(etype == "card", ent, np.char.add("HN9", rng.integers(0, 10**6, m).astype(str)))
    admit = PERIOD[0] + pd.to_timedelta(rng.integers(0, 30 * 24 * 60, m), unit="min")
    claims = pd.DataFrame({c: pd.Series([pd.NA] * m, dtype="string") for c in CLAIMS.names})
    claims["claim_id"] = pd.array(claim_ids, dtype="string")
    claims["card_id"] = pd.array(card, dtype="string")
    claims["facility_id"] = pd.array(fac, dtype="string")
    claims["admit_time"] = admit
    claims["discharge_time"] = admit + pd.to_timedelta(rng.integers(0, 72, m), unit="h")
    claims["visit_type"] = pd.Categorical(
        rng.choice(["outpatient", "inpatient"], m, p=[0.8, 0.2]),
        categories=["outpatient", "inpatient", "day_care"],
    )
    claims["primary_dx"] = pd.array(rng.choice(["J06.9", "I10", "E11.9", "K29.7"], m), "string")
    claims["secondary_dx"] = pd.array(rng.choice(["", "I10;E78.5", "M54.5"], m), "string")
    for col in ("total_cost", "insurance_paid", "drug_cost", "supply_cost", "sick_leave_days"):
        claims[col] = np.nan
    claims["total_cost"] = rng.uniform(5e4, 3e6, m).round(-3)
    claims["drug_cost"] = (claims["total_cost"] * 0.4).round(-3)
    claims["insurance_paid"] = (claims["total_cost"] * 0.8).round(-3)
    claims["sick_leave_days"] = rng.choice([np.nan, 3.0, 5.0], m)
    claims["doctor_id"] = pd.array(np.char.add("D", rng.integers(0, 20, m).astype(str)), "string")
    claims["patient_sex"] = pd.Categorical(rng.choice(["M", "F"], m), categories=["M", "F", "U"])
    for col in ("patient_birth_date", "card_valid_from", "card_valid_to"):
        claims[col] = pd.NaT
    claims["outcome"] = pd.Categorical(
        ["improved"] * m, categories=list(CLAIMS.column("outcome").enum)
    )
    fac_province, fac_tier = _facility_places(facilities)
    claims["facility_province"] = pd.array(fac_province.reindex(fac).to_numpy(), "string")
    claims["facility_tier"] = pd.array(fac_tier.reindex(fac).to_numpy(), "string")
    return claims


def _lines(
    claim_ids: np.ndarray, admit: pd.DatetimeIndex, per_claim: int, rng: np.random.Generator
) -> pd.DataFrame:
    """``per_claim`` drug / service / supply lines of every evidence claim."""
    li = np.repeat(np.arange(len(claim_ids)), per_claim)
    lines = pd.DataFrame(
        {c: pd.Series([pd.NA] * len(li), dtype="string") for c in CLAIM_LINES.names}
    )
    lines["claim_id"] = pd.array(claim_ids[li], dtype="string")
    lines["line_type"] = pd.Categorical(
        rng.choice(["drug", "service", "supply"], len(li)), categories=["drug", "service", "supply"]
    )
    lines["item_code"] = pd.array(rng.choice(["40.17", "PARA500", "XN001"], len(li)), "string")
    lines["quantity"] = rng.integers(1, 60, len(li)).astype(float)
    lines["amount"] = rng.uniform(1e4, 5e5, len(li)).round(-3)
    lines["days_supply"] = rng.choice([np.nan, 30.0], len(li))
    lines["order_time"] = admit[li]
    return lines


def _card_facilities(
    cards: np.ndarray, facilities: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """Three visited facilities per alerted card."""
    cf_card = np.repeat(cards, 3)
    return pd.DataFrame(
        {
            "entity_id": cf_card,
            "facility_id": np.tile(facilities[:3], len(cards)),
            "visits": rng.integers(1, 12, len(cf_card)).astype(float),
            "total_cost": rng.uniform(1e5, 5e6, len(cf_card)).round(-3),
            "first_visit": PERIOD[0] + pd.to_timedelta(rng.integers(0, 10, len(cf_card)), "D"),
            "last_visit": PERIOD[0] + pd.to_timedelta(rng.integers(10, 30, len(cf_card)), "D"),
        }
    )


def _doctor_days(facs: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Ten days of three doctors' examinations per alerted facility."""
    days = pd.date_range(PERIOD[0], periods=10, freq="D")
    dd_fac = np.repeat(facs, 3 * len(days))
    return pd.DataFrame(
        {
            "entity_id": dd_fac,
            "doctor_id": np.tile(np.repeat(["D1", "D2", "D3"], len(days)), len(facs)),
            "day": np.tile(days, 3 * len(facs)),
            "examinations": rng.integers(10, 120, len(dd_fac)).astype(float),
        }
    )


def _other_visits(claims: pd.DataFrame, etype: np.ndarray, n: int, seed: int) -> pd.DataFrame:
    """``n`` more visits of each alerted card in the period, copied from its first evidence claim."""
    rng = np.random.default_rng(seed + 7)
    first = claims.loc[etype == "card"].drop_duplicates("card_id")
    if n <= 0 or first.empty:
        return claims.iloc[:0]
    more = first.loc[first.index.repeat(n)].reset_index(drop=True)
    k = np.tile(np.arange(n), len(first))
    more["claim_id"] = pd.array(
        ["V" + c + f"-{j}" for c, j in zip(more["card_id"], k, strict=True)], dtype="string"
    )
    more["admit_time"] = PERIOD[0] + pd.to_timedelta(
        rng.integers(0, 30 * 24 * 60, len(more)), unit="min"
    )
    more["discharge_time"] = more["admit_time"]
    more["primary_dx"] = pd.array(rng.choice(["J20.9", "M54.5", "R51"], len(more)), "string")
    more["total_cost"] = rng.uniform(5e4, 5e5, len(more)).round(-3)
    more["drug_cost"] = (more["total_cost"] * 0.4).round(-3)
    return cast("pd.DataFrame", more)


def _feature_peers(seed: int) -> pd.DataFrame:
    """Peer distributions of the sample's features (quantile histograms like training writes)."""
    rng = np.random.default_rng(seed + 11)
    rows = []
    for etype, signals in (("card", CARD_SIGNALS), ("facility", FACILITY_SIGNALS)):
        for feature, _text in signals.values():
            scale = 0.05 if "share" in feature else 1.0
            v = np.sort(rng.gamma(2.0, 2.0, 2000)) * scale
            edges = np.unique(np.quantile(v, np.linspace(0, 1, 11)))
            counts = np.bincount(
                np.searchsorted(edges[1:-1], v, side="right"), minlength=len(edges) - 1
            )
            rows.append(
                {
                    "entity_type": etype,
                    "feature": feature,
                    "median": float(np.median(v)),
                    "p90": float(np.quantile(v, 0.9)),
                    "p99": float(np.quantile(v, 0.99)),
                    "bin_edges": json.dumps([round(float(e), 4) for e in edges]),
                    "bin_shares": json.dumps([float(c) for c in counts / counts.sum()]),
                }
            )
    return pd.DataFrame(rows)
