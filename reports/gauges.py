"""Prometheus gauges of the desk's state, refreshed from the database every few seconds.

Read from the database rather than counted in each worker, so every process reports the same numbers and a
restart loses nothing: the queue, the outbox, open tickets at risk or breached, and the last 24 hours of
turns, knowledge-base answers by band, handoffs and delivery latency, and notices' recipients by outcome.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web
from prometheus_client import Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import SessionFactory
from core.models import Author, Conversation, ConversationStatus, DeliveryState, Direction, Message, utcnow
from core.periodic import PeriodicTask
from core.web.keys import METRICS, SESSIONS
from core.web.metrics import Metrics
from notices.models import Notice, NoticeKind, NoticeRecipient
from notices.status import OUTCOMES, outcome
from reports.metrics import BANDS, percentile
from tickets.models import SlaState, Ticket, TicketStatus

REFRESH_SECONDS = 15.0
WINDOW = timedelta(hours=24)
LATENCY_SAMPLE = 5000


class DeskGauges:
    def __init__(self, metrics: Metrics) -> None:
        r = metrics.registry
        self.queue = Gauge("frontline_queue_length", "Conversations waiting for a human", registry=r)
        self.oldest = Gauge("frontline_queue_oldest_wait_seconds", "Age of the longest wait in the queue", registry=r)
        self.outbox = Gauge("frontline_outbox_messages", "Outbound messages by delivery state", ["state"], registry=r)
        self.sla = Gauge("frontline_sla_open_tickets", "Open tickets at risk or breached", ["state"], registry=r)
        self.turns = Gauge("frontline_turns_24h", "Customer messages the bot handled in the last 24 h", registry=r)
        self.answers = Gauge(
            "frontline_answers_24h", "Knowledge-base answers in the last 24 h by band", ["band"], registry=r
        )
        self.handoffs = Gauge("frontline_handoffs_24h", "Conversations handed to a human in the last 24 h", registry=r)
        self.latency = Gauge(
            "frontline_delivery_latency_p95_seconds",
            "p95 of store-to-delivered time of the last hour's replies",
            registry=r,
        )
        self.notices = Gauge(
            "frontline_notices_sent",
            "Notices' recipients (all time) by notice kind and outcome: pending, delivered, failed, opted_out",
            ["kind", "outcome"],
            registry=r,
        )

    async def refresh(self, factory: SessionFactory) -> None:
        now = utcnow()
        since = now - WINDOW
        async with factory() as db:  # a plain session: it may end its read transaction between queries
            waiting = Conversation.status == ConversationStatus.WAITING
            count, oldest = (
                await db.execute(select(func.count(), func.min(Conversation.waiting_since)).where(waiting))
            ).one()
            self.queue.set(count)
            self.oldest.set(0 if oldest is None else max(0.0, (now - oldest).total_seconds()))
            await db.commit()  # short transactions: on SQLite each one holds the write lock (core.db)
            states = dict(
                (
                    await db.execute(
                        select(Message.delivery_state, func.count())
                        .where(Message.delivery_state.in_([DeliveryState.PENDING, DeliveryState.FAILED]))
                        .group_by(Message.delivery_state)
                    )
                ).all()
            )
            for state in (DeliveryState.PENDING, DeliveryState.FAILED):
                self.outbox.labels(state.value).set(states.get(state, 0))
            await db.commit()
            open_ = Ticket.status.in_([TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING])
            sla = dict(
                (await db.execute(select(Ticket.sla_state, func.count()).where(open_).group_by(Ticket.sla_state))).all()
            )
            for sla_state in (SlaState.AT_RISK, SlaState.BREACHED):
                self.sla.labels(sla_state.value).set(sla.get(sla_state, 0))
            await db.commit()
            recent = Message.created_at >= since
            inbound = Message.direction == Direction.INBOUND
            self.turns.set(
                await db.scalar(select(func.count()).where(inbound, recent, Message.handled_at.is_not(None))) or 0
            )
            band = Message.meta["band"].as_string()
            bands: dict[str, int] = dict(
                (
                    await db.execute(
                        select(band, func.count()).where(inbound, recent, band.is_not(None)).group_by(band)
                    )
                ).all()
            )
            for name in BANDS:
                self.answers.labels(name).set(bands.get(name, 0))
            await db.commit()
            self.handoffs.set(await db.scalar(select(func.count()).where(Conversation.waiting_since >= since)) or 0)
            delivered = (
                await db.execute(
                    select(Message.created_at, Message.delivered_at)
                    .where(
                        Message.direction == Direction.OUTBOUND,
                        Message.author != Author.SYSTEM,
                        Message.delivered_at >= now - timedelta(hours=1),
                    )
                    .order_by(Message.delivered_at.desc())
                    .limit(LATENCY_SAMPLE)
                )
            ).all()
            p95 = percentile([(d - c).total_seconds() for c, d in delivered if d is not None], 0.95)
            self.latency.set(p95 or 0.0)
            await db.commit()
            await self._refresh_notices(db)

    async def _refresh_notices(self, db: AsyncSession) -> None:
        rows = await db.execute(
            select(Notice.kind, NoticeRecipient.state, Message.delivery_state, func.count())
            .join(Notice, Notice.id == NoticeRecipient.notice_id)
            .outerjoin(Message, Message.id == NoticeRecipient.message_id)
            .group_by(Notice.kind, NoticeRecipient.state, Message.delivery_state)
        )
        counts = {(kind.value, name): 0 for kind in NoticeKind for name in OUTCOMES}
        for kind, state, delivery, count in rows.all():
            counts[(kind.value, outcome(state, delivery))] += count
        for (kind_name, name), count in counts.items():
            self.notices.labels(kind_name, name).set(count)


async def gauges_ctx(app: web.Application) -> AsyncIterator[None]:
    gauges = DeskGauges(app[METRICS])
    factory = app[SESSIONS]

    async def step() -> bool:
        await gauges.refresh(factory)
        return False

    task = PeriodicTask("report-gauges", step, REFRESH_SECONDS, initial_delay=0.0)
    task.start()
    yield
    await task.stop()
