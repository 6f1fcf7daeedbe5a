"""Who a visitor is: a signed, expiring token for an anonymous visitor, or a user the site vouches for.

An anonymous visitor's id is 128 random bits inside a token signed with the server's key, so it can be
neither guessed nor forged; the token is renewed on every connection and expires after ``TOKEN_TTL``
without one. A user a site signs for (:mod:`bot.channels.web.sites`) is ``u:<site>:<user id>``; when an
anonymous visitor becomes such a user, the user's identity joins the visitor's customer, so the
conversation so far stays theirs.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.channels.web.frames import Hello
from bot.channels.web.sites import WebSite
from core.db import SessionFactory, transaction
from core.models import Channel, Identity
from core.security import sign_token, verify_token

TOKEN_TTL = 30 * 24 * 3600
KIND = "visitor"  # the claim the access middleware checks for Access.CUSTOMER routes


@dataclass(frozen=True, slots=True)
class Resolved:
    vid: str
    token: str
    refused: str | None  # why the token or the signed user was refused, when one was


def visitor_token(secret: bytes, site: str, vid: str) -> str:
    return sign_token(secret, {"kind": KIND, "site": site, "vid": vid}, TOKEN_TTL)


def token_visitor(secret: bytes, site: str, token: str) -> str | None:
    claims = verify_token(secret, token)
    if claims is None or claims.get("kind") != KIND or claims.get("site") != site:
        return None
    vid = claims.get("vid")
    return vid if isinstance(vid, str) and 0 < len(vid) <= 128 else None


async def resolve(sessions: SessionFactory, secret: bytes, site_key: str, site: WebSite, hello: Hello) -> Resolved:
    """The visitor behind a ``hello``: the signed user, else the token's visitor, else a new one."""
    refused: str | None = None
    vid = token_visitor(secret, site_key, hello.token) if hello.token else None
    if hello.token and vid is None:
        refused = "bad_token"
    if hello.user is not None:
        why = site.verify_user(hello.user.id, hello.user.ts, hello.user.sig)
        if why is None:
            user_vid = f"u:{site_key}:{hello.user.id}"
            if vid is not None and vid.startswith("a:"):
                await _link(sessions, vid, user_vid)
            vid = user_vid
        else:
            refused = why
    if vid is None:
        vid = "a:" + secrets.token_urlsafe(16)
    return Resolved(vid=vid, token=visitor_token(secret, site_key, vid), refused=refused)


async def _link(sessions: SessionFactory, anonymous: str, user: str) -> None:
    """The user's web identity joins the anonymous visitor's customer (only when the user is new here)."""
    async with transaction(sessions) as session:
        rows = (
            await session.execute(
                select(Identity.external_id, Identity.customer_id).where(
                    Identity.channel == Channel.WEB, Identity.external_id.in_([anonymous, user])
                )
            )
        ).all()
        known = {external_id: customer_id for external_id, customer_id in rows}
        if user in known or anonymous not in known:
            return  # a returning user keeps their own customer; a visitor who never wrote has nothing to bring
        try:
            async with session.begin_nested():
                session.add(Identity(customer_id=known[anonymous], channel=Channel.WEB, external_id=user))
                await session.flush()
        except IntegrityError:
            return  # the same user signed in on another tab at the same moment
