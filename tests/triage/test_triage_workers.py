"""`claimguard serve --workers 2`: real worker processes on one port share one store."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest

from claimguard.triage.auth import add_user
from claimguard.triage.store import Store
from tests.support import cg
from tests.triage.pages import csrf_token

pytestmark = pytest.mark.slow


def test_serve_with_two_workers_accepts_a_session_on_every_connection(
    tmp_path: Path, scored_folder: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'triage.db'}"
    store = Store.open(url)
    add_user(store, "sam", "correct horse battery", "supervisor")
    store.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = cg("serve", str(scored_folder), "--db", url, "--port", str(port), "--workers", "2")
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the server did not start in time"
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        with httpx.Client(base_url=base) as c:
            token = csrf_token(c.get("/login").text)
            data = {"username": "sam", "password": "correct horse battery", "csrf_token": token}
            assert c.post("/login", data=data).status_code in (200, 303)
            cookies = dict(c.cookies)
        # a new connection each time: whichever worker accepts it knows the session
        for _ in range(12):
            with httpx.Client(base_url=base, cookies=cookies) as fresh:
                r = fresh.get("/queue", follow_redirects=False)
                assert r.status_code == 200 and "Case queue" in r.text
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err[-2000:]
