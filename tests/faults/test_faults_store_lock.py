"""The SQLite triage store locked by another process.

A second process holds an exclusive transaction (as a long `claimguard serve` load or a
stuck tool would). A command that must write waits ``triage.db_lock_timeout_seconds``
(SQLite's busy timeout), then exits 2 naming the database and the setting, with no
traceback and nothing half written; once the lock is gone the same command succeeds.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from claimguard.errors import UserError
from claimguard.triage.auth import list_users
from claimguard.triage.sample import write_sample_folder
from claimguard.triage.store import Store, make_store_engine
from tests.support import cg

pytestmark = pytest.mark.slow

HOLDER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
con.execute("BEGIN EXCLUSIVE")
print("held", flush=True)
time.sleep(120)
"""

LOCK_ENV = {"CLAIMGUARD_TRIAGE__DB_LOCK_TIMEOUT_SECONDS": "1"}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "triage.db"
    Store.open(f"sqlite:///{path}").close()  # schema in place
    return path


@pytest.fixture
def lock(db: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding an exclusive lock on the store until the test releases it."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    yield holder
    holder.kill()
    holder.wait(timeout=30)


def _finish(p: subprocess.Popen[str]) -> tuple[int, str, float]:
    t0 = time.monotonic()
    _, err = p.communicate(timeout=120)
    return p.returncode, err, time.monotonic() - t0


def test_users_add_under_a_held_lock_exits_2_after_the_timeout(
    db: Path, lock: subprocess.Popen[str]
) -> None:
    url = f"sqlite:///{db}"
    args = ("users", "add", "bob", "--password", "correct-horse-9", "--db", url)
    rc, err, _ = _finish(cg(*args, env=LOCK_ENV))
    assert rc == 2, err
    assert "locked by another process" in err and "waited 1 s" in err
    assert str(db) in err and "CLAIMGUARD_TRIAGE__DB_LOCK_TIMEOUT_SECONDS" in err
    assert "Traceback" not in err and "This is a bug" not in err

    lock.kill()
    lock.wait(timeout=30)
    store = Store.open(url)
    try:
        assert list_users(store) == []  # nothing was half written
    finally:
        store.close()
    rc, err, _ = _finish(cg(*args, env=LOCK_ENV))  # the same command, lock gone
    assert rc == 0, err


def test_the_wait_follows_the_setting(db: Path, lock: subprocess.Popen[str]) -> None:
    """A longer timeout waits longer before giving up (the busy timeout is really used).

    The command reports the setting it waited for; the wait itself is timed in this
    process around the store's own write (no interpreter start-up in the figure), and a
    loaded machine can only make a wait longer, so the lower bound cannot race.
    """
    args = ("users", "add", "bob", "--password", "correct-horse-9", "--db", f"sqlite:///{db}")
    rc, err, _ = _finish(cg(*args, env={"CLAIMGUARD_TRIAGE__DB_LOCK_TIMEOUT_SECONDS": "6"}))
    assert rc == 2, err
    assert "waited 6 s" in err and "Traceback" not in err
    took = {}
    for timeout_s in (1.0, 6.0):
        store = Store(make_store_engine(f"sqlite:///{db}", timeout_s), timeout_s)
        t0 = time.monotonic()
        with pytest.raises(UserError, match=f"waited {timeout_s:g} s"), store.lock_guard():
            store.secret()  # a write: waits for the lock, then gives up
        took[timeout_s] = time.monotonic() - t0
        store.close()
    assert took[6.0] >= 5.5, took
    assert took[6.0] > took[1.0], took


def test_serve_loading_a_folder_under_a_held_lock_exits_2(
    db: Path, lock: subprocess.Popen[str], tmp_path: Path
) -> None:
    folder = tmp_path / "scored"
    write_sample_folder(folder, n_cards=30, n_facilities=6, seed=3)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    p = cg("serve", str(folder), "--db", f"sqlite:///{db}", "--port", str(port), env=LOCK_ENV)
    rc, err, _ = _finish(p)
    assert rc == 2, err
    assert "locked by another process" in err and "Traceback" not in err
