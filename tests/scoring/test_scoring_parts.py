"""Scoring building blocks on small hand-made frames: reasons, evidence, queue, drift, output."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from claimguard.errors import UserError
from claimguard.evaluation.scenarios import canonical_scenario, expected_signals
from claimguard.io.atomic import atomic_folder
from claimguard.schema import SCORE_COLUMNS, SIGNALS
from claimguard.scoring.alerts import alert_id, alert_ids, rank_scores, select_alerts
from claimguard.scoring.drift import bin_shares, drift_report, feature_psi, psi
from claimguard.scoring.evidence import compact_flags, select_evidence
from claimguard.scoring.reasons import build_reasons, reason_text
from claimguard.settings import DriftSettings


@dataclass
class Spec:
    name: str
    signal: str
    description: str
    text: str


CATALOG = {
    "card_visits_30d_count": Spec(
        "card_visits_30d_count", "visit_frequency", "visits in 30 days", "{value:.0f} visits"
    ),
    "card_distinct_facilities_30d_count": Spec(
        "card_distinct_facilities_30d_count",
        "multi_facility",
        "facilities in 30 days",
        "{value:.0f} facilities",
    ),
    "card_cost_ratio_to_peers": Spec(
        "card_cost_ratio_to_peers", "cost", "cost vs peers", "{value:.1f}x the peer cost"
    ),
    "card_overlap_days": Spec("card_overlap_days", "overlapping_care", "overlap", ""),
}
STATS = pd.DataFrame(
    {"median": [2.0, 1.0, 1.0, 0.0], "p90": [5.0, 2.0, 1.8, 0.0]},
    index=list(CATALOG),
)


def _values() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "card_visits_30d_count": [14.0, 2.0, 1.0],
            "card_distinct_facilities_30d_count": [6.0, 1.0, 1.0],
            "card_cost_ratio_to_peers": [0.5, 3.0, 1.0],
            "card_overlap_days": [0.0, 0.0, 0.0],
        },
        index=pd.Index(["c1", "c2", "c3"], name="card_id"),
    )


def test_reasons_strongest_first_above_typical_only() -> None:
    values = _values()
    attr = pd.DataFrame(
        [[0.3, 0.5, 0.4, 0.0], [0.0, 0.0, 0.2, 0.0], [0.0, 0.0, 0.0, 0.0]],
        index=values.index,
        columns=values.columns,
    )
    reasons = build_reasons("card", values, attr, catalog=CATALOG, stats=STATS)
    c1 = reasons["c1"]
    # cost ratio 0.5 is below peers: not a reason even with positive attribution
    assert [r["signal"] for r in c1] == ["multi_facility", "visit_frequency"]
    assert c1[0]["value"] == 6.0 and c1[0]["typical"] == 1.0
    assert "similar patients" in c1[1]["text"] and "14 visits" in c1[1]["text"]
    assert reasons["c2"][0]["feature"] == "card_cost_ratio_to_peers"
    assert reasons["c2"][0]["typical"] == 1.0  # peer-relative
    assert reasons["c3"] == []
    for rs in reasons:
        assert all(r["signal"] in SIGNALS for r in rs)
        json.dumps(rs)


def test_rule_hits_come_first_and_map_by_signal() -> None:
    values = _values()
    values.loc["c1", "card_overlap_days"] = 3.0
    attr = pd.DataFrame(0.1, index=values.index, columns=values.columns)
    attr.loc["c1", "card_overlap_days"] = 0.01
    hits = pd.Series([json.dumps(["overlapping_care"]), "[]", "[]"], index=values.index)
    reasons = build_reasons("card", values, attr, catalog=CATALOG, stats=STATS, rule_hits=hits)
    assert reasons["c1"][0]["signal"] == "overlapping_care"
    # no template: falls back to description and typical
    assert reasons["c1"][0]["text"].startswith("overlap: 3")


def test_reason_text_handles_bad_template() -> None:
    spec = Spec("x", "cost", "cost per visit", "{nope} broken")
    text = reason_text(spec, "x", 1_234_567.0, 1000.0, "facility")
    assert "1,234,567" in text and "similar facilities" in text


def test_queue_cut_and_stable_ids() -> None:
    scores = {
        "card": pd.DataFrame({"score": [0.1, 0.9, 0.5, 0.95]}, index=["a", "b", "c", "d"]),
        "facility": pd.DataFrame({"score": [0.3, 0.7]}, index=["f1", "f2"]),
    }
    start, end = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-31")
    ranked = rank_scores(scores, start, end)
    assert list(ranked.columns) == list(SCORE_COLUMNS)
    cards = ranked[ranked["entity_type"] == "card"]
    assert list(cards["entity_id"]) == ["d", "b", "c", "a"]
    assert list(cards["rank"]) == [1, 2, 3, 4]
    sel = select_alerts(ranked, {"card": 2, "facility": 0}, threshold=0.6)
    assert set(sel["entity_id"]) == {"d", "b", "f2"}
    ids = alert_ids(sel, "m1")
    assert ids.is_unique
    assert ids.iloc[0] == alert_id("card", "d", start, end, "m1")
    assert alert_id("card", "d", start, end, "m2") != ids.iloc[0]


def test_evidence_prefers_top_signal_then_others_then_cost() -> None:
    claims = pd.DataFrame(
        {
            "claim_id": [f"k{i}" for i in range(6)],
            "card_id": ["c1"] * 5 + ["c2"],
            "facility_id": ["f"] * 6,
            "total_cost": [10.0, 20.0, 30.0, 40.0, 50.0, 5.0],
        }
    )
    flags = pd.DataFrame(
        {
            "claim_id": claims["claim_id"],
            "card_id": claims["card_id"],
            "facility_id": claims["facility_id"],
            "visit_frequency": [0.0, 0.5, 0.0, 0.0, 0.0, 0.0],
            "multi_facility": [0.2, 0.0, 0.9, 0.0, 0.0, 0.0],
            "cost": [0.0, 0.0, 0.0, 0.3, 0.0, 0.0],
        }
    )
    top = pd.DataFrame({"s0": ["multi_facility", None], "s1": ["visit_frequency", None]})
    top.index = pd.Index(["c1", "c2"])
    compact = compact_flags(flags, claims["claim_id"])
    assert list(compact["pos"]) == [0, 1, 2, 3]  # claims without any signal are dropped
    ev = select_evidence("card", top, claims, compact, max_evidence=4)
    assert ev["c1"] == ["k2", "k0", "k1", "k3"]  # top signal by strength, 2nd, other, no cost
    assert ev["c2"] == ["k5"]  # no evidence at all: the entity's claims by cost
    assert len(select_evidence("card", top, claims, compact, max_evidence=1)["c1"]) == 1


def test_psi_detects_shift_not_noise() -> None:
    rng = np.random.default_rng(0)
    train = rng.lognormal(10, 1, 20_000)
    shares, edges = np.histogram(train, bins=np.quantile(train, np.linspace(0, 1, 11)))
    stats = pd.DataFrame(
        {"median": [np.median(train)], "bin_edges": [edges], "bin_shares": [shares / shares.sum()]},
        index=["cost"],
    )
    same = pd.DataFrame({"cost": rng.lognormal(10, 1, 5000)})
    doubled = pd.DataFrame({"cost": 2 * rng.lognormal(10, 1, 5000)})
    assert feature_psi(same, stats)["cost"] < 0.05
    assert feature_psi(doubled, stats)["cost"] > 0.25
    assert psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == pytest.approx(0.0)
    assert bin_shares(np.array([-1e9, 1e9, np.nan]), edges).sum() == pytest.approx(1.0)

    claims = pd.DataFrame({"facility_id": ["new"] * 3 + ["f1"], "primary_dx": ["A00"] * 4})
    rep = drift_report(
        {"card": doubled},
        {"card": stats},
        claims,
        seen_facilities={"f1"},
        seen_diagnoses={"A00"},
        limits=DriftSettings(),
    )
    assert rep["drifted"] and rep["unseen_facility_share"] == 0.75
    assert rep["unseen_diagnosis_share"] == 0.0
    ok = drift_report(
        {"card": same},
        {"card": stats},
        claims.assign(facility_id="f1"),
        seen_facilities={"f1"},
        seen_diagnoses=None,
        limits=DriftSettings(),
    )
    assert not ok["drifted"] and ok["problems"] == []


def test_atomic_folder_replaces_or_leaves_untouched(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with atomic_folder(out, ["a.txt", "run.json"]) as tmp:
        (tmp / "a.txt").write_text("one")
        (tmp / "run.json").write_text("{}")
    (out / "notes.md").write_text("mine")
    with pytest.raises(RuntimeError), atomic_folder(out, ["a.txt", "run.json"]) as tmp:
        (tmp / "a.txt").write_text("two")
        raise RuntimeError("crash mid-run")
    assert (out / "a.txt").read_text() == "one"
    # no temporary left behind: only DIR and the version it points at
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", out.resolve().name])
    with atomic_folder(out, ["a.txt", "run.json"]) as tmp:
        (tmp / "a.txt").write_text("three")
    assert (out / "a.txt").read_text() == "three"
    assert (out / "notes.md").read_text() == "mine"  # not ours: carried over
    assert not (out / "run.json").exists()  # ours and not rewritten: gone


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_atomic_folder_unwritable_parent(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(UserError), atomic_folder(locked / "out"):
            pass
    finally:
        locked.chmod(0o700)


def test_scenario_names_are_normalised() -> None:
    assert canonical_scenario("Borrowed card") == "borrowed_card"
    assert canonical_scenario("medicine-hoarding (strong)") == "medicine_hoarding"
    assert canonical_scenario("ghost patients") == "phantom_visits"
    assert expected_signals("post_death")[0] == "eligibility"
    assert expected_signals("cost") == ("cost",)
    assert expected_signals("something else") == ()
    assert canonical_scenario(None) is None


def test_stacking_partition_tables_equals_concat() -> None:
    """Feature tables of partitions stacked part by part equal pd.concat as float32 (and
    empty the list)."""

    from claimguard.features.partitioned import stack
    from claimguard.scoring.score import FEATURE_DTYPE

    def _stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
        return stack(frames, FEATURE_DTYPE)

    rng = np.random.default_rng(0)
    parts = [
        pd.DataFrame(
            rng.random((n, 3)),
            columns=["a", "b", "c"],
            index=pd.Index(pd.array([f"id{i}_{j}" for j in range(n)], dtype="string")),
        )
        for i, n in enumerate((5, 1, 7))
    ]
    expected = pd.concat(parts).astype(FEATURE_DTYPE)
    given = list(parts)
    pd.testing.assert_frame_equal(_stack(given), expected)
    assert given == []
    mixed = [parts[0], parts[1].assign(c=parts[1]["c"].astype("float32"))]
    pd.testing.assert_frame_equal(_stack(list(mixed)), pd.concat(mixed).astype(FEATURE_DTYPE))
    named = [parts[0], parts[1].rename(columns={"c": "d"})]  # unequal columns: concat
    stacked = _stack(list(named))
    assert list(stacked.columns) == ["a", "b", "c", "d"] and stacked["d"].isna().sum() == 5


def test_unseen_share_is_the_same_for_strings_and_categoricals() -> None:
    from claimguard.io.compact import dictionary_encode
    from claimguard.scoring.drift import unseen_share

    values = pd.Series(["A", "B", None, "C", "C", "D"], dtype="str")
    seen = {"A", "C"}
    plain = unseen_share(values, seen)
    assert plain == round(2 / 5, 4)
    assert unseen_share(dictionary_encode(values), seen) == plain
    assert unseen_share(dictionary_encode(pd.Series([None], dtype="str")), seen) is None
