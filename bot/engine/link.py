"""One customer across channels: a link code asked for in one chat and sent in the other.

The customer who asks gets a short code (8 characters of a 32-letter alphabet: 40 bits), valid for
``link_code_ttl`` seconds and once. Whoever sends it in the other channel has that identity, with its
conversations, tickets and everything else that names the customer, moved to the customer who asked; the
sender's customer row is then deleted, so one row remains. Only the code's SHA-256 is stored, and it is
spent by one conditional UPDATE, so two chats sending the same code at once cannot both merge.

Merging is refused when either side is already linked elsewhere (the sender's customer is known on another
channel too, or the asking customer already has an identity on the sender's channel): a code must never
pull a third identity's data along, nor give one customer two Telegram accounts.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from sqlalchemy import ColumnElement, delete, func, select, update

from bot.engine.turn import Turn
from core.db import for_update
from core.models import Base, Conversation, ConversationStatus, Customer, Identity, LinkCode, utcnow
from core.settings import Settings
from core.store import add_outbound

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and retyped without mistakes
# A message that is only a code ("KQ7M-3XPA", any case) is taken as one; with /link the dash is optional.
_BARE = re.compile(r"^\s*([A-Za-z2-9]{4})-([A-Za-z2-9]{4})\s*$")
_GIVEN = re.compile(r"^\s*(?:link_)?([A-Za-z2-9]{4})-?([A-Za-z2-9]{4})\s*$")
DEEP_LINK_PREFIX = "link_"


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def normalise_code(text: str, *, bare: bool = False) -> str | None:
    """``kq7m3xpa`` / ``KQ7M-3XPA`` / ``link_KQ7M3XPA`` → ``KQ7M-3XPA``; None when it is not shaped like a code."""
    match = (_BARE if bare else _GIVEN).match(text)
    if match is None:
        return None
    return f"{match.group(1)}-{match.group(2)}".upper()


def deep_link(settings: Settings, code: str) -> str:
    """``https://t.me/<bot>?start=link_<code>`` (Telegram's payloads allow letters, digits, "_" and "-")."""
    username = settings.telegram_bot_username.lstrip("@")
    return f"https://t.me/{username}?start={DEEP_LINK_PREFIX}{code.replace('-', '')}" if username else ""


async def issue(turn: Turn, settings: Settings) -> None:
    """Give the customer a fresh code and say where to send it."""
    code = new_code()
    now = utcnow()
    turn.uow.session.add(
        LinkCode(
            code_hash=_hash(code),
            customer_id=turn.customer.id,
            conversation_id=turn.conversation.id,
            created_at=now,
            expires_at=now + timedelta(seconds=settings.link_code_ttl),
        )
    )
    channel = turn.conversation.channel.value
    url = deep_link(settings, code) if channel == "web" else ""
    turn.say("link.code", code=code, channel=channel, url=url, minutes=max(1, settings.link_code_ttl // 60))


async def redeem(turn: Turn, code: str) -> None:
    """Spend the code sent in this chat and join this chat's customer to the one who asked for it."""
    session = turn.uow.session
    digest = _hash(code)
    row = await session.get(LinkCode, digest)
    if row is None:
        turn.say("link.unknown")
        return
    if row.customer_id == turn.customer.id:
        turn.say("link.own")  # not spent: the customer can still send it in the other chat
        return
    now = utcnow()
    if row.used_at is not None or row.expires_at <= now:
        turn.say("link.used" if row.used_at is not None else "link.expired")
        return
    if not await _mergeable(turn, row.customer_id):
        turn.say("link.taken")
        return
    spent = await session.execute(
        update(LinkCode)
        .where(LinkCode.code_hash == digest, LinkCode.used_at.is_(None), LinkCode.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        turn.say("link.used")  # spent by another chat a moment ago (or it expired in between)
        return
    target = await session.get_one(Customer, row.customer_id)
    await _merge(turn, source_id=turn.customer.id, target_id=target.id)
    turn.customer = target
    turn.say("link.done")
    await _confirm_there(turn, row.conversation_id)


async def _mergeable(turn: Turn, target_id: int) -> bool:
    """The sender's customer is known on this channel only, and the asking customer is not known on it yet.

    (A web customer may have two web identities, the anonymous visitor and the signed-in user: both move.)
    """
    session = turn.uow.session
    channel = turn.conversation.channel
    elsewhere = await session.scalar(
        select(func.count())
        .select_from(Identity)
        .where(Identity.customer_id == turn.customer.id, Identity.channel != channel)
    )
    here = await session.scalar(
        select(func.count()).select_from(Identity).where(Identity.customer_id == target_id, Identity.channel == channel)
    )
    return elsewhere == 0 and here == 0


async def _merge(turn: Turn, *, source_id: int, target_id: int) -> None:
    """Re-point every row that names the sender's customer, then delete that customer (one row remains).

    The tables are found from the metadata, so a package that adds a table naming customers is covered
    without a change here (a table missed would otherwise lose its rows to ON DELETE CASCADE).
    """
    session = turn.uow.session
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == "customers" and fk.column.name == "id" and table.name != "link_codes":
                column = fk.parent
                condition: ColumnElement[bool] = column == source_id
                await session.execute(update(table).where(condition).values({column.name: target_id}))
    await session.execute(delete(LinkCode).where(LinkCode.customer_id == source_id))
    await session.execute(delete(Customer).where(Customer.id == source_id))
    # The turn's own objects were loaded before the UPDATE: keep them in step with the rows.
    turn.conversation.customer_id = target_id
    session.expunge(turn.customer)


async def _confirm_there(turn: Turn, conversation_id: int | None) -> None:
    """Say it is done in the chat where the code was asked for too (when it is still open)."""
    if conversation_id is None or conversation_id == turn.conversation.id:
        return
    session = turn.uow.session
    stmt = for_update(select(Conversation).where(Conversation.id == conversation_id), session)
    other = (await session.execute(stmt)).scalar_one_or_none()
    if other is None or other.status is ConversationStatus.CLOSED:
        return
    await add_outbound(turn.uow, other, turn.templates.render("link.done", other.language), meta={"link": "done"})
