"""The Spark engine against the local path, in a real local[2] Spark session.

Parity: features built on Spark (validation per key bucket, peers fitted as merged
partial sums, card and facility partitions) equal the local single-pass build to float32
tolerance. Accounting: on a dataset with bad rows, Spark's valid and quarantined rows are
those of the local validation, and rows in = valid + quarantined per table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyspark", reason="pyspark is not installed: pip install -e '.[spark]'")

from claimguard.cli import run  # noqa: E402
from claimguard.features.build import build_features  # noqa: E402
from claimguard.features.peers import fit_peers  # noqa: E402
from claimguard.io.load import load_dataset  # noqa: E402
from claimguard.settings import FeatureSettings  # noqa: E402
from claimguard.spark.data import load_dataset_spark  # noqa: E402
from claimguard.spark.features import build_features_spark  # noqa: E402
from tests.spark.conftest import PARTITIONS  # noqa: E402

pytestmark = [pytest.mark.spark, pytest.mark.slow]

RTOL = 1e-5  # float32 tolerance (sums in another order)


def _same_table(spark_table: pd.DataFrame, local: pd.DataFrame) -> None:
    assert list(spark_table.columns) == list(local.columns)
    assert set(spark_table.index) == set(local.index)
    a = spark_table.reindex(local.index).to_numpy(dtype=np.float64)
    np.testing.assert_allclose(a, local.to_numpy(dtype=np.float64), rtol=RTOL, atol=1e-6)


def test_features_on_spark_equal_the_local_build(
    spark: Any, spark_ds: Any, small_dir: Path
) -> None:
    settings = FeatureSettings()
    sds = spark_ds
    sf = build_features_spark(spark, sds, settings, partitions=PARTITIONS)
    local = load_dataset(small_dir)
    fs = build_features(
        local.claims, local.claim_lines, local.cards, local.facilities, settings=settings
    )
    assert sds.counts == local.counts
    card = sf.card.toPandas().set_index("card_id")
    facility = sf.facility.toPandas().set_index("facility_id")
    assert len(card) > 1000 and len(facility) > 100
    _same_table(card, fs.card)
    _same_table(facility, fs.facility)
    assert sf.switched_off == fs.switched_off
    assert (sf.period_start, sf.period_end) == (fs.period_start, fs.period_end)
    # peers merged from per-partition sums = peers fitted on all claims at once
    peers = fit_peers(
        local.claims, local.claim_lines, local.cards, local.facilities, settings=settings
    )
    assert set(sf.peers.stats) == set(peers.stats)
    for name, table in peers.stats.items():
        got = sf.peers.stats[name]
        pd.testing.assert_frame_equal(
            got.reset_index(drop=True), table.reset_index(drop=True), rtol=RTOL
        )
    pd.testing.assert_frame_equal(sf.peers.tier_stats, peers.tier_stats, rtol=RTOL)
    pd.testing.assert_frame_equal(sf.peers.dx_demography, peers.dx_demography)
    assert list(sf.peers.dx4_vocab) == list(peers.dx4_vocab)
    # per-claim evidence: one row per claim, the same signals, the local strengths
    flags = sf.claim_flags.toPandas().set_index("claim_id").sort_index()
    local_flags = fs.claim_flags.set_index("claim_id").sort_index()
    assert list(flags.columns) == list(local_flags.columns)
    assert flags.index.equals(local_flags.index)
    signals = [c for c in flags.columns if c not in ("card_id", "facility_id")]
    np.testing.assert_allclose(
        flags[signals].to_numpy(np.float64), local_flags[signals].to_numpy(np.float64), atol=1e-5
    )


def _bad_dataset(src: Path, out: Path) -> None:
    """``src`` with planted bad rows in every table (all kinds the quarantine knows)."""
    out.mkdir()
    claims = pd.read_parquet(src / "claims.parquet")
    lines = pd.read_parquet(src / "claim_lines.parquet")
    cards = pd.read_parquet(src / "cards.parquet")
    facilities = pd.read_parquet(src / "facilities.parquet")
    claims = claims.astype({"total_cost": "float64"})
    claims.loc[3, "total_cost"] = -5.0  # required, out of range: quarantined
    claims.loc[7, "card_id"] = None  # required missing: quarantined
    claims.loc[11, "sick_leave_days"] = 99999.0  # optional, implausible: nulled
    claims.loc[13, "card_id"] = "ｘ" + str(claims.loc[13, "card_id"])  # lookalike: normalised
    dup = claims.iloc[[20, 21]].copy()  # duplicate claim ids: later copies quarantined
    claims = pd.concat([claims, dup], ignore_index=True)
    orphan = lines.iloc[[0]].copy()
    orphan["claim_id"] = "NO-SUCH-CLAIM"
    lines = pd.concat([lines, orphan], ignore_index=True)  # line of no claim
    lines.loc[5, "quantity"] = 0.0  # required, must be > 0
    cards = pd.concat([cards, cards.iloc[[1]]], ignore_index=True)  # duplicate card
    facilities.loc[2, "beds"] = -1.0  # optional: nulled
    claims.to_parquet(out / "claims.parquet", index=False)
    lines.to_parquet(out / "claim_lines.parquet", index=False)
    cards.to_parquet(out / "cards.parquet", index=False)
    facilities.to_parquet(out / "facilities.parquet", index=False)


def test_quarantine_on_spark_accounts_for_every_row(
    spark: Any, small_dir: Path, tmp_path: Path
) -> None:
    data = tmp_path / "bad"
    _bad_dataset(small_dir, data)
    sds = load_dataset_spark(spark, str(data))
    local = load_dataset(data)
    assert sds.counts == local.counts
    for name, c in sds.counts.items():
        assert c["in"] == c["valid"] + c["quarantined"], name
        assert sds.tables[name].count() == c["valid"]
    assert sds.counts["claims"]["quarantined"] == 4  # cost, card, two duplicates
    cols = ["table", "source_row", "column", "action", "reason"]
    got = sds.quarantine.toPandas()[cols].sort_values(cols).reset_index(drop=True)
    want = local.quarantine[cols].astype({"source_row": "int64"})
    want = want.sort_values(cols).reset_index(drop=True)
    pd.testing.assert_frame_equal(got.astype(str), want.astype(str))
    assert {"quarantined", "nulled", "normalised"} <= set(got["action"])
    # the lines of a quarantined claim, and the orphan line, are among the removed lines
    reasons = set(got.loc[got["table"] == "claim_lines", "reason"])
    assert "claim_id not among the claims" in reasons


def test_features_command_on_spark_writes_the_local_tables(
    spark: Any, small_dir: Path, tmp_path: Path
) -> None:
    local_out, spark_out = tmp_path / "local", tmp_path / "spark"
    assert run(["features", str(small_dir), "--out", str(local_out)]) == 0
    args = ["features", str(small_dir), "--out", str(spark_out), "--engine", "spark"]
    assert run([*args, "--spark-master", "local[2]"]) == 0
    for name, key in (("card_features", "card_id"), ("facility_features", "facility_id")):
        want = pd.read_parquet(local_out / f"{name}.parquet")
        got = pd.read_parquet(spark_out / f"{name}.parquet").set_index(key)
        _same_table(got, want)
    assert json.loads((spark_out / "switched_off.json").read_text()) == json.loads(
        (local_out / "switched_off.json").read_text()
    )
    flags = pd.read_parquet(spark_out / "claim_flags.parquet")
    assert len(flags) == len(pd.read_parquet(local_out / "claim_flags.parquet"))


def test_unknown_engine_is_a_usage_error(small_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "x"
    assert run(["features", str(small_dir), "--out", str(out), "--engine", "gpu"]) == 2
    assert not out.exists()


def test_scores_and_alert_ids_on_spark_equal_the_local_ones(
    spark: Any, spark_ds: Any, small_dir: Path, tmp_path: Path
) -> None:
    from claimguard.model.bundle import load_bundle
    from claimguard.scoring.alerts import alert_ids, rank_scores, select_alerts
    from claimguard.spark.scoring import score_spark, top_alerts

    cfg = tmp_path / "config.yaml"
    cfg.write_text("model:\n  n_estimators: 30\n")
    model = tmp_path / "model.joblib"
    assert run(["train", str(small_dir), "--config", str(cfg), "--model-out", str(model)]) == 0
    bundle = load_bundle(model)
    settings = bundle.settings.features
    local = load_dataset(small_dir)
    fs = build_features(
        local.claims,
        local.claim_lines,
        local.cards,
        local.facilities,
        peers=bundle.peers,
        settings=settings,
    )
    want = bundle.score(fs)
    sf = build_features_spark(spark, spark_ds, settings, peers=bundle.peers)
    got = score_spark(spark, sf, bundle)
    for entity, frame in got.items():
        g = frame.toPandas().set_index("entity_id")
        w = want[entity]
        assert set(g.index) == set(w.index.astype(str))
        g = g.reindex(w.index.astype(str))
        np.testing.assert_allclose(g["score"], w["score"], rtol=RTOL, atol=1e-6)
        np.testing.assert_allclose(g["rule_score"], w["rule_score"], rtol=RTOL, atol=1e-6)
    capacity = {"card": 25, "facility": 5}
    period = (fs.period_start, fs.period_end)
    alerts = top_alerts(got, period, capacity, bundle.model_version)
    ranked = select_alerts(rank_scores(want, *period), capacity)
    local_ids = alert_ids(ranked, bundle.model_version)
    assert list(alerts["alert_id"]) == list(local_ids)
    assert list(alerts["rank"]) == list(ranked["rank"])
