"""`claimguard serve` as a user runs it: a real process, a real port, then the export command."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from claimguard.cli import run
from claimguard.triage.sample import write_sample_folder
from tests.triage.pages import csrf_token


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_serve_loads_the_folder_and_serves_until_stopped(tmp_path: Path) -> None:
    folder = tmp_path / "scored"
    write_sample_folder(folder, n_cards=8, n_facilities=2)
    db = f"sqlite:///{tmp_path / 'store' / 'triage.db'}"
    port = _free_port()
    cmd = [sys.executable, "-m", "claimguard", "serve", str(folder), "--db", db]
    proc = subprocess.Popen(
        [*cmd, "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        # a bound, not a race: a loaded machine may take long to import and load
        deadline = time.monotonic() + 180
        while True:
            try:
                health = httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "serve did not start in 180 s"
                time.sleep(0.2)
        assert health.json() == {"ok": True, "alerts": 10, "store": "sqlite"}
        assert httpx.get(f"{base}/queue").status_code == 303  # sign in first
        pw = "a long enough password"
        assert run(["users", "add", "ana", "--role", "reviewer", "--password", pw, "--db", db]) == 0
        with httpx.Client(base_url=base) as c:
            token = csrf_token(c.get("/login").text)
            c.post("/login", data={"username": "ana", "password": pw, "csrf_token": token})
            queue = c.get("/queue")
        assert queue.status_code == 200 and "<b>10</b> cases match" in queue.text
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    assert "Create the first admin with" in out and "--role admin" in out
    # the store outlives the server: the export command reads it (no decisions yet)
    assert run(["triage", "export", "--db", db, "--out", str(tmp_path / "labels.csv")]) == 0
    assert pd.read_csv(tmp_path / "labels.csv").empty
