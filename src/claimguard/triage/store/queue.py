"""The queue's queries: filters, keyset pages, tab counts and filter choices.

Why counts are cached and pages are not: see "Counts per state and per status" in
docs/triage.md.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from sqlalchemy import and_, func, literal, or_, select, true
from sqlalchemy.sql import ColumnElement, Select

from claimguard.triage.store.base import StoreBase
from claimguard.triage.store.models import (
    Alert,
    AlertSignal,
    CardFacility,
    CaseRun,
    Run,
)
from claimguard.triage.store.views import (
    CASE_STATES,
    COUNTS_CACHE_SIZE,
    SORTS,
    STATUSES,
    Cursor,
    Facets,
    QueueFilter,
    QueuePage,
    as_dict,
)

# the columns a queue row shows (and its checkbox's version): no evidence or context
PAGE_COLUMNS = (
    "alert_id", "entity_type", "entity_id", "label", "period_start", "period_end", "score",
    "amount_at_stake", "rank", "top_signal", "reasons", "n_evidence", "province", "tier",
    "status", "status_at", "status_reviewer", "state", "assignee", "version",
)  # fmt: skip


def _page_cursors(
    rows: list[dict[str, Any]],
    sort: str,
    more: bool,
    after: Cursor | None,
    before: Cursor | None,
) -> tuple[Cursor | None, Cursor | None]:
    """(next, previous) cursors of a page in queue order; None where there is no page."""
    if not rows:
        return None, None
    value = "score" if sort == "score" else "amount_at_stake"
    first = Cursor(float(rows[0][value]), str(rows[0]["alert_id"]))
    last = Cursor(float(rows[-1][value]), str(rows[-1]["alert_id"]))
    if before is not None:
        return last, (first if more else None)
    return (last if more else None), (first if after is not None else None)


def _first_reasons(rows: list[dict[str, Any]], signal: str | None) -> None:
    """Replace each row's reasons by the one to show (matching the signal filter, if any)."""
    for r in rows:  # one page of rows, not the claims
        reasons = json.loads(r.pop("reasons") or "[]")
        match = [x for x in reasons if signal and x.get("signal") == signal]
        shown = (match or reasons or [{}])[0]
        r["first_reason"] = shown.get("text") or shown.get("feature") or ""
        r["more_reasons"] = max(0, len(reasons) - 1)


class QueueQueries(StoreBase):
    """The queue page's reads."""

    def _where(
        self, f: QueueFilter, without: frozenset[str] = frozenset()
    ) -> list[ColumnElement[bool]]:
        """SQL conditions of the filter, leaving out the fields named in ``without``."""
        a = Alert.__table__.c
        cr = CaseRun.__table__.c
        conds: list[ColumnElement[bool]] = []
        if f.entity_type:
            conds.append(a.entity_type == f.entity_type)
        # signal, run and model as EXISTS: the page then walks the sort index and probes
        # the link table's primary key per row, instead of sorting every matching case
        sg = AlertSignal.__table__.c
        if f.signal:
            conds.append(
                select(sg.alert_id).where(sg.alert_id == a.alert_id, sg.signal == f.signal).exists()
            )
        if f.province:
            conds.append(a.province == f.province)
        if f.tier:
            conds.append(a.tier == f.tier)
        if f.score_min is not None:
            conds.append(a.score >= f.score_min)
        if f.score_max is not None:
            conds.append(a.score <= f.score_max)
        if f.amount_min is not None:
            conds.append(a.amount_at_stake >= f.amount_min)
        if f.amount_max is not None:
            conds.append(a.amount_at_stake <= f.amount_max)
        if f.status and "status" not in without:
            conds.append(a.status == f.status)
        if f.state and "state" not in without:
            conds.append(a.state == f.state)
        if f.assignee:
            conds.append(a.assignee == f.assignee)
        if f.search:
            conds.append(a.entity_id == f.search)
        if f.facility:
            visited = select(CardFacility.card_id).where(CardFacility.facility_id == f.facility)
            # the IN over both id sets is implied by the OR; it lets the planner read the
            # few cases through ix_alerts_entity instead of testing every case
            either = visited.union_all(select(literal(f.facility)))
            conds.append(a.entity_id.in_(either))
            conds.append(
                or_(
                    and_(a.entity_type == "facility", a.entity_id == f.facility),
                    and_(a.entity_type == "card", a.entity_id.in_(visited)),
                )
            )
        if f.run_id is not None:
            conds.append(
                select(cr.alert_id).where(cr.alert_id == a.alert_id, cr.run_id == f.run_id).exists()
            )
        if f.model_version:
            model = select(cr.alert_id).where(
                cr.alert_id == a.alert_id, cr.model_version == f.model_version
            )
            conds.append(model.exists())
        return conds

    def counts(self, f: QueueFilter) -> tuple[dict[str, int], dict[str, int]]:
        """Cases per decision status and per case state, each under the other filters.

        One grouped query of (state, status) under every filter but those two gives both.
        Why cached: on 100,000 cases a count under a filter reads every matching row, and
        a team pages through the same few filters all day. An entry is used only while the
        store's versions (:meth:`_versions`, one primary-key read) are those it was counted
        at, so a decision in any server process shows in every process's next count.
        """
        a = Alert.__table__.c
        base = replace(f, status=None, state=None)
        with self.reader.connect() as conn:
            versions = self._versions(conn)
            with self._counts_lock:
                hit = self._counts_cache.get(base)
                if hit is not None:
                    self._counts_cache.move_to_end(base)
            if hit is not None and hit[0] == versions:
                matrix = hit[1]
            else:
                q = (
                    select(a.state, a.status, func.count())
                    .where(and_(true(), *self._where(base)))
                    .group_by(a.state, a.status)
                )
                matrix = {(str(st), str(su)): int(n) for st, su, n in conn.execute(q)}
                with self._counts_lock:
                    self._counts_cache[base] = (versions, matrix)
                    while len(self._counts_cache) > COUNTS_CACHE_SIZE:
                        self._counts_cache.popitem(last=False)
        status_counts = {s: 0 for s in STATUSES}
        state_counts = {s: 0 for s in CASE_STATES}
        for (st, su), n in matrix.items():
            if not f.state or st == f.state:
                status_counts[su] = status_counts.get(su, 0) + n
            if not f.status or su == f.status:
                state_counts[st] = state_counts.get(st, 0) + n
        return status_counts, state_counts

    def queue(
        self,
        f: QueueFilter,
        *,
        sort: str = "score",
        after: Cursor | None = None,
        before: Cursor | None = None,
        page_size: int = 50,
    ) -> QueuePage:
        """One keyset page of the queue, highest ``sort`` first, ties by alert id.

        ``after`` gives the page after that row, ``before`` the page before it. Counts per
        decision status and per case state are under the other filters, so the tabs say
        how many a click would show.
        """
        if sort not in SORTS:
            raise ValueError(f"unknown sort {sort!r}")
        status_counts, state_counts = self.counts(f)
        total = state_counts.get(f.state, 0) if f.state else sum(state_counts.values())
        q = self._page_select(f, sort, after, before).limit(page_size + 1)
        with self.reader.connect() as conn:
            rows = [as_dict(r) for r in conn.execute(q)]
        more = len(rows) > page_size
        rows = rows[:page_size]
        if before is not None:
            rows.reverse()
        next_cursor, prev_cursor = _page_cursors(rows, sort, more, after, before)
        _first_reasons(rows, f.signal)
        return QueuePage(
            rows, total, status_counts, state_counts, page_size, sort, next_cursor, prev_cursor
        )

    def _page_select(
        self, f: QueueFilter, sort: str, after: Cursor | None, before: Cursor | None
    ) -> Select[Any]:
        """The page's rows along (sort key DESC, alert_id), from a cursor on either side."""
        a = Alert.__table__.c
        key = a.score if sort == "score" else a.amount_at_stake
        q = select(*(a[name] for name in PAGE_COLUMNS)).where(and_(true(), *self._where(f)))
        if before is not None:  # walk backwards, then put the page in queue order
            return q.where(
                or_(key > before.value, and_(key == before.value, a.alert_id < before.alert_id))
            ).order_by(key.asc(), a.alert_id.desc())
        if after is not None:
            q = q.where(
                or_(key < after.value, and_(key == after.value, a.alert_id > after.alert_id))
            )
        return q.order_by(key.desc(), a.alert_id)

    def next_open(self, f: QueueFilter, score: float, alert_id: str) -> str | None:
        """The next open alert after (score, alert_id) in queue order under filters ``f``."""
        a = Alert.__table__.c
        after = or_(a.score < score, and_(a.score == score, a.alert_id > alert_id))
        q = (
            select(a.alert_id)
            .where(
                and_(true(), *self._where(f, without=frozenset({"status"}))),
                a.status == "open",
                after,
            )
            .order_by(a.score.desc(), a.alert_id)
            .limit(1)
        )
        with self.reader.connect() as conn:
            return conn.scalar(q)

    def facets(self) -> Facets:
        """Filter choices; cached until another run is loaded or a case changes."""
        with self.reader.connect() as conn:
            versions = self._versions(conn)
            cached = self._facets
            if cached is not None and cached[0] == versions:
                return cached[1]
            a = Alert.__table__.c

            def distinct(col: Any) -> list[str]:
                return [v for v in conn.scalars(select(col).distinct().order_by(col)) if v]

            runs = [
                as_dict(r)
                for r in conn.execute(
                    select(Run.id, Run.folder, Run.model_version, Run.loaded_at, Run.n_alerts)
                    .order_by(Run.id.desc())
                    .limit(50)
                )
            ]
            facets = Facets(
                entity_types=distinct(a.entity_type),
                signals=[
                    v
                    for v in conn.scalars(select(AlertSignal.signal).distinct().order_by("signal"))
                ],
                provinces=distinct(a.province),
                tiers=distinct(a.tier),
                assignees=distinct(a.assignee),
                models=distinct(Run.model_version),
                runs=runs,
                total=int(conn.scalar(select(func.count()).select_from(Alert)) or 0),
            )
            facets.latest_run = runs[0] if runs else None
        self._facets = (versions, facets)
        return facets

    def case_runs(self, alert_id: str) -> list[dict[str, Any]]:
        """The runs (and models) that flagged a case, newest first."""
        cr = CaseRun.__table__.c
        q = (
            select(cr.run_id, cr.source_alert_id, cr.model_version, cr.score, cr.top_signal,
                   Run.folder, Run.loaded_at)
            .join(Run, Run.id == cr.run_id)
            .where(cr.alert_id == alert_id)
            .order_by(cr.run_id.desc())
        )  # fmt: skip
        with self.reader.connect() as conn:
            return [as_dict(r) for r in conn.execute(q)]
