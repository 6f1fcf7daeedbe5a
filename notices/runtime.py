"""The notices' workers in the application: the fan-out of notices being sent, and the daily reminders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from core.web.keys import BUS, SESSIONS, SETTINGS, TEMPLATES
from notices.audience import AudienceKind, DueSource
from notices.keys import DUE_SOURCES, NOTICE_SENDER, REMINDERS
from notices.reminders import ReminderRule, Reminders
from notices.sending import NoticeSender
from records.queries import customers_with_check_due, customers_with_period_ending

__all__ = ["DUE", "notices_ctx"]

DUE: dict[AudienceKind, DueSource] = {
    AudienceKind.PERIOD_ENDING: customers_with_period_ending,
    AudienceKind.CHECK_DUE: customers_with_check_due,
}


def _period_end(record: Any) -> Any:
    return record.service_period_end


def _next_check(record: Any) -> Any:
    return record.next_check_on


async def notices_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[DUE_SOURCES] = DUE
    sender = NoticeSender(app[SESSIONS], app[BUS], app[TEMPLATES], batch=settings.notice_batch, sources=DUE)
    rules = [
        ReminderRule(
            AudienceKind.PERIOD_ENDING, customers_with_period_ending, _period_end, settings.reminder_period_days
        ),
        ReminderRule(AudienceKind.CHECK_DUE, customers_with_check_due, _next_check, settings.reminder_check_days),
    ]
    reminders = Reminders(app[SESSIONS], app[BUS], app[TEMPLATES], rules, settings.notice_batch)
    app[NOTICE_SENDER] = sender
    app[REMINDERS] = reminders
    sender.start()
    sender.wake()  # a notice a previous run left half sent goes on now
    reminders.start()
    yield
    await reminders.stop()
    await sender.stop()
