"""The review team's queue: amount at stake, filters, keyset pages, one case per entity
and period, bulk actions (store on SQLite and PostgreSQL, pages with the TestClient)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from claimguard.triage.app import create_app
from claimguard.triage.load import load_folder
from claimguard.triage.sample import write_sample_folder
from claimguard.triage.store import CASE_STATES, Cursor, QueueFilter, Store
from tests.triage.conftest import add_test_users
from tests.triage.pages import csrf_token, sign_in

ITEM = re.compile(r'name="items" value="([^"]+)"')


def _expected_amounts(folder: Path) -> dict[str, float]:
    alerts = pd.read_parquet(folder / "alerts.parquet")
    claims = pd.read_parquet(folder / "evidence_claims.parquet")
    paid = claims.set_index(claims["claim_id"].astype(str))["insurance_paid"].fillna(0.0)
    return {
        str(a): float(sum(paid.get(c, 0.0) for c in json.loads(ev)))
        for a, ev in zip(alerts["alert_id"], alerts["evidence_claim_ids"], strict=True)
    }


def _walk(store: Store, f: QueueFilter, sort: str, size: int) -> list[list[str]]:
    pages: list[list[str]] = []
    after: Cursor | None = None
    while True:
        page = store.queue(f, sort=sort, after=after, page_size=size)
        pages.append([r["alert_id"] for r in page.rows])
        if page.next_cursor is None:
            return pages
        after = page.next_cursor


# --------------------------------------------------------------------------- store


def test_amount_at_stake_is_insurance_paid_on_the_evidence(
    store: Store, scored_folder: Path, tmp_path: Path
) -> None:
    load_folder(store, scored_folder)
    want = _expected_amounts(scored_folder)
    rows = store.queue(QueueFilter(), sort="amount", page_size=500).rows
    assert {r["alert_id"]: r["amount_at_stake"] for r in rows} == pytest.approx(want)
    assert min(want.values()) > 0
    amounts = [r["amount_at_stake"] for r in rows]
    assert amounts == sorted(amounts, reverse=True)
    # a folder without insurance_paid: nothing known to be at stake, not an error
    bare = tmp_path / "bare"
    write_sample_folder(bare, n_cards=3, n_facilities=1, model_version="nopaid")
    claims = pd.read_parquet(bare / "evidence_claims.parquet")
    claims.drop(columns=["insurance_paid"]).to_parquet(bare / "evidence_claims.parquet")
    load_folder(store, bare)
    got = store.queue(QueueFilter(model_version="nopaid"), page_size=50).rows
    assert got and all(r["amount_at_stake"] == 0.0 for r in got)


@pytest.mark.parametrize("sort", ["score", "amount"])
def test_keyset_pages_cover_the_queue_once_in_order_both_ways(
    store: Store, scored_folder: Path, sort: str
) -> None:
    load_folder(store, scored_folder)
    everything = [r["alert_id"] for r in store.queue(QueueFilter(), sort=sort, page_size=500).rows]
    pages = _walk(store, QueueFilter(), sort, 7)
    assert [a for p in pages for a in p] == everything and len(set(everything)) == 36
    assert [len(p) for p in pages] == [7, 7, 7, 7, 7, 1]
    # back from the last page with `before` gives the same pages
    page = store.queue(QueueFilter(), sort=sort, page_size=7)
    cursors = []
    while page.next_cursor is not None:
        cursors.append(page.next_cursor)
        page = store.queue(QueueFilter(), sort=sort, after=page.next_cursor, page_size=7)
    back = []
    while page.prev_cursor is not None:
        page = store.queue(QueueFilter(), sort=sort, before=page.prev_cursor, page_size=7)
        back.append([r["alert_id"] for r in page.rows])
    assert back == pages[-2::-1]
    assert page.prev_cursor is None  # the first page says so


def test_a_case_decided_between_pages_does_not_shift_the_next_page(
    store: Store, scored_folder: Path
) -> None:
    load_folder(store, scored_folder)
    f = QueueFilter(status="open")
    first = store.queue(f, page_size=10)
    want = [r["alert_id"] for r in store.queue(f, page_size=20).rows[10:]]
    store.record_decision(first.rows[0]["alert_id"], "dismissed", "ann", "duplicate")
    second = store.queue(f, after=first.next_cursor, page_size=10)
    assert [r["alert_id"] for r in second.rows] == want  # OFFSET would skip one here


def test_keyset_pages_are_served_by_an_index_without_offset(
    store: Store, scored_folder: Path
) -> None:
    if store.dialect != "sqlite":
        pytest.skip("the query plan is checked on SQLite (PostgreSQL plans depend on stats)")
    load_folder(store, scored_folder)
    statements: list[tuple[str, object]] = []

    def grab(_conn: object, _cur: object, statement: str, params: object, *_a: object) -> None:
        statements.append((statement, params))

    event.listen(store.engine, "before_cursor_execute", grab)
    page = store.queue(QueueFilter(), sort="amount", page_size=5)
    store.queue(QueueFilter(), sort="amount", after=page.next_cursor, page_size=5)
    event.remove(store.engine, "before_cursor_execute", grab)
    pages_sql = [(s, p) for s, p in statements if "LIMIT" in s]
    # SQLAlchemy writes SQLite's LIMIT as "LIMIT ? OFFSET 0": no row is ever skipped over
    assert len(pages_sql) == 2
    assert all(not s.rstrip().endswith("OFFSET ?") or p[-1] == 0 for s, p in pages_sql)  # type: ignore[index]
    with store.engine.connect() as conn:
        for sql, params in pages_sql:
            plan = " ".join(
                str(r[-1])
                for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)  # type: ignore[arg-type]
            )
            assert "ix_alerts_amount" in plan and "TEMP B-TREE" not in plan, plan


def test_queue_filters_case_columns_search_facility_run_and_counts(
    store: Store, scored_folder: Path, tmp_path: Path
) -> None:
    first = load_folder(store, scored_folder)
    rows = store.queue(QueueFilter(), page_size=500).rows
    a, b = rows[0]["alert_id"], rows[1]["alert_id"]
    store.change_case(a, "sam", "assign", None, assignee="rita", state="assigned")
    store.record_decision(b, "dismissed", "rita", "known patient")
    mine = store.queue(QueueFilter(assignee="rita"))
    assert [r["alert_id"] for r in mine.rows] == [a]
    page = store.queue(QueueFilter())
    assert page.state_counts == {"new": 34, "assigned": 1, "in_review": 0, "decided": 1,
                                 "reopened": 0}  # fmt: skip
    assert set(page.state_counts) == set(CASE_STATES)
    assert store.queue(QueueFilter(state="decided")).total == 1
    # the state tabs count under the other filters, not under the state itself
    assert store.queue(QueueFilter(state="decided")).state_counts["new"] == 34
    card = next(r for r in rows if r["entity_type"] == "card")
    found = store.queue(QueueFilter(search=card["entity_id"])).rows
    assert [r["alert_id"] for r in found] == [card["alert_id"]]
    # a facility: its own case and the cases of cards that visited it
    cf = pd.read_parquet(scored_folder / "card_facilities.parquet")
    fac = str(cf["facility_id"].iloc[0])
    visitors = set(cf.loc[cf["facility_id"] == fac, "entity_id"].astype(str))
    got = store.queue(QueueFilter(facility=fac), page_size=500).rows
    assert {r["entity_id"] for r in got if r["entity_type"] == "card"} == visitors
    amounts = sorted(r["amount_at_stake"] for r in rows)
    lo, hi = amounts[10], amounts[20]
    band = store.queue(QueueFilter(amount_min=lo, amount_max=hi), page_size=500)
    assert band.total == 11 and all(lo <= r["amount_at_stake"] <= hi for r in band.rows)
    other = tmp_path / "other"
    write_sample_folder(other, n_cards=3, n_facilities=0, seed=5, model_version="m-other")
    second = load_folder(store, other)
    assert store.queue(QueueFilter(run_id=first.run_id)).total == 36
    # same entities, same period: the other model's 3 alerts joined 3 existing cases
    assert second.joined == 3 and store.queue(QueueFilter(run_id=second.run_id)).total == 3
    assert store.queue(QueueFilter(model_version="m-other")).total == 3
    assert store.facets().total == 36


def test_two_models_for_one_period_make_one_case_per_entity(store: Store, tmp_path: Path) -> None:
    m1 = write_sample_folder(tmp_path / "m1", n_cards=8, n_facilities=2, model_version="m1")
    m2 = write_sample_folder(tmp_path / "m2", n_cards=8, n_facilities=2, seed=4, model_version="m2")
    r1 = load_folder(store, tmp_path / "m1")
    case = str(m1["alert_id"].iloc[0])
    store.record_decision(case, "confirmed_abuse", "ann", "#borrowed_card")
    r2 = load_folder(store, tmp_path / "m2")
    assert r2.new_alerts == 0 and r2.joined == 10
    rows = store.queue(QueueFilter(), page_size=500).rows
    keys = [(r["entity_type"], r["entity_id"], r["period_start"]) for r in rows]
    assert len(rows) == 10 and len(set(keys)) == 10
    runs = store.case_runs(case)
    assert [(r["run_id"], r["model_version"]) for r in runs] == [
        (r2.run_id, "m2"),
        (r1.run_id, "m1"),
    ]
    assert runs[0]["source_alert_id"] == str(m2["alert_id"].iloc[0])
    kept = store.alert(case)
    assert kept is not None and kept["status"] == "confirmed_abuse"
    assert [h["decision"] for h in store.history(case)] == ["confirmed_abuse"]
    with store.engine.connect() as conn:
        assert store.case_of(conn, str(m2["alert_id"].iloc[0])) == case
    # loading the second model again adds a run link, still no case
    again = load_folder(store, tmp_path / "m2")
    assert again.new_alerts == 0 and store.facets().total == 10
    assert len(store.case_runs(case)) == 3


def test_bulk_actions_check_versions_assignees_and_audit_each_case(
    store: Store, scored_folder: Path
) -> None:
    load_folder(store, scored_folder)
    rows = store.queue(QueueFilter(), page_size=4).rows
    items = [(r["alert_id"], r["version"]) for r in rows]
    store.change_case(rows[0]["alert_id"], "sam", "assign", None, assignee="bo", state="assigned")
    result = store.bulk_assign(items, "sam", "rita")
    assert result.conflicts == [rows[0]["alert_id"]] and len(result.done) == 3
    assert result.missing == [] and store.bulk_assign([("nope", 0)], "sam", "rita").missing == [
        "nope"
    ]
    for aid in result.done:
        assert [e["action"] for e in store.audit(aid)] == ["assign"]
        assert store.alert(aid)["assignee"] == "rita"  # type: ignore[index]
    fresh = [(r["alert_id"], store.alert(r["alert_id"])["version"]) for r in rows]  # type: ignore[index]
    out = store.bulk_decide(fresh, "dismissed", "rita", "same pharmacy chain")
    assert out.refused == [rows[0]["alert_id"]] and len(out.done) == 3  # bo's case is bo's
    for aid in out.done:
        assert store.history(aid)[0]["note"] == "same pharmacy chain"
        assert store.audit(aid)[0]["action"] == "decide"
    stale = store.bulk_decide(fresh[1:2], "dismissed", "sam", "x", any_assignee=True)
    assert stale.done == [] and stale.conflicts == [rows[1]["alert_id"]]
    assert len(store.history(rows[1]["alert_id"])) == 1
    boss = store.bulk_decide(
        [(rows[0]["alert_id"], store.alert(rows[0]["alert_id"])["version"])],  # type: ignore[index]
        "dismissed", "sam", "x", any_assignee=True,
    )  # fmt: skip
    assert boss.done == [rows[0]["alert_id"]]


# --------------------------------------------------------------------------- pages


@pytest.fixture
def reviewer(store: Store, scored_folder: Path) -> TestClient:
    load_folder(store, scored_folder)
    add_test_users(store)
    c = TestClient(create_app(store, page_size=10))
    sign_in(c, "rita")
    return c


def test_queue_page_search_sort_cursor_and_my_cases(
    client: TestClient, store: Store, scored_folder: Path
) -> None:
    by_amount = store.queue(QueueFilter(), sort="amount", page_size=10)
    r = client.get("/queue?sort=amount")
    assert r.status_code == 200
    assert [i.rpartition(":")[0] for i in ITEM.findall(r.text)] == [
        x["alert_id"] for x in by_amount.rows
    ]
    nxt = client.get("/queue", params={"sort": "amount", "after": by_amount.next_cursor.encode()})  # type: ignore[union-attr]
    second = store.queue(QueueFilter(), sort="amount", after=by_amount.next_cursor, page_size=10)
    assert [i.rpartition(":")[0] for i in ITEM.findall(nxt.text)] == [
        x["alert_id"] for x in second.rows
    ]
    assert 'rel="prev"' in nxt.text
    card = by_amount.rows[3]
    found = client.get("/queue", params={"q": card["entity_id"]})
    assert [i.rpartition(":")[0] for i in ITEM.findall(found.text)] == [card["alert_id"]]
    store.change_case(card["alert_id"], "sam", "assign", None, assignee="sam", state="assigned")
    mine = client.get("/queue?mine=1")
    assert [i.rpartition(":")[0] for i in ITEM.findall(mine.text)] == [card["alert_id"]]
    assert "<b>1</b> cases match" in mine.text
    assert client.get("/queue?after=garbage").status_code == 422
    assert client.get("/queue?state=archived").status_code == 422


def test_bulk_dismiss_needs_one_reason_and_a_reviewer_may_not_bulk_assign(
    reviewer: TestClient, store: Store
) -> None:
    page = reviewer.get("/queue")
    token = csrf_token(page.text)
    items = ITEM.findall(page.text)[:3]
    r = reviewer.post(
        "/queue/bulk/dismiss", data={"items": items, "reason": "  ", "csrf_token": token}
    )
    assert r.status_code == 422 and "needs its reason" in r.text
    assert store.queue(QueueFilter(status="dismissed")).total == 0
    r = reviewer.post(
        "/queue/bulk/assign",
        data={"items": items, "assignee": "rita", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert store.queue(QueueFilter(assignee="rita")).total == 0
    r = reviewer.post(
        "/queue/bulk/dismiss",
        data={"items": items, "reason": "pharmacy chain, known", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "done=3" in r.headers["location"]
    assert store.queue(QueueFilter(status="dismissed")).total == 3
    # the same (now stale) versions again: nothing changes, all three skipped
    r = reviewer.post(
        "/queue/bulk/dismiss",
        data={"items": items, "reason": "again", "csrf_token": token},
    )
    assert r.status_code == 200 and "0 case(s) changed; 3 skipped" in r.text
    for item in items:
        assert len(store.history(item.rpartition(":")[0])) == 1
    r = reviewer.post(
        "/queue/bulk/dismiss", data={"items": items, "reason": "x"}, follow_redirects=False
    )
    assert r.status_code == 403  # no CSRF token


def test_supervisor_bulk_assigns_to_an_existing_user(client: TestClient, store: Store) -> None:
    page = client.get("/queue?entity_type=facility")
    token = csrf_token(page.text)
    items = ITEM.findall(page.text)
    r = client.post(
        "/queue/bulk/assign", data={"items": items, "assignee": "nobody", "csrf_token": token}
    )
    assert r.status_code == 422 and "no enabled user" in r.text
    r = client.post(
        "/queue/bulk/assign",
        data={
            "items": items,
            "assignee": "rita",
            "csrf_token": token,
            "back": "entity_type=facility",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"].startswith("/queue?entity_type=facility&done=")
    assert store.queue(QueueFilter(assignee="rita")).total == len(items) > 0
    assert all(e["actor"] == "sam" for i in items for e in store.audit(i.rpartition(":")[0]))


def test_cached_counts_follow_a_change_made_by_another_server_process(
    db_url: str, scored_folder: Path
) -> None:
    """Two stores on one database stand for two server processes: the counts one of them
    cached follow a decision and an assignment the other made, at the next page."""
    mine, other = Store.open(db_url), Store.open(db_url)
    try:
        load_folder(mine, scored_folder)
        f = QueueFilter(entity_type="card")
        status, state = mine.counts(f)
        assert mine.counts(f) == (status, state)  # cached, and the same
        first, second = (r["alert_id"] for r in mine.queue(f, page_size=2).rows)
        assert other.record_decision(first, "dismissed", "sam", "not abuse") is not None
        status2, state2 = mine.counts(f)
        assert status2["dismissed"] == status["dismissed"] + 1
        assert status2["open"] == status["open"] - 1
        assert state2["decided"] == state["decided"] + 1
        assert other.change_case(second, "sam", "assign", None, assignee="rita", state="assigned")
        mine_rita = mine.counts(QueueFilter(assignee="rita"))[1]
        assert mine_rita["assigned"] == 1
        assert "rita" in mine.facets().assignees
    finally:
        mine.close()
        other.close()
