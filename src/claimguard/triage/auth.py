"""Who may use the triage app: users, passwords, sign-in sessions and roles per route.

Why: the pages show card holders' diagnoses (personal health data), so nobody gets in
without signing in, and only some people may export labels or manage users.

* Passwords are stored as argon2id hashes (argon2-cffi), never in clear.
* A session is a cookie holding the username and sign-in time, signed with the store's
  secret and expiring after ``triage.session_hours`` (itsdangerous); HttpOnly and
  SameSite=Strict. The user row is read on every request, so disabling a user or
  changing a role takes effect at once.
* Failed sign-ins are throttled per username and per client address; the failures are
  kept in the store, so the lockout holds in every server process.
* Every route has a rule in a table keyed by its path template (:data:`ROUTE_ROLES`,
  copied to ``app.state.route_roles``). One app-wide dependency (:func:`authorize`)
  applies it, so it also covers routers included later: add their paths to
  ``app.state.route_roles``. A route without a rule is refused (403) for everyone.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, func, insert, select, update
from starlette.exceptions import HTTPException as StarletteHTTPException

from claimguard.errors import UserError
from claimguard.triage.store import SignInFailure, Store, User

ROLES: Final = ("reviewer", "supervisor", "admin")  # each has the rights of those before it
RANK: Final = {r: i for i, r in enumerate(ROLES)}
PUBLIC: Final = "public"
SESSION_COOKIE: Final = "cg_session"
USERNAME = re.compile(r"^[A-Za-z0-9._@-]{1,80}$")
MIN_PASSWORD = 10

# The rule of every route the app registers: the lowest role that may use it, or PUBLIC.
ROUTE_ROLES: Final[dict[str, str]] = {
    "/login": PUBLIC,
    "/logout": PUBLIC,
    "/healthz": PUBLIC,
    "/static": PUBLIC,  # CSS, JS and the icon: no data
    "/": "reviewer",
    "/queue": "reviewer",
    "/queue/bulk/assign": "supervisor",
    "/queue/bulk/dismiss": "reviewer",  # each case: unassigned or the reviewer's own
    "/alerts/{alert_id}": "reviewer",
    "/alerts/{alert_id}/claims/{claim_id:path}/lines": "reviewer",
    "/alerts/{alert_id}/decisions": "reviewer",
    "/alerts/{alert_id}/case": "reviewer",  # claim; assign and reopen check supervisor
    "/alerts/{alert_id}/notes": "reviewer",
    "/cards/{card_id:path}": "reviewer",  # the entity's story (visits, reasons, charts)
    "/facilities/{facility_id:path}": "reviewer",
    "/export": "supervisor",
    # early warnings (claimguard.triage.trends): monthly indicators of facilities, no claims
    "/trends": "reviewer",
    "/trends/facility/{facility_id:path}": "reviewer",
    "/trends/province/{province}": "reviewer",
    "/trends/fund": "reviewer",
    "/trends/chart/{level}/{indicator}.svg": "reviewer",
    "/export/labels.csv": "supervisor",
    "/export/audit.csv": "supervisor",
    "/export/cases.csv": "supervisor",
}

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password of anyone")


@dataclass(frozen=True)
class SignedIn:
    """The user behind a request."""

    username: str
    role: str

    def may(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]


class SignInRequired(Exception):
    """No (valid) session: the visitor is sent to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


# ---------------------------------------------------------------- users in the store


def _check_username(username: str) -> str:
    if not USERNAME.match(username):
        raise UserError(
            f"Username {username!r} is not valid",
            where="claimguard users",
            fix="use 1-80 letters, digits or . _ @ -",
        )
    return username


def _check_role(role: str) -> str:
    if role not in RANK:
        raise UserError(
            f"Unknown role {role!r}", where="--role", fix=f"use one of {', '.join(ROLES)}"
        )
    return role


def add_user(store: Store, username: str, password: str, role: str) -> None:
    """Create a user (argon2 hash of the password)."""
    _check_username(username)
    _check_role(role)
    if len(password) < MIN_PASSWORD:
        raise UserError(
            "The password is too short",
            where="claimguard users add",
            fix=f"use at least {MIN_PASSWORD} characters",
        )
    with store.engine.begin() as conn:
        if conn.scalar(select(User.id).where(User.username == username)) is not None:
            raise UserError(
                f"User {username!r} already exists",
                where="claimguard users add",
                fix="pick another name, or change this user with `claimguard users set-role`",
            )
        conn.execute(
            insert(User),
            [
                {
                    "username": username,
                    "password_hash": _hasher.hash(password),
                    "role": role,
                    "disabled": False,
                    "created_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
                }
            ],
        )


def _set(store: Store, username: str, **values: object) -> None:
    with store.engine.begin() as conn:
        res = conn.execute(update(User).where(User.username == username).values(**values))
    if res.rowcount == 0:
        raise UserError(
            f"No user {username!r}", where="claimguard users", fix="see `claimguard users list`"
        )


def demo_user(store: Store, username: str = "demo", role: str = "supervisor") -> str:
    """Create (or give a fresh password to) the demo's user; returns the password."""
    import secrets

    password = secrets.token_urlsafe(12)
    with store.reader.connect() as conn:
        exists = conn.scalar(select(User.id).where(User.username == username)) is not None
    if exists:
        _set(store, username, password_hash=_hasher.hash(password), role=role, disabled=False)
    else:
        add_user(store, username, password, role)
    return password


def set_role(store: Store, username: str, role: str) -> None:
    _set(store, username, role=_check_role(role))


def set_disabled(store: Store, username: str, disabled: bool = True) -> None:
    _set(store, username, disabled=disabled)


def list_users(store: Store) -> list[dict[str, object]]:
    with store.reader.connect() as conn:
        rows = conn.execute(
            select(User.username, User.role, User.disabled, User.created_at).order_by(User.username)
        ).all()
    return [dict(r._mapping) for r in rows]


def count_users(store: Store) -> int:
    with store.reader.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(User)) or 0)


def lookup(store: Store, username: str) -> SignedIn | None:
    """The enabled user of that name, else None."""
    with store.reader.connect() as conn:
        row = conn.execute(
            select(User.role).where(User.username == username, User.disabled.is_(False))
        ).first()
    return SignedIn(username, row.role) if row is not None else None


def verify_password(store: Store, username: str, password: str) -> SignedIn | None:
    """The user when the password is right and the user enabled, else None."""
    with store.reader.connect() as conn:
        row = conn.execute(
            select(User.password_hash, User.role, User.disabled).where(User.username == username)
        ).first()
    try:  # an unknown name costs as much time as a wrong password
        _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row.disabled:
        return None
    return SignedIn(username, row.role)


# ---------------------------------------------------------------- throttling


class Throttle:
    """Refuse sign-ins for a key (username, client address) after too many failures.

    The failures are rows of the store (``sign_in_failures``), so a lockout holds in
    every server process of the store; wall-clock times, as processes share no clock.
    """

    def __init__(self, store: Store, max_failures: int, window_s: float) -> None:
        self.store = store
        self.max_failures = max_failures
        self.window_s = window_s

    def wait_s(self, *keys: str) -> float:
        """Seconds until a sign-in for these keys is allowed again (0 = now)."""
        now = time.time()
        f = SignInFailure.__table__.c
        q = (
            select(f.key, func.count(), func.min(f.at))
            .where(f.key.in_(keys), f.at > now - self.window_s)
            .group_by(f.key)
        )
        with self.store.reader.connect() as conn:
            rows = conn.execute(q).all()
        waits = [self.window_s - (now - first) for _, n, first in rows if n >= self.max_failures]
        return max(waits, default=0.0)

    def failed(self, *keys: str) -> None:
        now = time.time()
        f = SignInFailure.__table__.c
        with self.store.engine.begin() as conn:
            conn.execute(delete(SignInFailure).where(f.at <= now - self.window_s))
            conn.execute(insert(SignInFailure), [{"key": k[:300], "at": now} for k in keys])

    def succeeded(self, username_key: str) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(delete(SignInFailure).where(SignInFailure.key == username_key))


# ---------------------------------------------------------------- sessions and rules


class Auth:
    """Sessions and the route rules of one app."""

    def __init__(
        self,
        store: Store,
        secret: str,
        *,
        session_hours: float,
        max_failures: int,
        lockout_s: float,
        trust_proxy_header: str | None = None,
    ) -> None:
        self.store = store
        self._ser = URLSafeTimedSerializer(secret, salt="claimguard-triage-signin")
        self.max_age_s = int(session_hours * 3600)
        self.throttle = Throttle(store, max_failures, lockout_s)
        self.trust_proxy_header = trust_proxy_header

    def cookie_value(self, user: SignedIn) -> str:
        return self._ser.dumps({"u": user.username})

    def current_user(self, request: Request) -> SignedIn | None:
        """The signed-in, enabled user of a request (proxy header or session cookie)."""
        if self.trust_proxy_header:
            name = request.headers.get(self.trust_proxy_header)
            if name:
                return lookup(self.store, name.strip())
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            data = self._ser.loads(raw, max_age=self.max_age_s)
        except BadSignature:  # includes SignatureExpired
            return None
        name = data.get("u") if isinstance(data, dict) else None
        return lookup(self.store, name) if isinstance(name, str) else None


def authorize(request: Request) -> None:
    """App-wide dependency: the route's rule from ``app.state.route_roles``, applied."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    need = request.app.state.route_roles.get(path)
    request.state.user = None
    if need == PUBLIC:
        request.state.user = request.app.state.auth.current_user(request)
        return
    if need is None:
        raise StarletteHTTPException(403, "This page has no access rule, so nobody may use it")
    user = request.app.state.auth.current_user(request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    request.state.user = user  # the error page shows who is signed in, too
    if not user.may(need):
        raise StarletteHTTPException(403, f"This page needs the {need} role")
