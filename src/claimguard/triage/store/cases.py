"""Writes of a case: state, assignee, notes and decisions, each audited in its transaction.

Why optimistic locking: two reviewers on one case must give one decision and one clear
conflict, never a silent overwrite (docs/triage.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from claimguard.schema import DECISIONS
from claimguard.triage.store.base import StoreBase
from claimguard.triage.store.engine import (
    Conflict,
    StoreUnavailable,
)
from claimguard.triage.store.models import (
    Alert,
    AuditEntry,
    CaseRun,
    Counter,
    Decision,
    Note,
)
from claimguard.triage.store.views import (
    CASES_COUNTER,
    BulkResult,
    as_dict,
    note_scenario,
    utcnow,
)


class CaseWrites(StoreBase):
    """Case changes, notes, decisions and their audit trail."""

    def _audit(
        self,
        conn: Connection,
        actor: str,
        action: str,
        alert_id: str | None,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        """Append an audit entry inside the caller's transaction (both or neither).

        A change of a case (``before`` and ``after`` given) also raises the cases counter,
        in the same transaction, so cached counts everywhere see it (:meth:`counts`).
        """
        if before is not None and after is not None:
            bump = update(Counter).where(Counter.name == CASES_COUNTER)
            if conn.execute(bump.values(value=Counter.value + 1)).rowcount == 0:
                conn.execute(insert(Counter), [{"name": CASES_COUNTER, "value": 1}])
        conn.execute(
            insert(AuditEntry),
            [
                {
                    "at": utcnow(),
                    "actor": actor,
                    "action": action,
                    "alert_id": alert_id,
                    "before": None if before is None else json.dumps(before, default=str),
                    "after": None if after is None else json.dumps(after, default=str),
                }
            ],
        )

    def _case(self, conn: Connection, alert_id: str) -> dict[str, Any] | None:
        a = Alert.__table__.c
        row = conn.execute(
            select(a.state, a.assignee, a.status, a.version, a.due_at).where(a.alert_id == alert_id)
        ).first()
        return None if row is None else as_dict(row)

    def change_case(
        self,
        alert_id: str,
        actor: str,
        action: str,
        expected_version: int | None = None,
        **values: Any,
    ) -> dict[str, Any] | None:
        """Set case columns (state, assignee) if the version still matches; audited.

        Returns the case after the change, None for an unknown alert; raises
        :class:`Conflict` when someone else changed it since ``expected_version``.
        """
        with self.engine.begin() as conn:
            before = self._case(conn, alert_id)
            if before is None:
                return None
            q = update(Alert).where(Alert.alert_id == alert_id)
            if expected_version is not None:
                q = q.where(Alert.version == expected_version)
            res = conn.execute(q.values(version=Alert.version + 1, **values))
            if res.rowcount == 0:
                raise Conflict("someone else changed this case; reload it to see their change")
            after = self._case(conn, alert_id)
            self._audit(conn, actor, action, alert_id, before, after)
        self.forget_counts()
        return after

    def case_of(self, conn: Connection, alert_id: str) -> str | None:
        """The case an alert id belongs to: its own row, or the case it joined when loaded."""
        if conn.scalar(select(Alert.alert_id).where(Alert.alert_id == alert_id)) is not None:
            return alert_id
        cr = CaseRun.__table__.c
        return conn.scalar(
            select(cr.alert_id).where(cr.source_alert_id == alert_id).order_by(cr.run_id).limit(1)
        )

    def bulk_assign(
        self, items: Sequence[tuple[str, int]], actor: str, assignee: str
    ) -> BulkResult:
        """Assign each ``(alert_id, version)`` as :meth:`change_case` does one: audited, checked."""
        out = BulkResult()
        for alert_id, version in items:
            try:
                changed = self.change_case(
                    alert_id, actor, "assign", version, assignee=assignee, state="assigned"
                )
            except Conflict:
                out.conflicts.append(alert_id)
                continue
            (out.done if changed is not None else out.missing).append(alert_id)
        return out

    def bulk_decide(
        self,
        items: Sequence[tuple[str, int]],
        decision: str,
        reviewer: str,
        note: str,
        *,
        any_assignee: bool = False,
    ) -> BulkResult:
        """Decide each ``(alert_id, version)`` as :meth:`record_decision` does one.

        A case assigned to someone else is refused unless ``any_assignee`` (a supervisor),
        as on the case page; the version check makes the assignee check race-free.
        """
        out = BulkResult()
        for alert_id, version in items:
            with self.reader.connect() as conn:
                case = self._case(conn, alert_id)
            if case is None:
                out.missing.append(alert_id)
                continue
            if case["version"] != version:
                out.conflicts.append(alert_id)
                continue
            if case["assignee"] not in (None, reviewer) and not any_assignee:
                out.refused.append(alert_id)
                continue
            try:
                saved = self.record_decision(alert_id, decision, reviewer, note, version)
            except Conflict:
                out.conflicts.append(alert_id)
                continue
            (out.done if saved is not None else out.missing).append(alert_id)
        return out

    def add_note(self, alert_id: str, author: str, body: str) -> bool:
        """Append a note (never edited); audited in the same transaction."""
        with self.engine.begin() as conn:
            if self._case(conn, alert_id) is None:
                return False
            conn.execute(
                insert(Note),
                [{"alert_id": alert_id, "author": author, "body": body, "created_at": utcnow()}],
            )
            self._audit(conn, author, "note", alert_id, None, {"note": body})
        return True

    def notes(self, alert_id: str) -> list[dict[str, Any]]:
        q = select(Note.author, Note.body, Note.created_at).where(Note.alert_id == alert_id)
        with self.reader.connect() as conn:
            return [as_dict(r) for r in conn.execute(q.order_by(Note.id))]

    def audit(self, alert_id: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """The newest audit entries (of one case, or all)."""
        q = select(AuditEntry.__table__)
        if alert_id is not None:
            q = q.where(AuditEntry.alert_id == alert_id)
        with self.reader.connect() as conn:
            return [as_dict(r) for r in conn.execute(q.order_by(AuditEntry.id.desc()).limit(limit))]

    def record_decision(
        self,
        alert_id: str,
        decision: str,
        reviewer: str,
        note: str = "",
        expected_version: int | None = None,
    ) -> dict[str, Any] | None:
        """Append a decision and make it the alert's status, in one transaction.

        The UPDATE of the alert row comes first: it takes the row lock (PostgreSQL) or the
        write lock (SQLite), so concurrent reviewers of one alert are serialised and the
        decision with the highest id is always the one shown. Returns None for an
        unknown alert.
        """
        if decision not in DECISIONS:
            raise ValueError(f"unknown decision {decision!r}")
        problem = self.file_problem()
        if problem:  # the write would land in a file nobody will ever read again
            raise StoreUnavailable(problem)
        now = utcnow()
        with self.engine.begin() as conn:
            before = self._case(conn, alert_id)
            if before is None:
                return None
            q = update(Alert).where(Alert.alert_id == alert_id)
            if expected_version is not None:  # optimistic locking: the page's version
                q = q.where(Alert.version == expected_version)
            res = conn.execute(
                q.values(
                    status=decision,
                    status_at=now,
                    status_reviewer=reviewer,
                    state="decided",
                    version=Alert.version + 1,
                )
            )
            if res.rowcount == 0:
                raise Conflict("someone else decided or changed this case since you opened it")
            ent = conn.execute(
                select(Alert.entity_type, Alert.entity_id, Alert.top_signal).where(
                    Alert.alert_id == alert_id
                )
            ).one()
            row = {
                "alert_id": alert_id,
                "entity_type": ent.entity_type,
                "entity_id": ent.entity_id,
                "decision": decision,
                "scenario": note_scenario(note) or ent.top_signal or "other",
                "note": note,
                "reviewer": reviewer,
                "decided_at": now,
            }
            new_id = conn.execute(insert(Decision).returning(Decision.id), [row]).scalar_one()
            self._audit(conn, reviewer, "decide", alert_id, before, self._case(conn, alert_id))
        self.forget_counts()
        return {"id": new_id, **row}

    def history(self, alert_id: str) -> list[dict[str, Any]]:
        """Every decision on an alert, newest first."""
        with self.reader.connect() as conn:
            return [
                as_dict(r)
                for r in conn.execute(
                    select(Decision.__table__)
                    .where(Decision.alert_id == alert_id)
                    .order_by(Decision.id.desc())
                )
            ]

    def entity_history(
        self, entity_type: str, entity_id: str, exclude_alert: str
    ) -> list[dict[str, Any]]:
        """Decisions on the same entity in other alerts (earlier periods or runs)."""
        with self.reader.connect() as conn:
            return [
                as_dict(r)
                for r in conn.execute(
                    select(Decision.__table__)
                    .where(
                        Decision.entity_type == entity_type,
                        Decision.entity_id == entity_id,
                        Decision.alert_id != exclude_alert,
                    )
                    .order_by(Decision.id.desc())
                    .limit(50)
                )
            ]

    def decision_counts(self) -> dict[str, int]:
        with self.reader.connect() as conn:
            n_decisions = conn.scalar(select(func.count()).select_from(Decision)) or 0
            n_alerts = conn.scalar(select(func.count(func.distinct(Decision.alert_id)))) or 0
        return {"decisions": int(n_decisions), "decided_alerts": int(n_alerts)}
