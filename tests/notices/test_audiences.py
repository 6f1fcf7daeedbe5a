"""Notices on both databases: audiences resolved in SQL, the preview, one notice per form, sent once, opt-outs,
incident notices, zero audiences and the daily reminders (once per record and due date)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from core.db import SessionFactory, transaction
from core.errors import InvalidInput
from core.events import InProcessBus
from core.models import Channel, Conversation, ConversationStatus, Customer, DeliveryState, Message, utcnow
from core.settings import ROOT
from core.templates import Templates
from core.uow import UnitOfWork
from core.web.metrics import Metrics
from notices import optout, sending
from notices.audience import Audience, AudienceKind, preview, targets
from notices.models import Notice, NoticeKind, NoticeRecipient, NoticeState, RecipientState
from notices.reminders import ReminderRule, Reminders
from notices.runtime import DUE, _next_check, _period_end
from notices.status import notice_status
from records.models import RecordKind, ServiceRecord
from reports.gauges import DeskGauges
from sla.policy import Impact, Priority, Urgency
from tests.support.people import add_conversation, person
from tickets.models import Incident, LinkState, Ticket, TicketIncident, TicketStatus

TODAY = date(2026, 12, 7)


@pytest.fixture
def templates() -> Templates:
    return Templates.load(ROOT / "data" / "templates")


async def _ticket(sessions: SessionFactory, customer_id: int, category: str, status: TicketStatus) -> int:
    async with transaction(sessions) as session:
        ticket = Ticket(
            customer_id=customer_id,
            subject="нет интернета",
            description="нет интернета",
            category=category,
            status=status,
            priority=Priority.P3,
            sla_priority=Priority.P3,
            urgency=Urgency.MEDIUM,
            impact=Impact.ONE,
            plan="standard",
            sla_started_at=utcnow(),
        )
        session.add(ticket)
        await session.flush()
        return ticket.id


async def _audience_count(sessions: SessionFactory, audience: Audience, urgent: bool = True) -> int:
    async with sessions() as session:
        return (await preview(session, audience, urgent=urgent, sources=DUE, today=TODAY)).count


async def _send(
    sessions: SessionFactory, templates: Templates, audience: Audience, kind: NoticeKind, key: str
) -> Notice:
    draft = sending.NoticeDraft(
        kind=kind,
        text_ru="Привет, {name}! Работы ночью.",
        text_en="Hi {name}! Works at night.",
        audience=audience,
        key=key,
    )
    async with transaction(sessions) as session:
        notice = await sending.create(session, draft, None)
        assert await sending.start(session, notice.id, None)
    bus = InProcessBus()
    while True:
        async with UnitOfWork(sessions, bus) as uow:
            more = await sending.fan_out(uow, notice.id, templates, batch=2, sources=DUE, today=TODAY)
        if not more:
            break
    async with sessions() as session:
        return await session.get_one(Notice, notice.id)


async def test_audiences_by_plan_channel_category_incident_and_due_dates(sessions: SessionFactory) -> None:
    anna = await person(sessions, "Анна", plan="premium")
    boris = await person(sessions, "Борис", plan="standard", channel=Channel.WEB)
    vera = await person(sessions, "Vera", plan="standard", language="en")
    async with transaction(sessions) as session:  # a customer who never wrote has no chat: in no audience
        session.add(Customer(name="Глеб", language="ru", timezone="UTC", plan="premium"))
    await _ticket(sessions, anna.customer.id, "internet", TicketStatus.OPEN)
    await _ticket(sessions, boris.customer.id, "internet", TicketStatus.RESOLVED)  # not open
    linked = await _ticket(sessions, vera.customer.id, "tv", TicketStatus.NEW)
    async with transaction(sessions) as session:
        incident = Incident(title="Авария в Северном районе")
        session.add(incident)
        await session.flush()
        session.add(TicketIncident(ticket_id=linked, incident_id=incident.id, state=LinkState.LINKED))
        session.add_all(
            [
                ServiceRecord(
                    customer_id=anna.customer.id,
                    kind=RecordKind.SERVICE,
                    name="Обслуживание",
                    serial_number="S-1",
                    service_period_end=TODAY + timedelta(days=5),
                ),
                ServiceRecord(
                    customer_id=boris.customer.id,
                    name="Роутер",
                    serial_number="R-1",
                    installed_on=TODAY - timedelta(days=360),
                    interval_months=12,
                ),
            ]
        )
        incident_id = incident.id

    assert await _audience_count(sessions, Audience(kind=AudienceKind.ALL)) == 3
    assert await _audience_count(sessions, Audience(kind=AudienceKind.PLAN, value="premium")) == 1
    assert await _audience_count(sessions, Audience(kind=AudienceKind.CHANNEL, value="web")) == 1
    assert await _audience_count(sessions, Audience(kind=AudienceKind.CATEGORY, value="internet")) == 1
    assert await _audience_count(sessions, Audience(kind=AudienceKind.INCIDENT, value=str(incident_id))) == 1
    assert await _audience_count(sessions, Audience(kind=AudienceKind.PERIOD_ENDING, days=7)) == 1
    assert await _audience_count(sessions, Audience(kind=AudienceKind.PERIOD_ENDING, days=3)) == 0
    assert await _audience_count(sessions, Audience(kind=AudienceKind.CHECK_DUE, days=7)) == 1
    async with sessions() as session:
        page = await targets(session, Audience(kind=AudienceKind.ALL), after=0, limit=2)
        rest = await targets(session, Audience(kind=AudienceKind.ALL), after=page[-1].customer_id, limit=2)
    assert [t.name for t in page + rest] == ["Анна", "Борис", "Vera"], "batches follow customer ids, none twice"
    assert page[1].channel is Channel.WEB


async def test_the_channel_is_the_one_the_customer_last_wrote_from(sessions: SessionFactory) -> None:
    anna = await person(sessions, "Анна")
    async with transaction(sessions) as session:
        customer = await session.get_one(Customer, anna.customer.id)
        web = await add_conversation(session, customer, Channel.WEB)
        web.updated_at = anna.conversation.updated_at + timedelta(minutes=5)
    async with sessions() as session:
        (target,) = await targets(session, Audience(kind=AudienceKind.ALL), after=0, limit=10)
    assert target.channel is Channel.WEB


async def test_bad_audiences_get_a_clear_error() -> None:
    for data in (
        {"kind": "plan", "value": ""},
        {"kind": "channel", "value": "fax"},
        {"kind": "incident", "value": "abc"},
        {"kind": "everyone"},
        {"kind": "check_due", "days": -1},
    ):
        with pytest.raises(InvalidInput):
            Audience.read(data)


async def test_a_notice_to_an_unknown_incident_is_refused(sessions: SessionFactory) -> None:
    draft = sending.NoticeDraft(
        kind=NoticeKind.INCIDENT,
        text_ru="а",
        text_en="b",
        audience=Audience(kind=AudienceKind.INCIDENT, value="999"),
        key="form-key-unknown",
    )
    async with transaction(sessions) as session:
        with pytest.raises(InvalidInput, match="no incident 999"):
            await sending.create(session, draft, None)


async def test_zero_audience_preview_says_nobody(sessions: SessionFactory) -> None:
    await person(sessions, "Анна", plan="standard")
    async with sessions() as session:
        seen = await preview(session, Audience(kind=AudienceKind.PLAN, value="gold"), urgent=False)
    assert (seen.count, seen.names) == (0, [])


async def test_the_same_form_stores_one_notice_and_sends_it_once(
    sessions: SessionFactory, templates: Templates
) -> None:
    await person(sessions, "Анна")
    draft = sending.NoticeDraft(
        kind=NoticeKind.SERVICE,
        text_ru="Работы",
        text_en="Works",
        audience=Audience(kind=AudienceKind.ALL),
        key="k" * 16,
    )
    async with transaction(sessions) as session:
        first = await sending.create(session, draft, None)
    async with transaction(sessions) as session:
        second = await sending.create(session, draft, None)
        assert second.id == first.id
        assert await sending.start(session, first.id, None)
    async with transaction(sessions) as session:
        assert not await sending.start(session, first.id, None), "the second click sends nothing"
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Notice)) == 1


async def test_opted_out_customers_miss_service_notices_but_get_incident_notices(
    sessions: SessionFactory, templates: Templates
) -> None:
    anna = await person(sessions, "Анна")
    vera = await person(sessions, "Vera", language="en")
    oleg = await person(sessions, "Олег")
    async with transaction(sessions) as session:
        assert await optout.opt_out(session, oleg.customer.id)
        assert not await optout.opt_out(session, oleg.customer.id)
    async with sessions() as session:
        seen = await preview(session, Audience(kind=AudienceKind.ALL), urgent=False)
    assert (seen.count, seen.opted_out) == (2, 1)

    service = await _send(sessions, templates, Audience(kind=AudienceKind.ALL), NoticeKind.SERVICE, "service-key-1")
    assert service.state is NoticeState.SENT
    async with sessions() as session:
        status = await notice_status(session, service.id)
        texts = {
            m.conversation_id: m.text for m in (await session.scalars(select(Message).where(Message.meta.is_not(None))))
        }
    assert (status.pending, status.opted_out) == (2, 1)
    assert texts[anna.conversation.id] == "Привет, Анна! Работы ночью."
    assert texts[vera.conversation.id] == "Hi Vera! Works at night.", "each in their language"
    assert oleg.conversation.id not in texts

    incident = await _send(sessions, templates, Audience(kind=AudienceKind.ALL), NoticeKind.INCIDENT, "incident-key-1")
    async with sessions() as session:
        status = await notice_status(session, incident.id)
        oleg_got = await session.scalar(
            select(func.count()).select_from(Message).where(Message.conversation_id == oleg.conversation.id)
        )
    assert (status.pending, status.opted_out) == (3, 0)
    assert oleg_got == 1, "an incident notice reaches an opted-out customer"


async def test_a_closed_conversation_gets_the_notice_in_a_new_one_on_the_same_chat(
    sessions: SessionFactory, templates: Templates
) -> None:
    anna = await person(sessions, "Анна")
    async with transaction(sessions) as session:
        (await session.get_one(Conversation, anna.conversation.id)).status = ConversationStatus.CLOSED
    notice = await _send(sessions, templates, Audience(kind=AudienceKind.ALL), NoticeKind.SERVICE, "closed-key-1")
    async with sessions() as session:
        recipient = (await session.scalars(select(NoticeRecipient).where(NoticeRecipient.notice_id == notice.id))).one()
        message = await session.get_one(Message, recipient.message_id)
    assert message.conversation_id != anna.conversation.id
    assert message.chat_id == anna.conversation.chat_id
    assert message.delivery_state is DeliveryState.PENDING


async def test_a_reminder_is_sent_once_per_record_and_due_date(sessions: SessionFactory, templates: Templates) -> None:
    anna = await person(sessions, "Анна")
    oleg = await person(sessions, "Олег")
    async with transaction(sessions) as session:
        session.add_all(
            [
                ServiceRecord(
                    customer_id=anna.customer.id,
                    kind=RecordKind.SERVICE,
                    name="Обслуживание квартиры",
                    serial_number="S-1",
                    service_period_end=TODAY + timedelta(days=3),
                ),
                ServiceRecord(
                    customer_id=oleg.customer.id,
                    kind=RecordKind.SERVICE,
                    name="Обслуживание дачи",
                    serial_number="S-2",
                    service_period_end=TODAY + timedelta(days=3),
                ),
            ]
        )
        assert await optout.opt_out(session, oleg.customer.id)
    rules = [
        ReminderRule(AudienceKind.PERIOD_ENDING, DUE[AudienceKind.PERIOD_ENDING], _period_end, 14),
        ReminderRule(AudienceKind.CHECK_DUE, DUE[AudienceKind.CHECK_DUE], _next_check, 7),
    ]
    reminders = Reminders(sessions, InProcessBus(), templates, rules, batch=10)
    assert await reminders.run(TODAY) == 1, "Олег opted out"
    assert await reminders.run(TODAY) == 0, "the same day again: nothing new"
    assert await reminders.run(TODAY + timedelta(days=1)) == 0, "the next day, same due date: nothing"
    async with sessions() as session:
        messages = list(await session.scalars(select(Message).where(Message.conversation_id == anna.conversation.id)))
        oleg_messages = await session.scalar(
            select(func.count()).select_from(Message).where(Message.conversation_id == oleg.conversation.id)
        )
    assert len(messages) == 1
    assert "Обслуживание квартиры" in messages[0].text
    assert "10.12.2026" in messages[0].text
    assert oleg_messages == 0

    async with transaction(sessions) as session:  # renewed: a new due date is a new reminder
        record = (await session.scalars(select(ServiceRecord).where(ServiceRecord.serial_number == "S-1"))).one()
        record.service_period_end = TODAY + timedelta(days=10)
    assert await reminders.run(TODAY + timedelta(days=2)) == 1
    async with sessions() as session:
        sent = [s.state for s in await session.scalars(select(NoticeRecipient))]
    assert sent.count(RecipientState.QUEUED) == 2


async def test_the_notices_sent_gauge_counts_recipients_by_kind_and_outcome(
    sessions: SessionFactory, templates: Templates
) -> None:
    await person(sessions, "Анна")
    oleg = await person(sessions, "Олег")
    async with transaction(sessions) as session:
        await optout.opt_out(session, oleg.customer.id)
    notice = await _send(sessions, templates, Audience(kind=AudienceKind.ALL), NoticeKind.SERVICE, "gauge-key-1")
    async with transaction(sessions) as session:
        recipient = (
            await session.scalars(
                select(NoticeRecipient).where(
                    NoticeRecipient.notice_id == notice.id, NoticeRecipient.state == RecipientState.QUEUED
                )
            )
        ).one()
        (await session.get_one(Message, recipient.message_id)).delivery_state = DeliveryState.SENT
    metrics = Metrics()
    await DeskGauges(metrics).refresh(sessions)
    text = metrics.render().decode()
    assert 'frontline_notices_sent{kind="service",outcome="delivered"} 1.0' in text
    assert 'frontline_notices_sent{kind="service",outcome="opted_out"} 1.0' in text
    assert 'frontline_notices_sent{kind="incident",outcome="delivered"} 0.0' in text
