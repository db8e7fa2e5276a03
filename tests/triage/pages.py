"""Helpers the triage tests share: the CSRF token of a page, an alert id of a store, a
real server on a free loopback port for the browser tests."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from claimguard.triage.auth import add_user, lookup
from claimguard.triage.store import QueueFilter, Store

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    """The CSRF form token a page carries (fails the test when there is none)."""
    m = TOKEN.search(html)
    assert m, "the page has no CSRF field"
    return m.group(1)


def first_alert_id(store: Store) -> str:
    return str(store.queue(QueueFilter(), page_size=1).rows[0]["alert_id"])


def sign_in(client: TestClient, username: str, password: str = "correct horse battery") -> None:
    """Sign a TestClient in through the sign-in form (fails the test when refused)."""
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_token(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def signed_in(app: FastAPI, username: str = "sam", **kwargs: Any) -> TestClient:
    """A TestClient of ``app`` signed in as ``username`` (created as a supervisor if new)."""
    store = app.state.store
    if lookup(store, username) is None:
        add_user(store, username, "correct horse battery", "supervisor")
    c = TestClient(app, **kwargs)
    sign_in(c, username)
    return c


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """``app`` under uvicorn in a thread on a free loopback port; yields its base URL."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
