"""Notices, their recipients, customers' opt-outs and the reminders already sent.

A notice is stored before anything is sent (state ``draft``); sending it is one conditional update to
``sending``, so a double click sends once. The fan-out then adds a recipient row per customer (unique per
notice), each with the outbox message that carries the notice; delivery states are read from the outbox.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, Channel, str_enum, utcnow

__all__ = [
    "Notice",
    "NoticeKind",
    "NoticeOptOut",
    "NoticeRecipient",
    "NoticeReminder",
    "NoticeState",
    "RecipientState",
]

_MESSAGE_ID = BigInteger().with_variant(Integer, "sqlite")


class NoticeKind(enum.StrEnum):
    INCIDENT = "incident"  # urgent: sent to every customer of the audience, opted out or not
    SERVICE = "service"  # non-urgent: maintenance, news; an opted-out customer does not get it
    REMINDER = "reminder"  # non-urgent, written by the daily reminders (service period ending, check due)

    @property
    def urgent(self) -> bool:
        return self is NoticeKind.INCIDENT


class NoticeState(enum.StrEnum):
    DRAFT = "draft"  # stored and previewed; nothing sent
    SENDING = "sending"  # the fan-out is adding recipients and their outbox messages, batch by batch
    SENT = "sent"  # every recipient has its outbox message (or its opt-out) stored


class RecipientState(enum.StrEnum):
    QUEUED = "queued"  # the outbox message is stored; its delivery state says the rest
    OPTED_OUT = "opted_out"  # non-urgent notice, the customer asked not to get such notices: nothing stored


class Notice(Base):
    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[NoticeKind] = mapped_column(str_enum(NoticeKind))
    state: Mapped[NoticeState] = mapped_column(str_enum(NoticeState), default=NoticeState.DRAFT)
    title: Mapped[str] = mapped_column(String(200), default="")
    text_ru: Mapped[str] = mapped_column(Text)
    text_en: Mapped[str] = mapped_column(Text)
    audience: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The compose form's one-time key: a form submitted twice (a double click, a resent POST) stores one notice.
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_by: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"))
    sending_at: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    # The fan-out's position: customers are taken in id order, batch by batch, after this one.
    cursor: Mapped[int] = mapped_column(Integer, default=0)


class NoticeRecipient(Base):
    __tablename__ = "notice_recipients"
    __table_args__ = (
        UniqueConstraint("notice_id", "customer_id"),
        Index("ix_notice_recipients_message_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    channel: Mapped[Channel | None] = mapped_column(str_enum(Channel))
    message_id: Mapped[int | None] = mapped_column(_MESSAGE_ID, ForeignKey("messages.id", ondelete="SET NULL"))
    state: Mapped[RecipientState] = mapped_column(str_enum(RecipientState))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NoticeOptOut(Base):
    """A customer who asked not to get non-urgent notices (a button under a notice, or /notices_off)."""

    __tablename__ = "notice_opt_outs"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NoticeReminder(Base):
    """One reminder per record and due date: the daily run skips what a row here says was already reminded."""

    __tablename__ = "notice_reminders"
    __table_args__ = (UniqueConstraint("reason", "record_id", "due_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reason: Mapped[str] = mapped_column(String(32))  # period_ending | check_due
    record_id: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
