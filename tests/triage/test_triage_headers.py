"""Response headers of the triage app: no caching of health data, HttpOnly cookies."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from claimguard.triage.store import Store
from tests.triage.conftest import PASSWORD

from .pages import csrf_token as _token
from .pages import first_alert_id as _alert_id


def _get_urls(client: TestClient, store: Store) -> list[str]:
    alert = store.alert(_alert_id(store))
    assert alert is not None
    values = {
        "alert_id": alert["alert_id"],
        "claim_id": alert["evidence_claim_ids"][0],
        "card_id": alert["entity_id"],
        "facility_id": alert["entity_id"],
    }
    urls = []
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, APIRoute) and "GET" in route.methods:
            url = route.path
            for name in route.param_convertors:
                url = re.sub(r"\{" + name + r"(:[a-z]+)?\}", values[name], url)
            urls.append(url)
    assert {"/queue", "/healthz", "/export", "/export/labels.csv"} <= set(urls)
    assert any("/lines" in u for u in urls)
    return urls


def test_every_get_route_answers_cache_control_no_store(client: TestClient, store: Store) -> None:
    urls = _get_urls(client, store)
    for url in [*urls, "/static/app.js", "/alerts/nope", "/queue?after=0", "/export/labels.csv"]:
        r = client.get(url, follow_redirects=False)
        assert r.status_code < 500, url
        assert "no-store" in r.headers.get("cache-control", ""), url


def test_cookies_are_httponly_and_samesite(client: TestClient, store: Store) -> None:
    aid = _alert_id(store)
    c = TestClient(client.app)
    page = c.get("/login")
    csrf_cookie = page.headers["set-cookie"].lower()
    assert "httponly" in csrf_cookie and re.search(r"samesite=(lax|strict)", csrf_cookie)
    r = c.post(
        "/login",
        data={"username": "sam", "password": PASSWORD, "csrf_token": _token(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    cookies = [v.lower() for k, v in r.headers.multi_items() if k == "set-cookie"]
    session = [v for v in cookies if v.startswith("cg_session=")]
    assert session, cookies
    assert "httponly" in session[0] and "max-age=" in session[0], session[0]
    assert "samesite=strict" in session[0], session[0]
    assert c.get(f"/alerts/{aid}").status_code == 200
