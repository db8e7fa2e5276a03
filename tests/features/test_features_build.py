"""build_features as a whole: pure, deterministic, partition-friendly, picklable peers."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd

from claimguard.features import windows
from claimguard.features.build import FLAG_SIGNALS, FeatureSet, build_features
from claimguard.features.clinical import FEMALE, MALE, dx_constraints, normalise_dx
from claimguard.features.items import (
    BED_DAY,
    DRUG,
    EXAM,
    IMAGING,
    LAB_TEST,
    OTHER_SERVICE,
    classify_service_codes,
    drug_classes,
)
from claimguard.features.peers import fit_peers
from claimguard.schema import SEXES, TIERS, VISIT_TYPES
from claimguard.settings import FeatureSettings

S = FeatureSettings()


def random_dataset(n: int = 3000, seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n_cards, n_fac = n // 4, 12
    card = rng.integers(0, n_cards, n)
    fac = rng.integers(0, n_fac, n)
    admit = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 31 * 86400, n), unit="s")
    vt = rng.choice(3, n, p=[0.85, 0.1, 0.05])
    los = np.where(vt == 1, rng.integers(1, 8, n), 0)
    claims = pd.DataFrame(
        {
            "claim_id": pd.array([f"C{i}" for i in range(n)], dtype="string"),
            "card_id": pd.array([f"HS4{c % 60:02d}{c:010d}" for c in card], dtype="string"),
            "facility_id": pd.array([f"{f:05d}" for f in fac], dtype="string"),
            "admit_time": admit.astype("datetime64[ns]"),
            "discharge_time": (admit + pd.to_timedelta(los, unit="D")).astype("datetime64[ns]"),
            "visit_type": pd.Categorical(
                [VISIT_TYPES[v] for v in vt], categories=list(VISIT_TYPES)
            ),
            "primary_dx": pd.array(
                rng.choice(["I10", "E11.9", "J06.9", "N18.5", "O80", "N40"], n), dtype="string"
            ),
            "total_cost": rng.gamma(2, 200_000, n),
            "doctor_id": pd.array(
                [f"D{f}_{d}" for f, d in zip(fac, rng.integers(0, 4, n), strict=True)],
                dtype="string",
            ),
            "sick_leave_days": np.where(rng.random(n) < 0.1, rng.integers(1, 5, n), 0).astype(
                float
            ),
            "patient_sex": pd.Categorical(rng.choice(["M", "F"], n), categories=list(SEXES)),
        }
    )
    nl = n * 3
    lines = pd.DataFrame(
        {
            "claim_id": claims["claim_id"].iloc[rng.integers(0, n, nl)].reset_index(drop=True),
            "line_type": pd.Categorical(
                rng.choice(["drug", "service", "supply"], nl),
                categories=["drug", "service", "supply"],
            ),
            "item_code": pd.array(
                rng.choice(
                    ["40.484", "C09AA02", "22.0120.1370", "18.0001.0001", "02.1896", "N03.01.070"],
                    nl,
                ),
                dtype="string",
            ),
            "quantity": np.ones(nl),
            "amount": rng.gamma(2, 50_000, nl),
            "days_supply": rng.choice([7.0, 30.0], nl),
        }
    )
    facilities = pd.DataFrame(
        {
            "facility_id": pd.array([f"{f:05d}" for f in range(n_fac)], dtype="string"),
            "province": pd.array([f"{f % 60:02d}" for f in range(n_fac)], dtype="string"),
            "tier": pd.Categorical(rng.choice(list(TIERS), n_fac), categories=list(TIERS)),
        }
    )
    return {"claims": claims, "claim_lines": lines, "facilities": facilities}


def test_pure_and_deterministic() -> None:
    d = random_dataset()
    before = {k: v.copy(deep=True) for k, v in d.items()}
    a = build_features(d["claims"], d["claim_lines"], None, d["facilities"], settings=S)
    for k, v in d.items():
        pd.testing.assert_frame_equal(v, before[k])
    # the same rows in another order give the same features
    shuffled = {k: v.sample(frac=1.0, random_state=1) for k, v in d.items()}
    b = build_features(
        shuffled["claims"], shuffled["claim_lines"], None, shuffled["facilities"], settings=S
    )
    # cards come in order of first appearance; the values do not depend on row order
    pd.testing.assert_frame_equal(a.card.sort_index(), b.card.sort_index(), rtol=1e-9)
    pd.testing.assert_frame_equal(a.facility, b.facility, rtol=1e-9)
    assert a.card.index.name == "card_id" and a.facility.index.name == "facility_id"
    assert a.card.index.is_unique and a.facility.index.is_monotonic_increasing
    again = build_features(d["claims"], d["claim_lines"], None, d["facilities"], settings=S)
    pd.testing.assert_frame_equal(a.card, again.card)
    pd.testing.assert_frame_equal(a.claim_flags, again.claim_flags)
    assert all(a.card.dtypes == np.float64) and all(a.facility.dtypes == np.float64)


def test_partitions_give_the_same_values_with_the_same_peers() -> None:
    d = random_dataset()
    peers = fit_peers(d["claims"], d["claim_lines"], None, d["facilities"], settings=S)
    full = build_features(
        d["claims"], d["claim_lines"], None, d["facilities"], peers=peers, settings=S
    )
    period = (full.period_start, full.period_end)
    c = d["claims"]

    def part_of(claims: pd.DataFrame, entity: str) -> FeatureSet:
        lines = d["claim_lines"][d["claim_lines"]["claim_id"].isin(claims["claim_id"])]
        return build_features(
            claims, lines, None, d["facilities"], peers=peers, settings=S, period=period,
            entities=(entity,),
        )  # fmt: skip

    part = part_of(c[c["card_id"].isin(full.card.index[::3])], "card")
    assert part.facility.empty
    pd.testing.assert_frame_equal(part.card, full.card.loc[part.card.index], rtol=1e-9)
    part = part_of(c[c["facility_id"].isin(["00001", "00004"])], "facility")
    pd.testing.assert_frame_equal(part.facility, full.facility.loc[part.facility.index], rtol=1e-9)


def test_peers_pickle_and_claim_flags_layout() -> None:
    d = random_dataset(800)
    peers = fit_peers(d["claims"], d["claim_lines"], None, d["facilities"], settings=S)
    again = pickle.loads(pickle.dumps(peers))
    fs = build_features(
        d["claims"], d["claim_lines"], None, d["facilities"], peers=again, settings=S
    )
    flags = fs.claim_flags
    assert list(flags.columns[:3]) == ["claim_id", "card_id", "facility_id"]
    assert set(flags.columns[3:]) <= set(FLAG_SIGNALS)
    assert len(flags) == len(d["claims"]) and flags["claim_id"].is_unique
    assert (flags.iloc[:, 3:].to_numpy() >= 0).all()
    assert {"doctor_load", "split_billing", "service_intensity", "cost"} <= set(flags.columns)
    # evidence is sparse: most claims show no visit-frequency or cost excess
    assert (flags["visit_frequency"] == 0).mean() > 0.3 and (flags["cost"] == 0).mean() > 0.3
    assert set(peers.facility_ids) == set(d["claims"]["facility_id"])


def test_window_primitives() -> None:
    g = np.array([0, 0, 0, 1])
    day = np.array([0, 6, 7, 3])
    assert windows.forward_window_counts(g, day, 7).tolist() == [2, 2, 1, 1]
    end = np.array([10, 5, 20, 1])
    assert windows.previous_max_end(g, end).tolist() == [-1, 0, 0, -1]
    assert windows.group_mode(np.array([0, 0, 1, 1]), np.array([5, 3, 2, 2]), 3).tolist() == [
        3,
        2,
        -1,
    ]
    assert windows.shrunk_ratio(np.array([4.0]), np.array([4.0]), np.array([2.0]))[0] == 1.0
    assert windows.distinct_per_group(np.array([0, 0, 1]), np.array([1, 1, -1]), 2).tolist() == [
        1,
        0,
    ]


def test_item_and_dx_rules() -> None:
    codes = np.array(["02.1896", "K03.1906", "23.0075.1494", "18.0001.0001", "21.0014.1778",
                      "10.0558.0501", "XN-GLU", "CDHA_XQ", "2345-7", "71045", "99213", "GIUONG-1", "ZZZ"])  # fmt: skip
    want = [EXAM, BED_DAY, LAB_TEST, IMAGING, IMAGING, OTHER_SERVICE, LAB_TEST, IMAGING,
            LAB_TEST, IMAGING, EXAM, BED_DAY, OTHER_SERVICE]  # fmt: skip
    assert classify_service_codes(codes).tolist() == want
    assert drug_classes(np.array(["C09AA02", "c09a", "40.30"])).tolist() == ["C09AA", "C09A", ""]
    assert DRUG == 0
    cats = normalise_dx(np.array(["o80", "N40.1", "z34.9", "P07.3", "bad", None]))
    assert cats.tolist() == ["O80", "N40", "Z34", "P07", "", ""]
    sex, lo, hi = dx_constraints(cats)
    assert sex.tolist()[:3] == [FEMALE, MALE, FEMALE] and hi[3] == 2 and sex[4] == 0


def test_lines_in_chunks_give_the_same_features(monkeypatch) -> None:
    from claimguard.features import prepare

    d = random_dataset(1500)
    whole = build_features(d["claims"], d["claim_lines"], None, d["facilities"], settings=S)
    monkeypatch.setattr(prepare, "LINE_CHUNK", 700)
    chunked = build_features(d["claims"], d["claim_lines"], None, d["facilities"], settings=S)
    pd.testing.assert_frame_equal(whole.card, chunked.card)
    pd.testing.assert_frame_equal(whole.facility, chunked.facility)


def test_categorical_id_and_code_columns_give_the_same_features() -> None:
    """Large jobs may read repetitive ids/codes dictionary-encoded; results must not change."""
    d = random_dataset(1500)
    plain = build_features(d["claims"], d["claim_lines"], None, d["facilities"], settings=S)
    claims = d["claims"].astype({c: "category" for c in ("facility_id", "primary_dx", "doctor_id")})
    claims["facility_id"] = claims["facility_id"].cat.add_categories(["UNUSED"])
    lines = d["claim_lines"].astype({"claim_id": "category", "item_code": "category"})
    cat = build_features(claims, lines, None, d["facilities"], settings=S)
    pd.testing.assert_frame_equal(plain.card, cat.card)
    pd.testing.assert_frame_equal(plain.facility, cat.facility)
    pd.testing.assert_frame_equal(
        plain.claim_flags.iloc[:, 3:], cat.claim_flags.iloc[:, 3:], check_dtype=False
    )
