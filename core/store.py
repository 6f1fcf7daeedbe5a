"""The message store: every inbound message is recorded once, every outbound one before delivery.

Channels call :func:`record_inbound`; everything else calls :func:`add_outbound`. Both work inside a
:class:`~core.uow.UnitOfWork` so that state changes and messages commit together.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InvalidInput, NotFound, UnknownChannel
from core.events import CONVERSATION_STATUS_CHANGED, MESSAGE_STORED, Event
from core.models import (
    Author,
    Channel,
    Conversation,
    ConversationStatus,
    Customer,
    DeliveryState,
    Direction,
    Identity,
    Message,
    utcnow,
)
from core.security import storable, storable_text
from core.uow import UnitOfWork


class Button(BaseModel):
    """A channel-agnostic reply button: Telegram renders it inline, the web chat as a chip."""

    label: str = Field(min_length=1, max_length=64)
    payload: str = Field(min_length=1, max_length=64)


class InboundMessage(BaseModel):
    """What a channel hands over after translating its own update or frame."""

    channel: str
    external_user_id: str = Field(min_length=1, max_length=128)
    chat_id: str = Field(min_length=1, max_length=128)
    channel_message_id: str | None = Field(default=None, max_length=128)
    text: str = ""
    attachments: list[dict[str, Any]] = Field(default_factory=list)
    display_name: str = ""
    language_hint: str | None = None
    payload: str | None = Field(default=None, description="A pressed button's payload")
    meta: dict[str, Any] = Field(default_factory=dict)


@dataclass(slots=True)
class StoredInbound:
    message: Message
    conversation: Conversation
    customer: Customer
    duplicate: bool


@dataclass(frozen=True, slots=True)
class CustomerDefaults:
    language: str
    timezone: str
    plan: str


def clean_text(raw: str, max_chars: int) -> tuple[str, dict[str, Any]]:
    """Normalise text for storage; return it with notes on what was changed.

    NUL bytes and lone surrogates cannot be stored in PostgreSQL text and would crash a later encode,
    so they are removed or replaced here, once, for every channel.
    """
    notes: dict[str, Any] = {}
    text = raw.replace("\x00", "")
    if text != raw:
        notes["removed_nul"] = True
    fixed = text.encode("utf-8", "replace").decode("utf-8")
    if fixed != text:
        notes["replaced_invalid_unicode"] = True
        text = fixed
    text = unicodedata.normalize("NFC", text).strip()
    if len(text) > max_chars:
        notes["truncated_from"] = len(text)
        text = text[:max_chars]
    return text, notes


def parse_channel(value: str) -> Channel:
    try:
        return Channel(value)
    except ValueError:
        raise UnknownChannel(f"unknown channel {value!r}", known=[c.value for c in Channel]) from None


async def _find_or_create_customer(
    session: AsyncSession, channel: Channel, inbound: InboundMessage, defaults: CustomerDefaults
) -> Customer:
    stmt = (
        select(Customer)
        .join(Identity, Identity.customer_id == Customer.id)
        .where(Identity.channel == channel, Identity.external_id == inbound.external_user_id)
    )
    customer = (await session.execute(stmt)).scalar_one_or_none()
    if customer is not None:
        return customer
    language = inbound.language_hint if inbound.language_hint in ("ru", "en") else defaults.language
    try:
        async with session.begin_nested():
            customer = Customer(
                name=inbound.display_name[:200],
                language=language,
                timezone=defaults.timezone,
                plan=defaults.plan,
            )
            session.add(customer)
            await session.flush()
            session.add(
                Identity(
                    customer_id=customer.id,
                    channel=channel,
                    external_id=inbound.external_user_id,
                    display_name=inbound.display_name[:200],
                )
            )
            await session.flush()
    except IntegrityError:
        # Another worker created this identity between our read and our write: use theirs.
        return (await session.execute(stmt)).scalar_one()
    return customer


async def open_conversation(session: AsyncSession, customer: Customer, channel: Channel, chat_id: str) -> Conversation:
    """The customer's open conversation on this channel, opened if there is none."""
    stmt = select(Conversation).where(
        Conversation.customer_id == customer.id,
        Conversation.channel == channel,
        Conversation.status != ConversationStatus.CLOSED,
    )
    conversation = (await session.execute(stmt)).scalar_one_or_none()
    if conversation is not None:
        if conversation.chat_id != chat_id:
            # A Telegram group migrated to a supergroup, or a widget reconnected: follow the chat.
            conversation.chat_id = chat_id
        return conversation
    try:
        async with session.begin_nested():
            conversation = Conversation(
                customer_id=customer.id,
                channel=channel,
                chat_id=chat_id,
                language=customer.language,
                status=ConversationStatus.BOT,
                dialog_state={},
                last_seq=0,
            )
            session.add(conversation)
            await session.flush()
    except IntegrityError:
        return (await session.execute(stmt)).scalar_one()
    return conversation


async def next_seq(session: AsyncSession, conversation: Conversation, count: int = 1) -> int:
    """Atomically take the next sequence number (the first of ``count``): clients resume a conversation from it."""
    result = await session.execute(
        update(Conversation)
        .where(Conversation.id == conversation.id)
        .values(last_seq=Conversation.last_seq + count, updated_at=utcnow())
        .returning(Conversation.last_seq)
    )
    seq = int(result.scalar_one())
    conversation.last_seq = seq
    return seq - count + 1


def _message_event(message: Message, conversation: Conversation) -> Event:
    return Event(
        name=MESSAGE_STORED,
        data={
            "message_id": message.id,
            "conversation_id": conversation.id,
            "customer_id": conversation.customer_id,
            "channel": message.channel.value,
            "direction": message.direction.value,
            "author": message.author.value,
            "private": message.private,
            "status": conversation.status.value,
        },
    )


async def record_inbound(
    uow: UnitOfWork, inbound: InboundMessage, defaults: CustomerDefaults, max_chars: int = 16_000
) -> StoredInbound:
    """Store a customer's message once; a repeat of the same channel message id returns the first one."""
    channel = parse_channel(inbound.channel)
    # Every stored string is cleaned, not only the text: a name or file name that PostgreSQL cannot store
    # (or a later read cannot encode) would fail the message, or every read of the conversation after it.
    inbound = inbound.model_copy(
        update={
            "display_name": storable_text(inbound.display_name),
            "attachments": storable(inbound.attachments),
            "meta": storable(inbound.meta),
            "payload": storable_text(inbound.payload) if inbound.payload else inbound.payload,
        }
    )
    text, notes = clean_text(inbound.text, max_chars)
    if not text and not inbound.attachments and not inbound.payload:
        raise InvalidInput("a message needs text, an attachment or a button payload")
    session = uow.session
    if inbound.channel_message_id is not None:
        existing = await _find_inbound(session, channel, inbound.chat_id, inbound.channel_message_id)
        if existing is not None:
            return await _as_duplicate(session, existing)
    customer = await _find_or_create_customer(session, channel, inbound, defaults)
    conversation = await open_conversation(session, customer, channel, inbound.chat_id)
    meta = dict(inbound.meta)
    if notes:
        meta["stored_with"] = notes
    if inbound.payload:
        meta["payload"] = inbound.payload
    try:
        async with session.begin_nested():
            message = Message(
                conversation_id=conversation.id,
                seq=await next_seq(session, conversation),
                direction=Direction.INBOUND,
                author=Author.CUSTOMER,
                channel=channel,
                chat_id=inbound.chat_id,
                channel_message_id=inbound.channel_message_id,
                text=text,
                attachments=inbound.attachments,
                buttons=[],
                meta=meta,
                delivery_state=DeliveryState.RECEIVED,
            )
            session.add(message)
            await session.flush()
    except IntegrityError:
        if inbound.channel_message_id is None:
            raise
        # The same update is being stored by another worker right now: theirs wins.
        existing = await _find_inbound(session, channel, inbound.chat_id, inbound.channel_message_id)
        if existing is None:
            raise
        return await _as_duplicate(session, existing)
    uow.emit(_message_event(message, conversation))
    return StoredInbound(message=message, conversation=conversation, customer=customer, duplicate=False)


async def _find_inbound(
    session: AsyncSession, channel: Channel, chat_id: str, channel_message_id: str
) -> Message | None:
    stmt = select(Message).where(
        Message.channel == channel,
        Message.chat_id == chat_id,
        Message.direction == Direction.INBOUND,
        Message.channel_message_id == channel_message_id,
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def _as_duplicate(session: AsyncSession, message: Message) -> StoredInbound:
    conversation = await session.get_one(Conversation, message.conversation_id)
    customer = await session.get_one(Customer, conversation.customer_id)
    return StoredInbound(message=message, conversation=conversation, customer=customer, duplicate=True)


@dataclass(frozen=True, slots=True)
class Outbound:
    """One reply of :func:`add_outbounds`."""

    text: str
    buttons: list[Button] | None = None
    meta: dict[str, Any] | None = None
    author: Author = Author.BOT


async def add_outbound(
    uow: UnitOfWork,
    conversation: Conversation,
    text: str,
    *,
    author: Author = Author.BOT,
    operator_id: int | None = None,
    buttons: list[Button] | None = None,
    private: bool = False,
    meta: dict[str, Any] | None = None,
) -> Message:
    """Store a reply in the outbox (``pending``); a private note is stored and never delivered."""
    _check_outbound(text)
    session = uow.session
    message = _outbound_message(
        conversation, await next_seq(session, conversation), text, author, operator_id, buttons, private, meta
    )
    session.add(message)
    await session.flush()
    uow.emit(_message_event(message, conversation))
    return message


async def add_outbounds(uow: UnitOfWork, conversation: Conversation, replies: list[Outbound]) -> list[Message]:
    """Store several replies in the outbox, in order, as :func:`add_outbound` would one by one — with one
    sequence reservation and one insert for all of them instead of two statements each (a bot turn's replies)."""
    if not replies:
        return []
    for reply in replies:
        _check_outbound(reply.text)
    session = uow.session
    first = await next_seq(session, conversation, len(replies))
    messages = [
        _outbound_message(conversation, first + i, r.text, r.author, None, r.buttons, False, r.meta)
        for i, r in enumerate(replies)
    ]
    session.add_all(messages)
    await session.flush()
    for message in messages:
        uow.emit(_message_event(message, conversation))
    return messages


def _check_outbound(text: str) -> None:
    if not text.strip():
        raise InvalidInput("an outbound message needs text")


def _outbound_message(
    conversation: Conversation,
    seq: int,
    text: str,
    author: Author,
    operator_id: int | None,
    buttons: list[Button] | None,
    private: bool,
    meta: dict[str, Any] | None,
) -> Message:
    return Message(
        conversation_id=conversation.id,
        seq=seq,
        direction=Direction.OUTBOUND,
        author=author,
        operator_id=operator_id,
        channel=conversation.channel,
        chat_id=conversation.chat_id,
        text=text,
        attachments=[],
        buttons=[b.model_dump() for b in buttons or []],
        meta=meta or {},
        private=private,
        delivery_state=DeliveryState.INTERNAL if private else DeliveryState.PENDING,
        next_attempt_at=None if private else utcnow(),
    )


async def set_status(
    uow: UnitOfWork,
    conversation: Conversation,
    status: ConversationStatus,
    *,
    assignee_id: int | None = None,
    now: datetime | None = None,
) -> None:
    """Move a conversation to a new status and tell every worker (the inbox listens)."""
    previous = conversation.status
    moment = now or utcnow()
    conversation.status = status
    if status is ConversationStatus.WAITING:
        conversation.waiting_since = moment
        conversation.assignee_id = None
    elif status is ConversationStatus.ASSIGNED:
        conversation.assignee_id = assignee_id
    elif status is ConversationStatus.CLOSED:
        conversation.closed_at = moment
    elif status is ConversationStatus.BOT:
        conversation.assignee_id = None
        conversation.waiting_since = None
    await uow.session.flush()
    uow.emit(
        Event(
            name=CONVERSATION_STATUS_CHANGED,
            data={
                "conversation_id": conversation.id,
                "from": previous.value,
                "to": status.value,
                "assignee_id": conversation.assignee_id,
            },
        )
    )


async def get_conversation(session: AsyncSession, conversation_id: int) -> Conversation:
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound("no such conversation", conversation_id=conversation_id)
    return conversation


async def history(session: AsyncSession, conversation_id: int, after_seq: int = 0) -> list[Message]:
    stmt = (
        select(Message).where(Message.conversation_id == conversation_id, Message.seq > after_seq).order_by(Message.seq)
    )
    return list((await session.execute(stmt)).scalars())
