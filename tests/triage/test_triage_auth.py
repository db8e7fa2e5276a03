"""Sign-in and roles: every route the app registers × every role, sessions, throttling."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount

from claimguard.cli import run
from claimguard.settings import TriageSettings
from claimguard.triage.app import create_app
from claimguard.triage.auth import PUBLIC, RANK, SESSION_COOKIE, list_users
from claimguard.triage.load import load_folder
from claimguard.triage.store import Store
from tests.triage.conftest import PASSWORD, USERS, add_test_users
from tests.triage.pages import csrf_token, first_alert_id, sign_in

ROLES_AND_ANON = (None, "reviewer", "supervisor", "admin")


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path template) of every route and mount the app registers."""
    out: list[tuple[str, str]] = []
    routes = list(app.routes)
    while routes:
        r = routes.pop(0)
        included = getattr(r, "original_router", None)  # an included APIRouter (trends)
        if included is not None:
            prefix = getattr(getattr(r, "include_context", None), "prefix", "") or ""
            assert not prefix, "included routers are registered without a prefix"
            routes.extend(included.routes)
            continue
        if isinstance(r, Mount):
            out.append(("GET", r.path))
            continue
        for m in sorted(getattr(r, "methods", None) or {"GET"}):
            if m != "HEAD":
                out.append((m, r.path))  # type: ignore[attr-defined]
    return sorted(out, key=lambda mp: mp[1] == "/logout")  # signing out last


def _concrete(path: str, store: Store) -> str:
    alert_id = first_alert_id(store)
    alert = store.alert(alert_id)
    assert alert is not None
    claim_id = alert["evidence_claim_ids"][0] if alert["evidence_claim_ids"] else "x"
    return (
        path.replace("{alert_id}", alert_id)
        .replace("{claim_id:path}", claim_id)
        .replace("/static", "/static/style.css")
    )


@pytest.fixture
def app(store: Store, scored_folder: Path) -> FastAPI:
    load_folder(store, scored_folder)
    add_test_users(store)
    return create_app(store, page_size=10)


def test_every_route_has_a_rule_and_each_role_gets_exactly_its_rights(
    app: FastAPI, store: Store
) -> None:
    rules: dict[str, str] = app.state.route_roles
    routes = _routes(app)
    assert routes and {p for _, p in routes} <= set(rules), (
        f"routes without an access rule: {sorted({p for _, p in routes} - set(rules))}"
    )
    name_of = {role: name for name, role in USERS.items()}
    checked = 0
    for role in ROLES_AND_ANON:
        with TestClient(app) as c:
            if role:
                sign_in(c, name_of[role])
            for method, path in routes:
                need = rules[path]
                url = _concrete(path, store)
                r = c.request(method, url, follow_redirects=False)
                denied_by_role = r.status_code == 403 and "needs the" in r.text
                to_login = r.status_code == 303 and r.headers["location"].startswith("/login?next=")
                where = f"{method} {path} as {role or 'signed-out visitor'}: {r.status_code}"
                if need == PUBLIC:
                    assert not denied_by_role and not to_login, where
                elif role is None:
                    assert to_login, where
                elif RANK[role] < RANK[need]:
                    assert denied_by_role, where
                else:
                    assert not denied_by_role and not to_login and r.status_code < 500, where
                checked += 1
    assert checked == len(routes) * len(ROLES_AND_ANON)


def test_a_route_added_without_a_rule_is_refused_to_everyone(app: FastAPI) -> None:
    @app.get("/new-page")
    def new_page() -> str:
        return "secret"

    assert "/new-page" not in app.state.route_roles  # the table test above would fail
    with TestClient(app) as c:
        sign_in(c, "ada")
        r = c.get("/new-page")
        assert r.status_code == 403 and "secret" not in r.text
        app.state.route_roles["/new-page"] = "reviewer"  # how an included router gets rules
        assert c.get("/new-page").status_code == 200


def test_signed_out_visitor_is_sent_to_sign_in_and_back(app: FastAPI, store: Store) -> None:
    alert_id = first_alert_id(store)
    with TestClient(app) as c:
        r = c.get(f"/alerts/{alert_id}", follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == f"/login?next=%2Falerts%2F{alert_id}"
        page = c.get(r.headers["location"])
        assert 'name="next" value="/alerts/' in page.text
        r = c.post(
            "/login",
            data={
                "username": "rita",
                "password": PASSWORD,
                "next": f"/alerts/{alert_id}",
                "csrf_token": csrf_token(page.text),
            },
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == f"/alerts/{alert_id}"
        cookie = r.headers["set-cookie"]
        assert SESSION_COOKIE in cookie and "HttpOnly" in cookie
        assert "SameSite=strict" in cookie and "Max-Age=43200" in cookie
        assert "rita · reviewer" in c.get(f"/alerts/{alert_id}").text
        # never sent to another site after signing in
        r = c.post(
            "/login",
            data={
                "username": "rita",
                "password": PASSWORD,
                "next": "//evil.example/",
                "csrf_token": csrf_token(page.text),
            },
            follow_redirects=False,
        )
        assert r.headers["location"] == "/queue"
        c.post("/logout")
        assert c.get("/queue", follow_redirects=False).status_code == 303


def test_wrong_password_disabled_user_and_forged_cookie_are_refused(
    app: FastAPI, store: Store
) -> None:
    with TestClient(app) as c:
        page = c.get("/login")
        bad = c.post(
            "/login",
            data={"username": "rita", "password": "nope", "csrf_token": csrf_token(page.text)},
        )
        assert bad.status_code == 401 and "Wrong username or password" in bad.text
        sign_in(c, "rita")
        assert c.get("/queue").status_code == 200
        db = store.engine.url.render_as_string(hide_password=False)
        assert run(["users", "disable", "rita", "--db", db]) == 0
        assert c.get("/queue", follow_redirects=False).status_code == 303  # at once
    with TestClient(app) as c:
        c.cookies.set(SESSION_COOKIE, "eyJ1IjoiYWRhIn0.forged.signature")
        assert c.get("/queue", follow_redirects=False).status_code == 303


def test_sessions_expire(store: Store, scored_folder: Path) -> None:
    load_folder(store, scored_folder)
    add_test_users(store)
    app = create_app(store, settings=TriageSettings(session_hours=1 / 3600))
    with TestClient(app) as c:
        sign_in(c, "rita")
        assert c.get("/queue").status_code == 200
        time.sleep(2.1)
        assert c.get("/queue", follow_redirects=False).status_code == 303


def test_failed_sign_ins_are_throttled(store: Store, scored_folder: Path) -> None:
    add_test_users(store)
    app = create_app(store, settings=TriageSettings(login_max_failures=3))
    with TestClient(app) as c:
        token = csrf_token(c.get("/login").text)
        for _ in range(3):
            r = c.post("/login", data={"username": "sam", "password": "x", "csrf_token": token})
            assert r.status_code == 401
        right = {"username": "sam", "password": PASSWORD, "csrf_token": token}
        r = c.post("/login", data=right, follow_redirects=False)
        assert r.status_code == 429 and "Too many failed sign-ins" in r.text


def test_a_lockout_holds_in_every_server_process_of_the_store(db_url: str) -> None:
    """Two apps on two connections to one store stand for two ``serve --workers`` processes:
    failures seen by one lock the user out of the other, and a success clears them."""
    first, second = Store.open(db_url), Store.open(db_url)
    try:
        add_test_users(first)
        settings = TriageSettings(login_max_failures=3)
        apps = [create_app(s, settings=settings) for s in (first, second)]
        with TestClient(apps[0]) as c1, TestClient(apps[1]) as c2:
            t1, t2 = csrf_token(c1.get("/login").text), csrf_token(c2.get("/login").text)
            for _ in range(3):
                bad = {"username": "sam", "password": "wrong", "csrf_token": t1}
                assert c1.post("/login", data=bad).status_code == 401
            right = {"username": "sam", "password": PASSWORD, "csrf_token": t2}
            r = c2.post("/login", data=right, follow_redirects=False)
            assert r.status_code == 429 and "Too many failed sign-ins" in r.text
            # another user on the same address is locked out too (per-address key) ...
            rita = {"username": "rita", "password": PASSWORD, "csrf_token": t2}
            assert c2.post("/login", data=rita, follow_redirects=False).status_code == 429
    finally:
        first.close()
        second.close()


def test_login_form_needs_its_csrf_token(app: FastAPI) -> None:
    with TestClient(app) as c:
        c.get("/login")
        r = c.post("/login", data={"username": "sam", "password": PASSWORD})
        assert r.status_code == 403


def test_trusted_proxy_header_signs_in_known_users_only(store: Store, scored_folder: Path) -> None:
    load_folder(store, scored_folder)
    add_test_users(store)
    app = create_app(store, trust_proxy_header="X-Remote-User")
    with TestClient(app) as c:
        assert c.get("/queue", headers={"X-Remote-User": "rita"}).status_code == 200
        r = c.get("/export", headers={"X-Remote-User": "rita"})
        assert r.status_code == 403
        r = c.get("/queue", headers={"X-Remote-User": "mallory"}, follow_redirects=False)
        assert r.status_code == 303
    # without the option the header means nothing
    with TestClient(create_app(store)) as c:
        r = c.get("/queue", headers={"X-Remote-User": "rita"}, follow_redirects=False)
        assert r.status_code == 303


def test_users_commands(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(store.engine.url.render_as_string(hide_password=False))
    pw = "a long enough password"
    assert run(["users", "add", "lan", "--role", "reviewer", "--password", pw, "--db", db]) == 0
    assert run(["users", "add", "lan", "--password", pw, "--db", db]) == 2  # exists
    assert run(["users", "add", "x y", "--password", pw, "--db", db]) == 2
    assert run(["users", "add", "short", "--password", "123", "--db", db]) == 2
    assert run(["users", "set-role", "lan", "supervisor", "--db", db]) == 0
    assert run(["users", "set-role", "lan", "boss", "--db", db]) == 2
    assert run(["users", "disable", "lan", "--db", db]) == 0
    assert run(["users", "disable", "nobody", "--db", db]) == 2
    assert list_users(store) == [
        {
            "username": "lan",
            "role": "supervisor",
            "disabled": True,
            "created_at": list_users(store)[0]["created_at"],
        }
    ]
    assert run(["users", "list", "--db", db]) == 0
    assert "lan\tsupervisor\tdisabled" in capsys.readouterr().out
