"""The handoff's tables: CSAT, what each operator has read, team membership, presence and routing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, utcnow

__all__ = ["CannedResponse", "Csat", "InboxRead", "OperatorPresence", "TeamMember", "TeamRouting"]


class Csat(Base):
    """A customer's 1-5 rating of a conversation or a ticket; one per conversation and one per ticket."""

    __tablename__ = "csat"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        CheckConstraint("conversation_id IS NOT NULL OR ticket_id IS NOT NULL", name="has_subject"),
        Index("ix_csat_created_at", "created_at"),  # reports: ratings given in a period
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rating: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class InboxRead(Base):
    """How far an operator has read a conversation: messages with a higher ``seq`` are unread for them."""

    __tablename__ = "inbox_reads"

    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True)
    seen_seq: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TeamMember(Base):
    """An operator's membership of a team; an operator may be in several teams."""

    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    operator_id: Mapped[int] = mapped_column(
        ForeignKey("operators.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class OperatorPresence(Base):
    """Whether an operator takes chats now, how many at once, and when they last did anything in the inbox.

    ``status`` is what the operator chose; an ``online`` operator who has not been seen for a while counts as
    away (see :func:`handoff.routing.effective_status`).
    """

    __tablename__ = "operator_presence"
    __table_args__ = (
        CheckConstraint("status IN ('online', 'away', 'offline')", name="status_known"),
        CheckConstraint("capacity >= 0", name="capacity_positive"),
    )

    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="offline")
    capacity: Mapped[int] = mapped_column(Integer, default=3)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_assigned_at: Mapped[datetime | None] = mapped_column()


class TeamRouting(Base):
    """A team's routing choice: whether waiting conversations are assigned to its online operators by turn."""

    __tablename__ = "team_routing"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    auto_assign: Mapped[bool] = mapped_column(Boolean, default=False)


class CannedResponse(Base):
    """A reply operators insert by shortcut; one text per language, with placeholders (``{{ name }}`` …)."""

    __tablename__ = "canned_responses"
    __table_args__ = (UniqueConstraint("shortcut", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shortcut: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
