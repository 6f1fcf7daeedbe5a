"""Test data builders shared by the suite: customers, conversations, inbound messages, a unit of work, the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import SessionFactory, transaction
from core.events import InProcessBus
from core.models import Channel, Conversation, ConversationStatus, Customer, Direction, Message
from core.store import CustomerDefaults, InboundMessage
from core.uow import UnitOfWork

MSK = ZoneInfo("Europe/Moscow")
DEFAULTS = CustomerDefaults(language="ru", timezone="Europe/Moscow", plan="standard")
"""What a customer first seen on a channel starts with."""


def msk(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=MSK)


@dataclass(frozen=True, slots=True)
class Person:
    customer: Customer
    conversation: Conversation


async def person(
    sessions: SessionFactory,
    name: str = "Анна",
    *,
    plan: str = "standard",
    language: str = "ru",
    timezone: str = "Europe/Moscow",
    channel: Channel = Channel.TELEGRAM,
) -> Person:
    """A customer with one open conversation."""
    async with transaction(sessions) as session:
        customer = Customer(name=name, language=language, timezone=timezone, plan=plan)
        session.add(customer)
        await session.flush()
        conversation = await add_conversation(session, customer, channel)
    return Person(customer, conversation)


async def add_conversation(session: AsyncSession, customer: Customer, channel: Channel) -> Conversation:
    conversation = Conversation(
        customer_id=customer.id,
        channel=channel,
        chat_id=f"{channel.value}-{customer.id}",
        language=customer.language,
        status=ConversationStatus.BOT,
        dialog_state={},
        last_seq=0,
    )
    session.add(conversation)
    await session.flush()
    return conversation


def uow(sessions: SessionFactory) -> UnitOfWork:
    return UnitOfWork(sessions, InProcessBus())


async def outbound(sessions: SessionFactory, conversation_id: int | None = None) -> list[Message]:
    """Outbound messages (the outbox), oldest first."""
    async with transaction(sessions) as session:
        stmt = select(Message).where(Message.direction == Direction.OUTBOUND).order_by(Message.id)
        if conversation_id is not None:
            stmt = stmt.where(Message.conversation_id == conversation_id)
        return list((await session.execute(stmt)).scalars())


def inbound(text: str = "не работает интернет", message_id: str | None = "1", user: str = "42") -> InboundMessage:
    """A Telegram message from ``user`` as the channel hands it to the store."""
    return InboundMessage(
        channel="telegram",
        external_user_id=user,
        chat_id=user,
        channel_message_id=message_id,
        text=text,
        display_name="Иван",
        language_hint="ru",
    )
