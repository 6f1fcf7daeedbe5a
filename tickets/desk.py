"""The ticket desk as the conversation engine sees it: open a ticket, the customer's tickets, add, cancel.

One :class:`TicketDesk` per process, stored under ``tickets.keys.TICKET_DESK`` by ``tickets.web.tickets_ctx``.
It also carries the operators' services (``desk.tickets``, ``desk.incidents``) so every caller shares one
SLA configuration and one embedder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Conversation, Customer, utcnow
from core.settings import Settings
from core.templates import TemplateError, Templates
from core.uow import UnitOfWork
from nlu.embedding import shared_embedder
from sla.escalation import EscalationPolicy
from sla.policy import Priority, SlaPolicy
from tickets.clock import SlaClock
from tickets.config import DeskConfig
from tickets.incidents import IncidentService
from tickets.models import Incident, IncidentStatus, LinkState, Ticket, TicketEvent, TicketIncident, TicketStatus
from tickets.notify import Notifier
from tickets.service import EmbedderSource, TicketService, TicketText, promised_due, ticket_text
from tickets.status import OPEN_STATUSES

__all__ = ["IncidentView", "TicketDesk", "TicketOpened", "TicketView"]

ACTION_TEXT_CHARS = 200
CUSTOMER_TICKETS_LIMIT = 20


@dataclass(frozen=True, slots=True)
class TicketView:
    """A ticket as its customer may see it."""

    number: str
    subject: str
    status: TicketStatus
    priority: Priority
    last_action: str | None  # the latest public event, in the customer's language
    eta_text: str | None  # "до пятницы, 28 ноября, 14:00 (МСК)"; None unless the clock runs
    resolution_due: datetime | None
    id: int = 0


@dataclass(frozen=True, slots=True)
class IncidentView:
    id: int
    title: str
    restoration_eta: datetime | None
    restoration_eta_text: str | None


@dataclass(frozen=True, slots=True)
class TicketOpened:
    ticket: TicketView
    eta_text: str | None
    incident: IncidentView | None
    text: str  # "tickets.created" (or "tickets.created_incident") rendered for the customer; not stored
    forming: bool = False  # similar tickets are piling up: the team has been told an incident may be forming


class TicketDesk:
    def __init__(self, tickets: TicketService, incidents: IncidentService) -> None:
        self.tickets = tickets
        self.incidents = incidents
        self.notifier = tickets.notifier

    @classmethod
    def load(
        cls, data_dir: Path, templates: Templates, embedder: EmbedderSource, *, default_timezone: str = "Europe/Moscow"
    ) -> TicketDesk:
        """Read ``data/sla/*.yml`` and ``data/tickets.yml``; a bad file fails here, naming file and key."""
        sla = SlaPolicy.load(data_dir)
        clock = SlaClock(sla, EscalationPolicy.load(data_dir))
        tickets = TicketService(sla, clock, DeskConfig.load(data_dir), Notifier(templates, default_timezone), embedder)
        return cls(tickets, IncidentService(tickets))

    @classmethod
    def from_settings(
        cls, settings: Settings, templates: Templates, embedder: EmbedderSource | None = None
    ) -> TicketDesk:
        source = embedder or (lambda: shared_embedder(settings.embedding_model, settings.embedding_threads))
        return cls.load(settings.data_dir, templates, source, default_timezone=settings.default_timezone)

    # --- the conversation engine's calls ----------------------------------------------------------------

    async def embed_ticket(self, description: str, subject: str | None = None) -> TicketText:
        """The vector :meth:`open_ticket` matches incidents with, computed beforehand (outside a transaction)."""
        return await self.tickets.embed(ticket_text(description, subject))

    async def open_ticket(
        self,
        uow: UnitOfWork,
        customer: Customer,
        conversation: Conversation,
        *,
        description: str,
        subject: str | None = None,
        category: str | None = None,
        urgency: str = "medium",
        impact: str = "one",
        account_number: str | None = None,
        embedded: TicketText | None = None,
    ) -> TicketOpened:
        """Register the ticket, match it to open incidents, and say when it will be solved.

        ``embedded``: :meth:`embed_ticket` of the same description and subject, computed before the unit of work
        began; without it the text is embedded here, inside the caller's transaction.
        """
        now = utcnow()
        ticket, text = await self.tickets.open(
            uow,
            customer,
            conversation,
            description=description,
            subject=subject,
            category=category,
            urgency=urgency,
            impact=impact,
            account_number=account_number,
            now=now,
            embedded=embedded,
        )
        match = await self.incidents.match_new_ticket(uow, ticket, text, now)
        incident = self._incident_view(match.linked, customer) if match.linked else None
        # Built from what was just recorded (created, maybe linked) rather than read back: no extra queries.
        eta_due = incident.restoration_eta if incident and incident.restoration_eta else ticket.resolution_due
        view = TicketView(
            number=ticket.number,
            subject=ticket.subject,
            status=ticket.status,
            priority=ticket.priority,
            last_action=self.notifier.render(
                "tickets.action.incident_linked" if incident else "tickets.action.created",
                customer.language,
                title=incident.title if incident else "",
            ),
            eta_text=self.notifier.customer_eta(eta_due, customer, now),
            resolution_due=ticket.resolution_due,
            id=ticket.id,
        )
        if incident is not None:
            message = self.notifier.render(
                "tickets.created_incident",
                customer.language,
                number=ticket.number,
                title=incident.title,
                eta=incident.restoration_eta_text,
            )
        else:
            message = self.notifier.render(
                "tickets.created", customer.language, number=ticket.number, eta=view.eta_text
            )
        return TicketOpened(ticket=view, eta_text=view.eta_text, incident=incident, text=message, forming=match.forming)

    async def customer_tickets(
        self, session: AsyncSession, customer_id: int, *, open_only: bool = True
    ) -> list[TicketView]:
        """The customer's tickets, newest first (open ones only by default), in two queries however many."""
        stmt = (
            select(Ticket, Customer, Incident.status, Incident.restoration_eta)
            .join(Customer, Customer.id == Ticket.customer_id)
            .outerjoin(
                TicketIncident,
                (TicketIncident.ticket_id == Ticket.id) & (TicketIncident.state == LinkState.LINKED),
            )
            .outerjoin(Incident, Incident.id == TicketIncident.incident_id)
            .where(Ticket.customer_id == customer_id)
            .order_by(Ticket.id.desc())
            .limit(CUSTOMER_TICKETS_LIMIT)
        )
        if open_only:
            stmt = stmt.where(Ticket.status.in_(list(OPEN_STATUSES)))
        rows = (await session.execute(stmt)).all()
        if not rows:
            return []
        return await self._views(session, rows[0][1], [(ticket, status, eta) for ticket, _c, status, eta in rows])

    async def customer_ticket(self, session: AsyncSession, customer_id: int, number: str) -> TicketView:
        """One of the customer's own tickets; NotFound for unknown numbers and for other customers' tickets alike."""
        ticket = await self.tickets.get_for_customer(session, customer_id, number)
        return await self.view(session, ticket, await session.get_one(Customer, customer_id))

    async def add_to_ticket(
        self, uow: UnitOfWork, customer_id: int, number: str, text: str, *, conversation: Conversation | None = None
    ) -> TicketView:
        """The customer adds to their ticket (from ``conversation`` when given: it joins the ticket)."""
        ticket = await self.tickets.get_for_customer(uow.session, customer_id, number, lock=True)
        await self.tickets.customer_message(uow, ticket, text, conversation=conversation, now=utcnow())
        return await self.view(uow.session, ticket, await uow.session.get_one(Customer, customer_id))

    async def cancel_ticket(self, uow: UnitOfWork, customer_id: int, number: str) -> TicketView:
        ticket = await self.tickets.get_for_customer(uow.session, customer_id, number, lock=True)
        await self.tickets.cancel(uow, ticket, now=utcnow())
        return await self.view(uow.session, ticket, await uow.session.get_one(Customer, customer_id))

    # --- views ------------------------------------------------------------------------------------------

    async def view(self, session: AsyncSession, ticket: Ticket, customer: Customer) -> TicketView:
        incident = await self.tickets.linked_incident(session, ticket.id)
        row = (ticket, incident.status if incident else None, incident.restoration_eta if incident else None)
        return (await self._views(session, customer, [row]))[0]

    async def _views(
        self,
        session: AsyncSession,
        customer: Customer,
        rows: Sequence[tuple[Ticket, IncidentStatus | None, datetime | None]],
    ) -> list[TicketView]:
        """Views of one customer's tickets, each with its linked incident's status and ETA (one more query)."""
        actions = await self.last_actions(session, [ticket.id for ticket, _s, _e in rows], customer.language)
        return [
            TicketView(
                number=ticket.number,
                subject=ticket.subject,
                status=ticket.status,
                priority=ticket.priority,
                last_action=actions.get(ticket.id),
                eta_text=self.notifier.customer_eta(promised_due(ticket, status, eta), customer),
                resolution_due=ticket.resolution_due,
                id=ticket.id,
            )
            for ticket, status, eta in rows
        ]

    async def last_actions(
        self, session: AsyncSession, ticket_ids: Sequence[int], language: str | None
    ) -> dict[int, str | None]:
        """Each ticket's latest public event, as the customer reads it (tickets without one are left out)."""
        if not ticket_ids:
            return {}
        latest = (
            select(func.max(TicketEvent.id))
            .where(TicketEvent.ticket_id.in_(list(ticket_ids)), TicketEvent.public.is_(True))
            .group_by(TicketEvent.ticket_id)
        )
        events = (await session.execute(select(TicketEvent).where(TicketEvent.id.in_(latest)))).scalars()
        return {event.ticket_id: self.action_text(event, language) for event in events}

    def action_text(self, event: TicketEvent, language: str | None) -> str | None:
        data = event.data or {}
        text = str(data.get("text") or "")
        if len(text) > ACTION_TEXT_CHARS:
            text = text[: ACTION_TEXT_CHARS - 1].rstrip() + "…"
        status = (
            self.notifier.status_name(event.to_value, language) if event.kind == "status" and event.to_value else ""
        )
        try:
            return self.notifier.render(
                f"tickets.action.{event.kind}", language, status=status, text=text, title=str(data.get("title") or "")
            )
        except TemplateError:
            return None

    def _incident_view(self, incident: Incident, customer: Customer) -> IncidentView:
        eta = incident.restoration_eta if incident.status is IncidentStatus.OPEN else None
        return IncidentView(
            id=incident.id,
            title=incident.title,
            restoration_eta=eta,
            restoration_eta_text=self.notifier.customer_eta(eta, customer),
        )
