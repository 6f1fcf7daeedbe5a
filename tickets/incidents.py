"""Mass incidents: matching new tickets to open incidents, "possible incident forming", resolving for everyone.

Matching is the cosine between the ticket's vector (the shared embedder) and the incident's profile: the
vector of its title, service and description plus those of up to 20 tickets already linked to it, so every
confirmed link teaches the incident how customers describe it. A category mismatch lowers the score; only
incidents opened (or updated) within the match window, or with a restoration time still ahead, are candidates.
Above ``auto_link`` the ticket is linked and the customer told; in the band down to ``suggest`` the operator
sees a suggestion. Thresholds live in ``data/tickets.yml`` with the calibration they came from.

Resolving flips the incident's status with one conditional UPDATE, so of two operators pressing "resolve" at
once exactly one resolves, and each linked customer gets exactly one notice in their own channel.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, InvalidInput, NotFound
from core.events import Event
from core.models import Customer, Team, utcnow
from core.uow import UnitOfWork
from nlu.vectors import DTYPE, decode, read, write
from tickets.config import IncidentSettings
from tickets.events import INCIDENT_CHANGED, INCIDENT_FORMING, Kind
from tickets.history import changed_event, record
from tickets.models import (
    Actor,
    Incident,
    IncidentStatus,
    LinkState,
    Ticket,
    TicketEvent,
    TicketIncident,
    TicketStatus,
    TicketVector,
    format_number,
)
from tickets.notify import latest_conversation
from tickets.service import TicketService, TicketText
from tickets.status import OPEN_STATUSES

__all__ = ["IncidentService", "Match"]

log = logging.getLogger(__name__)

Vector = npt.NDArray[np.float32]
PROFILE_TICKETS = 20
FORMING_CANDIDATES = 500


@dataclass(slots=True)
class Match:
    """What matching a new ticket found."""

    linked: Incident | None = None
    score: float | None = None
    suggestions: list[tuple[Incident, float]] = field(default_factory=list)
    forming: bool = False


def _unit(vector: Vector) -> Vector:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _made_by(embedder: str, dim: int) -> ColumnElement[bool]:
    """Ticket vectors comparable with one of ``dim`` numbers made by ``embedder``."""
    return (TicketVector.embedder == embedder) & (TicketVector.dim == dim)


def incident_text(incident: Incident) -> str:
    return "\n".join(part for part in (incident.title, incident.service, incident.description) if part)


class IncidentService:
    """Incident operations (match, link, create, update, resolve, delete); the ticket desk carries one."""

    def __init__(self, tickets: TicketService) -> None:
        self.tickets = tickets

    @property
    def settings(self) -> IncidentSettings:
        return self.tickets.config.incidents

    def _penalty(self, ticket_category: str | None, incident_category: str | None) -> float:
        if ticket_category and incident_category and ticket_category != incident_category:
            return float(self.settings.category_mismatch_penalty)
        return 0.0

    async def _embed_incident(self, incident: Incident) -> Vector:
        embedded = await self.tickets.embed(incident_text(incident))
        write(incident, embedded.vector, embedded.embedder)
        return embedded.vector

    async def _incident_vector(self, incident: Incident) -> Vector:
        """The incident's stored vector when the current embedder made it; else computed (and stored) now."""
        stored = read(incident, self.tickets.embedder)
        return stored if stored is not None else await self._embed_incident(incident)

    # --- queries ----------------------------------------------------------------------------------------

    async def get(self, session: AsyncSession, incident_id: int, *, lock: bool = False) -> Incident:
        stmt = select(Incident).where(Incident.id == incident_id)
        if lock:
            stmt = stmt.with_for_update()
        incident = (await session.execute(stmt)).scalar_one_or_none()
        if incident is None:
            raise NotFound("no such incident", incident_id=incident_id)
        return incident

    async def list_incidents(
        self, session: AsyncSession, status: IncidentStatus | None = None, limit: int = 100
    ) -> list[tuple[Incident, int, str | None]]:
        """Incidents, newest first, with the number of linked tickets and the team's key: one query."""
        linked = (
            select(func.count())
            .select_from(TicketIncident)
            .where(TicketIncident.incident_id == Incident.id, TicketIncident.state == LinkState.LINKED)
            .scalar_subquery()
        )
        stmt = (
            select(Incident, linked, Team.key)
            .outerjoin(Team, Team.id == Incident.team_id)
            .order_by(Incident.id.desc())
            .limit(limit)
        )
        if status is not None:
            stmt = stmt.where(Incident.status == status)
        return [(row[0], int(row[1]), row[2]) for row in (await session.execute(stmt)).all()]

    async def links(self, session: AsyncSession, incident_id: int) -> list[tuple[Ticket, TicketIncident]]:
        stmt = (
            select(Ticket, TicketIncident)
            .join(TicketIncident, TicketIncident.ticket_id == Ticket.id)
            .where(TicketIncident.incident_id == incident_id)
            .order_by(Ticket.id)
        )
        return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]

    async def suggestions(self, session: AsyncSession, ticket_id: int) -> list[tuple[Incident, float]]:
        stmt = (
            select(Incident, TicketIncident.score)
            .join(TicketIncident, TicketIncident.incident_id == Incident.id)
            .where(
                TicketIncident.ticket_id == ticket_id,
                TicketIncident.state == LinkState.SUGGESTED,
                Incident.status == IncidentStatus.OPEN,
            )
            .order_by(TicketIncident.score.desc())
        )
        return [(row[0], float(row[1] or 0.0)) for row in (await session.execute(stmt)).all()]

    async def _candidates(self, session: AsyncSession, now: datetime) -> list[Incident]:
        window = timedelta(minutes=self.settings.match_window)
        stmt = select(Incident).where(
            Incident.status == IncidentStatus.OPEN,
            or_(Incident.updated_at >= now - window, Incident.restoration_eta >= now),
        )
        return list((await session.execute(stmt)).scalars())

    async def _profiles(
        self, session: AsyncSession, incidents: Sequence[Incident], text: TicketText
    ) -> dict[int, Vector]:
        """Each incident's text vector plus its most recently linked tickets' vectors, unit length."""
        if not incidents:
            return {}
        rank = (
            func.row_number()
            .over(partition_by=TicketIncident.incident_id, order_by=TicketIncident.created_at.desc())
            .label("rank")
        )
        linked = (
            select(TicketIncident.incident_id, TicketVector.vector, rank)
            .join(TicketVector, TicketVector.ticket_id == TicketIncident.ticket_id)
            .where(
                TicketIncident.incident_id.in_([i.id for i in incidents]),
                TicketIncident.state == LinkState.LINKED,
                _made_by(text.embedder, len(text.vector)),
            )
            .subquery()
        )
        rows = await session.execute(
            select(linked.c.incident_id, linked.c.vector).where(linked.c.rank <= PROFILE_TICKETS)
        )
        sums = {incident.id: (await self._incident_vector(incident)).astype(np.float32) for incident in incidents}
        for incident_id, raw in rows.all():
            sums[incident_id] += decode(raw, len(text.vector))
        return {incident_id: _unit(total) for incident_id, total in sums.items()}

    # --- a new ticket -----------------------------------------------------------------------------------

    async def match_new_ticket(self, uow: UnitOfWork, ticket: Ticket, text: TicketText, now: datetime) -> Match:
        """Link to the best open incident above the threshold, suggest the band below, or watch for a cluster."""
        session = uow.session
        match = Match()
        incidents = await self._candidates(session, now)
        profiles = await self._profiles(session, incidents, text)
        scored = sorted(
            ((float(profiles[i.id] @ text.vector) - self._penalty(ticket.category, i.category), i) for i in incidents),
            key=lambda pair: -pair[0],
        )
        for score, incident in scored:
            if score >= self.settings.auto_link and match.linked is None:
                await self.link(uow, ticket, incident, operator_id=None, now=now, score=score, notify=False)
                match.linked, match.score = incident, score
            elif score >= self.settings.suggest:
                await self._suggest(session, ticket, incident, score, now)
                match.suggestions.append((incident, score))
        if match.linked is None:
            match.forming = await self._watch_forming(uow, ticket, text, now)
        return match

    async def _suggest(
        self, session: AsyncSession, ticket: Ticket, incident: Incident, score: float, now: datetime
    ) -> None:
        if await session.get(TicketIncident, (ticket.id, incident.id)) is not None:
            return
        session.add(
            TicketIncident(
                ticket_id=ticket.id, incident_id=incident.id, state=LinkState.SUGGESTED, score=score, created_at=now
            )
        )
        record(
            session,
            ticket,
            Kind.INCIDENT_SUGGESTED,
            after=str(incident.id),
            at=now,
            data={"incident_id": incident.id, "title": incident.title, "score": round(score, 4)},
        )

    async def _watch_forming(self, uow: UnitOfWork, ticket: Ticket, text: TicketText, now: datetime) -> bool:
        """Tell the team once when ``count`` similar unlinked tickets arrived within the window."""
        forming = self.settings.forming
        session = uow.session
        linked = exists().where(TicketIncident.ticket_id == Ticket.id, TicketIncident.state == LinkState.LINKED)
        stmt = (
            select(Ticket.id, Ticket.category, TicketVector.vector)
            .join(TicketVector, TicketVector.ticket_id == Ticket.id)
            .where(
                Ticket.created_at >= now - timedelta(minutes=forming.window),
                Ticket.id != ticket.id,
                Ticket.status.in_(list(OPEN_STATUSES)),
                _made_by(text.embedder, len(text.vector)),
                ~linked,
            )
            .order_by(Ticket.id.desc())
            .limit(FORMING_CANDIDATES)
        )
        rows = (await session.execute(stmt)).all()
        similar: list[int] = []
        if rows:
            # One matrix product for the whole window: a storm brings hundreds of candidates per new ticket.
            matrix = np.frombuffer(b"".join(raw for _id, _category, raw in rows), dtype=DTYPE).astype(np.float32)
            scores = matrix.reshape(len(rows), -1) @ text.vector
            for (ticket_id, category, _raw), score in zip(rows, scores, strict=True):
                if float(score) - self._penalty(ticket.category, category) >= forming.similar:
                    similar.append(int(ticket_id))
        if len(similar) + 1 < forming.count:
            return False
        flagged = await session.scalar(
            select(func.count())
            .select_from(TicketEvent)
            .where(TicketEvent.ticket_id.in_(similar), TicketEvent.kind == Kind.INCIDENT_FORMING)
        )
        cluster = sorted([*similar, ticket.id])
        numbers = [format_number(i) for i in cluster]
        record(session, ticket, Kind.INCIDENT_FORMING, at=now, data={"similar": similar, "alerted": not flagged})
        if flagged:
            return True  # the team already knows about this cluster; the new ticket just joins it
        for ticket_id in similar:
            session.add(
                TicketEvent(
                    ticket_id=ticket_id,
                    actor=Actor.SYSTEM,
                    kind=Kind.INCIDENT_FORMING,
                    public=False,
                    data={"similar": [i for i in cluster if i != ticket_id], "alerted": True},
                    created_at=now,
                )
            )
        notifier = self.tickets.notifier
        uow.emit(
            Event(
                name=INCIDENT_FORMING,
                data={
                    "team_id": ticket.team_id,
                    "ticket_ids": cluster,
                    "numbers": numbers,
                    "subject": ticket.subject,
                    "category": ticket.category,
                    "text": notifier.render(
                        "tickets.notice.forming", None, count=len(cluster), minutes=forming.window, numbers=numbers
                    ),
                },
            )
        )
        return True

    # --- links ------------------------------------------------------------------------------------------

    async def link(
        self,
        uow: UnitOfWork,
        ticket: Ticket,
        incident: Incident,
        *,
        operator_id: int | None,
        now: datetime,
        score: float | None = None,
        notify: bool = True,
    ) -> bool:
        """Link a ticket to an incident (moving it off another one); tell the customer when ``notify``."""
        session = uow.session
        if incident.status is not IncidentStatus.OPEN:
            raise Conflict("the incident is resolved", incident_id=incident.id)
        current = (
            await session.execute(
                select(TicketIncident).where(
                    TicketIncident.ticket_id == ticket.id, TicketIncident.state == LinkState.LINKED
                )
            )
        ).scalar_one_or_none()
        if current is not None and current.incident_id == incident.id:
            return False
        if current is not None:
            await self.unlink(uow, ticket, operator_id=operator_id, now=now)
        row = await session.get(TicketIncident, (ticket.id, incident.id))
        if row is None:
            session.add(
                TicketIncident(
                    ticket_id=ticket.id,
                    incident_id=incident.id,
                    state=LinkState.LINKED,
                    score=score,
                    linked_by=operator_id,
                    created_at=now,
                )
            )
        else:
            row.state, row.linked_by, row.created_at = LinkState.LINKED, operator_id, now
            row.score = score if score is not None else row.score
        await session.flush()
        record(
            session,
            ticket,
            Kind.INCIDENT_LINKED,
            actor=Actor.OPERATOR if operator_id is not None else Actor.SYSTEM,
            operator_id=operator_id,
            after=str(incident.id),
            at=now,
            data={
                "incident_id": incident.id,
                "title": incident.title,
                "score": None if score is None else round(score, 4),
            },
        )
        uow.emit(changed_event(ticket, Kind.INCIDENT_LINKED, incident_id=incident.id))
        if notify and ticket.status in OPEN_STATUSES:
            await self._announce(uow, incident, [ticket])
        return True

    async def unlink(self, uow: UnitOfWork, ticket: Ticket, *, operator_id: int | None, now: datetime) -> bool:
        session = uow.session
        current = (
            await session.execute(
                select(TicketIncident).where(
                    TicketIncident.ticket_id == ticket.id, TicketIncident.state == LinkState.LINKED
                )
            )
        ).scalar_one_or_none()
        if current is None:
            return False
        await session.delete(current)
        await session.flush()
        record(
            session,
            ticket,
            Kind.INCIDENT_UNLINKED,
            actor=Actor.OPERATOR if operator_id is not None else Actor.SYSTEM,
            operator_id=operator_id,
            before=str(current.incident_id),
            at=now,
        )
        uow.emit(changed_event(ticket, Kind.INCIDENT_UNLINKED, incident_id=current.incident_id))
        return True

    async def _announce(self, uow: UnitOfWork, incident: Incident, tickets: Sequence[Ticket]) -> None:
        """One notice per customer: we know about the outage, and when it will be over."""
        notifier = self.tickets.notifier
        for customer_tickets in _by_customer(tickets).values():
            customer = await uow.session.get_one(Customer, customer_tickets[0].customer_id)
            eta = notifier.customer_eta(incident.restoration_eta, customer)
            numbers = ", ".join(t.number for t in customer_tickets)
            await notifier.tell(
                uow,
                customer_tickets[-1],
                customer,
                "tickets.incident.announced",
                title=incident.title,
                eta=eta,
                number=numbers,
            )

    # --- lifecycle --------------------------------------------------------------------------------------

    async def create(
        self,
        uow: UnitOfWork,
        *,
        title: str,
        service: str = "",
        category: str | None = None,
        description: str = "",
        restoration_eta: datetime | None = None,
        team: str | None = None,
        operator_id: int | None,
        now: datetime | None = None,
    ) -> tuple[Incident, int]:
        """Open an incident and link the recent open tickets that match it; returns it and how many were linked."""
        now = now or utcnow()
        session = uow.session
        title = title.strip()[:200]
        if not title:
            raise InvalidInput("an incident needs a title", field="title")
        team_row = await self.tickets.team_by_key(session, team) if team else None
        if team and team_row is None:
            raise InvalidInput(f"unknown team {team!r}", field="team")
        incident = Incident(
            title=title,
            service=service.strip()[:200],
            category=(category or "").strip()[:64] or None,
            description=description.strip(),
            status=IncidentStatus.OPEN,
            restoration_eta=restoration_eta,
            team_id=team_row.id if team_row else None,
            created_by=operator_id,
            created_at=now,
            updated_at=now,
        )
        vector = await self._embed_incident(incident)
        session.add(incident)
        await session.flush()
        linked = await self._link_recent(uow, incident, vector, operator_id=operator_id, now=now)
        uow.emit(Event(name=INCIDENT_CHANGED, data={"incident_id": incident.id, "kind": "created", "linked": linked}))
        return incident, linked

    async def _link_recent(
        self, uow: UnitOfWork, incident: Incident, vector: Vector, *, operator_id: int | None, now: datetime
    ) -> int:
        """Open unlinked tickets of the match window that are about this incident get linked (or suggested)."""
        session = uow.session
        linked = exists().where(TicketIncident.ticket_id == Ticket.id, TicketIncident.state == LinkState.LINKED)
        stmt = (
            select(Ticket, TicketVector.vector)
            .join(TicketVector, TicketVector.ticket_id == Ticket.id)
            .where(
                Ticket.created_at >= now - timedelta(minutes=self.settings.match_window),
                Ticket.status.in_(list(OPEN_STATUSES)),
                _made_by(incident.embedder or "", len(vector)),
                ~linked,
            )
            .order_by(Ticket.id)
            .with_for_update(of=Ticket)
        )
        to_link: list[Ticket] = []
        for ticket, raw in (await session.execute(stmt)).all():
            score = float(decode(raw, len(vector)) @ vector) - self._penalty(ticket.category, incident.category)
            if score >= self.settings.auto_link:
                await self.link(uow, ticket, incident, operator_id=None, now=now, score=score, notify=False)
                to_link.append(ticket)
            elif score >= self.settings.suggest:
                await self._suggest(session, ticket, incident, score, now)
        if to_link:
            await self._announce(uow, incident, to_link)
        return len(to_link)

    async def update(
        self, uow: UnitOfWork, incident: Incident, fields: Mapping[str, Any], *, operator_id: int | None, now: datetime
    ) -> None:
        """Edit an incident; a new restoration time is told to every linked customer (once each)."""
        if incident.status is not IncidentStatus.OPEN:
            raise Conflict("a resolved incident cannot be edited", incident_id=incident.id)
        session = uow.session
        text_changed = False
        for name in ("title", "service", "description", "category"):
            if name in fields:
                value = (fields[name] or "").strip()
                if name == "title" and not value:
                    raise InvalidInput("an incident needs a title", field="title")
                value = value[:200] if name in ("title", "service") else value
                if name == "category":
                    value = value[:64] or None
                if getattr(incident, name) != value:
                    setattr(incident, name, value)
                    text_changed = True
        if "team" in fields:
            team_row = await self.tickets.team_by_key(session, fields["team"]) if fields["team"] else None
            if fields["team"] and team_row is None:
                raise InvalidInput(f"unknown team {fields['team']!r}", field="team")
            incident.team_id = team_row.id if team_row else None
        if text_changed:
            await self._embed_incident(incident)
        eta_changed = "restoration_eta" in fields and fields["restoration_eta"] != incident.restoration_eta
        if eta_changed:
            incident.restoration_eta = fields["restoration_eta"]
        incident.updated_at = now
        await session.flush()
        if eta_changed and incident.restoration_eta is not None:
            await self._tell_new_eta(uow, incident, now)
        uow.emit(Event(name=INCIDENT_CHANGED, data={"incident_id": incident.id, "kind": "updated"}))

    async def _tell_new_eta(self, uow: UnitOfWork, incident: Incident, now: datetime) -> None:
        session = uow.session
        notifier = self.tickets.notifier
        tickets = [t for t, link in await self.links(session, incident.id) if link.state is LinkState.LINKED]
        open_tickets = [t for t in tickets if t.status in OPEN_STATUSES]
        for ticket in open_tickets:
            record(
                session,
                ticket,
                Kind.ETA,
                at=now,
                data={
                    "due": incident.restoration_eta.isoformat() if incident.restoration_eta else None,
                    "incident_id": incident.id,
                },
            )
        for customer_tickets in _by_customer(open_tickets).values():
            customer = await session.get_one(Customer, customer_tickets[0].customer_id)
            eta = notifier.customer_eta(incident.restoration_eta, customer)
            await notifier.tell(
                uow, customer_tickets[-1], customer, "tickets.incident.updated", title=incident.title, eta=eta
            )

    async def resolve(
        self, uow: UnitOfWork, incident_id: int, *, operator_id: int | None, now: datetime | None = None
    ) -> tuple[Incident, int, int]:
        """Resolve the incident and its open linked tickets; one notice per linked customer.

        Returns the incident, how many tickets were resolved and how many customers were told.
        """
        now = now or utcnow()
        session = uow.session
        flipped = await session.execute(
            update(Incident)
            .where(Incident.id == incident_id, Incident.status == IncidentStatus.OPEN)
            .values(status=IncidentStatus.RESOLVED, resolved_at=now, updated_at=now)
            .returning(Incident.id)
        )
        if flipped.scalar_one_or_none() is None:
            incident = await self.get(session, incident_id)  # NotFound when there is none
            raise Conflict("the incident is already resolved", incident_id=incident.id)
        incident = await self.get(session, incident_id)
        await session.refresh(incident)
        stmt = (
            select(Ticket)
            .join(TicketIncident, TicketIncident.ticket_id == Ticket.id)
            .where(TicketIncident.incident_id == incident_id, TicketIncident.state == LinkState.LINKED)
            .order_by(Ticket.id)
            .with_for_update(of=Ticket)
        )
        tickets = list((await session.execute(stmt)).scalars())
        actor = Actor.OPERATOR if operator_id is not None else Actor.SYSTEM
        resolved: list[Ticket] = []
        for ticket in tickets:
            if ticket.status not in OPEN_STATUSES:
                continue
            record(
                session,
                ticket,
                Kind.INCIDENT_RESOLVED,
                actor=actor,
                operator_id=operator_id,
                at=now,
                data={"incident_id": incident.id, "title": incident.title},
            )
            await self.tickets.transition(
                uow,
                ticket,
                TicketStatus.RESOLVED,
                actor=actor,
                operator_id=operator_id,
                now=now,
                notify=False,
                reason=f"incident {incident.id} resolved",
            )
            resolved.append(ticket)
        notifier = self.tickets.notifier
        told = 0
        for customer_tickets in _by_customer(resolved).values():
            customer = await session.get_one(Customer, customer_tickets[0].customer_id)
            target = None
            for ticket in reversed(customer_tickets):
                target = await latest_conversation(session, ticket.id)
                if target is not None:
                    break
            message = await notifier.tell(
                uow,
                customer_tickets[-1],
                customer,
                "tickets.incident.resolved",
                conversation=target,
                title=incident.title,
                numbers=[t.number for t in customer_tickets],
                meta={"csat": {"ticket_ids": [t.id for t in customer_tickets]}, "incident_id": incident.id},
            )
            told += message is not None
        uow.emit(
            Event(
                name=INCIDENT_CHANGED, data={"incident_id": incident.id, "kind": "resolved", "tickets": len(resolved)}
            )
        )
        return incident, len(resolved), told

    async def delete(self, uow: UnitOfWork, incident_id: int, *, operator_id: int | None, now: datetime) -> None:
        """Remove an incident opened by mistake; its tickets are unlinked (and keep their own due times)."""
        session = uow.session
        incident = await self.get(session, incident_id, lock=True)
        for ticket, link in await self.links(session, incident_id):
            if link.state is LinkState.LINKED:
                await self.unlink(uow, ticket, operator_id=operator_id, now=now)
        await session.execute(delete(TicketIncident).where(TicketIncident.incident_id == incident_id))
        await session.delete(incident)
        await session.flush()
        uow.emit(Event(name=INCIDENT_CHANGED, data={"incident_id": incident_id, "kind": "deleted"}))


def _by_customer(tickets: Sequence[Ticket]) -> dict[int, list[Ticket]]:
    grouped: dict[int, list[Ticket]] = defaultdict(list)
    for ticket in tickets:
        grouped[ticket.customer_id].append(ticket)
    return grouped
