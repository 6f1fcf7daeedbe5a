"""The portal's tables: magic links the bot sends, and spent single-use form tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, utcnow

__all__ = ["PortalLink", "SpentFormToken"]


class PortalLink(Base):
    """A single-use, expiring link that opens a portal session for one customer.

    Only the token's SHA-256 is stored: a database dump does not hand out working links.
    """

    __tablename__ = "portal_links"
    __table_args__ = (Index("ix_portal_links_expires_at", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(32), default="")  # where the link was sent
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class SpentFormToken(Base):
    """The nonce of a signed anonymous form (a help-center vote) that was used: each form counts once."""

    __tablename__ = "portal_spent_form_tokens"
    __table_args__ = (Index("ix_portal_spent_form_tokens_expires_at", "expires_at"),)

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column()
