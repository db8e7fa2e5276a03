"""The alert store on SQLite and PostgreSQL: loading, decisions, concurrency, export."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from claimguard.cli import run
from claimguard.errors import InputFileError
from claimguard.schema import DECISION_COLUMNS
from claimguard.triage.export import labels_frame, write_labels
from claimguard.triage.load import load_folder
from claimguard.triage.sample import write_sample_folder
from claimguard.triage.store import Base, QueueFilter, Store, note_scenario


def test_migrated_schema_matches_the_models(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_reopening_a_store_keeps_its_data(store: Store, db_url: str, scored_folder: Path) -> None:
    load_folder(store, scored_folder)
    again = Store.open(db_url)  # migrations run again: a no-op
    assert again.facets().total == 36
    assert again.secret() == store.secret()
    again.close()


def test_loading_twice_does_not_duplicate(store: Store, scored_folder: Path) -> None:
    first = load_folder(store, scored_folder)
    second = load_folder(store, scored_folder)
    assert first.new_alerts == first.alerts == 36
    assert second.new_alerts == 0 and second.updated_alerts == 36
    page = store.queue(QueueFilter(), page_size=500)
    assert page.total == 36 and len({r["alert_id"] for r in page.rows}) == 36
    alert = store.alert(page.rows[0]["alert_id"])
    assert alert is not None
    assert len(store.claims(alert["evidence_claim_ids"])) == alert["n_evidence"] == 4
    assert all(c["n_lines"] == 2 for c in store.claims(alert["evidence_claim_ids"]))


def test_newer_run_keeps_earlier_decisions(store: Store, tmp_path: Path) -> None:
    old = write_sample_folder(tmp_path / "run1", n_cards=10, n_facilities=2, seed=1)
    load_folder(store, tmp_path / "run1")
    decided = old["alert_id"].iloc[0]
    store.record_decision(decided, "confirmed_abuse", "ann", "#borrowed_card seen twice")
    # the next run re-scores the same entities with new scores (same model, same period)
    new = write_sample_folder(tmp_path / "run2", n_cards=12, n_facilities=2, seed=9)
    summary = load_folder(store, tmp_path / "run2")
    assert summary.updated_alerts == 12 and summary.new_alerts == 2
    alert = store.alert(decided)
    assert alert is not None
    assert alert["status"] == "confirmed_abuse" and alert["status_reviewer"] == "ann"
    assert alert["score"] == pytest.approx(float(new.set_index("alert_id").loc[decided, "score"]))
    assert [h["decision"] for h in store.history(decided)] == ["confirmed_abuse"]


def test_a_new_model_version_joins_the_cases_and_keeps_their_decisions(
    store: Store, tmp_path: Path
) -> None:
    old = write_sample_folder(tmp_path / "a", n_cards=5, n_facilities=1, model_version="m1")
    load_folder(store, tmp_path / "a")
    decided = old["alert_id"].iloc[0]
    store.record_decision(decided, "dismissed", "bo", "dialysis patient")
    new = write_sample_folder(tmp_path / "b", n_cards=5, n_facilities=1, model_version="m2")
    summary = load_folder(store, tmp_path / "b")
    assert store.facets().total == 6 and summary.joined == 6 and summary.new_alerts == 0
    assert store.alert(new["alert_id"].iloc[0]) is None  # no second case for the entity
    case = store.alert(decided)
    assert case is not None and case["status"] == "dismissed"
    assert [h["decision"] for h in store.history(decided)] == ["dismissed"]
    assert [r["model_version"] for r in store.case_runs(decided)] == ["m2", "m1"]


def test_decisions_are_appended_and_latest_is_shown(store: Store, scored_folder: Path) -> None:
    load_folder(store, scored_folder)
    aid = store.queue(QueueFilter()).rows[0]["alert_id"]
    store.record_decision(aid, "needs_information", "ann", "ask for the X-ray")
    store.record_decision(aid, "confirmed_abuse", "bo", "#medicine_hoarding")
    hist = store.history(aid)
    assert [h["decision"] for h in hist] == ["confirmed_abuse", "needs_information"]
    assert store.alert(aid)["status"] == "confirmed_abuse"  # type: ignore[index]
    assert store.queue(QueueFilter(status="confirmed_abuse")).total == 1
    assert store.queue(QueueFilter(status="open")).total == 35
    assert store.record_decision("no-such-alert", "dismissed", "ann") is None
    with pytest.raises(ValueError):
        store.record_decision(aid, "approved", "ann")


def test_two_reviewers_at_once_are_both_recorded(store: Store, scored_folder: Path) -> None:
    load_folder(store, scored_folder)
    aid = store.queue(QueueFilter()).rows[0]["alert_id"]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def review(name: str, decision: str) -> None:
        try:
            barrier.wait()
            for i in range(5):
                store.record_decision(aid, decision, name, f"pass {i}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=review, args=("ann", "confirmed_abuse")),
        threading.Thread(target=review, args=("bo", "dismissed")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    hist = store.history(aid)
    assert len(hist) == 10
    assert sorted({h["reviewer"] for h in hist}) == ["ann", "bo"]
    shown = store.alert(aid)
    assert shown is not None
    assert (shown["status"], shown["status_reviewer"]) == (hist[0]["decision"], hist[0]["reviewer"])


def test_queue_filters_and_paging(store: Store, scored_folder: Path) -> None:
    alerts = pd.read_parquet(scored_folder / "alerts.parquet")
    load_folder(store, scored_folder)
    everything = store.queue(QueueFilter(), page_size=500).rows
    scores = [r["score"] for r in everything]
    assert scores == sorted(scores, reverse=True)
    p1 = store.queue(QueueFilter(), page_size=10)
    p2 = store.queue(QueueFilter(), after=p1.next_cursor, page_size=10)
    assert [r["alert_id"] for r in p1.rows + p2.rows] == [r["alert_id"] for r in everything[:20]]
    cards = store.queue(QueueFilter(entity_type="card"), page_size=500)
    assert cards.total == int((alerts["entity_type"] == "card").sum())
    signals = alerts["reasons"].map(lambda r: {x["signal"] for x in json.loads(r)})
    want = int(signals.map(lambda s: "cost" in s).sum())
    assert store.queue(QueueFilter(signal="cost")).total == want > 0
    hi = store.queue(QueueFilter(score_min=0.8, score_max=0.95), page_size=500)
    assert hi.total == int(alerts["score"].between(0.8, 0.95).sum())
    assert all(0.8 <= r["score"] <= 0.95 for r in hi.rows)
    fac = store.queue(QueueFilter(tier="central"), page_size=500)
    assert fac.total > 0 and all(r["tier"] == "central" for r in fac.rows)
    prov = store.facets().provinces[0]
    assert all(r["province"] == prov for r in store.queue(QueueFilter(province=prov)).rows)


def test_context_files_may_be_absent(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "bare"
    write_sample_folder(folder, n_cards=3, n_facilities=1)
    for name in ("evidence_lines", "card_facilities", "doctor_days", "entity_info"):
        (folder / f"{name}.parquet").unlink()
    summary = load_folder(store, folder)
    assert summary.context["evidence_lines"] is None
    assert summary.context["evidence_claims"] == 16 + 3 * 2  # evidence and other card visits
    alert = store.alert(store.queue(QueueFilter()).rows[0]["alert_id"])
    assert alert is not None and alert["province"] is None
    assert alert["context"]["doctor_days"] is None


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "alerts.parquet").unlink(), "No alerts.parquet"),
        (
            lambda f: (
                pd.read_parquet(f / "alerts.parquet")
                .drop(columns=["reasons"])
                .to_parquet(f / "alerts.parquet")
            ),
            "lacks column(s) reasons",
        ),
        (lambda f: (f / "alerts.parquet").write_text("not parquet"), "Cannot read alerts.parquet"),
        (
            lambda f: (
                pd.read_parquet(f / "alerts.parquet")
                .assign(reasons="[{broken")
                .to_parquet(f / "alerts.parquet")
            ),
            "is not JSON",
        ),
    ],
)
def test_bad_folders_raise_user_errors(
    store: Store, scored_folder: Path, damage: object, message: str
) -> None:
    damage(scored_folder)  # type: ignore[operator]
    with pytest.raises(InputFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_folder(store, scored_folder)
    assert store.facets().total == 0  # nothing half-loaded


def test_note_tags_set_the_scenario() -> None:
    assert note_scenario("same face twice #borrowed_card, see photo") == "borrowed_card"
    assert note_scenario("no tag here; &#39; is not one") is None


def test_export_layout_latest_and_history(
    store: Store, scored_folder: Path, tmp_path: Path
) -> None:
    load_folder(store, scored_folder)
    rows = store.queue(QueueFilter()).rows
    a, b = rows[0], rows[1]
    store.record_decision(a["alert_id"], "needs_information", "ann", "")
    store.record_decision(a["alert_id"], "confirmed_abuse", "bo", "clear case #phantom_visits")
    store.record_decision(b["alert_id"], "dismissed", "ann", "")
    latest = labels_frame(store)
    assert list(latest.columns) == list(DECISION_COLUMNS)
    got = latest.set_index("entity_id")
    assert got.loc[a["entity_id"], "scenario"] == "phantom_visits"
    assert got.loc[a["entity_id"], "decision"] == "confirmed_abuse"
    assert got.loc[b["entity_id"], "scenario"] == b["top_signal"]
    assert len(labels_frame(store, history=True)) == 3
    out = tmp_path / "labels.csv"
    assert write_labels(store, out) == 2
    back = pd.read_csv(out)
    assert list(back.columns) == list(DECISION_COLUMNS)
    assert back["decided_at"].str.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$").all()


def test_cli_export_writes_labels(
    store: Store, db_url: str, scored_folder: Path, tmp_path: Path
) -> None:
    load_folder(store, scored_folder)
    aid = store.queue(QueueFilter()).rows[0]["alert_id"]
    store.record_decision(aid, "dismissed", "ann", "")
    out = tmp_path / "out" / "labels.csv"
    assert run(["triage", "export", "--db", db_url, "--out", str(out)]) == 0
    assert pd.read_csv(out)["decision"].tolist() == ["dismissed"]


def test_cli_errors_are_one_paragraph(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 't.db'}"
    assert run(["serve", str(tmp_path / "missing"), "--db", db]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert run(["triage", "export", "--db", "mysql://x@y/z", "--out", "x.csv"]) == 2
    assert "Unsupported database" in capsys.readouterr().err


def test_queue_shows_the_reason_of_the_filtered_signal(store: Store, scored_folder: Path) -> None:
    load_folder(store, scored_folder)
    for row in store.queue(QueueFilter(signal="cost"), page_size=500).rows:
        alert = store.alert(row["alert_id"])
        assert alert is not None
        cost = next(x for x in alert["reasons"] if x["signal"] == "cost")
        assert row["first_reason"] == cost["text"]
        assert row["more_reasons"] == len(alert["reasons"]) - 1


def test_integer_ids_in_context_files_still_match(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "ints"
    alerts = write_sample_folder(folder, n_cards=3, n_facilities=1)
    claims = pd.read_parquet(folder / "evidence_claims.parquet")
    lines = pd.read_parquet(folder / "evidence_lines.parquet")
    mapping = {cid: i for i, cid in enumerate(claims["claim_id"])}
    claims["claim_id"] = claims["claim_id"].map(mapping).astype("int64")
    lines["claim_id"] = lines["claim_id"].map(mapping).astype("int64")
    alerts["evidence_claim_ids"] = alerts["evidence_claim_ids"].map(
        lambda s: json.dumps([mapping[c] for c in json.loads(s)])
    )
    claims.to_parquet(folder / "evidence_claims.parquet")
    lines.to_parquet(folder / "evidence_lines.parquet")
    alerts.to_parquet(folder / "alerts.parquet")
    load_folder(store, folder)
    alert = store.alert(str(alerts["alert_id"].iloc[0]))
    assert alert is not None
    shown = store.claims(alert["evidence_claim_ids"])
    assert len(shown) == 4 and all(c["n_lines"] == 2 for c in shown)
