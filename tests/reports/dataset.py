"""A small hand-made history whose every figure is worked out by hand in tests/reports/test_metrics.py.

Two weeks in Berlin (2026-10-19 Mon - 2026-11-01 Sun): the clocks go back on Sunday 25 October
(03:00 CEST -> 02:00 CET) and Wednesday 28 October is a holiday of the ``office`` calendar.
``office`` works Mon-Fri 09:00-18:00; ``care`` is open around the clock.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.db import SessionFactory, transaction
from core.models import (
    Author,
    Channel,
    Conversation,
    ConversationStatus,
    Customer,
    DeliveryState,
    Direction,
    Message,
    Operator,
    Role,
    Team,
)
from handoff.models import Csat
from kb.models import Article, ArticleStatus, Gap
from sla.policy import Impact, Priority, SlaPolicy, Urgency
from tests.support import sla as sla_files
from tickets.durations import backfill_durations
from tickets.models import SlaState, Ticket, TicketConversation, TicketStatus

CALENDARS = """\
calendars:
  berlin-office:
    timezone: Europe/Berlin
    week:
      mon: ["09:00-18:00"]
      tue: ["09:00-18:00"]
      wed: ["09:00-18:00"]
      thu: ["09:00-18:00"]
      fri: ["09:00-18:00"]
    holidays:
      dates: ["2026-10-28"]
  berlin-always:
    timezone: Europe/Berlin
    always_open: true
"""

PLANS = """\
default_plan: office
plans:
  office:
    names: {ru: Офис, en: Office}
    calendar: berlin-office
    targets:
      P1: {first_response: 1h, resolution: 8h}
      P2: {first_response: 2h, resolution: 16h}
      P3: {first_response: 4h, resolution: 24h}
      P4: {first_response: 8h, resolution: 40h}
  care:
    names: {ru: Забота, en: Care}
    calendar: berlin-always
    targets:
      P1: {first_response: 15m, resolution: 4h}
      P2: {first_response: 30m, resolution: 8h}
      P3: {first_response: 1h, resolution: 24h}
      P4: {first_response: 4h, resolution: 72h}
"""


def write_policy(data_dir: Path) -> SlaPolicy:
    return SlaPolicy.load(sla_files.write_policy(data_dir, calendars=CALENDARS, plans=PLANS))


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@dataclass
class History:
    ops: dict[str, int] = field(default_factory=dict)
    teams: dict[str, int] = field(default_factory=dict)
    conversations: dict[str, int] = field(default_factory=dict)
    tickets: dict[str, int] = field(default_factory=dict)
    articles: dict[str, int] = field(default_factory=dict)


async def load_history(sessions: SessionFactory) -> History:
    h = History()
    async with transaction(sessions) as db:
        for key in ("op1", "op2"):
            op = Operator(login=key, name=key.upper(), password_hash="x", role=Role.OPERATOR)
            db.add(op)
            await db.flush()
            h.ops[key] = op.id
        team = Team(key="first-line", name="First line")
        db.add(team)
        for key in ("a1", "a2"):
            article = Article(slug=key, language="ru", title=f"Article {key}", status=ArticleStatus.PUBLISHED)
            db.add(article)
        await db.flush()
        h.teams["first-line"] = team.id
        for article in (await db.execute(select(Article))).scalars():
            h.articles[article.slug] = article.id
        anna = Customer(name="Anna", language="ru", timezone="Europe/Berlin", plan="office")
        ben = Customer(name="Ben", language="en", timezone="Europe/Berlin", plan="office")
        cara = Customer(name="Cara", language="ru", timezone="Europe/Berlin", plan="care")
        db.add_all([anna, ben, cara])
        await db.flush()

        seq: dict[int, int] = {}

        async def conversation(
            key: str,
            customer: Customer,
            channel: Channel,
            created: datetime,
            *,
            status: ConversationStatus = ConversationStatus.CLOSED,
            waiting_since: datetime | None = None,
            assignee: str | None = None,
            closed: datetime | None = None,
        ) -> Conversation:
            conv = Conversation(
                customer_id=customer.id,
                channel=channel,
                chat_id=f"{key}-chat",
                language=customer.language,
                status=status,
                waiting_since=waiting_since,
                assignee_id=h.ops[assignee] if assignee else None,
                closed_at=closed,
                created_at=created,
                dialog_state={},
                last_seq=0,
            )
            db.add(conv)
            await db.flush()
            h.conversations[key] = conv.id
            return conv

        def message(conv: Conversation, at: datetime, author: Author, *, private: bool = False, **meta: Any) -> None:
            seq[conv.id] = seq.get(conv.id, 0) + 1
            inbound = author is Author.CUSTOMER
            db.add(
                Message(
                    conversation_id=conv.id,
                    seq=seq[conv.id],
                    direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
                    author=author,
                    operator_id=conv.assignee_id if author is Author.OPERATOR else None,
                    channel=conv.channel,
                    chat_id=conv.chat_id,
                    channel_message_id=f"{conv.id}-{seq[conv.id]}" if inbound else None,
                    text="...",
                    private=private,
                    meta=meta,
                    delivery_state=DeliveryState.RECEIVED if inbound else DeliveryState.SENT,
                    created_at=at,
                    handled_at=at if inbound else None,  # the bot has taken its turn: nothing left to recover
                )
            )
            conv.last_seq = seq[conv.id]

        # C1: Anna (office) on Telegram, Friday 16:50 CEST; handed off 16:55; the bot says something at once
        # (not a response); op1 answers on Monday 09:05 CET, after the clocks went back.
        c1 = await conversation(
            "C1",
            anna,
            Channel.TELEGRAM,
            utc(10, 23, 14, 50),
            waiting_since=utc(10, 23, 14, 55),
            assignee="op1",
            closed=utc(10, 26, 9, 0),
        )
        message(c1, utc(10, 23, 14, 50), Author.CUSTOMER, intent="report_problem", band="answer")
        message(c1, utc(10, 23, 14, 56), Author.BOT)
        message(c1, utc(10, 26, 8, 5), Author.OPERATOR)
        # C2: Ben (office) on the web chat, Tuesday 08:50 CET, handed off 08:55, a private note at 08:56 (not a
        # response), op2 answers 09:00: five calendar minutes, none of them business time.
        c2 = await conversation(
            "C2",
            ben,
            Channel.WEB,
            utc(10, 27, 7, 50),
            waiting_since=utc(10, 27, 7, 55),
            assignee="op2",
            closed=utc(10, 27, 12, 0),
        )
        message(c2, utc(10, 27, 7, 50), Author.CUSTOMER)
        message(c2, utc(10, 27, 7, 56), Author.OPERATOR, private=True)
        message(c2, utc(10, 27, 8, 0), Author.OPERATOR)
        # C3: Cara (care) on Telegram, Saturday 21:50 CEST; became ticket T3; still with the bot.
        c3 = await conversation("C3", cara, Channel.TELEGRAM, utc(10, 24, 19, 50), status=ConversationStatus.BOT)
        # C4 and C5: Anna at 02:30 on the night the clocks go back, once in summer time and once in winter time.
        c4 = await conversation("C4", anna, Channel.TELEGRAM, utc(10, 25, 0, 30), closed=utc(10, 25, 0, 40))
        message(c4, utc(10, 25, 0, 30), Author.CUSTOMER, intent="ask_question", band="answer")
        message(c4, utc(10, 25, 0, 31), Author.BOT)
        message(c4, utc(10, 25, 0, 32), Author.CUSTOMER, payload=f"h:y{h.articles['a1']}:n1")
        c5 = await conversation("C5", anna, Channel.TELEGRAM, utc(10, 25, 1, 30), closed=utc(10, 25, 1, 50))
        message(c5, utc(10, 25, 1, 30), Author.CUSTOMER, intent="ask_question", band="unknown")
        message(c5, utc(10, 25, 1, 35), Author.CUSTOMER, intent="ask_question", band="suggest")
        message(c5, utc(10, 25, 1, 36), Author.CUSTOMER, payload=f"h:n{h.articles['a1']}:n2")
        message(c5, utc(10, 25, 1, 37), Author.CUSTOMER, payload=f"h:y{h.articles['a2']}:n3")
        # C6: Ben on the web chat on the holiday, still talking to the bot.
        await conversation("C6", ben, Channel.WEB, utc(10, 28, 9, 0), status=ConversationStatus.BOT)
        # C7: after the period.
        await conversation("C7", ben, Channel.WEB, utc(11, 5, 9, 0))

        async def ticket(
            key: str,
            customer: Customer,
            plan: str,
            priority: Priority,
            created: datetime,
            *,
            conv: Conversation | None = None,
            responded: datetime | None = None,
            resolved: datetime | None = None,
            pauses: list[list[str]] | None = None,
            status: TicketStatus = TicketStatus.RESOLVED,
            fr_state: SlaState = SlaState.OK,
            res_state: SlaState = SlaState.OK,
            assignee: str | None = None,
        ) -> None:
            worst = max((fr_state, res_state), key=[SlaState.OK, SlaState.AT_RISK, SlaState.BREACHED].index)
            t = Ticket(
                customer_id=customer.id,
                subject=f"ticket {key}",
                description="",
                urgency=Urgency.MEDIUM,
                impact=Impact.ONE,
                priority=priority,
                sla_priority=priority,
                status=status,
                plan=plan,
                sla_started_at=created,
                first_responded_at=responded,
                first_response_state=fr_state,
                resolution_state=res_state,
                sla_state=worst,
                resolution_due=None if resolved else utc(11, 2, 9, 0),
                pauses=pauses or [],
                resolved_at=resolved,
                team_id=team.id,
                assignee_id=h.ops[assignee] if assignee else None,
                created_at=created,
            )
            db.add(t)
            await db.flush()
            h.tickets[key] = t.id
            if conv is not None:
                db.add(TicketConversation(ticket_id=t.id, conversation_id=conv.id, created_at=created))

        # T1: Friday 17:00 CEST -> answered Monday 10:00 CET (66 real hours across the DST change; 2 business
        # hours); waited for the customer Monday 11:00 - Tuesday 15:00; resolved Thursday 12:00 (Wednesday is
        # a holiday): 60 + 120 + 180 + 180 = 540 business minutes.
        await ticket(
            "T1",
            anna,
            "office",
            Priority.P3,
            utc(10, 23, 15),
            conv=c1,
            responded=utc(10, 26, 9),
            resolved=utc(10, 29, 11),
            pauses=[["2026-10-26T10:00:00+00:00", "2026-10-27T14:00:00+00:00"]],
            assignee="op1",
        )
        # T2: Tuesday 09:00 CET, answered in 30 minutes, resolved Thursday 14:00: 540 + 0 + 300 = 840 business
        # minutes, past the 8-hour P1 target.
        await ticket(
            "T2",
            ben,
            "office",
            Priority.P1,
            utc(10, 27, 8),
            conv=c2,
            responded=utc(10, 27, 8, 30),
            resolved=utc(10, 29, 13),
            res_state=SlaState.BREACHED,
            assignee="op2",
        )
        # T3: care, Saturday 22:00 CEST, answered Sunday 03:30 CET: 6 h 30 min really passed (the wall clock
        # says 5 h 30 min); the 30-minute P2 target was breached; still open.
        await ticket(
            "T3",
            cara,
            "care",
            Priority.P2,
            utc(10, 24, 20),
            conv=c3,
            responded=utc(10, 25, 2, 30),
            status=TicketStatus.OPEN,
            fr_state=SlaState.BREACHED,
        )
        # T4: Thursday, nobody has answered yet and the first response is at risk.
        await ticket(
            "T4", anna, "office", Priority.P3, utc(10, 29, 9), status=TicketStatus.NEW, fr_state=SlaState.AT_RISK
        )
        # T5: before the period.
        await ticket(
            "T5", anna, "office", Priority.P3, utc(10, 10, 9), responded=utc(10, 10, 9, 5), resolved=utc(10, 10, 10)
        )

        db.add_all(
            [
                Csat(rating=5, comment="спасибо", conversation_id=c1.id, created_at=utc(10, 26, 9, 1)),
                Csat(rating=4, comment=None, conversation_id=c2.id, created_at=utc(10, 27, 12, 1)),
                Csat(rating=2, comment="<b>долго</b>", ticket_id=h.tickets["T2"], created_at=utc(10, 29, 13, 5)),
                Gap(text="how to change plan", language="en", channel="web", created_at=utc(10, 27, 8)),
                Gap(text="how to change plan", language="en", channel="web", created_at=utc(10, 28, 8)),
                Gap(text="fax", language="ru", channel="telegram", created_at=utc(10, 28, 9)),
                Gap(text="old", language="ru", channel="telegram", created_at=utc(10, 1, 9)),
            ]
        )
    # The tickets were written as rows, the way tickets from before the stored durations are: the backfill
    # fills their durations, with this history's own plans and calendars.
    with tempfile.TemporaryDirectory() as folder:
        await backfill_durations(sessions, write_policy(Path(folder)))
    return h
