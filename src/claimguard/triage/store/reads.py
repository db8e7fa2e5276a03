"""Reads of one alert and its entity: evidence claims, lines, visits, doctors, peers.

Why apart from the queue: the case, card and facility pages read these by primary or
indexed keys only; none of them is cached.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, func, select

from claimguard.triage.store.base import StoreBase
from claimguard.triage.store.models import (
    Alert,
    CardFacility,
    Claim,
    ClaimLine,
    DoctorDay,
    Entity,
    FeaturePeers,
    Run,
)
from claimguard.triage.store.views import (
    CHUNK,
    as_dict,
)


class EvidenceReads(StoreBase):
    """The case, card and facility pages' reads."""

    def alert(self, alert_id: str) -> dict[str, Any] | None:
        """The alert with parsed reasons/evidence and the context its run had."""
        with self.reader.connect() as conn:
            r = conn.execute(
                select(Alert.__table__, Run.context, Run.folder, Run.loaded_at.label("run_loaded"))
                .join(Run, Run.id == Alert.run_id)
                .where(Alert.alert_id == alert_id)
            ).first()
        if r is None:
            return None
        out = as_dict(r)
        out["reasons"] = json.loads(out["reasons"] or "[]")
        out["evidence_claim_ids"] = json.loads(out["evidence_claim_ids"] or "[]")
        out["context"] = json.loads(out["context"] or "{}")
        return out

    def claims(self, claim_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Evidence claims in time order, each with how many lines it has."""
        if not claim_ids:
            return []
        n_lines = (
            select(ClaimLine.claim_id, func.count().label("n_lines"))
            .where(ClaimLine.claim_id.in_(list(claim_ids)))
            .group_by(ClaimLine.claim_id)
            .subquery()
        )
        with self.reader.connect() as conn:
            rows = conn.execute(
                select(Claim.__table__, func.coalesce(n_lines.c.n_lines, 0).label("n_lines"))
                .outerjoin(n_lines, n_lines.c.claim_id == Claim.claim_id)
                .where(Claim.claim_id.in_(list(claim_ids)))
                .order_by(Claim.admit_time, Claim.claim_id)
            ).all()
        out = []
        for r in rows:
            d = as_dict(r)
            d["extra"] = json.loads(d["extra"] or "{}")
            out.append(d)
        return out

    def claim(self, claim_id: str) -> dict[str, Any] | None:
        rows = self.claims([claim_id])
        return rows[0] if rows else None

    def lines(self, claim_id: str) -> list[dict[str, Any]]:
        with self.reader.connect() as conn:
            return [
                as_dict(r)
                for r in conn.execute(
                    select(ClaimLine.__table__)
                    .where(ClaimLine.claim_id == claim_id)
                    .order_by(ClaimLine.line_type, ClaimLine.id)
                )
            ]

    def card_facilities(self, card_id: str) -> list[dict[str, Any]]:
        with self.reader.connect() as conn:
            return [
                as_dict(r)
                for r in conn.execute(
                    select(CardFacility.__table__)
                    .where(CardFacility.card_id == card_id)
                    .order_by(CardFacility.visits.desc(), CardFacility.facility_id)
                )
            ]

    def doctor_days(self, facility_id: str) -> list[dict[str, Any]]:
        with self.reader.connect() as conn:
            return [
                as_dict(r)
                for r in conn.execute(
                    select(DoctorDay.__table__)
                    .where(DoctorDay.facility_id == facility_id)
                    .order_by(DoctorDay.doctor_id, DoctorDay.day)
                )
            ]

    def entities(self, entity_type: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Display info (name, province, tier, kind, label) of the given entities, by id."""
        wanted = sorted({str(i) for i in ids if i is not None})
        out: dict[str, dict[str, Any]] = {}
        e = Entity.__table__.c
        with self.reader.connect() as conn:
            for i in range(0, len(wanted), CHUNK):
                q = select(Entity.__table__).where(
                    e.entity_type == entity_type, e.entity_id.in_(wanted[i : i + CHUNK])
                )
                out.update({r.entity_id: as_dict(r) for r in conn.execute(q)})
        return out

    def feature_peers(self, entity_type: str, features: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Peer distributions of ``features`` (bin edges and shares parsed), by feature."""
        f = FeaturePeers.__table__.c
        names = sorted(set(features))
        if not names:
            return {}
        q = select(FeaturePeers.__table__).where(f.entity_type == entity_type, f.feature.in_(names))
        with self.reader.connect() as conn:
            rows = [as_dict(r) for r in conn.execute(q)]
        for r in rows:
            r["bin_edges"] = json.loads(r["bin_edges"] or "[]")
            r["bin_shares"] = json.loads(r["bin_shares"] or "[]")
        return {r["feature"]: r for r in rows}

    def entity_alerts(self, entity_type: str, entity_id: str) -> list[dict[str, Any]]:
        """Every alert of one entity, newest period first (the card and facility pages)."""
        a = Alert.__table__.c
        q = (
            select(a.alert_id, a.period_start, a.period_end, a.score, a.rank, a.status,
                   a.state, a.assignee, a.model_version, a.reasons, a.evidence_claim_ids,
                   a.label, a.province, a.tier)
            .where(a.entity_type == entity_type, a.entity_id == entity_id)
            .order_by(a.period_end.desc(), a.score.desc(), a.alert_id)
        )  # fmt: skip
        with self.reader.connect() as conn:
            rows = [as_dict(r) for r in conn.execute(q)]
        for r in rows:
            r["reasons"] = json.loads(r["reasons"] or "[]")
            r["evidence_claim_ids"] = json.loads(r["evidence_claim_ids"] or "[]")
        return rows

    def card_visits(
        self, card_id: str, start: dt.date | None = None, end: dt.date | None = None
    ) -> list[dict[str, Any]]:
        """Every stored claim of a card (optionally admitted within [start, end]), in time order."""
        c = Claim.__table__.c
        q = select(Claim.__table__).where(c.card_id == card_id)
        if start is not None:
            q = q.where(c.admit_time >= dt.datetime.combine(start, dt.time()))
        if end is not None:
            q = q.where(c.admit_time < dt.datetime.combine(end + dt.timedelta(days=1), dt.time()))
        with self.reader.connect() as conn:
            rows = [
                as_dict(r) for r in conn.execute(q.order_by(c.admit_time, c.claim_id).limit(2000))
            ]
        for r in rows:
            r["extra"] = json.loads(r["extra"] or "{}")
        return rows

    def facility_diagnoses(self, facility_id: str, limit: int = 10) -> list[dict[str, Any]]:
        """The facility's most frequent main diagnoses among its stored claims."""
        c = Claim.__table__.c
        n = func.count().label("claims")
        q = (
            select(c.primary_dx, n, func.sum(c.total_cost).label("cost"))
            .where(c.facility_id == facility_id, c.primary_dx.is_not(None))
            .group_by(c.primary_dx)
            .order_by(n.desc(), c.primary_dx)
            .limit(limit)
        )
        with self.reader.connect() as conn:
            return [as_dict(r) for r in conn.execute(q)]

    def facility_card_alerts(self, facility_id: str, limit: int = 200) -> list[dict[str, Any]]:
        """Alerts on cards that visited the facility (from the cards' facility visits)."""
        a = Alert.__table__.c
        cf = CardFacility.__table__.c
        q = (
            select(a.alert_id, a.entity_id, a.label, a.score, a.status, a.top_signal,
                   a.period_start, a.period_end, cf.visits, cf.total_cost)
            .select_from(Alert.__table__)
            .join(CardFacility.__table__, and_(cf.card_id == a.entity_id, a.entity_type == "card"))
            .where(cf.facility_id == facility_id)
            .order_by(a.score.desc(), a.alert_id)
            .limit(limit)
        )  # fmt: skip
        with self.reader.connect() as conn:
            return [as_dict(r) for r in conn.execute(q)]
