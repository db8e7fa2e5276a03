"""End to end on a real scored folder: `claimguard train` + `claimguard score`, then triage.

The dataset is small and hand-made (canonical columns, seeded), with a `<script>` in a
claim field, so the test depends only on the train and score commands, not on the
synthetic generator.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from claimguard.cli import run
from claimguard.triage.app import create_app
from claimguard.triage.load import load_folder
from claimguard.triage.store import QueueFilter, Store
from tests.triage.pages import signed_in

EVIL = "<script>alert('x')</script>"


def _dataset(out: Path, n: int = 6000, cards: int = 600, facilities: int = 20) -> None:
    rng = np.random.default_rng(5)
    card = rng.integers(0, cards, n)
    fac = rng.integers(0, facilities, n)
    admit = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 30 * 1440, n), "min")
    claims = pd.DataFrame(
        {
            "claim_id": [f"C{i}" for i in range(n)],
            "card_id": [f"HN{c:05d}" for c in card],
            "facility_id": [f"F{f:03d}" for f in fac],
            "admit_time": admit,
            "visit_type": rng.choice(["outpatient", "inpatient"], n, p=[0.85, 0.15]),
            "primary_dx": rng.choice(["J06.9", "I10", "E11.9", "K29.7"], n),
            "secondary_dx": EVIL,
            "total_cost": rng.lognormal(12, 1, n).round(-3),
            "doctor_id": [f"D{f:03d}-{d}" for f, d in zip(fac, rng.integers(0, 4, n), strict=True)],
        }
    )
    # a few heavy cards and one busy facility, so there is something to find
    heavy = claims.index[:300]
    claims.loc[heavy, "card_id"] = [f"HN{c:05d}" for c in rng.integers(0, 5, len(heavy))]
    claims.loc[claims.index[300:900], "facility_id"] = "F999"
    out.mkdir(parents=True)
    claims.to_parquet(out / "claims.parquet", index=False)
    lines = pd.DataFrame(
        {
            "claim_id": np.repeat(claims["claim_id"].to_numpy(), 2),
            "line_type": "drug",
            "item_code": "PARA500",
            "quantity": 10.0,
            "amount": 10_000.0,
        }
    )
    lines.to_parquet(out / "claim_lines.parquet", index=False)
    ids = [f"F{f:03d}" for f in range(facilities)] + ["F999"]
    pd.DataFrame(
        {
            "facility_id": ids,
            "province": rng.choice(["Ha Noi", "Hue"], len(ids)),
            "tier": rng.choice(["district", "provincial"], len(ids)),
        }
    ).to_parquet(out / "facilities.parquet", index=False)


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train and score once for both store backends (MLflow kept in the temp folder)."""
    tmp = tmp_path_factory.mktemp("e2e")
    data, model, scored = tmp / "data", tmp / "model.bundle", tmp / "scored"
    _dataset(data)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp / 'mlflow.db'}")
        mp.chdir(tmp)
        assert run(["train", str(data), "--model-out", str(model)]) == 0
        assert run(["score", str(data), "--model", str(model), "--out", str(scored)]) == 0
    return scored


@pytest.mark.slow
def test_triage_on_a_real_scored_folder(scored: Path, db_url: str) -> None:
    alerts = pd.read_parquet(scored / "alerts.parquet")
    assert len(alerts) > 0

    store = Store.open(db_url)
    first = load_folder(store, scored)
    again = load_folder(store, scored)
    assert first.new_alerts == len(alerts) and again.updated_alerts == len(alerts)
    client = signed_in(create_app(store))

    queue = client.get("/queue")
    assert queue.status_code == 200 and f"<b>{len(alerts):,}</b> cases match" in queue.text
    for etype in alerts["entity_type"].unique():
        row = store.queue(QueueFilter(entity_type=str(etype))).rows[0]
        page = client.get(f"/alerts/{row['alert_id']}")
        assert page.status_code == 200
        alert = store.alert(row["alert_id"])
        assert alert is not None
        for reason in alert["reasons"]:
            assert str(reason["signal"]).replace("_", " ") in page.text
        if alert["evidence_claim_ids"]:
            assert alert["evidence_claim_ids"][0] in page.text
            assert "&lt;script&gt;" in page.text and EVIL not in page.text
        assert "has no <code>evidence_claims.parquet" not in page.text

    aid = store.queue(QueueFilter()).rows[0]["alert_id"]
    page = client.get(f"/alerts/{aid}").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    posted = client.post(
        f"/alerts/{aid}/decisions",
        data={"decision": "confirmed_abuse", "reviewer": "ann", "note": "", "csrf_token": token},
        follow_redirects=False,
    )
    assert posted.status_code == 303
    labels = pd.read_csv(io.StringIO(client.get("/export/labels.csv").text))
    top = alerts.set_index("alert_id").loc[aid]
    assert labels[["entity_type", "entity_id", "scenario", "decision"]].values.tolist() == [
        [top["entity_type"], top["entity_id"], top["top_signal"], "confirmed_abuse"]
    ]
    store.close()
