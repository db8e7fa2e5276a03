"""Helpers the triage tests share: the CSRF token of a page, an alert id of a store."""

from __future__ import annotations

import re

from claimguard.triage.store import QueueFilter, Store

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    """The CSRF form token a page carries (fails the test when there is none)."""
    m = TOKEN.search(html)
    assert m, "the page has no CSRF field"
    return m.group(1)


def first_alert_id(store: Store) -> str:
    return str(store.queue(QueueFilter(), 1, 1).rows[0]["alert_id"])
