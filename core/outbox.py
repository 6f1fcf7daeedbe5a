"""Delivery of the outbox: pending outbound messages are sent by their channel, with retries.

A message is claimed by pushing its ``next_attempt_at`` forward by a lease inside a locking transaction
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write lock on SQLite), so several workers never send the
same message at once, and a worker that dies mid-send leaves it to be retried when the lease runs out.
Within one conversation messages go out in order: a later reply waits for an earlier one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy import select

from core.db import SessionFactory, for_update, transaction
from core.events import MESSAGE_STORED, Event, EventBus
from core.models import Channel, DeliveryState, Direction, Message, utcnow
from core.periodic import PeriodicTask

log = logging.getLogger(__name__)


class TransientDeliveryError(Exception):
    """The channel may accept the message later (rate limit, server error, timeout)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentDeliveryError(Exception):
    """The channel will never accept this message (the customer blocked the bot, the chat is gone)."""


class Deliverer(Protocol):
    async def deliver(self, message: Message) -> str | None:
        """Send one message; return the channel's id for it."""
        ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 1.0
    max_delay: float = 300.0
    lease: float = 30.0

    def delay(self, attempt: int) -> float:
        return float(min(self.max_delay, self.base_delay * 2 ** max(0, attempt - 1)))


class DeliveryWorker:
    def __init__(
        self,
        factory: SessionFactory,
        bus: EventBus,
        deliverers: dict[Channel, Deliverer],
        policy: RetryPolicy | None = None,
        batch: int = 100,
        poll_interval: float = 1.0,
    ) -> None:
        self._factory = factory
        self._bus = bus
        self._deliverers = deliverers
        self.policy = policy or RetryPolicy()
        self._batch = batch
        self._loop = PeriodicTask("outbox-delivery", self._step, poll_interval)
        bus.subscribe(self._on_event, MESSAGE_STORED)

    async def _on_event(self, event: Event) -> None:
        if event.data.get("direction") == Direction.OUTBOUND.value and not event.data.get("private"):
            self._loop.wake()

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    def wake(self) -> None:
        self._loop.wake()

    async def _step(self) -> bool:
        return await self.drain_once() > 0

    async def _claim(self) -> list[Message]:
        """Claim the first due message of each conversation."""
        now = utcnow()
        async with transaction(self._factory) as session:
            stmt = (
                select(Message)
                .where(
                    Message.delivery_state == DeliveryState.PENDING,
                    Message.channel.in_(list(self._deliverers)),
                )
                .order_by(Message.conversation_id, Message.seq)
                .limit(self._batch)
            )
            stmt = for_update(stmt, session, skip_locked=True)
            seen: set[int] = set()
            claimed: list[Message] = []
            for message in (await session.execute(stmt)).scalars():
                if message.conversation_id in seen:
                    continue
                seen.add(message.conversation_id)
                if message.next_attempt_at is not None and message.next_attempt_at > now:
                    continue  # an earlier reply is waiting for its retry: keep the order
                message.next_attempt_at = now + timedelta(seconds=self.policy.lease)
                message.attempts += 1
                claimed.append(message)
        return claimed

    async def drain_once(self) -> int:
        """One pass: deliver what is due; returns how many messages were sent."""
        claimed = await self._claim()
        if not claimed:
            return 0
        results = await asyncio.gather(*(self._deliver(m) for m in claimed))
        return sum(results)

    async def _deliver(self, message: Message) -> int:
        deliverer = self._deliverers[message.channel]
        try:
            channel_id = await deliverer.deliver(message)
        except TransientDeliveryError as exc:
            await self._failed(message, str(exc), exc.retry_after, permanent=False)
            return 0
        except PermanentDeliveryError as exc:
            await self._failed(message, str(exc), None, permanent=True)
            return 0
        except Exception as exc:  # an unknown failure is retried: losing a reply is worse than waiting
            log.exception("delivery raised unexpectedly", extra={"message_id": message.id})
            await self._failed(message, repr(exc), None, permanent=False)
            return 0
        async with transaction(self._factory) as session:
            row = await session.get_one(Message, message.id)
            row.delivery_state = DeliveryState.SENT
            row.channel_message_id = channel_id
            row.delivered_at = utcnow()
            row.next_attempt_at = None
            row.last_error = None
        return 1

    async def _failed(self, message: Message, reason: str, retry_after: float | None, permanent: bool) -> None:
        async with transaction(self._factory) as session:
            row = await session.get_one(Message, message.id)
            row.last_error = reason[:2000]
            if permanent or row.attempts >= self.policy.max_attempts:
                row.delivery_state = DeliveryState.FAILED
                row.next_attempt_at = None
                log.warning("delivery failed for good", extra={"message_id": row.id, "reason": reason})
            else:
                delay = retry_after if retry_after is not None else self.policy.delay(row.attempts)
                row.next_attempt_at = utcnow() + timedelta(seconds=delay)
