"""Prometheus gauges read the desk's state from the database."""

from __future__ import annotations

from datetime import timedelta

from core.db import SessionFactory, transaction
from core.models import Conversation, ConversationStatus, utcnow
from core.web.metrics import Metrics
from reports.gauges import DeskGauges
from tests.reports.dataset import load_history


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
