"""Faults of the triage store: a broken database, a failed write, a held lock."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from claimguard.triage.app import create_app
from claimguard.triage.load import load_folder
from claimguard.triage.store import Store
from tests.triage.pages import signed_in

from .pages import csrf_token as _token
from .pages import first_alert_id as _alert_id


@pytest.fixture
def sqlite_client(tmp_path: Path, scored_folder: Path) -> Iterator[tuple[TestClient, Store, Path]]:
    path = tmp_path / "faults.db"
    store = Store.open(f"sqlite:///{path}", lock_timeout_s=1.0)
    load_folder(store, scored_folder)
    with signed_in(create_app(store, page_size=10), raise_server_exceptions=False) as c:
        yield c, store, path
    store.close()


def _decide(c: TestClient, aid: str, note: str = "note") -> object:
    token = _token(c.get(f"/alerts/{aid}").text)
    return c.post(
        f"/alerts/{aid}/decisions",
        data={"decision": "dismissed", "reviewer": "sam", "note": note, "csrf_token": token},
        follow_redirects=False,
    )


def test_healthz_fails_when_the_alerts_table_is_gone(
    sqlite_client: tuple[TestClient, Store, Path],
) -> None:
    c, store, _ = sqlite_client
    ok = c.get("/healthz")
    assert ok.status_code == 200 and ok.json()["ok"] is True
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE alerts RENAME TO alerts_gone"))
    r = c.get("/healthz")
    assert r.status_code == 503
    body = r.json()
    assert body["ok"] is False and "alerts" in body["reason"]
    page = c.get("/queue")  # pages answer a readable 503 too, not a bare 500
    assert page.status_code == 503 and "alert store is unavailable" in page.text


def test_healthz_fails_when_the_sqlite_file_is_deleted_or_replaced(
    sqlite_client: tuple[TestClient, Store, Path],
) -> None:
    c, _, path = sqlite_client
    assert c.get("/healthz").status_code == 200
    for suffix in ("-wal", "-shm", ""):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    r = c.get("/healthz")
    assert r.status_code == 503 and r.json()["ok"] is False
    path.write_bytes(b"not a database at all" * 100)
    r = c.get("/healthz")
    assert r.status_code == 503 and r.json()["ok"] is False and r.json()["reason"]


def test_a_failed_write_answers_a_readable_503_and_logs_no_row_data(
    sqlite_client: tuple[TestClient, Store, Path], caplog: pytest.LogCaptureFixture
) -> None:
    c, store, _ = sqlite_client
    aid = _alert_id(store)
    token = _token(c.get(f"/alerts/{aid}").text)
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE decisions RENAME TO decisions_gone"))
    secret_note = "patient NGUYEN VAN SECRET dx Z21"
    with caplog.at_level(logging.DEBUG):
        r = c.post(
            f"/alerts/{aid}/decisions",
            data={
                "decision": "dismissed",
                "reviewer": "sam",
                "note": secret_note,
                "csrf_token": token,
            },
            follow_redirects=False,
        )
    assert r.status_code == 503, r.status_code
    assert "text/html" in r.headers["content-type"]
    assert "NOT saved" in r.text and "try again" in r.text.lower()
    assert secret_note not in r.text
    # what the server side logged (httpx's own lines are the test client's request log)
    logged = "\n".join(
        f"{r.name} {r.getMessage()} "
        + (logging.Formatter().formatException(r.exc_info) if r.exc_info else "")
        for r in caplog.records
        if not r.name.startswith(("httpx", "httpcore"))
    )
    assert "decision" in logged.lower()  # the failure is logged ...
    for value in (secret_note, "NGUYEN", "sam", aid):  # ... without row data
        assert value not in logged


def test_a_write_under_a_held_lock_answers_503_within_the_lock_timeout(
    sqlite_client: tuple[TestClient, Store, Path],
) -> None:
    c, store, path = sqlite_client
    aid = _alert_id(store)
    token = _token(c.get(f"/alerts/{aid}").text)
    holder = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(20, holder.rollback)  # never hang the suite
    release.start()
    try:
        t0 = time.monotonic()
        r = c.post(
            f"/alerts/{aid}/decisions",
            data={"decision": "dismissed", "note": "duplicate", "csrf_token": token},
            follow_redirects=False,
        )
        took = time.monotonic() - t0
    finally:
        release.cancel()
        holder.rollback()
        holder.close()
    assert r.status_code == 503 and "NOT saved" in r.text
    assert took < 4, took
    assert store.history(aid) == []
    assert store.alert(aid)["status"] == "open"  # type: ignore[index]


def test_the_lock_timeout_is_a_short_setting() -> None:
    from claimguard.settings import TriageSettings, load_settings

    assert TriageSettings().db_lock_timeout_seconds == 5
    assert load_settings(None).triage.db_lock_timeout_seconds == 5


def test_the_store_waits_the_configured_lock_timeout(tmp_path: Path) -> None:
    s = Store.open(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        assert s.lock_timeout_s == 5
    finally:
        s.close()
