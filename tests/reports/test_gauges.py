"""Prometheus gauges read the desk's state from the database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.db import SessionFactory, transaction
from core.models import (
    Author,
    Conversation,
    ConversationStatus,
    DeliveryState,
    Direction,
    Message,
    utcnow,
)
from core.web.metrics import Metrics
from reports.gauges import DeskGauges
from tests.reports.dataset import load_history
from tests.support.people import person


async def test_gauges_show_the_queue_and_open_tickets_at_risk_or_breached(sessions: SessionFactory) -> None:
    history = await load_history(sessions)
    async with transaction(sessions) as db:
        waiting = await db.get_one(Conversation, history.conversations["C6"])
        waiting.status = ConversationStatus.WAITING
        waiting.waiting_since = utcnow() - timedelta(minutes=10)
    metrics = Metrics()
    await DeskGauges(metrics).refresh(sessions)
    text = metrics.render().decode()
    assert "frontline_queue_length 1.0" in text
    oldest = next(line for line in text.splitlines() if line.startswith("frontline_queue_oldest_wait_seconds "))
    assert float(oldest.split()[1]) >= 600
    assert 'frontline_sla_open_tickets{state="at_risk"} 1.0' in text  # T4
    assert 'frontline_sla_open_tickets{state="breached"} 1.0' in text  # T3 (T2 breached too, but resolved)
    assert 'frontline_outbox_messages{state="pending"} 0.0' in text


async def test_gauges_count_the_last_day_of_turns_answers_handoffs_failures_and_delivery_latency(
    sessions: SessionFactory,
) -> None:
    who = await person(sessions)
    now = utcnow()
    conv = who.conversation

    def message(seq: int, direction: Direction, author: Author, state: DeliveryState, **extra: Any) -> Message:
        return Message(
            conversation_id=conv.id,
            seq=seq,
            direction=direction,
            author=author,
            channel=conv.channel,
            chat_id=conv.chat_id,
            channel_message_id=str(seq) if direction is Direction.INBOUND else None,
            text="…",
            delivery_state=state,
            **extra,
        )

    async with transaction(sessions) as db:
        handled = {"created_at": now - timedelta(minutes=5), "handled_at": now - timedelta(minutes=5)}
        db.add_all(
            [
                message(
                    1, Direction.INBOUND, Author.CUSTOMER, DeliveryState.RECEIVED, meta={"band": "answer"}, **handled
                ),
                message(
                    2, Direction.INBOUND, Author.CUSTOMER, DeliveryState.RECEIVED, meta={"band": "suggest"}, **handled
                ),
                # Two days old: outside the 24 hours.
                message(
                    3,
                    Direction.INBOUND,
                    Author.CUSTOMER,
                    DeliveryState.RECEIVED,
                    meta={"band": "answer"},
                    created_at=now - timedelta(days=2),
                    handled_at=now - timedelta(days=2),
                ),
                # Delivered 4 seconds after it was stored.
                message(
                    4,
                    Direction.OUTBOUND,
                    Author.BOT,
                    DeliveryState.SENT,
                    created_at=now - timedelta(minutes=4, seconds=4),
                    delivered_at=now - timedelta(minutes=4),
                ),
                message(5, Direction.OUTBOUND, Author.BOT, DeliveryState.FAILED, created_at=now - timedelta(minutes=3)),
            ]
        )
        row = await db.get_one(Conversation, conv.id)
        row.status = ConversationStatus.WAITING
        row.waiting_since = now - timedelta(minutes=2)
    metrics = Metrics()
    await DeskGauges(metrics).refresh(sessions)
    text = metrics.render().decode()
    assert "frontline_turns_24h 2.0" in text
    assert 'frontline_answers_24h{band="answer"} 1.0' in text
    assert 'frontline_answers_24h{band="suggest"} 1.0' in text
    assert 'frontline_answers_24h{band="unknown"} 0.0' in text
    assert "frontline_handoffs_24h 1.0" in text
    assert 'frontline_outbox_messages{state="failed"} 1.0' in text
    assert "frontline_delivery_latency_p95_seconds 4.0" in text
