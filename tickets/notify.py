"""Telling the customer: texts from ``data/templates/<lang>/tickets.yml``, stored in the outbox of their channel.

handoff never calls a channel. A notice goes into the ticket's conversation the customer used last (a ticket
can gather conversations from several channels); the channel that owns it delivers it later.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.buttons import Action, ButtonPayload
from core.models import Author, Conversation, Customer, Message, utcnow
from core.store import Button, add_outbound
from core.templates import Templates
from core.uow import UnitOfWork
from sla.eta import FORMAT_KEY, MONTHS_KEY, TODAY_KEY, TOMORROW_KEY, WEEKDAYS_KEY, Language, format_eta
from tickets.models import Ticket, TicketConversation

__all__ = ["PORTAL_LINK", "TICKET_CSAT", "Notifier", "latest_conversation"]

log = logging.getLogger(__name__)
_FALLBACK_ZONE = "UTC"


async def latest_conversation(session: AsyncSession, ticket_id: int) -> Conversation | None:
    """The ticket's conversation with the most recent activity: where the customer is now."""
    stmt = (
        select(Conversation)
        .join(TicketConversation, TicketConversation.conversation_id == Conversation.id)
        .where(TicketConversation.ticket_id == ticket_id)
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


TICKET_CSAT = Action.TICKET_CSAT.value  # a ticket rating button: tcsat:<ticket id>.<rating>:<nonce>
PORTAL_LINK = ButtonPayload(action=Action.PORTAL).pack()  # "my requests on the website": a portal link


class Notifier:
    def __init__(self, templates: Templates, default_timezone: str = "Europe/Moscow") -> None:
        self.templates = templates
        self.default_timezone = default_timezone

    def language(self, language: str | None) -> Language:
        return cast(Language, self.templates.language(language))

    def eta(
        self, due: datetime | None, language: str | None, timezone: str | None, now: datetime | None = None
    ) -> str | None:
        """``due`` as the customer reads it ("до пятницы, 28 ноября, 14:00 (МСК)", "сегодня в 15:00 (МСК)").

        ``now`` (default: the current time) decides "today" / "tomorrow" on the customer's calendar. None for no
        due time.
        """
        if due is None:
            return None
        lang = self.language(language)
        keys = (WEEKDAYS_KEY, MONTHS_KEY, FORMAT_KEY, TODAY_KEY, TOMORROW_KEY)
        names = {key: self.templates.raw(key, lang) for key in keys}
        moment = now or utcnow()
        try:
            return format_eta(due, timezone or self.default_timezone, lang, names, now=moment)
        except ValueError:
            # A customer record with a zone tzdata does not know must not stop a notification.
            log.warning("unknown customer timezone", extra={"timezone": timezone})
            return format_eta(due, _FALLBACK_ZONE, lang, names, now=moment)

    def customer_eta(self, due: datetime | None, customer: Customer, now: datetime | None = None) -> str | None:
        return self.eta(due, customer.language, customer.timezone, now)

    def render(self, key: str, language: str | None, **params: Any) -> str:
        return self.templates.render(key, self.language(language), **params)

    def status_name(self, status: str, language: str | None) -> str:
        return self.render(f"tickets.status.{status}", language)

    async def tell(
        self,
        uow: UnitOfWork,
        ticket: Ticket,
        customer: Customer,
        key: str,
        *,
        conversation: Conversation | None = None,
        author: Author = Author.SYSTEM,
        operator_id: int | None = None,
        meta: dict[str, Any] | None = None,
        **params: Any,
    ) -> Message | None:
        """Store the notice ``key`` for the customer of ``ticket``; None when the ticket has no conversation."""
        target = conversation or await latest_conversation(uow.session, ticket.id)
        if target is None:
            log.info("ticket has no conversation to notify", extra={"ticket_id": ticket.id, "key": key})
            return None
        params.setdefault("number", ticket.number)
        text = self.render(key, customer.language, **params)
        buttons = self.rating_buttons(ticket, customer) if meta and "csat" in meta else [self.portal_button(customer)]
        return await add_outbound(
            uow,
            target,
            text,
            author=author,
            operator_id=operator_id,
            buttons=buttons,
            meta={"ticket_id": ticket.id, "notice": key, **(meta or {})},
        )

    def portal_button(self, customer: Customer) -> Button:
        """Under a notice: the customer's requests on the website (pressed, the bot sends a one-time link)."""
        return Button(label=self.render("portal.button", customer.language), payload=PORTAL_LINK)

    def rating_buttons(self, ticket: Ticket, customer: Customer) -> list[Button]:
        """1-5 buttons under a "resolved" notice: the rating is given in the chat, not on a web page.

        The nonce is new per notice; the bot accepts a press only of a button it actually sent this customer.
        """
        nonce = secrets.token_hex(3)
        return [
            Button(
                label=self.render(f"csat.button.{n}", customer.language),
                payload=ButtonPayload(action=Action.TICKET_CSAT, arg=f"{ticket.id}.{n}", nonce=nonce).pack(),
            )
            for n in range(1, 6)
        ]
