"""Delivery of the outbox: pending outbound messages are sent by their channel, with retries.

A message is claimed in a locking transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write lock on
SQLite): it becomes ``sending``, its attempt is counted, and ``next_attempt_at`` holds the lease, so several
workers never send the same message at once. The claim picks, in SQL, the head of each conversation — the
earliest reply not yet sent — and only when it is due, so replies backing off in a few chats (a 429 storm)
never hold back another customer's. Within one conversation messages go out in order.

After the send, the outcome is recorded at once (the channel's message id with it); sends that finish while
another record is being written are recorded together in the next transaction (a group commit: one wait for
the database's write lock instead of one each, never a wait for a slower send). When a worker dies
between handing a reply to the channel and recording the outcome, the row is left ``sending``; once its
lease has run out nobody can tell whether the customer got it. The rule chosen: such a reply becomes
``unknown`` and is **not** sent again — an operator sees it in the conversation and can resend it by hand.
One reply possibly missing, flagged, is better than a silent duplicate (a customer getting the same answer
twice, or a ticket number twice, looks broken and costs trust); channels whose delivery is idempotent say
so (``Deliverer.idempotent``) and are simply retried. Every path counts attempts against the cap.

A channel may have a rate limit (``RateLimit``, messages per second in this process): each pass claims no more
of its messages than the last second's sends leave room for, so a fan-out of thousands of notices goes out at
the channel's pace instead of drawing 429s. Replies of one conversation already go one at a time (the head rule above).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from prometheus_client import Histogram
from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.db import SessionFactory, for_update, transaction
from core.events import MESSAGE_STORED, Event, EventBus
from core.models import Channel, DeliveryState, Direction, Message, utcnow
from core.periodic import PeriodicTask

log = logging.getLogger(__name__)
RECORD_TRIES = 3
_EARLIER = aliased(Message)  # made once: an alias proxies every column, a few ms of CPU each time it is made


class TransientDeliveryError(Exception):
    """The channel may accept the message later (rate limit, server error, timeout)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentDeliveryError(Exception):
    """The channel will never accept this message (the customer blocked the bot, the chat is gone)."""


class Deliverer(Protocol):
    """A channel's sender. One may also set ``idempotent = True`` when sending a message twice shows it once
    (an interrupted send is then simply retried instead of becoming ``unknown``)."""

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


BROADCAST_KEY = "notice_id"
"""The meta key that marks an outbound message as a broadcast (a proactive notice), sent after conversation
replies when a channel's rate limit leaves room for only some of them."""


class RateLimit:
    """At most ``rate`` sends in any window of one second (a log of the sends of the last window).

    A token bucket would let a full bucket and its refill through in one second — twice the rate; Telegram
    counts messages per second, so the window is what is limited. A send counts from when it is finished
    (``finished``), not from when it was claimed: a slow round trip must not squeeze two passes' sends into
    one second at the channel. A rate below 1 widens the window instead (0.5: one send in any two seconds).
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("a rate limit needs a positive rate")
        self.rate = rate
        self.per_window = max(1, int(rate))
        self.window = self.per_window / rate
        self._clock = clock
        self._log: deque[float] = deque()

    def _prune(self) -> float:
        now = self._clock()
        while self._log and self._log[0] <= now - self.window:
            self._log.popleft()
        return now

    def take(self, wanted: int) -> int:
        """Reserve up to ``wanted`` sends now; how many may go (0 while the window is full)."""
        now = self._prune()
        taken = max(0, min(wanted, self.per_window - len(self._log)))
        self._log.extend([now] * taken)
        return taken

    def give_back(self, unused: int) -> None:
        """Return reservations that were not used (fewer messages were due than reserved)."""
        for _ in range(min(unused, len(self._log))):
            self._log.pop()

    def finished(self, sends: int) -> None:
        """The last ``sends`` reservations went out just now: their second starts now."""
        now = self._clock()
        for i in range(max(0, len(self._log) - sends), len(self._log)):
            self._log[i] = now

    def wait(self) -> float:
        """Seconds until a send may go."""
        now = self._prune()
        if len(self._log) < self.per_window:
            return 0.0
        return max(0.0, self._log[0] + self.window - now)


class DeliveryWorker:
    def __init__(
        self,
        factory: SessionFactory,
        bus: EventBus,
        deliverers: dict[Channel, Deliverer],
        policy: RetryPolicy | None = None,
        batch: int = 100,
        poll_interval: float = 1.0,
        limits: dict[Channel, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
        phases: Histogram | None = None,
    ) -> None:
        self._factory = factory
        self._bus = bus
        self._deliverers = deliverers
        self.policy = policy or RetryPolicy()
        self._batch = batch
        # A limit of 0 (or none) means the channel is not throttled here.
        self._limits = {channel: RateLimit(rate, clock) for channel, rate in (limits or {}).items() if rate > 0}
        self._throttled = False
        self._in_flight: dict[Channel, int] = {}
        self._clock = clock
        self._leases_checked = float("-inf")
        # The turn-phase histogram (core.web.metrics): ``outbox`` from a reply stored to its claim, ``delivery``
        # from the claim to the send recorded.
        self._phases = phases
        self._loop = PeriodicTask("outbox-delivery", self._step, poll_interval)
        self._sent = _SentRecords(factory)
        bus.subscribe(self._on_event, MESSAGE_STORED)

    async def _on_event(self, event: Event) -> None:
        if event.data.get("direction") == Direction.OUTBOUND.value and not event.data.get("private"):
            self._loop.wake()

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        await self._sent.close()

    def wake(self) -> None:
        self._loop.wake()

    async def _step(self) -> bool:
        sent = await self.drain_once()
        if self._throttled:
            # A limited channel used its whole budget: more may be due; come back when the next token is.
            await asyncio.sleep(min(limit.wait() for limit in self._limits.values()))
            return True
        return sent > 0

    async def _expire_leases(self, session: AsyncSession, now: datetime) -> int:
        """Sends whose worker died (lease over): retried if the channel is idempotent, else ``unknown``. How many."""
        self._leases_checked = self._clock()
        expired = 0
        for channel, deliverer in self._deliverers.items():
            stale = (
                Message.delivery_state == DeliveryState.SENDING,
                Message.channel == channel,
                Message.next_attempt_at < now,
            )
            if getattr(deliverer, "idempotent", False):
                result = await session.execute(
                    update(Message).where(*stale).values(delivery_state=DeliveryState.PENDING)
                )
                expired += int(getattr(result, "rowcount", 0) or 0)
                continue
            result = await session.execute(
                update(Message)
                .where(*stale)
                .values(
                    delivery_state=DeliveryState.UNKNOWN,
                    next_attempt_at=None,
                    last_error="the send was interrupted; the customer may or may not have it (not resent)",
                )
                .returning(Message.id)
            )
            for message_id in result.scalars():
                expired += 1
                log.warning("a reply's delivery is unknown; left for an operator", extra={"message_id": message_id})
        return expired

    async def _claim(self) -> list[Message]:
        """Claim the due heads of the conversations, each rate-limited channel within its bucket.

        Leases are checked every tenth of a lease, not on every pass (two statements a pass, and under load a
        pass runs for every few replies), and whenever a pass finds nothing to claim: a dead worker's reply may be
        what holds its conversation back.
        """
        now = utcnow()
        async with transaction(self._factory) as session:
            checked = self._clock() - self._leases_checked >= self.policy.lease / 10
            if checked:
                await self._expire_leases(session, now)
            claimed = await self._claim_all(session, now)
            if not claimed and not checked and not self._throttled and await self._expire_leases(session, now):
                claimed = await self._claim_all(session, now)
        return claimed

    async def _claim_all(self, session: AsyncSession, now: datetime) -> list[Message]:
        """One claim of the due heads: free channels up to the batch, limited ones within their budget."""
        self._throttled = False
        free = [channel for channel in self._deliverers if channel not in self._limits]
        claimed = await self._claim_heads(session, now, free, self._batch) if free else []
        for channel, limit in self._limits.items():
            if channel not in self._deliverers:
                continue
            budget = limit.take(self._batch)
            if budget == 0:
                self._throttled = True
                continue
            # Conversation replies first, then broadcasts: a customer talking to the bot during a fan-out of
            # thousands of notices must not wait behind them for the channel's budget.
            taken = await self._claim_heads(session, now, [channel], budget, broadcast=False)
            if len(taken) < budget:
                taken += await self._claim_heads(session, now, [channel], budget - len(taken), broadcast=True)
            limit.give_back(budget - len(taken))
            self._in_flight[channel] = len(taken)
            self._throttled |= len(taken) == budget
            claimed += taken
        return claimed

    async def _claim_heads(
        self,
        session: AsyncSession,
        now: datetime,
        channels: list[Channel],
        limit: int,
        broadcast: bool | None = None,
    ) -> list[Message]:
        """Claim up to ``limit`` due heads (earliest undelivered reply) of conversations on ``channels``, in SQL;
        ``broadcast`` True or False takes only broadcast messages (meta ``notice_id``) or only the others."""
        earlier = _EARLIER
        blocked = exists().where(
            earlier.conversation_id == Message.conversation_id,
            earlier.seq < Message.seq,
            earlier.delivery_state.in_([DeliveryState.PENDING, DeliveryState.SENDING]),
        )
        stmt = (
            select(Message)
            .where(
                Message.delivery_state == DeliveryState.PENDING,
                Message.channel.in_(channels),
                (Message.next_attempt_at.is_(None)) | (Message.next_attempt_at <= now),
                ~blocked,
            )
            .order_by(Message.id)
            .limit(limit)
        )
        if broadcast is not None:
            notice = Message.meta[BROADCAST_KEY].as_string()
            stmt = stmt.where(notice.is_not(None) if broadcast else notice.is_(None))
        stmt = for_update(stmt, session, skip_locked=True)
        claimed: list[Message] = []
        for message in (await session.execute(stmt)).scalars():
            if message.attempts >= self.policy.max_attempts:
                message.delivery_state = DeliveryState.FAILED
                message.next_attempt_at = None
                message.last_error = (message.last_error or "") + " (gave up: attempt cap)"
                continue
            message.delivery_state = DeliveryState.SENDING
            message.next_attempt_at = now + timedelta(seconds=self.policy.lease)
            message.attempts += 1
            claimed.append(message)
            if self._phases is not None and message.attempts == 1:
                stored = message.created_at
                stored = stored if stored.tzinfo is not None else stored.replace(tzinfo=UTC)
                self._phases.labels("outbox").observe(max(0.0, (now - stored).total_seconds()))
        return claimed

    async def drain_once(self) -> int:
        """One pass: deliver what is due; returns how many messages were sent."""
        claimed = await self._claim()
        if not claimed:
            return 0
        results = await asyncio.gather(*(self._deliver(m) for m in claimed))
        for channel, sends in self._in_flight.items():
            self._limits[channel].finished(sends)
        self._in_flight.clear()
        return sum(results)

    async def _deliver(self, message: Message) -> int:
        started = time.perf_counter()
        try:
            return await self._send(message)
        finally:
            if self._phases is not None:
                self._phases.labels("delivery").observe(time.perf_counter() - started)

    async def _send(self, message: Message) -> int:
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
        await self._record_sent(message, channel_id)
        return 1

    async def _record_sent(self, message: Message, channel_id: str | None) -> None:
        """Record the delivery (a few tries: a failed write here is what used to send a reply again and again).

        If every try fails the row stays ``sending`` and becomes ``unknown`` when its lease runs out — never
        re-sent.
        """
        for attempt in range(RECORD_TRIES):
            try:
                await self._sent.record(message.id, channel_id)
                return
            except Exception:
                log.exception("could not record a sent reply", extra={"message_id": message.id, "try": attempt + 1})
                await asyncio.sleep(0.2 * (attempt + 1))

    async def _failed(self, message: Message, reason: str, retry_after: float | None, permanent: bool) -> None:
        async with transaction(self._factory) as session:
            row = await session.get_one(Message, message.id)
            row.last_error = reason[:2000]
            row.delivery_state = DeliveryState.PENDING
            if permanent or row.attempts >= self.policy.max_attempts:
                row.delivery_state = DeliveryState.FAILED
                row.next_attempt_at = None
                log.warning("delivery failed for good", extra={"message_id": row.id, "reason": reason})
            else:
                delay = retry_after if retry_after is not None else self.policy.delay(row.attempts)
                row.next_attempt_at = utcnow() + timedelta(seconds=delay)


@dataclass(slots=True)
class _Sent:
    message_id: int
    channel_id: str | None
    done: asyncio.Future[None]


class _SentRecords:
    """Group commit of sent replies: whoever records while a write is in flight joins the next one."""

    def __init__(self, factory: SessionFactory) -> None:
        self._factory = factory
        self._waiting: list[_Sent] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, message_id: int, channel_id: str | None) -> None:
        """Return once the reply is recorded as sent; raise what the write raised."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_retrieved)  # a caller cancelled meanwhile leaves no "never retrieved" warning
        self._waiting.append(_Sent(message_id, channel_id, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="outbox-sent-records")
        await asyncio.shield(done)

    async def close(self) -> None:
        """Let the write in flight finish (the sends it records have happened)."""
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)

    async def _write(self) -> None:
        while self._waiting:
            batch: list[_Sent] = []
            try:
                async with transaction(self._factory) as session:
                    # The write lock first (SQLite: its turn in the queue), then the batch: whoever finished while
                    # this waited is recorded with it.
                    await session.connection()
                    batch, self._waiting = self._waiting, []
                    now = utcnow()
                    await session.execute(
                        update(Message),
                        [
                            {
                                "id": sent.message_id,
                                "delivery_state": DeliveryState.SENT,
                                "channel_message_id": sent.channel_id,
                                "delivered_at": now,
                                "next_attempt_at": None,
                                "last_error": None,
                            }
                            for sent in batch
                        ],
                    )
            except Exception as exc:
                if not batch:
                    batch, self._waiting = self._waiting, []
                for sent in batch:
                    if not sent.done.done():
                        sent.done.set_exception(exc)
                continue
            for sent in batch:
                if not sent.done.done():
                    sent.done.set_result(None)


def _retrieved(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
