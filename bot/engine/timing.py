"""Where a turn's time goes: each phase is observed into one histogram (``frontline_turn_phase_seconds``).

Phases, in the order a message meets them:

* ``store`` — the inbound message's own transaction (phase one);
* ``wait`` — from the message stored to its turn starting (the channel's task, earlier turns of the conversation);
* ``parse`` — NLU, off the event loop;
* ``prepare`` — the turn's likely knowledge-base search, made before its transaction opens (knowledge.py);
* ``lock`` — opening the turn's transaction and locking the conversation (SQLite: waiting for the write lock);
* ``decide`` — the dialogs choosing the replies, including ``search`` (knowledge base) and ``ticket`` (the desk);
* ``reply_store`` — storing the replies and committing the turn;
* ``after`` — the after-commit effects (gaps, article feedback);
* ``outbox`` — one reply waiting in the outbox, from stored to claimed for its first send (observed by the outbox);
* ``delivery`` — one reply sent to its channel and its sending recorded (observed by the outbox, per reply).

A histogram observation is a few dictionary operations, so the figures are those of the shipped configuration.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine.ports import Desk
from core.models import Conversation, Customer
from core.uow import UnitOfWork

PHASES = (
    "store",
    "wait",
    "parse",
    "prepare",
    "lock",
    "decide",
    "search",
    "ticket",
    "reply_store",
    "after",
    "outbox",
    "delivery",
)


class PhaseClock:
    """Observes phase durations into the turn-phase histogram (or nowhere, when the engine has no metrics)."""

    def __init__(self, histogram: Histogram | None) -> None:
        self._histogram = histogram

    def observe(self, phase: str, seconds: float) -> None:
        if self._histogram is not None:
            self._histogram.labels(phase).observe(max(0.0, seconds))

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.observe(name, time.perf_counter() - started)


class TimedDesk:
    """The ticket desk with every call timed as the ``ticket`` phase."""

    def __init__(self, desk: Desk, clock: PhaseClock) -> None:
        self.inner = desk
        self._clock = clock

    async def open_ticket(
        self,
        uow: UnitOfWork,
        customer: Customer,
        conversation: Conversation,
        *,
        description: str,
        subject: str | None = None,
        category: str | None = None,
        urgency: str = "medium",
        impact: str = "one",
        account_number: str | None = None,
    ) -> Any:
        with self._clock.phase("ticket"):
            return await self.inner.open_ticket(
                uow,
                customer,
                conversation,
                description=description,
                subject=subject,
                category=category,
                urgency=urgency,
                impact=impact,
                account_number=account_number,
            )

    async def customer_tickets(self, session: AsyncSession, customer_id: int, *, open_only: bool = True) -> list[Any]:
        with self._clock.phase("ticket"):
            return await self.inner.customer_tickets(session, customer_id, open_only=open_only)

    async def customer_ticket(self, session: AsyncSession, customer_id: int, number: str) -> Any:
        with self._clock.phase("ticket"):
            return await self.inner.customer_ticket(session, customer_id, number)

    async def add_to_ticket(self, uow: UnitOfWork, customer_id: int, number: str, text: str) -> Any:
        with self._clock.phase("ticket"):
            return await self.inner.add_to_ticket(uow, customer_id, number, text)

    async def cancel_ticket(self, uow: UnitOfWork, customer_id: int, number: str) -> Any:
        with self._clock.phase("ticket"):
            return await self.inner.cancel_ticket(uow, customer_id, number)
