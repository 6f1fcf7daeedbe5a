"""Signed single-use tokens for the help center's anonymous forms ("was this helpful?").

Why not the session's CSRF token: a reader of the help center has no session, and giving every reader one
(a cookie on every public page) would make the pages uncacheable for no gain — CSRF protects a victim's
ambient credentials, and an anonymous vote has none to abuse. What a vote does need is to count once per
page shown and only for the article it was shown under: the form carries an HMAC-signed token (article,
random nonce, expiry) from the page, and the nonce is written to a table with a unique key when the vote
is counted, so a replayed or double-submitted form is recognised on every worker.
"""

from __future__ import annotations

import enum
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import utcnow
from core.security import sign_token, verify_token
from portal.models import SpentFormToken

__all__ = ["VOTE_TTL", "Spent", "prune_spent", "spend_once", "spend_vote_token", "vote_token"]

VOTE_TTL = 24 * 3600
"""Seconds a vote form stays valid after the page was shown."""
_KIND = "help-vote"


class Spent(enum.StrEnum):
    OK = "ok"
    AGAIN = "again"  # this form was counted already
    INVALID = "invalid"  # forged, malformed, expired, or for another article


def vote_token(secret: bytes, article_id: int) -> str:
    return sign_token(secret, {"kind": _KIND, "a": article_id, "n": secrets.token_hex(12)}, ttl=VOTE_TTL)


async def spend_vote_token(session: AsyncSession, secret: bytes, token: str, article_id: int) -> Spent:
    """Check the form's token and mark it used; only an OK vote may be counted."""
    claims = verify_token(secret, token[:1000]) if token else None
    if claims is None or claims.get("kind") != _KIND or claims.get("a") != article_id:
        return Spent.INVALID
    nonce = claims.get("n")
    if not isinstance(nonce, str) or not 0 < len(nonce) <= 40:
        return Spent.INVALID
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    return Spent.OK if await _spend(session, f"vote:{nonce}", expires) else Spent.AGAIN


async def spend_once(session: AsyncSession, key: str, ttl: timedelta = timedelta(days=1)) -> bool:
    """Mark a form's nonce used (a portal form submitted twice acts once); False when it was used already."""
    return await _spend(session, key[:64], utcnow() + ttl)


async def _spend(session: AsyncSession, nonce: str, expires: datetime) -> bool:
    try:
        async with session.begin_nested():
            session.add(SpentFormToken(nonce=nonce, expires_at=expires))
            await session.flush()
    except IntegrityError:
        return False
    return True


async def prune_spent(session: AsyncSession, now: datetime | None = None) -> int:
    """Forget spent tokens that have expired anyway (an expired token is refused by its signature)."""
    result = await session.execute(delete(SpentFormToken).where(SpentFormToken.expires_at < (now or utcnow())))
    return int(getattr(result, "rowcount", 0) or 0)
