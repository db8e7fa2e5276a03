"""Cases: optimistic locking under concurrency, audit entries in the same transaction."""

from __future__ import annotations

import csv as csv_module
import io
import threading
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from claimguard.triage.auth import add_user
from claimguard.triage.export import neutralise
from claimguard.triage.load import load_folder
from claimguard.triage.store import Conflict, Store
from tests.triage.conftest import PASSWORD
from tests.triage.pages import csrf_token, first_alert_id, signed_in


def test_50_concurrent_decisions_give_one_decision_and_49_conflicts(
    store: Store, scored_folder: Path
) -> None:
    load_folder(store, scored_folder)
    aid = first_alert_id(store)
    version = store.alert(aid)["version"]  # type: ignore[index]
    start = threading.Barrier(50)
    outcomes: list[str] = []
    lock = threading.Lock()

    def decide(i: int) -> None:
        start.wait()
        try:
            store.record_decision(aid, "confirmed_abuse", f"r{i}", "", expected_version=version)
            result = "saved"
        except Conflict:
            result = "conflict"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(outcomes) == ["conflict"] * 49 + ["saved"]
    history = store.history(aid)
    assert len(history) == 1
    after = store.alert(aid)
    assert after is not None
    assert (after["state"], after["version"], after["status_reviewer"]) == (
        "decided",
        version + 1,
        history[0]["reviewer"],
    )
    entries = [e for e in store.audit(aid) if e["action"] == "decide"]
    assert len(entries) == 1 and entries[0]["actor"] == history[0]["reviewer"]


def test_case_changes_and_notes_are_audited(store: Store, scored_folder: Path) -> None:
    load_folder(store, scored_folder)
    aid = first_alert_id(store)
    case = store.alert(aid)
    assert case is not None and case["state"] == "new" and case["due_at"] is not None
    after = store.change_case(
        aid, "rita", "claim", case["version"], state="assigned", assignee="rita"
    )
    assert after is not None and after["assignee"] == "rita"
    with pytest.raises(Conflict):  # a stale page
        store.change_case(aid, "sam", "assign", case["version"], assignee="sam")
    assert store.add_note(aid, "rita", "called the facility")
    assert [n["body"] for n in store.notes(aid)] == ["called the facility"]
    assert [e["action"] for e in store.audit(aid)] == ["note", "claim"]


def test_the_audit_log_cannot_be_edited_or_deleted(store: Store, scored_folder: Path) -> None:
    load_folder(store, scored_folder)
    aid = first_alert_id(store)
    store.add_note(aid, "rita", "x")
    for sql in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(SQLAlchemyError), store.engine.begin() as conn:
            conn.execute(text(sql))
    assert [e["actor"] for e in store.audit(aid)] == ["rita"]


def test_a_decision_and_its_audit_entry_are_written_together(
    store: Store, scored_folder: Path
) -> None:
    """If the audit insert fails, the decision is rolled back with it (one transaction)."""
    load_folder(store, scored_folder)
    aid = first_alert_id(store)
    with store.engine.begin() as conn:  # make every audit insert fail
        conn.execute(text("ALTER TABLE audit_log RENAME TO audit_log_moved"))
    with pytest.raises(SQLAlchemyError):
        store.record_decision(aid, "confirmed_abuse", "rita")
    assert store.history(aid) == []
    assert store.alert(aid)["status"] == "open"  # type: ignore[index]


def test_case_routes_check_roles_assignee_and_versions(client: TestClient, store: Store) -> None:
    aid = first_alert_id(store)
    rita = signed_in(client.app, "rita")
    page = rita.get(f"/alerts/{aid}")
    token, version = csrf_token(page.text), store.alert(aid)["version"]  # type: ignore[index]
    form = {"csrf_token": token, "version": version}
    r = rita.post(f"/alerts/{aid}/case", data={**form, "action": "assign", "assignee": "rita"})
    assert r.status_code == 403  # only supervisors assign
    r = rita.post(f"/alerts/{aid}/case", data={**form, "action": "claim"}, follow_redirects=False)
    assert r.status_code == 303 and store.alert(aid)["assignee"] == "rita"  # type: ignore[index]
    # the same (now stale) page posted again: a clear conflict, nothing changed
    r = rita.post(f"/alerts/{aid}/case", data={**form, "action": "claim"})
    assert r.status_code == 409 and "someone else changed this case" in r.text
    # a stale decision form is refused as well
    stale = {"csrf_token": token, "version": version, "decision": "confirmed_abuse"}
    r = rita.post(f"/alerts/{aid}/decisions", data=stale)
    assert r.status_code == 409 and store.history(aid) == []
    # another reviewer may not decide rita's case
    add_user(store, "tom", PASSWORD, "reviewer")
    tom = signed_in(client.app, "tom")
    fresh = store.alert(aid)["version"]  # type: ignore[index]
    token = csrf_token(tom.get(f"/alerts/{aid}").text)
    mine = {"csrf_token": token, "version": fresh, "decision": "confirmed_abuse"}
    r = tom.post(f"/alerts/{aid}/decisions", data=mine)
    assert r.status_code == 403 and "assigned to rita" in r.text


def test_audit_export_neutralises_formulas(client: TestClient, store: Store) -> None:
    aid = first_alert_id(store)
    store.add_note(aid, "rita", "=HYPERLINK('http://evil')")
    store.add_note(aid, "rita", "\tplain")
    csv = client.get("/export/audit.csv")  # the default client is the supervisor
    assert csv.status_code == 200
    rows = list(csv_module.DictReader(io.StringIO(csv.text)))
    afters = [r["after"] for r in rows]
    assert all(not a.startswith(("=", "+", "-", "@", "\t", "\r")) for a in afters)
    assert neutralise(pd.DataFrame({"x": ["=1+1", "+a", "-b", "@c", "\td", "\re", "ok"]}))[
        "x"
    ].tolist() == ["'=1+1", "'+a", "'-b", "'@c", "'\td", "'\re", "ok"]
    rita = signed_in(client.app, "rita")
    assert rita.get("/export/audit.csv").status_code == 403
