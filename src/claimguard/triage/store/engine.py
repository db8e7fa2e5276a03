"""The store's database engine: URL handling, per-dialect settings, migrations, errors.

Why apart from the queries: how the store connects (SQLite WAL and busy timeout, the
PostgreSQL pool) and how a database error is told to a user are the same for every
query module.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, OperationalError

from claimguard.errors import ConfigError, UserError
from claimguard.settings import TriageSettings

MIGRATIONS = Path(__file__).parent.parent / "migrations"
PG_POOL_SIZE = 20  # connections kept per server process (see make_store_engine)
PG_POOL_OVERFLOW = 10
PG_PING_IDLE_S = 2.0  # a pooled connection idle this long is checked before use
DEFAULT_LOCK_TIMEOUT_S = float(TriageSettings().db_lock_timeout_seconds)


class Conflict(Exception):
    """Someone else changed the case since the page was loaded (optimistic locking)."""


class StoreUnavailable(Exception):
    """The store cannot be trusted with a write (its database file is gone or replaced)."""


def describe_db_error(exc: BaseException) -> str:
    """A short text of a database error that is safe to log: no SQL, no parameters.

    SQLAlchemy's own message carries the statement and its parameters (claim data,
    reviewers' notes), so it is never used. SQLite's messages name tables and columns
    only; PostgreSQL's may quote values, so only the SQLSTATE code is kept.
    """
    if isinstance(exc, StoreUnavailable):
        return str(exc)
    orig = getattr(exc, "orig", None) or exc
    kind = type(orig).__name__
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code:
        return f"{kind} (SQLSTATE {code})"
    if type(orig).__module__.startswith("sqlite3"):
        first = (str(orig).strip().splitlines() or [""])[0][:200]
        return f"{kind}: {first}" if first else kind
    return kind


def is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" (another connection holds the lock
    longer than the busy timeout)."""
    orig = getattr(exc, "orig", None) or exc
    return isinstance(exc, OperationalError) and "locked" in str(orig).lower()


def locked_error(where: str, timeout_s: float) -> UserError:
    return UserError(
        f"The triage database is locked by another process (waited {timeout_s:g} s for it)",
        where=where,
        fix="wait until the other claimguard command or server writing it is done (or stop "
        "it) and run again, or raise triage.db_lock_timeout_seconds "
        "(CLAIMGUARD_TRIAGE__DB_LOCK_TIMEOUT_SECONDS)",
    )


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` (uses psycopg 3, the driver we ship) and plain SQLite paths."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if "://" not in url:  # a bare file path
        return f"sqlite:///{url}"
    return url


def make_store_engine(url: str, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> Engine:
    """Engine with the per-dialect settings the store relies on (SQLite: WAL, FKs, busy wait).

    ``lock_timeout_s`` bounds how long a statement waits for another connection's SQLite
    lock, so a write under a held lock fails fast instead of hanging the request.
    Parameters are hidden from SQLAlchemy's error messages (they hold claim data).
    """
    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError as exc:
        raise ConfigError(
            f"Not a database URL: {url!r}",
            where="--db / triage.db_url",
            fix="use sqlite:///path/to/triage.db or postgresql://user:pass@host:5432/dbname",
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # a file's pool as large as a server's busiest moment: an overflow connection would
        # be closed on return and reopened (with its pragmas) by the next request
        on_file = bool(parsed.database) and parsed.database != ":memory:"
        pool: dict[str, Any] = {"pool_size": 20, "max_overflow": 20} if on_file else {}
        engine = create_engine(
            parsed, connect_args={"timeout": lock_timeout_s}, hide_parameters=True, **pool
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if parsed.database and parsed.database != ":memory:":
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(
            f"Unsupported database {parsed.get_backend_name()!r} for the triage store",
            where="--db / triage.db_url",
            fix="use a sqlite:/// or postgresql:// URL",
        )
    # a pool as large as a server process's busiest moment (20 requests at once, each with
    # one connection at a time): an overflow connection is closed on return and the next
    # request pays a new one. A small overflow for bursts beyond that; `serve --workers N`
    # holds at most N x 30 connections (PostgreSQL's max_connections is 100 by default)
    engine = create_engine(
        parsed, pool_size=PG_POOL_SIZE, max_overflow=PG_POOL_OVERFLOW, hide_parameters=True
    )
    _ping_when_idle(engine, PG_PING_IDLE_S)
    return engine


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Check a pooled connection with a round trip only when it has sat idle ``idle_s``.

    Why not ``pool_pre_ping``: it pings on every checkout, and a page takes several
    (one per query), so under load a third of the server's time went into pings. A
    connection used a moment ago is alive; one idle across a server restart is not and
    is replaced here. One that breaks within ``idle_s`` fails one request, and
    SQLAlchemy then discards every connection opened before the failure.
    """

    @event.listens_for(engine, "checkin")
    def _stamp(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("checked_in_at")
        if since is None or time.monotonic() - since < idle_s:
            return
        try:
            cur = dbapi_conn.cursor()
            cur.execute("SELECT 1")
            cur.close()
        except Exception as exc:  # the driver's own error types: any failure means gone
            raise DisconnectionError(describe_db_error(exc)) from exc


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":  # two servers starting at once: one migrates
            conn.execute(text("SELECT pg_advisory_xact_lock(727274)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
