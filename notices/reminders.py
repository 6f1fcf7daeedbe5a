"""The daily reminders: service periods ending and equipment checks due within N days, once per due date.

Each run (at most once a day per worker; every worker may run it) reads the records that come due, leaves out
those already reminded for the same due date (``NoticeReminder``, unique per reason, record and date), and
stores one reminder notice per reason and day: a recipient per customer, one outbox message in their latest
conversation and language, naming their records. Opt-outs are honoured: reminders are not urgent.
Customers are handled in batches, each in its own transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError

from core.db import SessionFactory
from core.events import EventBus
from core.models import Author, Conversation, ConversationStatus, Customer, utcnow
from core.outbox import BROADCAST_KEY
from core.periodic import PeriodicTask
from core.store import Button, add_outbound, open_conversation
from core.templates import Templates
from core.uow import UnitOfWork
from notices.audience import AudienceKind, DueSource, reach
from notices.models import Notice, NoticeKind, NoticeRecipient, NoticeReminder, NoticeState, RecipientState
from notices.sending import NOTICES_OFF

__all__ = ["ReminderRule", "Reminders"]

log = logging.getLogger(__name__)
CHECK_EVERY = 3600.0  # seconds between looks at the calendar; a day's reminders are written once


@dataclass(frozen=True, slots=True)
class ReminderRule:
    reason: AudienceKind  # PERIOD_ENDING or CHECK_DUE
    source: DueSource
    due_of: Callable[[Any], date | None]  # the record's due date for this reason
    days: int


@dataclass(frozen=True, slots=True)
class _Due:
    record_id: int
    name: str
    due_on: date


class Reminders:
    def __init__(
        self, factory: SessionFactory, bus: EventBus, templates: Templates, rules: Sequence[ReminderRule], batch: int
    ) -> None:
        self._factory = factory
        self._bus = bus
        self._templates = templates
        self._rules = list(rules)
        self._batch = batch
        self._last_day: date | None = None
        self._loop = PeriodicTask("notice-reminders", self._step, CHECK_EVERY)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _step(self) -> bool:
        today = utcnow().date()
        if self._last_day != today:
            await self.run(today)
            self._last_day = today
        return False

    async def run(self, today: date) -> int:
        """Write the reminders due ``today``; how many customers got one."""
        return sum([await self._run_rule(rule, today) for rule in self._rules])

    async def _due(self, rule: ReminderRule, today: date) -> dict[int, list[_Due]]:
        """Per customer, the records due and not yet reminded for this due date."""
        async with self._factory() as session:
            rows = await rule.source(session, rule.days, today)
            due = [
                (customer_id, _Due(int(record.id), str(getattr(record, "name", "")), day))
                for customer_id, record in rows
                if (day := rule.due_of(record)) is not None
            ]
            reminded: set[tuple[int, date]] = set()
            for start in range(0, len(due), self._batch):
                keys = [(d.record_id, d.due_on) for _c, d in due[start : start + self._batch]]
                found = await session.execute(
                    select(NoticeReminder.record_id, NoticeReminder.due_on).where(
                        NoticeReminder.reason == rule.reason.value,
                        tuple_(NoticeReminder.record_id, NoticeReminder.due_on).in_(keys),
                    )
                )
                reminded.update((int(r), d) for r, d in found.all())
        by_customer: dict[int, list[_Due]] = {}
        for customer_id, item in due:
            if (item.record_id, item.due_on) not in reminded:
                by_customer.setdefault(customer_id, []).append(item)
        return by_customer

    async def _notice(self, uow: UnitOfWork, rule: ReminderRule, today: date) -> Notice:
        key = f"reminder:{rule.reason.value}:{today.isoformat()}"
        notice = await uow.session.scalar(select(Notice).where(Notice.idempotency_key == key))
        if notice is not None:
            return notice
        notice = Notice(
            kind=NoticeKind.REMINDER,
            state=NoticeState.SENDING,
            title=self._templates.render(f"notices.audience.{rule.reason.value}", "ru").replace(
                " N ", f" {rule.days} "
            ),
            text_ru=self._templates.render(
                f"notices.reminder.{rule.reason.value}", "ru", name="", record="…", date="…"
            ),
            text_en=self._templates.render(
                f"notices.reminder.{rule.reason.value}", "en", name="", record="…", date="…"
            ),
            audience={"kind": rule.reason.value, "value": "", "days": rule.days},
            idempotency_key=key,
            sending_at=utcnow(),
            cursor=0,
        )
        uow.session.add(notice)
        await uow.session.flush()
        return notice

    async def _run_rule(self, rule: ReminderRule, today: date) -> int:
        by_customer = await self._due(rule, today)
        customers = sorted(by_customer)
        reminded = 0
        for start in range(0, len(customers), self._batch):
            chunk = customers[start : start + self._batch]
            try:
                async with UnitOfWork(self._factory, self._bus) as uow:
                    notice = await self._notice(uow, rule, today)
                    reminded += await self._remind(uow, notice, rule, chunk, by_customer)
                    if start + self._batch >= len(customers):
                        notice.state = NoticeState.SENT
                        notice.sent_at = utcnow()
            except IntegrityError:
                # Another worker wrote these reminders at the same moment: theirs stand, nothing is sent twice.
                log.info("reminders already written by another worker", extra={"reason": rule.reason.value})
        return reminded

    async def _remind(
        self, uow: UnitOfWork, notice: Notice, rule: ReminderRule, chunk: list[int], by_customer: dict[int, list[_Due]]
    ) -> int:
        session = uow.session
        places = await reach(session, chunk)
        done = set(
            (
                await session.scalars(
                    select(NoticeRecipient.customer_id).where(
                        NoticeRecipient.notice_id == notice.id, NoticeRecipient.customer_id.in_(chunk)
                    )
                )
            ).all()
        )
        count = 0
        for customer_id in chunk:
            target = places.get(customer_id)
            if target is None or customer_id in done:
                continue  # never wrote (no chat to write to): reminded once they have one
            items = by_customer[customer_id]
            for item in items:
                session.add(
                    NoticeReminder(
                        reason=rule.reason.value,
                        record_id=item.record_id,
                        due_on=item.due_on,
                        customer_id=customer_id,
                        notice_id=notice.id,
                    )
                )
            if target.opted_out:
                session.add(
                    NoticeRecipient(
                        notice_id=notice.id,
                        customer_id=customer_id,
                        channel=target.channel,
                        state=RecipientState.OPTED_OUT,
                    )
                )
                continue
            conversation = await session.get_one(Conversation, target.conversation_id)
            if conversation.status is ConversationStatus.CLOSED:
                customer = await session.get_one(Customer, customer_id)
                conversation = await open_conversation(session, customer, conversation.channel, conversation.chat_id)
            language = self._templates.language(target.language)
            text = self._templates.render(
                f"notices.reminder.{rule.reason.value}",
                language,
                name=target.name,
                record=", ".join(item.name for item in items),
                date=min(item.due_on for item in items).strftime("%d.%m.%Y"),
            )
            off = Button(label=self._templates.render("notices.off_button", language), payload=NOTICES_OFF)
            message = await add_outbound(
                uow,
                conversation,
                text,
                author=Author.SYSTEM,
                buttons=[off],
                meta={BROADCAST_KEY: notice.id, "notice_kind": NoticeKind.REMINDER.value},
            )
            session.add(
                NoticeRecipient(
                    notice_id=notice.id,
                    customer_id=customer_id,
                    channel=conversation.channel,
                    message_id=message.id,
                    state=RecipientState.QUEUED,
                )
            )
            count += 1
        return count
