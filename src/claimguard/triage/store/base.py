"""The store's connection, health, signing secret and the helpers every query module uses.

Why a base class: the queue, evidence, case and label queries are separate modules (each
a class over this one) that share one engine, one lock timeout and one counts cache.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from sqlalchemy import delete, func, insert, inspect, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from claimguard.errors import ConfigError
from claimguard.triage.store.engine import (
    DEFAULT_LOCK_TIMEOUT_S,
    describe_db_error,
    is_locked,
    locked_error,
    make_store_engine,
    migrate,
)
from claimguard.triage.store.models import (
    Alert,
    Counter,
    Meta,
    Run,
)
from claimguard.triage.store.views import (
    CASES_COUNTER,
    CHUNK,
    Facets,
    QueueFilter,
    utcnow,
)


class StoreBase:
    """Connection and shared state of the store; one instance per process, thread-safe."""

    def __init__(self, engine: Engine, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> None:
        self.engine = engine
        # Reads need no transaction: on PostgreSQL an implicit BEGIN and the pool's ROLLBACK
        # on return are two round trips per read (a page makes several reads). Autocommit
        # changes nothing they see: each statement of READ COMMITTED has its own snapshot
        # anyway. Writes use ``engine.begin()``, a real transaction. SQLite's driver does
        # not BEGIN for a read, so its engine is the reader as it is.
        self.reader: Engine = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else engine
        )
        self.lock_timeout_s = lock_timeout_s
        self._facets: tuple[tuple[int | None, int | None], Facets] | None = None
        self._counts_cache: OrderedDict[
            QueueFilter, tuple[tuple[int | None, int | None], dict[tuple[str, str], int]]
        ] = OrderedDict()
        self._counts_lock = threading.Lock()
        db = engine.url.database
        self._file: Path | None = None
        self._file_id: tuple[int, int] | None = None
        if engine.dialect.name == "sqlite" and db and db != ":memory:":
            self._file = Path(db).expanduser()
            self._file_id = self._stat_id()

    @classmethod
    def open(cls, url: str, *, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> Self:
        """Connect and migrate; a clear error if the database cannot be reached."""
        engine = make_store_engine(url, lock_timeout_s)
        try:
            migrate(engine)
        except OperationalError as exc:
            if is_locked(exc):
                where = engine.url.render_as_string(hide_password=True)
                raise locked_error(where, lock_timeout_s) from exc
            raise ConfigError(
                f"Cannot open the triage database ({str(exc.orig).strip().splitlines()[0]})",
                where=engine.url.render_as_string(hide_password=True),
                fix="check the --db URL, that the server runs and the user may connect",
            ) from exc
        return cls(engine, lock_timeout_s)

    @contextmanager
    def lock_guard(self) -> Iterator[None]:
        """Commands: a lock held past the busy timeout becomes a UserError (exit 2)."""
        try:
            yield
        except OperationalError as exc:
            if not is_locked(exc):
                raise
            where = self.engine.url.render_as_string(hide_password=True)
            raise locked_error(where, self.lock_timeout_s) from exc

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # ------------------------------------------------------------------ health

    def _stat_id(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self._file) if self._file is not None else None
        except OSError:
            return None
        return (st.st_dev, st.st_ino) if st is not None else None

    def file_problem(self) -> str | None:
        """For a SQLite file store: why the open connections no longer see the file."""
        if self._file is None:
            return None
        now = self._stat_id()
        if now is None:
            return "the SQLite database file is missing"
        if self._file_id is not None and now != self._file_id:
            return "the SQLite database file was replaced while the app ran"
        return None

    def health(self) -> tuple[str | None, int]:
        """(None, number of alerts) when the store answers, else (short reason, 0)."""
        problem = self.file_problem()
        if problem:
            return problem, 0
        try:
            with self.reader.connect() as conn:
                conn.execute(text("SELECT 1")).scalar_one()
                if not inspect(conn).has_table(Alert.__tablename__):
                    return "the alerts table is missing", 0
                n = conn.scalar(select(func.count()).select_from(Alert))
        except SQLAlchemyError as exc:
            return f"database error: {describe_db_error(exc)}", 0
        return None, int(n or 0)

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ meta

    def secret(self) -> str:
        """The store's signing secret, made once and shared by every server on this store."""
        with self.engine.begin() as conn:
            value = conn.scalar(select(Meta.value).where(Meta.key == "csrf_secret"))
            if value is None:
                value = secrets.token_urlsafe(32)
                conn.execute(
                    self.upsert(Meta.__table__, ["key"], do_nothing=True),
                    [{"key": "csrf_secret", "value": value}],
                )
                value = conn.scalar(select(Meta.value).where(Meta.key == "csrf_secret"))
        return str(value)

    def upsert(
        self,
        table: Any,
        keys: list[str],
        do_nothing: bool = False,
        exclude: set[str] | frozenset[str] = frozenset(),
    ) -> Any:
        """INSERT ... ON CONFLICT for both dialects (updates every non-key, non-excluded column)."""
        from sqlalchemy.dialects import postgresql, sqlite

        pg = self.dialect == "postgresql"
        stmt: Any = postgresql.insert(table) if pg else sqlite.insert(table)
        if do_nothing:
            return stmt.on_conflict_do_nothing(index_elements=keys)
        cols = {
            c.name: stmt.excluded[c.name]
            for c in table.columns
            if c.name not in keys and c.name not in exclude
        }
        return stmt.on_conflict_do_update(index_elements=keys, set_=cols)

    def _versions(self, conn: Connection) -> tuple[int | None, int | None]:
        """(newest run id, case-change counter): what the cached counts depend on.

        A load adds a run; every change of a case's state, status or assignee raises the
        counter in its own transaction (:meth:`_audit`), in whichever process made it.
        """
        run = select(func.max(Run.id)).scalar_subquery()
        gen = select(Counter.value).where(Counter.name == CASES_COUNTER).scalar_subquery()
        row = conn.execute(select(run, gen)).one()
        return row[0], row[1]

    def forget_counts(self) -> None:
        """Drop the cached queue counts and facets (they are also checked on every use)."""
        with self._counts_lock:
            self._counts_cache.clear()
            self._facets = None

    # ------------------------------------------------------------------ loading helpers

    def delete_in(self, conn: Connection, column: Any, values: Iterable[Any]) -> None:
        """DELETE ... WHERE column IN (values), in chunks the drivers accept."""
        vals = list(values)
        for i in range(0, len(vals), CHUNK):
            conn.execute(delete(column.table).where(column.in_(vals[i : i + CHUNK])))

    def add_run(
        self,
        conn: Connection,
        folder: str,
        model_version: str | None,
        n: int,
        context: dict[str, Any],
    ) -> int:
        res = conn.execute(
            insert(Run).returning(Run.id),
            [
                {
                    "folder": folder,
                    "model_version": model_version,
                    "loaded_at": utcnow(),
                    "n_alerts": n,
                    "context": json.dumps(context),
                }
            ],
        )
        return int(res.scalar_one())
