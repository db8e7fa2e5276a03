"""Faults of a running triage server: killed mid-decision, its PostgreSQL restarted.

Real processes throughout: `claimguard serve` in a subprocess, a real database, httpx as
the reviewer's browser. The only test code inside the server is a ``sitecustomize`` hook
(PYTHONPATH) that makes the moment of the fault deterministic.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from claimguard.triage.auth import add_user
from claimguard.triage.load import load_folder
from claimguard.triage.sample import write_sample_folder
from claimguard.triage.store import AuditEntry, Decision, QueueFilter, Store
from tests.support import cg

pytestmark = pytest.mark.slow

PG_URL = os.environ.get("CLAIMGUARD_TEST_PG_URL")
PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
VERSION = re.compile(r'id="decision-form".*?name="version" value="(\d+)"', re.S)

# Loaded by the server subprocess only. When the store is about to write an audit entry
# (the last statement of a decision's transaction, after the decision row), it leaves a
# marker file and blocks, so the test kills the server exactly between the two writes.
# With CG_SPLIT_TX set a decision's audit entry is written in a second transaction after
# the first commits: the broken design the check below must catch.
STALL_BEFORE_AUDIT = """
import os
import time

from sqlalchemy import event
from sqlalchemy.engine import Engine

MARK = os.environ["CG_STALL_MARK"]


@event.listens_for(Engine, "before_cursor_execute")
def _stall(conn, cursor, statement, parameters, context, executemany):
    if statement.lstrip().upper().startswith("INSERT INTO AUDIT_LOG"):
        open(MARK, "w").close()
        time.sleep(3600)


if os.environ.get("CG_SPLIT_TX"):
    from claimguard.triage import store as _store

    _record, _audit = _store.Store.record_decision, _store.Store._audit

    def _split(self, *args, **kwargs):
        held = []
        self._audit = lambda conn, *a, **k: held.append((a, k))
        try:
            out = _record(self, *args, **kwargs)
        finally:
            del self._audit
        with self.engine.begin() as conn:
            for a, k in held:
                _audit(self, conn, *a, **k)
        return out

    _store.Store.record_decision = _split
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prepare(url: str, folder: Path) -> str:
    """Load a small scored folder and a supervisor; the id of the queue's first case."""
    write_sample_folder(folder, n_cards=30, n_facilities=6, seed=3)
    store = Store.open(url)
    try:
        load_folder(store, folder)
        add_user(store, "sam", PASSWORD, "supervisor")
        return str(store.queue(QueueFilter(), page_size=1).rows[0]["alert_id"])
    finally:
        store.close()


class Server:
    """`claimguard serve` in a subprocess on a free loopback port."""

    def __init__(self, folder: Path, url: str, env: dict[str, str] | None = None) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = cg("serve", str(folder), "--db", url, "--port", str(self.port), env=env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.communicate()[1]
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("the server did not start in time")

    def stop(self) -> str:
        """Stop the server (if it still runs); its stderr."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.communicate(timeout=30)[1]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.communicate()[1]


def _signed_in(base: str) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=30)
    token = TOKEN.search(c.get("/login").text)
    assert token
    r = c.post("/login", data={"username": "sam", "password": PASSWORD, "csrf_token": token[1]})
    assert r.status_code in (200, 303) and "cg_session" in c.cookies
    return c


def _decision_form(c: httpx.Client, aid: str) -> dict[str, str]:
    page = c.get(f"/alerts/{aid}")
    assert page.status_code == 200, page.status_code
    token, version = TOKEN.search(page.text), VERSION.search(page.text)
    assert token and version
    return {"decision": "confirmed_abuse", "note": "kill test", "csrf_token": token[1],
            "version": version[1]}  # fmt: skip


def _written(url: str, aid: str) -> tuple[int, int]:
    """(decisions, audit entries of a decision) of a case, read by a fresh connection."""
    store = Store.open(url)
    try:
        with store.engine.connect() as conn:
            n_dec = conn.scalar(select(func.count()).where(Decision.alert_id == aid))
            n_audit = conn.scalar(
                select(func.count()).where(
                    AuditEntry.alert_id == aid, AuditEntry.action == "decide"
                )
            )
        return int(n_dec or 0), int(n_audit or 0)
    finally:
        store.close()


def _kill_between_decision_and_audit(
    tmp_path: Path, folder: Path, url: str, aid: str, split: bool
) -> tuple[int, int]:
    """Post a decision to a server stalled before its audit entry, SIGKILL it there."""
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(STALL_BEFORE_AUDIT)
    mark = tmp_path / "stalled"
    env = {"PYTHONPATH": str(hook), "CG_STALL_MARK": str(mark)}
    if split:
        env["CG_SPLIT_TX"] = "1"
    server = Server(folder, url, env)
    try:
        client = _signed_in(server.base)
        form = _decision_form(client, aid)
        post = threading.Thread(
            target=lambda: _swallow(client.post, f"/alerts/{aid}/decisions", data=form),
            daemon=True,
        )
        post.start()
        deadline = time.monotonic() + 60
        while not mark.exists():
            assert time.monotonic() < deadline, "the decision never reached its audit entry"
            time.sleep(0.05)
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.communicate(timeout=30)
        assert server.proc.returncode == -signal.SIGKILL
        post.join(timeout=30)
    finally:
        server.stop()
    return _written(url, aid)


def _swallow(fn: object, *args: object, **kwargs: object) -> None:
    try:
        fn(*args, **kwargs)  # type: ignore[operator]
    except httpx.HTTPError:
        pass  # the server died under the request: that is the point


def test_a_server_killed_between_decision_and_audit_keeps_both_or_neither(
    tmp_path: Path, db_url: str
) -> None:
    folder = tmp_path / "scored"
    aid = _prepare(db_url, folder)
    # killed after the decision row, before the audit entry: one transaction, so neither
    assert _kill_between_decision_and_audit(tmp_path, folder, db_url, aid, split=False) == (0, 0)
    # after a restart the same decision goes through, with its audit entry
    server = Server(folder, db_url)
    try:
        client = _signed_in(server.base)
        r = client.post(f"/alerts/{aid}/decisions", data=_decision_form(client, aid))
        assert r.status_code in (200, 303), r.status_code
    finally:
        server.stop()
    assert _written(db_url, aid) == (1, 1)


def test_the_kill_check_catches_a_decision_and_audit_in_two_transactions(
    tmp_path: Path,
) -> None:
    """The same kill against a server whose decision commits before its audit entry
    leaves a decision without an audit entry: the check above would fail on it."""
    url = f"sqlite:///{tmp_path / 'triage.db'}"
    folder = tmp_path / "scored"
    aid = _prepare(url, folder)
    assert _kill_between_decision_and_audit(tmp_path, folder, url, aid, split=True) == (1, 0)


# --------------------------------------------------------------------------- PostgreSQL restart

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture
def own_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """A throwaway PostgreSQL cluster on a free port; (URL, pg_ctl command to prefix).

    Its own cluster, so restarting it disturbs nobody else's tests. Run as the
    ``postgres`` user when the tests run as root (initdb refuses root).
    """
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        pytest.skip(f"PostgreSQL server binaries not found in {PG_BIN}")
    as_user: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running initdb as root needs runuser to become postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    root = Path(f"/tmp/cg-pg-{uuid.uuid4().hex[:8]}")
    root.mkdir(mode=0o700)
    if as_user:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", _free_port()
    done = subprocess.run(
        [*as_user, str(PG_BIN / "initdb"), "-D", str(data), "-U", "claimguard", "--auth=trust"],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"initdb failed: {done.stderr.strip()[:300]}")
    ctl = [*as_user, str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "log")]
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    subprocess.run([*ctl, "-o", opts, "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://claimguard@127.0.0.1:{port}/postgres", [*ctl, "-o", opts]
    finally:
        subprocess.run([*ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_postgresql_restarted_under_a_running_server(
    tmp_path: Path, own_postgres: tuple[str, list[str]]
) -> None:
    url, ctl = own_postgres
    folder = tmp_path / "scored"
    aid = _prepare(url, folder)
    server = Server(folder, url)
    try:
        client = _signed_in(server.base)
        for _ in range(3):  # the pool holds connections that the restart will break
            assert client.get("/queue").status_code == 200
        subprocess.run([*ctl, "-m", "fast", "restart"], check=True, capture_output=True)
        statuses, pages = [], []
        for _ in range(6):
            r = client.get("/queue")
            statuses.append(r.status_code)
            pages.append(r.text)
        failed = [i for i, s in enumerate(statuses) if s != 200]
        assert len(failed) <= 1 and set(statuses) <= {200, 503}, statuses
        for i in failed:  # a clean page, not a stack trace
            assert "alert store is unavailable" in pages[i] and "Traceback" not in pages[i]
        assert statuses[-1] == 200
        r = client.post(f"/alerts/{aid}/decisions", data=_decision_form(client, aid))
        assert r.status_code in (200, 303), r.status_code
    finally:
        err = server.stop()
    assert "Traceback" not in err, err[-2000:]
    assert _written(url, aid) == (1, 1)
