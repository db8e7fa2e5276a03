"""End to end on small generated data: generate -> train -> score -> evaluate, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from claimguard.cli import run
from claimguard.schema import ALERT_COLUMNS, CLAIMS, QUARANTINE_COLUMNS, SCORE_COLUMNS, SIGNALS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, synthetic_dir: Path, synthetic_dir_b: Path
) -> dict[str, Path]:
    """A model trained on one generated month, the next month (other seed) scored with it."""
    root = tmp_path_factory.mktemp("scoring_e2e")
    cfg = root / "config.yaml"
    cfg.write_text(
        "model:\n  n_estimators: 60\nscoring:\n  review_capacity_cards: 40\n"
        "  review_capacity_facilities: 8\n"
    )
    model = root / "model.joblib"
    assert run(["train", str(synthetic_dir), "--config", str(cfg), "--model-out", str(model)]) == 0
    out = root / "scored"
    args = ["score", str(synthetic_dir_b), "--model", str(model), "--out", str(out), "-c", str(cfg)]
    assert run(args) == 0
    return {"root": root, "cfg": cfg, "data": synthetic_dir_b, "model": model, "out": out}


def test_every_output_file_has_the_spec_columns(world: dict[str, Path]) -> None:
    out = world["out"]
    scores = pd.read_parquet(out / "scores.parquet")
    alerts = pd.read_parquet(out / "alerts.parquet")
    alerts_csv = pd.read_csv(out / "alerts.csv", dtype=str)
    quarantine = pd.read_parquet(out / "quarantine.parquet")
    assert list(scores.columns) == list(SCORE_COLUMNS)
    assert list(alerts.columns) == list(ALERT_COLUMNS)
    assert list(alerts_csv.columns) == list(ALERT_COLUMNS)
    assert list(alerts_csv["alert_id"]) == list(alerts["alert_id"])
    assert set(QUARANTINE_COLUMNS) <= set(quarantine.columns)
    assert scores["score"].between(0, 1).all()
    for et, grp in scores.groupby("entity_type"):
        assert sorted(grp["rank"]) == list(range(1, len(grp) + 1)), et
        top = grp.sort_values("rank")
        assert top["score"].is_monotonic_decreasing
    claims = pd.read_parquet(world["data"] / "claims.parquet")
    assert set(scores.loc[scores["entity_type"] == "card", "entity_id"]) == set(claims["card_id"])
    # context files for the triage app
    ev = pd.read_parquet(out / "evidence_claims.parquet")
    assert set(CLAIMS.required) <= set(ev.columns)
    assert {"facility_province", "facility_tier"} <= set(ev.columns)
    info = pd.read_parquet(out / "entity_info.parquet")
    assert {"entity_type", "entity_id", "province", "tier", "label"} <= set(info.columns)
    assert set(alerts["entity_id"]) <= set(info["entity_id"])
    cf = pd.read_parquet(out / "card_facilities.parquet")
    assert {"entity_id", "facility_id", "visits", "total_cost", "first_visit", "last_visit"} <= set(
        cf.columns
    )
    assert (out / "evidence_lines.parquet").exists()
    dd = pd.read_parquet(out / "doctor_days.parquet")
    assert {"entity_id", "doctor_id", "day", "examinations"} <= set(dd.columns)


def test_reasons_and_evidence(world: dict[str, Path]) -> None:
    out = world["out"]
    alerts = pd.read_parquet(out / "alerts.parquet")
    assert len(alerts) > 0
    assert (alerts["entity_type"] == "card").sum() <= 40
    assert (alerts["entity_type"] == "facility").sum() <= 8
    claims = pd.read_parquet(world["data"] / "claims.parquet")
    ev_claims = set(pd.read_parquet(out / "evidence_claims.parquet")["claim_id"])
    for row in alerts.itertuples():
        reasons = json.loads(row.reasons)
        assert reasons, "an alert without a reason must not be written"
        assert row.top_signal == reasons[0]["signal"]
        for r in reasons:
            assert set(r) == {"signal", "feature", "value", "typical", "text"}
            assert r["signal"] in SIGNALS
            assert isinstance(r["text"], str) and r["text"]
        assert len({r["signal"] for r in reasons}) == len(reasons)
        evidence = json.loads(row.evidence_claim_ids)
        assert len(evidence) <= 20
        key = "card_id" if row.entity_type == "card" else "facility_id"
        mine = set(claims.loc[claims[key] == row.entity_id, "claim_id"])
        assert set(evidence) <= mine
        assert set(evidence) <= ev_claims


def test_run_json_counts_and_provenance(world: dict[str, Path]) -> None:
    run_json = json.loads((world["out"] / "run.json").read_text())
    for table, c in run_json["counts"].items():
        assert c["in"] == c["valid"] + c["quarantined"], table
    assert run_json["entities_scored"]["card"] > 0
    alerts = pd.read_parquet(world["out"] / "alerts.parquet")
    assert sum(run_json["alerts_written"].values()) == len(alerts)
    assert run_json["model_version"] == alerts["model_version"].iloc[0]
    assert len(run_json["config_hash"]) == 16
    assert any(p.endswith("claims.parquet") for p in run_json["input_files"])
    assert {"Building features", "Scoring", "Reading data"} <= set(run_json["timings_seconds"])
    assert "psi" in run_json["drift"] and run_json["drift"]["features_checked"] > 0


def test_alert_ids_stable_across_runs(world: dict[str, Path], tmp_path: Path) -> None:
    again = tmp_path / "again"
    args = ["score", str(world["data"]), "--model", str(world["model"]), "-c", str(world["cfg"])]
    assert run([*args, "--out", str(again)]) == 0
    first = pd.read_parquet(world["out"] / "alerts.parquet")
    second = pd.read_parquet(again / "alerts.parquet")
    assert list(first["alert_id"]) == list(second["alert_id"])
    assert first["alert_id"].is_unique
    # re-running into the same folder replaces it and keeps the ids; a stale report goes,
    # a file that is not ours stays
    (again / "report").mkdir()
    (again / "report" / "report.html").write_text("old")
    (again / "notes.txt").write_text("mine")
    assert run([*args, "--out", str(again)]) == 0
    assert not (again / "report").exists() and (again / "notes.txt").read_text() == "mine"
    assert list(pd.read_parquet(again / "alerts.parquet")["alert_id"]) == list(first["alert_id"])
    # only DIR (a symlink) and the one version it points at; no temporaries, no old copies
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["again", again.resolve().name])


def test_corrupted_model_leaves_previous_output_untouched(
    world: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scored"
    args = ["score", str(world["data"]), "-c", str(world["cfg"]), "--out", str(out)]
    assert run([*args, "--model", str(world["model"])]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    broken = tmp_path / "broken.joblib"
    data = world["model"].read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    capsys.readouterr()
    assert run([*args, "--model", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "model" in err.lower() and "Fix:" in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    names = ["broken.joblib", "scored", out.resolve().name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)


def test_unwritable_output_folder_exits_2_and_writes_nothing(
    world: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the output folder's parent should be")
    out = blocker / "scored"
    code = run(
        [
            "score",
            str(world["data"]),
            "--model",
            str(world["model"]),
            "-c",
            str(world["cfg"]),
            "--out",
            str(out),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert str(blocker) in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not_a_folder"]


def test_evaluate_writes_metrics_and_report(world: dict[str, Path], tmp_path: Path) -> None:
    report = tmp_path / "report"
    code = run(
        [
            "evaluate",
            str(world["out"]),
            "--labels",
            str(world["data"] / "labels.csv"),
            "--out",
            str(report),
        ]
    )
    assert code == 0
    metrics = json.loads((report / "metrics.json").read_text())
    card = metrics["entity_types"]["card"]
    assert card["model"]["roc_auc"] is None or 0 <= card["model"]["roc_auc"] <= 1
    assert f"precision@{card['capacity']}" in card["model"]
    explanations = metrics["explanations"]
    assert explanations["true_alerts"] >= 5
    # Reasons agree with the planted truth: the scenario's signal is in the top 3 reasons.
    assert explanations["hit_rate"] >= 0.9, explanations["per_scenario"]
    html = (report / "report.html").read_text()
    assert "data:image/png;base64," in html and "<script" not in html
    assert "Drift" in html


def test_evaluate_with_reviewer_decisions(world: dict[str, Path], tmp_path: Path) -> None:
    alerts = pd.read_parquet(world["out"] / "alerts.parquet")
    labels = pd.read_csv(world["data"] / "labels.csv", dtype=str)
    planted = set(zip(labels["entity_type"], labels["entity_id"], strict=True))
    decisions = alerts[["entity_type", "entity_id"]].copy()
    is_abuse = [
        (t, i) in planted for t, i in zip(decisions.entity_type, decisions.entity_id, strict=True)
    ]
    decisions["scenario"] = ""
    decisions["decision"] = ["confirmed" if a else "dismissed" for a in is_abuse]
    decisions.loc[decisions.index[:2], "decision"] = "needs_information"
    decisions["reviewer"] = "r1"
    decisions["decided_at"] = "2024-03-01T10:00:00"
    path = tmp_path / "decisions.csv"
    decisions.to_csv(path, index=False)
    report = tmp_path / "report"
    assert run(["evaluate", str(world["out"]), "--labels", str(path), "--out", str(report)]) == 0
    metrics = json.loads((report / "metrics.json").read_text())
    rows = {r["entity_type"]: r for r in metrics["reviewer"]}
    total = sum(r["alerts"] for r in rows.values())
    assert total == len(alerts)
    confirmed = sum(r["confirmed"] for r in rows.values())
    dismissed = sum(r["dismissed"] for r in rows.values())
    assert confirmed + dismissed == len(alerts) - 2
    assert sum(r["other_decision"] for r in rows.values()) == 2


def _shift(src: Path, dst: Path) -> None:
    """The same month with new facilities for half the claims and doubled prices."""
    dst.mkdir()
    claims = pd.read_parquet(src / "claims.parquet")
    facilities = pd.read_parquet(src / "facilities.parquet")
    lines = pd.read_parquet(src / "claim_lines.parquet")
    moved = claims["facility_id"].isin(facilities["facility_id"].iloc[::2])
    claims.loc[moved, "facility_id"] = "NEW" + claims.loc[moved, "facility_id"]
    new_fac = facilities.loc[facilities["facility_id"].isin(facilities["facility_id"].iloc[::2])]
    new_fac = new_fac.assign(facility_id="NEW" + new_fac["facility_id"])
    for col in ("total_cost", "insurance_paid", "drug_cost", "supply_cost"):
        if col in claims:
            claims[col] = claims[col] * 2
    lines["amount"] = lines["amount"] * 2
    claims.to_parquet(dst / "claims.parquet", index=False)
    lines.to_parquet(dst / "claim_lines.parquet", index=False)
    pd.concat([facilities, new_fac]).to_parquet(dst / "facilities.parquet", index=False)
    pd.read_parquet(src / "cards.parquet").to_parquet(dst / "cards.parquet", index=False)


def test_drift_shifted_population_fails_unshifted_passes(
    world: dict[str, Path], tmp_path: Path
) -> None:
    base = ["--model", str(world["model"]), "-c", str(world["cfg"]), "--fail-on-drift"]
    ok = tmp_path / "ok"
    assert run(["score", str(world["data"]), *base, "--out", str(ok)]) == 0
    drift = json.loads((ok / "run.json").read_text())["drift"]
    assert drift["drifted"] is False, drift["problems"]

    shifted = tmp_path / "shifted_data"
    _shift(world["data"], shifted)
    out = tmp_path / "shifted"
    assert run(["score", str(shifted), *base, "--out", str(out)]) == 3
    drift = json.loads((out / "run.json").read_text())["drift"]  # outputs are still written
    assert drift["drifted"] is True
    assert drift["unseen_facility_share"] > drift["limits"]["unseen_share_limit"]
    cost_psi = [v for f, v in drift["top_psi"].items() if "cost" in f]
    assert cost_psi and max(cost_psi) > drift["limits"]["psi_limit"]


def test_partitioned_scoring_matches_single_pass(world: dict[str, Path]) -> None:
    """Card-hash and facility partitions give the same features, scores and alerts."""
    from claimguard.io.load import load_dataset
    from claimguard.model.bundle import load_bundle
    from claimguard.scoring.score import score_dataset
    from claimguard.settings import load_settings

    ds = load_dataset(world["data"])
    bundle = load_bundle(world["model"])
    settings = load_settings(world["cfg"])
    single = score_dataset(ds, bundle, settings)
    parts = score_dataset(ds, bundle, settings, partition_rows=len(ds.claims) // 3)
    a = single.scores.set_index(["entity_type", "entity_id"])["score"].sort_index()
    b = parts.scores.set_index(["entity_type", "entity_id"])["score"].sort_index()
    pd.testing.assert_series_equal(a, b, check_exact=False, rtol=1e-9)
    assert list(single.alerts["alert_id"]) == list(parts.alerts["alert_id"])
    # Card features only need the card's own claims: reasons and evidence are identical.
    # (A few peer-relative facility features use card context across facilities, so facility
    # reasons may differ slightly between partitionings.)
    cards_a = single.alerts.loc[single.alerts["entity_type"] == "card"]
    cards_b = parts.alerts.loc[parts.alerts["entity_type"] == "card"]
    assert list(cards_a["reasons"]) == list(cards_b["reasons"])
    # Evidence may order claims differently: claim_flags built for one entity type only
    # carry that type's signal strengths. The same claims still come first.
    for ev_a, ev_b in zip(
        cards_a["evidence_claim_ids"], cards_b["evidence_claim_ids"], strict=True
    ):
        a_ids, b_ids = json.loads(ev_a), json.loads(ev_b)
        assert len(a_ids) == len(b_ids)
        assert len(set(a_ids) & set(b_ids)) >= len(a_ids) / 2


def test_scoring_in_blocks_matches_one_block(world: dict[str, Path]) -> None:
    """Scoring entities in blocks (bounded memory) gives exactly the unblocked scores."""
    from claimguard.io.load import load_dataset
    from claimguard.model.bundle import load_bundle
    from claimguard.scoring.score import _restrict_to_period, build_partitioned, score_in_blocks

    ds = load_dataset(world["data"])
    bundle = load_bundle(world["model"])
    claims, lines, period = _restrict_to_period(ds, None)
    fs, _ = build_partitioned(claims, lines, ds, bundle, period, len(claims))
    whole = bundle.score(fs)
    blocks = score_in_blocks(bundle, fs, rows=len(fs.card) // 3 + 1)
    assert set(blocks) == set(whole)
    for entity_type, frame in whole.items():
        pd.testing.assert_frame_equal(blocks[entity_type], frame)


def test_demo_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert run(["demo", "--claims", "8000", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Top alerts" in printed and "claimguard serve" in printed
    assert (out / "report" / "report.html").exists()
    assert (out / "scored" / "alerts.parquet").exists()
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    assert set(metrics["entity_types"]) == {"card", "facility"}
    assert metrics["entity_types"]["card"]["baselines"]  # naive baselines side by side


def test_period_limits_the_claims_scored(
    world: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "half"
    base = ["score", str(world["data"]), "--model", str(world["model"]), "-c", str(world["cfg"])]
    assert run([*base, "--out", str(out), "--period", "2024-02-01..2024-02-14"]) == 0
    record = json.loads((out / "run.json").read_text())
    assert (record["period_start"], record["period_end"]) == ("2024-02-01", "2024-02-14")
    full = json.loads((world["out"] / "run.json").read_text())
    assert 0 < record["claims_scored"] < full["claims_scored"]
    scores = pd.read_parquet(out / "scores.parquet")
    assert (scores["period_end"] == pd.Timestamp("2024-02-14")).all()
    capsys.readouterr()
    assert run([*base, "--out", str(out), "--period", "2024-02-14..2024-02-01"]) == 2
    assert "--period" in capsys.readouterr().err


def test_features_by_partition_equal_one_pass_and_the_command_uses_them(
    world: dict[str, Path], tmp_path: Path
) -> None:
    """features.partitioned: card features of card-hash partitions are exactly those of one
    pass with the same peers; every claim's flags reach the sink once per entity type;
    `claimguard features --model` writes the bundle-peer features."""
    import numpy as np

    from claimguard.features.build import build_features
    from claimguard.features.partitioned import build_partitioned
    from claimguard.io.load import load_dataset
    from claimguard.model.bundle import load_bundle

    ds = load_dataset(world["data"])
    bundle = load_bundle(world["model"])
    kw = {"peers": bundle.peers, "settings": bundle.settings.features}
    whole = build_features(ds.claims, ds.claim_lines, ds.cards, ds.facilities, **kw)
    seen: dict[str, list[np.ndarray]] = {"card": [], "facility": []}
    parts = build_partitioned(
        ds.claims,
        ds.claim_lines,
        ds.cards,
        ds.facilities,
        period=(whole.period_start, whole.period_end),
        partition_rows=len(ds.claims) // 4,
        on_flags=lambda entity, flags, rows: seen[entity].append(rows),
        **kw,
    )
    assert parts.claim_flags is None
    pd.testing.assert_frame_equal(parts.card.loc[whole.card.index], whole.card)
    assert set(parts.facility.index) == set(whole.facility.index)
    for entity in ("card", "facility"):
        rows = np.sort(np.concatenate(seen[entity]))
        np.testing.assert_array_equal(rows, np.arange(len(ds.claims)))

    out = tmp_path / "features"
    assert (
        run(["features", str(world["data"]), "--model", str(world["model"]), "--out", str(out)])
        == 0
    )
    card = pd.read_parquet(out / "card_features.parquet")
    pd.testing.assert_frame_equal(
        card.loc[whole.card.index], whole.card, check_names=False, check_index_type=False
    )
    flags = pd.read_parquet(out / "claim_flags.parquet")
    assert len(flags) == len(ds.claims)
    assert (flags[[c for c in SIGNALS if c in flags.columns]] > 0).any().any()


def test_partition_size_comes_from_the_config(
    world: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """scoring.partition_claims sets the feature partitions of a scoring run."""
    import logging

    from claimguard.io.load import load_dataset
    from claimguard.model.bundle import load_bundle
    from claimguard.scoring.score import score_dataset
    from claimguard.settings import load_settings

    ds = load_dataset(world["data"])
    settings = load_settings(world["cfg"])
    small = settings.model_copy(
        update={
            "scoring": settings.scoring.model_copy(
                update={"partition_claims": len(ds.claims) // 2 + 1}
            )
        }
    )
    with caplog.at_level(logging.INFO, logger="claimguard"):
        result = score_dataset(ds, load_bundle(world["model"]), small)
    assert "Building features in 2 card and 2 facility partitions" in caplog.text
    assert len(result.scores) > 0
