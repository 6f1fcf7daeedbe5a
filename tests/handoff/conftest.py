"""Fixtures for tickets, incidents and the breach watch: a desk on the real data files and the real embedder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import SessionFactory, transaction
from core.events import InProcessBus
from core.models import Channel, Conversation, ConversationStatus, Customer, Direction, Message
from core.operators import add_operator
from core.settings import ROOT
from core.templates import Templates
from core.uow import UnitOfWork
from handoff.desk import TicketDesk, own_embedder
from handoff.models import Team
from nlu.embedding import Embedder

DATA = ROOT / "data"
MSK = ZoneInfo("Europe/Moscow")
TEAMS = (("first-line", "Первая линия"), ("second-line", "Вторая линия"), ("billing", "Биллинг"))


def msk(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=MSK)


@dataclass(frozen=True, slots=True)
class Person:
    customer: Customer
    conversation: Conversation


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return own_embedder("use", 1)


@pytest.fixture
def desk(templates: Templates, embedder: Embedder) -> TicketDesk:
    return TicketDesk.load(DATA, templates, lambda: embedder)


@pytest.fixture
async def teams(sessions: SessionFactory) -> dict[str, int]:
    async with transaction(sessions) as session:
        rows = [Team(key=key, name=name) for key, name in TEAMS]
        session.add_all(rows)
        await session.flush()
        return {row.key: row.id for row in rows}


@pytest.fixture
async def operator_id(sessions: SessionFactory) -> int:
    async with transaction(sessions) as session:
        return (await add_operator(session, "olga", "operator-password-1", "operator", "Ольга")).id


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
