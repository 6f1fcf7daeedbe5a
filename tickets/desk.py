"""The ticket desk as the conversation engine sees it: open a ticket, the customer's tickets, add, cancel.

One :class:`TicketDesk` per process, stored under ``tickets.keys.TICKET_DESK`` by ``tickets.web.tickets_ctx``.
It also carries the operators' services (``desk.tickets``, ``desk.incidents``) so every caller shares one
SLA configuration and one embedder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
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
from tickets.incidents import IncidentDesk
from tickets.models import Incident, IncidentStatus, Ticket, TicketEvent, TicketStatus
from tickets.notify import Notifier
from tickets.service import EmbedderSource, TicketService
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
    def __init__(self, tickets: TicketService, incidents: IncidentDesk) -> None:
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
        return cls(tickets, IncidentDesk(tickets))

    @classmethod
    def from_settings(
        cls, settings: Settings, templates: Templates, embedder: EmbedderSource | None = None
    ) -> TicketDesk:
        source = embedder or (lambda: shared_embedder(settings.embedding_model, settings.embedding_threads))
        return cls.load(settings.data_dir, templates, source, default_timezone=settings.default_timezone)

    # --- the conversation engine's calls ----------------------------------------------------------------

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
    ) -> TicketOpened:
        """Register the ticket, match it to open incidents, and say when it will be solved."""
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
            eta_text=self.notifier.customer_eta(eta_due, customer),
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
        """The customer's tickets, newest first (open ones only by default)."""
        customer = await session.get(Customer, customer_id)
        if customer is None:
            return []
        stmt = (
            select(Ticket)
            .where(Ticket.customer_id == customer_id)
            .order_by(Ticket.id.desc())
            .limit(CUSTOMER_TICKETS_LIMIT)
        )
        if open_only:
            stmt = stmt.where(Ticket.status.in_(list(OPEN_STATUSES)))
        return [await self.view(session, ticket, customer) for ticket in (await session.execute(stmt)).scalars()]

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
        due = await self.tickets.eta_due(session, ticket)
        return TicketView(
            number=ticket.number,
            subject=ticket.subject,
            status=ticket.status,
            priority=ticket.priority,
            last_action=await self.last_action(session, ticket, customer.language),
            eta_text=self.notifier.customer_eta(due, customer),
            resolution_due=ticket.resolution_due,
            id=ticket.id,
        )

    async def last_action(self, session: AsyncSession, ticket: Ticket, language: str | None) -> str | None:
        stmt = (
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id, TicketEvent.public.is_(True))
            .order_by(TicketEvent.id.desc())
            .limit(1)
        )
        event = (await session.execute(stmt)).scalar_one_or_none()
        return None if event is None else self.action_text(event, language)

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
