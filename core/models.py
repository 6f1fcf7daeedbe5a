"""Customers, identities, conversations, messages, staff accounts and teams: the record every package shares."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend.

    SQLite has no time zones and hands back naive values; storing UTC and re-attaching it on read keeps
    comparisons in Python and ordering in SQL correct on both databases.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


def str_enum(cls: type[enum.Enum]) -> Enum:
    """Enums stored by value as plain strings: readable in SQL and free of native ENUM migrations."""
    return Enum(cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


class Channel(enum.StrEnum):
    TELEGRAM = "telegram"
    WEB = "web"


class ConversationStatus(enum.StrEnum):
    BOT = "bot"
    WAITING = "waiting"
    ASSIGNED = "assigned"
    CLOSED = "closed"


class Direction(enum.StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"


class Author(enum.StrEnum):
    CUSTOMER = "customer"
    BOT = "bot"
    OPERATOR = "operator"
    SYSTEM = "system"


class DeliveryState(enum.StrEnum):
    RECEIVED = "received"  # inbound: stored
    PENDING = "pending"  # outbound: stored, waiting for the delivery worker
    SENDING = "sending"  # outbound: handed to the channel by a worker (lease in next_attempt_at)
    UNKNOWN = "unknown"  # outbound: the worker died mid-send; maybe delivered, never re-sent — for operators
    SENT = "sent"
    FAILED = "failed"  # gave up after retries, or the channel refused for good
    INTERNAL = "internal"  # a private note: never delivered


class Role(enum.StrEnum):
    OPERATOR = "operator"
    EDITOR = "editor"
    ADMIN = "admin"
    MANAGER = "manager"


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(8))
    timezone: Mapped[str] = mapped_column(String(64))
    plan: Mapped[str] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    account_number: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    identities: Mapped[list[Identity]] = relationship(back_populates="customer", lazy="raise_on_sql")


class Identity(Base):
    """How a customer is known on one channel; (channel, external_id) is unique."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    external_id: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="identities", lazy="raise_on_sql")


class Operator(Base):
    """A staff account: operator, editor or admin."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(str_enum(Role), default=Role.OPERATOR)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str] = mapped_column(String(8), default="ru")
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column()


class Team(Base):
    """A group of operators that tickets and conversations are routed to."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # A disabled team keeps its tickets and history but is no longer routed or transferred to.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Conversation(Base):
    """One thread between a customer and the desk on one channel.

    At most one conversation per customer and channel is open (not closed): a partial unique index
    makes concurrent first messages converge on one row instead of opening two.
    """

    __tablename__ = "conversations"
    __table_args__ = (
        Index(
            "uq_conversations_open",
            "customer_id",
            "channel",
            unique=True,
            sqlite_where=text("status != 'closed'"),
            postgresql_where=text("status != 'closed'"),
        ),
        Index("ix_conversations_status_waiting_since", "status", "waiting_since"),
        Index("ix_conversations_created_at", "created_at"),  # reports: conversations opened in a period
        # Reports: conversations closed in a period (the satisfaction response rate).
        Index(
            "ix_conversations_closed_at",
            "closed_at",
            sqlite_where=text("closed_at IS NOT NULL"),
            postgresql_where=text("closed_at IS NOT NULL"),
        ),
        Index("ix_conversations_status_updated_at", "status", "updated_at"),
        Index("ix_conversations_assignee_id_status", "assignee_id", "status"),
        # The inbox's All open list, in its order (``handoff.queue``): only open conversations are in it.
        Index(
            "ix_conversations_open_updated_at",
            "updated_at",
            "id",
            sqlite_where=text("status IN ('waiting', 'assigned')"),
            postgresql_where=text("status IN ('waiting', 'assigned')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    chat_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[ConversationStatus] = mapped_column(str_enum(ConversationStatus), default=ConversationStatus.BOT)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    language: Mapped[str] = mapped_column(String(8))
    dialog_state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    waiting_since: Mapped[datetime | None] = mapped_column()
    first_reply_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    customer: Mapped[Customer] = relationship(lazy="raise_on_sql")


class Message(Base):
    """One utterance. Inbound rows are unique by the channel's own id, so a redelivered update is a no-op.

    Outbound rows are the outbox: stored ``pending`` before any delivery attempt.
    """

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq"),
        UniqueConstraint("channel", "chat_id", "direction", "channel_message_id"),
        Index("ix_messages_outbox", "delivery_state", "next_attempt_at"),
        Index(
            "ix_messages_direction_created_at", "direction", "created_at"
        ),  # reports: customers' messages in a period
        # Reports (funnel, wait after handoff): a conversation's public operator replies. Partial, so it stays
        # small; queries spell the condition with literals so PostgreSQL can prove they fall under it.
        Index(
            "ix_messages_operator_replies",
            "conversation_id",
            "created_at",
            postgresql_where=text("author = 'operator' AND NOT private"),
            sqlite_where=text("author = 'operator' AND NOT private"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    direction: Mapped[Direction] = mapped_column(str_enum(Direction))
    author: Mapped[Author] = mapped_column(str_enum(Author))
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    chat_id: Mapped[str] = mapped_column(String(128))
    channel_message_id: Mapped[str | None] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text, default="")
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    buttons: Mapped[list[Any]] = mapped_column(default=list)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    delivery_state: Mapped[DeliveryState] = mapped_column(str_enum(DeliveryState))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()
    # Inbound only: when the bot finished its turn for this message. A message stored but never handled
    # (the worker died in between) is found by this column and handled on restart.
    handled_at: Mapped[datetime | None] = mapped_column()


class StaffSession(Base):
    """A signed-in staff browser. The cookie carries a random token; only its hash is stored.

    Deleting the row ends the session for every copy of the cookie at once (logout, password change,
    disable, role change), on every worker.
    """

    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class RejectedUpdate(Base):
    """An inbound channel update that could not be stored even after cleaning: acknowledged to the channel (so
    it cannot block the next customer's update) and kept here, raw, for operators to read."""

    __tablename__ = "rejected_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    update_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class LinkCode(Base):
    """A single-use, expiring code that joins a customer's identity on another channel to this customer.

    Only the code's SHA-256 is stored; spending it is one conditional UPDATE, so two channels sending the
    same code at once cannot both merge.
    """

    __tablename__ = "link_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column()
