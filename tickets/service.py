"""Ticket operations: open, update, transitions, replies and notes, the customer's additions, cancel.

Every write locks the ticket row first (``FOR UPDATE`` on PostgreSQL, the write lock on SQLite), so an
operator's change and the breach watch never overwrite each other. Every change is recorded as a
:class:`~tickets.models.TicketEvent` and announced on the bus (``ticket.changed``) after commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, InvalidInput, NotFound
from core.models import Author, Conversation, Customer, Operator, Team, utcnow
from core.store import clean_text
from core.uow import UnitOfWork
from nlu.embedding import Embedder, embed_queries
from nlu.vectors import columns
from sla.policy import Impact, Priority, SlaPolicy, Urgency
from tickets.clock import SlaClock, close_pause, open_pause
from tickets.config import DeskConfig
from tickets.events import Kind
from tickets.history import changed_event, record
from tickets.models import (
    Actor,
    Incident,
    IncidentStatus,
    LinkState,
    SlaState,
    Ticket,
    TicketConversation,
    TicketIncident,
    TicketStatus,
    TicketVector,
)
from tickets.notify import Notifier, latest_conversation
from tickets.numbers import require_number
from tickets.status import CLOCK_PAUSED, CLOCK_RUNNING, check_transition

__all__ = ["EmbedderSource", "TicketService", "TicketText", "promised_due", "ticket_text"]

log = logging.getLogger(__name__)

EmbedderSource = Callable[[], Embedder]
MAX_TEXT = 16_000
SUBJECT_CHARS = 120
TEAM_CACHE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class TicketText:
    """The text a ticket (or an incident) is matched by, its vector (unit length) and the embedder that made it."""

    text: str
    vector: npt.NDArray[np.float32]
    embedder: str


def _enum(cls: type[Urgency] | type[Impact] | type[Priority], value: str, field: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        raise InvalidInput(f"unknown {field} {value!r}", field=field, allowed=[m.value for m in cls]) from None


def _clean(text: str, field: str, *, required: bool = True) -> str:
    cleaned, _notes = clean_text(text or "", MAX_TEXT)
    if required and not cleaned:
        raise InvalidInput(f"{field} must not be empty", field=field)
    return cleaned


def ticket_text(description: str, subject: str | None = None) -> str:
    """What a ticket is matched by: its subject and description as :meth:`TicketService.open` stores them."""
    description = _clean(description, "description")
    subject = _clean(subject or "", "subject", required=False)[:200] or subject_from(description)
    return _matching_text(subject, description)


def _matching_text(subject: str, description: str) -> str:
    return description if description.startswith(subject.rstrip("…")) else f"{subject}\n{description}"


def promised_due(
    ticket: Ticket, incident_status: IncidentStatus | None, restoration_eta: datetime | None
) -> datetime | None:
    """What the customer is promised: nothing while the clock stands; the announced restoration time of the
    open incident the ticket is linked to (its status and ETA given); else the ticket's resolution due time."""
    if ticket.status not in CLOCK_RUNNING:
        return None
    if incident_status is IncidentStatus.OPEN and restoration_eta is not None:
        return restoration_eta
    return ticket.resolution_due


def subject_from(description: str) -> str:
    """A subject for a ticket opened without one: the first line of the description, cut at a word."""
    first = description.strip().splitlines()[0] if description.strip() else ""
    if len(first) <= SUBJECT_CHARS:
        return first
    cut = first[:SUBJECT_CHARS].rsplit(" ", 1)[0]
    return (cut or first[:SUBJECT_CHARS]).rstrip(" ,.;:") + "…"


class TicketService:
    def __init__(
        self,
        sla: SlaPolicy,
        clock: SlaClock,
        config: DeskConfig,
        notifier: Notifier,
        embedder: EmbedderSource,
    ) -> None:
        self.sla = sla
        self.clock = clock
        self.config = config
        self.notifier = notifier
        self._embedder = embedder
        self._team_ids: dict[str, tuple[int | None, datetime]] = {}

    # --- lookups ----------------------------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        return self._embedder()

    async def embed(self, text: str) -> TicketText:
        """The vector of ``text``, computed in a worker thread under the embedder's lock (never on the loop)."""
        embedder = self.embedder
        vector = (await embed_queries(embedder, [text]))[0]
        return TicketText(text=text, vector=np.asarray(vector, dtype=np.float32), embedder=embedder.name)

    async def get(self, session: AsyncSession, number: str | int, *, lock: bool = False) -> Ticket:
        ticket_id = number if isinstance(number, int) else require_number(number)
        stmt = select(Ticket).where(Ticket.id == ticket_id)
        if lock:
            stmt = stmt.with_for_update()
        ticket = (await session.execute(stmt)).scalar_one_or_none()
        if ticket is None:
            raise NotFound("no such ticket", number=str(number)[:40])
        return ticket

    async def get_for_customer(
        self, session: AsyncSession, customer_id: int, number: str, *, lock: bool = False
    ) -> Ticket:
        """The customer's own ticket; someone else's is reported exactly like one that does not exist."""
        try:
            ticket = await self.get(session, number, lock=lock)
        except NotFound:
            raise NotFound("no such ticket", number=number[:40]) from None
        if ticket.customer_id != customer_id:
            raise NotFound("no such ticket", number=number[:40])
        return ticket

    async def team_by_key(self, session: AsyncSession, key: str | None) -> Team | None:
        if key is None:
            return None
        return (await session.execute(select(Team).where(Team.key == key))).scalar_one_or_none()

    async def routed_team_id(self, session: AsyncSession, category: str | None, now: datetime) -> int | None:
        """The team a new ticket of ``category`` goes to; team ids are cached a minute (teams rarely change)."""
        key = self.config.routing.team_for(category)
        if key is None:
            return None
        cached = self._team_ids.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        team = await self.team_by_key(session, key)
        team_id = team.id if team else None
        self._team_ids[key] = (team_id, now + TEAM_CACHE)
        return team_id

    async def customer_of(self, session: AsyncSession, ticket: Ticket) -> Customer:
        return await session.get_one(Customer, ticket.customer_id)

    async def linked_incident(self, session: AsyncSession, ticket_id: int) -> Incident | None:
        stmt = (
            select(Incident)
            .join(TicketIncident, TicketIncident.incident_id == Incident.id)
            .where(TicketIncident.ticket_id == ticket_id, TicketIncident.state == LinkState.LINKED)
        )
        return (await session.execute(stmt)).scalar_one_or_none()

    async def eta_due(self, session: AsyncSession, ticket: Ticket) -> datetime | None:
        """What the customer is promised (see :func:`promised_due`), reading the ticket's linked incident."""
        if ticket.status not in CLOCK_RUNNING:
            return None
        incident = await self.linked_incident(session, ticket.id)
        if incident is None:
            return promised_due(ticket, None, None)
        return promised_due(ticket, incident.status, incident.restoration_eta)

    async def link_conversation(self, session: AsyncSession, ticket: Ticket, conversation: Conversation) -> bool:
        """Gather a conversation into the ticket; True when it was not linked yet."""
        exists = await session.get(TicketConversation, (ticket.id, conversation.id))
        if exists is not None:
            return False
        session.add(TicketConversation(ticket_id=ticket.id, conversation_id=conversation.id, created_at=utcnow()))
        await session.flush()
        return True

    # --- opening ----------------------------------------------------------------------------------------

    async def open(
        self,
        uow: UnitOfWork,
        customer: Customer,
        conversation: Conversation | None,
        *,
        description: str,
        subject: str | None = None,
        category: str | None = None,
        urgency: str = "medium",
        impact: str = "one",
        account_number: str | None = None,
        now: datetime | None = None,
        embedded: TicketText | None = None,
    ) -> tuple[Ticket, TicketText]:
        """Register a ticket: priority from the matrix, due times from the customer's plan, the text embedded.

        ``embedded``: the vector of :func:`ticket_text`, computed beforehand, so that a caller holding a
        transaction open does not hold it across the embedding; computed here when not given.
        """
        now = now or utcnow()
        session = uow.session
        urgency_value: Urgency = _enum(Urgency, urgency, "urgency")
        impact_value: Impact = _enum(Impact, impact, "impact")
        description = _clean(description, "description")
        subject = _clean(subject or "", "subject", required=False)[:200] or subject_from(description)
        category = (category or "").strip()[:64] or None
        plan = customer.plan if customer.plan in self.sla.plans else self.sla.default_plan
        if embedded is None:
            # Before this method's first statement: in a unit of work that has not touched the database yet, no
            # lock is held while the model runs (SQLite takes its write lock at the first statement).
            embedded = await self.embed(_matching_text(subject, description))
        team_id = await self.routed_team_id(session, category, now)
        priority = self.sla.priority_for(urgency_value, impact_value)
        ticket = Ticket(
            customer_id=customer.id,
            subject=subject,
            description=description,
            category=category,
            account_number=(account_number or customer.account_number or None),
            team_id=team_id,
            urgency=urgency_value,
            impact=impact_value,
            priority=priority,
            sla_priority=priority,
            status=TicketStatus.NEW,
            plan=plan,
            sla_started_at=now,
            first_response_state=SlaState.OK,
            next_response_state=SlaState.OK,
            resolution_state=SlaState.OK,
            sla_state=SlaState.OK,
            pauses=[],
            escalation_level=0,
            created_at=now,
            updated_at=now,
        )
        session.add(ticket)
        await session.flush()
        if conversation is not None:
            session.add(TicketConversation(ticket_id=ticket.id, conversation_id=conversation.id, created_at=now))
        self.clock.replan(ticket, now)
        record(
            session,
            ticket,
            Kind.CREATED,
            actor=Actor.CUSTOMER,
            after=TicketStatus.NEW.value,
            at=now,
            data={
                "priority": ticket.priority.value,
                "plan": plan,
                "team": self.config.routing.team_for(category) if team_id else None,
                "conversation_id": conversation.id if conversation else None,
                "resolution_due": ticket.resolution_due.isoformat() if ticket.resolution_due else None,
            },
        )
        session.add(TicketVector(ticket_id=ticket.id, **columns(embedded.vector, embedded.embedder)))
        await session.flush()
        uow.emit(changed_event(ticket, Kind.CREATED))
        return ticket, embedded

    # --- operators' changes -----------------------------------------------------------------------------

    async def update(
        self, uow: UnitOfWork, ticket: Ticket, fields: Mapping[str, Any], *, operator_id: int | None, now: datetime
    ) -> None:
        """Change fields; a new priority (given, or from a new urgency/impact) re-plans and re-tells the ETA."""
        session = uow.session
        actor = Actor.OPERATOR if operator_id is not None else Actor.SYSTEM
        changed: list[str] = []
        for name in ("subject", "description", "category"):
            if name not in fields:
                continue
            value = fields[name]
            if name == "subject":
                value = _clean(value or "", "subject")[:200]
            elif name == "description":
                value = _clean(value or "", "description")
            else:
                value = (value or "").strip()[:64] or None
            if getattr(ticket, name) != value:
                setattr(ticket, name, value)
                changed.append(name)
        if changed:
            record(
                session, ticket, Kind.UPDATED, actor=actor, operator_id=operator_id, at=now, data={"fields": changed}
            )
        if "team" in fields:
            await self._set_team(session, ticket, fields["team"], actor=actor, operator_id=operator_id, now=now)
        if "assignee_id" in fields:
            await self._set_assignee(session, ticket, fields["assignee_id"], operator_id=operator_id, now=now)
        priority = ticket.priority
        if "urgency" in fields or "impact" in fields:
            ticket.urgency = _enum(Urgency, fields.get("urgency") or ticket.urgency.value, "urgency")
            ticket.impact = _enum(Impact, fields.get("impact") or ticket.impact.value, "impact")
            priority = self.sla.priority_for(ticket.urgency, ticket.impact)
        if fields.get("priority") is not None:
            priority = _enum(Priority, fields["priority"], "priority")
        if priority is not ticket.priority:
            await self.set_priority(uow, ticket, priority, actor=actor, operator_id=operator_id, now=now)
        ticket.updated_at = now
        uow.emit(changed_event(ticket, "updated"))

    async def set_priority(
        self,
        uow: UnitOfWork,
        ticket: Ticket,
        priority: Priority,
        *,
        actor: Actor,
        operator_id: int | None,
        now: datetime,
        replan: bool = True,
        reason: str | None = None,
    ) -> None:
        """A re-triage (``replan``) moves the due times and tells the customer; an escalation only reorders."""
        session = uow.session
        previous = ticket.priority
        ticket.priority = priority
        record(
            session,
            ticket,
            Kind.PRIORITY,
            actor=actor,
            operator_id=operator_id,
            before=previous.value,
            after=priority.value,
            at=now,
            data={"reason": reason} if reason else None,
        )
        if not replan:
            return
        ticket.sla_priority = priority
        before = await self.eta_due(session, ticket)
        self.clock.replan(ticket, now)
        after = await self.eta_due(session, ticket)
        if after is not None and after != before:
            await self.tell_eta(uow, ticket, now)

    async def tell_eta(self, uow: UnitOfWork, ticket: Ticket, now: datetime) -> None:
        """Re-tell the customer when their ticket will be solved."""
        session = uow.session
        customer = await self.customer_of(session, ticket)
        due = await self.eta_due(session, ticket)
        eta = self.notifier.customer_eta(due, customer)
        if eta is None:
            return
        record(session, ticket, Kind.ETA, at=now, data={"due": due.isoformat() if due else None})
        await self.notifier.tell(uow, ticket, customer, "tickets.eta_changed", eta=eta)

    async def _set_team(
        self,
        session: AsyncSession,
        ticket: Ticket,
        key: str | None,
        *,
        actor: Actor,
        operator_id: int | None,
        now: datetime,
    ) -> None:
        team = await self.team_by_key(session, key) if key else None
        if key and team is None:
            raise InvalidInput(f"unknown team {key!r}", field="team")
        if ticket.team_id == (team.id if team else None):
            return
        previous = await session.get(Team, ticket.team_id) if ticket.team_id else None
        ticket.team_id = team.id if team else None
        record(
            session,
            ticket,
            Kind.TEAM,
            actor=actor,
            operator_id=operator_id,
            before=previous.key if previous else None,
            after=team.key if team else None,
            at=now,
        )

    def move_to_team(
        self, session: AsyncSession, ticket: Ticket, key: str, teams: Mapping[str, Team], *, now: datetime, reason: str
    ) -> Team | None:
        """Escalation's move, with the teams read once per batch; a missing team is logged, not fatal."""
        team = teams.get(key)
        if team is None:
            log.warning("escalation team does not exist", extra={"team": key, "ticket_id": ticket.id})
            return None
        if ticket.team_id != team.id:
            previous = next((t.key for t in teams.values() if t.id == ticket.team_id), None)
            ticket.team_id = team.id
            record(session, ticket, Kind.TEAM, before=previous, after=team.key, at=now, data={"reason": reason})
        return team

    async def _set_assignee(
        self, session: AsyncSession, ticket: Ticket, assignee_id: int | None, *, operator_id: int | None, now: datetime
    ) -> None:
        if assignee_id is not None:
            operator = await session.get(Operator, assignee_id)
            if operator is None or not operator.active:
                raise InvalidInput("no such active operator", field="assignee_id", assignee_id=assignee_id)
        if ticket.assignee_id == assignee_id:
            return
        previous = ticket.assignee_id
        ticket.assignee_id = assignee_id
        record(
            session,
            ticket,
            Kind.ASSIGNEE,
            actor=Actor.OPERATOR if operator_id is not None else Actor.SYSTEM,
            operator_id=operator_id,
            before=None if previous is None else str(previous),
            after=None if assignee_id is None else str(assignee_id),
            at=now,
        )

    # --- status -----------------------------------------------------------------------------------------

    async def transition(
        self,
        uow: UnitOfWork,
        ticket: Ticket,
        target: TicketStatus,
        *,
        actor: Actor,
        operator_id: int | None = None,
        now: datetime | None = None,
        notify: bool = True,
        reason: str | None = None,
    ) -> bool:
        """Move the ticket along the transition table; False when it already is there (nothing to do).

        Pending and resolved stop the clock (a resolved ticket reopened does not count the days it stood
        resolved); leaving them resumes it and moves the due times by the stopped business time.
        """
        now = now or utcnow()
        current = ticket.status
        if target is current:
            return False
        check_transition(current, target)
        if current in CLOCK_PAUSED or current is TicketStatus.RESOLVED:
            close_pause(ticket, now)
        if target in CLOCK_PAUSED or target is TicketStatus.RESOLVED:
            open_pause(ticket, now)
        if target is TicketStatus.RESOLVED:
            ticket.resolved_at = now
            ticket.next_response_since = None
            if ticket.first_responded_at is None:
                ticket.first_responded_at = now  # the resolution notice answers the customer
            for target_name in ("first_response", "next_response", "resolution"):
                self.clock.met(ticket, target_name)
        elif target is TicketStatus.CLOSED:
            ticket.closed_at = now
        elif current is TicketStatus.RESOLVED:
            ticket.resolved_at = None
        ticket.status = target
        ticket.updated_at = now
        self.clock.replan(ticket, now)
        record(
            uow.session,
            ticket,
            Kind.STATUS,
            actor=actor,
            operator_id=operator_id,
            before=current.value,
            after=target.value,
            at=now,
            data={"reason": reason} if reason else None,
        )
        uow.emit(changed_event(ticket, Kind.STATUS, previous=current.value))
        if notify:
            await self._tell_status(uow, ticket, current, target, reason)
        return True

    async def _tell_status(
        self, uow: UnitOfWork, ticket: Ticket, current: TicketStatus, target: TicketStatus, reason: str | None = None
    ) -> None:
        session = uow.session
        customer = await self.customer_of(session, ticket)
        eta = self.notifier.customer_eta(await self.eta_due(session, ticket), customer)
        if target is TicketStatus.PENDING:
            # The operator's question goes with the notice: "we need your answer" alone cannot be answered.
            await self.notifier.tell(uow, ticket, customer, "tickets.waiting_for_you", question=reason or "")
        elif target is TicketStatus.RESOLVED:
            await self.notifier.tell(uow, ticket, customer, "tickets.resolved", meta={"csat": {"ticket_id": ticket.id}})
        elif target is TicketStatus.OPEN and eta is not None:
            key = {
                TicketStatus.NEW: "tickets.taken",
                TicketStatus.PENDING: "tickets.resumed",
                TicketStatus.RESOLVED: "tickets.reopened",
            }.get(current, "tickets.taken")
            await self.notifier.tell(uow, ticket, customer, key, eta=eta)
        else:
            status = self.notifier.status_name(target.value, customer.language)
            await self.notifier.tell(uow, ticket, customer, "tickets.status_changed", status=status)

    # --- conversation -----------------------------------------------------------------------------------

    async def reply(self, uow: UnitOfWork, ticket: Ticket, text: str, *, operator_id: int, now: datetime) -> None:
        """A public reply: stored in the outbox of the customer's latest conversation of the ticket."""
        text = _clean(text, "text")
        if ticket.status is TicketStatus.CLOSED:
            raise Conflict("the ticket is closed", number=ticket.number)
        session = uow.session
        conversation = await latest_conversation(session, ticket.id)
        if conversation is None:
            raise Conflict("the ticket has no conversation to reply in", number=ticket.number)
        if ticket.status is TicketStatus.NEW:
            await self.transition(
                uow, ticket, TicketStatus.OPEN, actor=Actor.OPERATOR, operator_id=operator_id, now=now, notify=False
            )
        customer = await self.customer_of(session, ticket)
        message = await self.notifier.tell(
            uow,
            ticket,
            customer,
            "tickets.reply",
            conversation=conversation,
            author=Author.OPERATOR,
            operator_id=operator_id,
            text=text,
        )
        assert message is not None  # a conversation was given
        record(
            session,
            ticket,
            Kind.REPLY,
            actor=Actor.OPERATOR,
            operator_id=operator_id,
            at=now,
            data={"text": text, "message_id": message.id, "conversation_id": message.conversation_id},
        )
        if ticket.first_responded_at is None:
            ticket.first_responded_at = now
            self.clock.met(ticket, "first_response")
        if ticket.next_response_since is not None:
            ticket.next_response_since = None
            self.clock.met(ticket, "next_response")
        ticket.updated_at = now
        self.clock.replan(ticket, now)
        uow.emit(changed_event(ticket, Kind.REPLY))

    async def note(self, uow: UnitOfWork, ticket: Ticket, text: str, *, operator_id: int, now: datetime) -> None:
        """An internal note: in the ticket's log only, never delivered."""
        text = _clean(text, "text")
        record(
            uow.session, ticket, Kind.NOTE, actor=Actor.OPERATOR, operator_id=operator_id, at=now, data={"text": text}
        )
        ticket.updated_at = now
        uow.emit(changed_event(ticket, Kind.NOTE))

    async def customer_message(
        self, uow: UnitOfWork, ticket: Ticket, text: str, *, conversation: Conversation | None, now: datetime
    ) -> None:
        """The customer adds to their ticket: it wakes a pending or resolved ticket and starts the reply clock."""
        text = _clean(text, "text")
        if ticket.status is TicketStatus.CLOSED:
            raise Conflict("the ticket is closed; a new request needs a new ticket", number=ticket.number)
        session = uow.session
        same_customer = conversation is not None and conversation.customer_id == ticket.customer_id
        if conversation is not None and same_customer and await self.link_conversation(session, ticket, conversation):
            record(
                session,
                ticket,
                Kind.CONVERSATION,
                actor=Actor.CUSTOMER,
                at=now,
                data={"conversation_id": conversation.id},
            )
        if ticket.status in (TicketStatus.PENDING, TicketStatus.RESOLVED):
            await self.transition(uow, ticket, TicketStatus.OPEN, actor=Actor.CUSTOMER, now=now, notify=False)
        record(
            session,
            ticket,
            Kind.CUSTOMER_MESSAGE,
            actor=Actor.CUSTOMER,
            at=now,
            data={"text": text, "conversation_id": conversation.id if conversation else None},
        )
        if ticket.first_responded_at is not None and ticket.next_response_since is None:
            # A new wait for our answer: its own clock and its own state (an earlier breach stays in sla_state).
            ticket.next_response_since = now
            ticket.next_response_state = SlaState.OK
        ticket.updated_at = now
        self.clock.replan(ticket, now)
        uow.emit(changed_event(ticket, Kind.CUSTOMER_MESSAGE))

    async def cancel(self, uow: UnitOfWork, ticket: Ticket, *, now: datetime) -> None:
        """The customer withdraws the ticket (closed; no notice: the bot answers in the conversation)."""
        if ticket.status is TicketStatus.CLOSED:
            raise Conflict(
                "the ticket is already closed",
                **{"from": ticket.status.value, "to": TicketStatus.CLOSED.value, "number": ticket.number},
            )
        previous = ticket.status.value
        await self.transition(
            uow, ticket, TicketStatus.CLOSED, actor=Actor.CUSTOMER, now=now, notify=False, reason="cancelled"
        )
        record(uow.session, ticket, Kind.CANCELLED, actor=Actor.CUSTOMER, before=previous, at=now)
