"""Decisions as labels: carried forward to a later run's alerts, exported for training.

Why apart from the case writes: these read and copy the whole decision history, for
``score --since`` loads and the supervisors' exports, not for one case page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.engine import Connection

from claimguard.triage.store.cases import CaseWrites
from claimguard.triage.store.models import (
    Alert,
    Decision,
    Note,
)
from claimguard.triage.store.views import (
    CARRY_FORWARD_ACTOR,
    CHUNK,
    as_dict,
    utcnow,
)


class LabelQueries(CaseWrites):
    """Carry-forward of decisions, the labels export and the cases export."""

    def carry_forward(self, conn: Connection, pairs: Sequence[tuple[str, str]]) -> int:
        """Copy the latest decision of each ``(previous_alert_id, alert_id)`` pair onto the new alert.

        Why: an incremental run (``score --since``) alerts some entities again; reviewers must
        see what a colleague already decided instead of starting over. Only alerts with no
        decision of their own are touched; the copy is a decision by :data:`CARRY_FORWARD_ACTOR`
        naming the original (so an inspector sees it was not a fresh review), audited in the
        caller's transaction, and left out of :meth:`labels` (it is not a look at the new
        period). Returns how many decisions were carried.
        """
        d = Decision.__table__.c
        carried = 0
        for previous, alert_id in pairs:
            if conn.scalar(select(func.count()).where(d.alert_id == alert_id)):
                continue
            prev = conn.execute(
                select(Decision.__table__)
                .where(d.alert_id == previous)
                .order_by(d.id.desc())
                .limit(1)
            ).first()
            before = self._case(conn, alert_id)
            if prev is None or before is None:
                continue
            now = utcnow()
            conn.execute(
                update(Alert)
                .where(Alert.alert_id == alert_id)
                .values(
                    status=prev.decision,
                    status_at=now,
                    status_reviewer=prev.reviewer,
                    state="decided",
                    version=Alert.version + 1,
                )
            )
            note = (
                f"Carried forward from alert {previous}: {prev.decision} by {prev.reviewer} "
                f"on {prev.decided_at:%Y-%m-%d}."
                + (f" Their note: {prev.note}" if prev.note else "")
            )
            conn.execute(
                insert(Decision),
                [
                    {
                        "alert_id": alert_id,
                        "entity_type": prev.entity_type,
                        "entity_id": prev.entity_id,
                        "decision": prev.decision,
                        "scenario": prev.scenario,
                        "note": note,
                        "reviewer": CARRY_FORWARD_ACTOR,
                        "decided_at": now,
                    }
                ],
            )
            self._audit(
                conn, CARRY_FORWARD_ACTOR, "carry_forward", alert_id, before,
                {**(self._case(conn, alert_id) or {}), "from_alert": previous},
            )  # fmt: skip
            carried += 1
        return carried

    def labels(self, history: bool = False) -> list[dict[str, Any]]:
        """Decisions in the layout of docs/contract.md section 4: the latest per alert, or every one.

        Carried-forward copies are left out: a label is a reviewer's look at one period.
        """
        d = Decision.__table__.c
        q = select(d.entity_type, d.entity_id, d.scenario, d.decision, d.reviewer, d.decided_at)
        q = q.where(d.reviewer != CARRY_FORWARD_ACTOR)
        if not history:
            latest = select(func.max(d.id)).group_by(d.alert_id)
            q = q.where(d.id.in_(latest))
        q = q.order_by(d.decided_at, d.id)
        with self.reader.connect() as conn:
            return [as_dict(r) for r in conn.execute(q)]

    def cases(self) -> list[dict[str, Any]]:
        """Every case someone worked (decided, noted, assigned or moved on), with its history.

        Each case carries ``decisions`` and ``notes`` (oldest first): the supervisor's
        export is the whole record of the review, not only the latest label.
        """
        a, d, n = Alert.__table__.c, Decision.__table__.c, Note.__table__.c
        touched = or_(
            a.alert_id.in_(select(d.alert_id)),
            a.alert_id.in_(select(n.alert_id)),
            a.assignee.is_not(None),
            a.state != "new",
        )
        q = (
            select(a.alert_id, a.entity_type, a.entity_id, a.period_start, a.period_end,
                   a.model_version, a.score, a.rank, a.state, a.status, a.assignee, a.due_at,
                   a.status_reviewer, a.status_at)
            .where(touched)
            .order_by(a.entity_type, a.score.desc(), a.alert_id)
        )  # fmt: skip
        with self.reader.connect() as conn:
            rows = [as_dict(r) for r in conn.execute(q)]
            by_id = {r["alert_id"]: {**r, "decisions": [], "notes": []} for r in rows}
            ids = list(by_id)
            for i in range(0, len(ids), CHUNK):
                part = ids[i : i + CHUNK]
                for r in conn.execute(
                    select(d.alert_id, d.decision, d.scenario, d.note, d.reviewer, d.decided_at)
                    .where(d.alert_id.in_(part))
                    .order_by(d.id)
                ):
                    by_id[r.alert_id]["decisions"].append(as_dict(r))
                for nr in conn.execute(
                    select(n.alert_id, n.author, n.body, n.created_at)
                    .where(n.alert_id.in_(part))
                    .order_by(n.id)
                ):
                    by_id[nr.alert_id]["notes"].append(as_dict(nr))
        return list(by_id.values())
