"""Knowledge-base tables (articles, revisions, chunks, gaps, suggestion picks)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, str_enum, utcnow
from nlu.vectors import OptionalVectorColumns, VectorColumns


class ArticleStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class GapStatus(enum.StrEnum):
    OPEN = "open"
    DISMISSED = "dismissed"
    CONVERTED = "converted"


class PickStatus(enum.StrEnum):
    OPEN = "open"  # waiting for an editor
    ACCEPTED = "accepted"  # added to the article's questions
    DISMISSED = "dismissed"


class GapReason(enum.StrEnum):
    UNKNOWN = "unknown"  # the search found nothing confident enough
    NOT_HELPFUL = "not_helpful"  # the customer said the answer did not help


class Article(Base):
    """One answer in one language; translations share the ``slug``.

    ``version`` is SQLAlchemy's version counter: an ORM update runs ``... WHERE version = :read``, so of two
    editors who read the same version only the first save wins (the second gets a conflict). Counters are
    changed with plain ``UPDATE`` statements, which leave the version alone.
    """

    __tablename__ = "kb_articles"
    __table_args__ = (
        UniqueConstraint("slug", "language"),
        Index("ix_kb_articles_status_language", "status", "language"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120))
    language: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(300))
    questions: Mapped[list[Any]] = mapped_column(default=list)
    body: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(64), default="")
    tags: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[ArticleStatus] = mapped_column(str_enum(ArticleStatus), default=ArticleStatus.DRAFT)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    views: Mapped[int] = mapped_column(Integer, default=0)
    helpful: Mapped[int] = mapped_column(Integer, default=0)
    not_helpful: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012  (SQLAlchemy reads it once, at mapping)


class ArticleRevision(Base):
    """The article as it was after one save; restoring copies it back as a new save."""

    __tablename__ = "kb_article_revisions"
    __table_args__ = (UniqueConstraint("article_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    questions: Mapped[list[Any]] = mapped_column(default=list)
    body: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(64), default="")
    tags: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[ArticleStatus] = mapped_column(str_enum(ArticleStatus))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ArticleChunk(VectorColumns, Base):
    """One search passage of an article with its vector from one embedder (see :mod:`nlu.vectors`).

    Stored so a restart loads vectors instead of recomputing them; ``text`` is kept so a passage whose text
    is unchanged after an edit keeps its vector, and a changed passage list shows the vectors are stale.
    """

    __tablename__ = "kb_article_chunks"
    __table_args__ = (UniqueConstraint("article_id", "embedder", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Gap(OptionalVectorColumns, Base):
    """A customer question the bot could not answer confidently (or whose answer did not help).

    Its vector is computed the first time gaps are grouped (grouping embeds every open gap) and kept.
    """

    __tablename__ = "kb_gaps"
    __table_args__ = (Index("ix_kb_gaps_status_created_at", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="SET NULL"))
    reason: Mapped[GapReason] = mapped_column(str_enum(GapReason), default=GapReason.UNKNOWN)
    answered_article_id: Mapped[int | None] = mapped_column(ForeignKey("kb_articles.id", ondelete="SET NULL"))
    status: Mapped[GapStatus] = mapped_column(str_enum(GapStatus), default=GapStatus.OPEN)
    article_id: Mapped[int | None] = mapped_column(ForeignKey("kb_articles.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SuggestionPick(Base):
    """A customer's question and the suggested title they picked: the right article for it, in their words.

    Evidence for calibration (a labelled in-scope question) and a candidate question variant for editors.
    """

    __tablename__ = "kb_suggestion_picks"
    __table_args__ = (Index("ix_kb_suggestion_picks_article_id_status", "article_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="SET NULL"))
    status: Mapped[PickStatus] = mapped_column(str_enum(PickStatus), default=PickStatus.OPEN)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ArticleEventKind(enum.StrEnum):
    SERVED = "served"  # the bot answered with the article (answer band)
    HELPFUL = "helpful"
    NOT_HELPFUL = "not_helpful"


class ArticleEvent(Base):
    """One answer served or one vote, with its time: the editors' list counts them over a chosen period.

    The counters on :class:`Article` stay the all-time totals; these rows answer "in the last 30 days".
    """

    __tablename__ = "kb_article_events"
    __table_args__ = (Index("ix_kb_article_events_created_at_article_id", "created_at", "article_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    kind: Mapped[ArticleEventKind] = mapped_column(str_enum(ArticleEventKind))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
