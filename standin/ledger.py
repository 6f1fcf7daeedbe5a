"""What the database holds for a set of chats after a burst: lost, stored twice, unanswered, out of order."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from core.db import SessionFactory
from core.models import DeliveryState, Direction, Message


@dataclass
class Ledger:
    """What the database holds for a set of chats, read after the workers settled."""

    inbound: list[Message]
    outbound: list[Message]

    @property
    def unhandled(self) -> list[Message]:
        return [m for m in self.inbound if m.handled_at is None]

    @property
    def stored_twice(self) -> list[tuple[str, str | None]]:
        keys = Counter((m.chat_id, m.channel_message_id) for m in self.inbound)
        return [key for key, count in keys.items() if count > 1]

    @property
    def answered_twice(self) -> list[tuple[int, str]]:
        """The same reply stored twice for one message: a turn taken twice (by two workers, or after a crash)."""
        replies = Counter(
            (int(m.meta["in_reply_to"]), m.text) for m in self.outbound if m.meta.get("in_reply_to") is not None
        )
        return [key for key, count in replies.items() if count > 1]

    @property
    def unanswered(self) -> list[Message]:
        answered = {m.meta.get("in_reply_to") for m in self.outbound}
        return [m for m in self.inbound if m.id not in answered]

    def replies_per_chat(self, *states: DeliveryState) -> Counter[str]:
        return Counter(m.chat_id for m in self.outbound if m.delivery_state in states)

    @property
    def pending(self) -> list[Message]:
        # SENDING is an attempt in flight (or cut by a crash and not yet judged): not settled either way.
        return [m for m in self.outbound if m.delivery_state in (DeliveryState.PENDING, DeliveryState.SENDING)]

    def out_of_order(self) -> list[str]:
        """Chats whose replies (by outbox order) answer their messages out of the messages' order."""
        seq_of = {m.id: (m.conversation_id, m.seq) for m in self.inbound}
        wrong: list[str] = []
        by_conversation: dict[int, list[int]] = {}
        for reply in sorted(self.outbound, key=lambda m: (m.conversation_id, m.seq)):
            answered = seq_of.get(reply.meta.get("in_reply_to", -1))
            if answered is not None:
                by_conversation.setdefault(reply.conversation_id, []).append(answered[1])
        for conversation_id, answered_seqs in by_conversation.items():
            if answered_seqs != sorted(answered_seqs):
                wrong.append(str(conversation_id))
        return wrong


async def read_ledger(sessions: SessionFactory, chats: Sequence[int | str]) -> Ledger:
    """Telegram chats by number, web visitors by their id (a web conversation's chat id is the visitor's)."""
    async with sessions() as session:
        rows = await session.execute(
            select(Message).where(Message.chat_id.in_([str(c) for c in chats])).order_by(Message.id)
        )
        messages = list(rows.scalars())
    return Ledger(
        inbound=[m for m in messages if m.direction is Direction.INBOUND],
        outbound=[m for m in messages if m.direction is Direction.OUTBOUND and not m.private],
    )


async def settled(
    sessions: SessionFactory, chats: Sequence[int | str], expected_inbound: int, timeout: float = 120.0
) -> Ledger:
    """Wait until every expected message is stored and handled and no reply is left pending."""
    async with asyncio.timeout(timeout):
        while True:
            ledger = await read_ledger(sessions, chats)
            if len(ledger.inbound) >= expected_inbound and not ledger.unhandled and not ledger.pending:
                return ledger
            await asyncio.sleep(0.25)
