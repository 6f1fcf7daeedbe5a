"""Magic links: the bot sends one in the customer's own channel; it opens the portal once, for a short while.

The link carries 256 random bits; only their SHA-256 is stored. Redeeming is one conditional ``UPDATE``
(unused and unexpired → used), so two clicks racing on two workers open one session, never two.
Opening the link's page does not spend it: chat apps fetch links for previews, so the page asks for one
press of a button (a POST) before the session opens.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Customer, utcnow
from core.settings import Settings
from core.uow import UnitOfWork
from portal.models import PortalLink

__all__ = ["ENTER_PATH", "LinkState", "base_url", "check", "issue", "prune", "redeem"]

ENTER_PATH = "/portal/enter/"
TOKEN_BYTES = 32
MAX_TOKEN_CHARS = 100  # a real token is 43 characters; longer input is not looked up at all
KEEP_SPENT = timedelta(days=1)  # used and expired links are kept a day (to tell "used" from "unknown"), then pruned


class LinkState(enum.StrEnum):
    VALID = "valid"
    USED = "used"
    EXPIRED = "expired"
    UNKNOWN = "unknown"  # never issued, mistyped, forged or pruned


@dataclass(frozen=True, slots=True)
class Checked:
    state: LinkState
    customer_id: int | None = None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def base_url(settings: Settings) -> str:
    """Where customers reach this server: ``FRONTLINE_PUBLIC_URL``, else the address it listens on."""
    return settings.public_url.rstrip("/") or f"http://{settings.host}:{settings.port}"


async def issue(uow: UnitOfWork, customer: Customer, settings: Settings, *, channel: str = "") -> str:
    """A new single-use link to ``customer``'s portal, valid for ``portal_link_ttl`` seconds."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    uow.session.add(
        PortalLink(
            token_hash=_hash(token),
            customer_id=customer.id,
            channel=channel[:32],
            created_at=now,
            expires_at=now + timedelta(seconds=settings.portal_link_ttl),
        )
    )
    await uow.session.flush()
    return f"{base_url(settings)}{ENTER_PATH}{token}"


def _plausible(token: str) -> bool:
    return 0 < len(token) <= MAX_TOKEN_CHARS and token.isascii()


async def check(session: AsyncSession, token: str, now: datetime | None = None) -> Checked:
    """What the link is now, without spending it."""
    if not _plausible(token):
        return Checked(LinkState.UNKNOWN)
    link = (await session.execute(select(PortalLink).where(PortalLink.token_hash == _hash(token)))).scalar_one_or_none()
    if link is None:
        return Checked(LinkState.UNKNOWN)
    if link.used_at is not None:
        return Checked(LinkState.USED, link.customer_id)
    if link.expires_at <= (now or utcnow()):
        return Checked(LinkState.EXPIRED, link.customer_id)
    return Checked(LinkState.VALID, link.customer_id)


async def redeem(session: AsyncSession, token: str, now: datetime | None = None) -> Checked:
    """Spend the link: VALID with its customer exactly once; otherwise why it cannot open the portal."""
    if not _plausible(token):
        return Checked(LinkState.UNKNOWN)
    moment = now or utcnow()
    spent = await session.execute(
        update(PortalLink)
        .where(PortalLink.token_hash == _hash(token), PortalLink.used_at.is_(None), PortalLink.expires_at > moment)
        .values(used_at=moment)
        .returning(PortalLink.customer_id)
    )
    customer_id = spent.scalar_one_or_none()
    if customer_id is not None:
        return Checked(LinkState.VALID, customer_id)
    return await check(session, token, moment)


async def prune(session: AsyncSession, now: datetime | None = None) -> int:
    """Forget links that expired more than a day ago; returns how many."""
    cutoff = (now or utcnow()) - KEEP_SPENT
    result = await session.execute(delete(PortalLink).where(PortalLink.expires_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
