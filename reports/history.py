"""Generated demo history so the reports show something on a fresh machine: weeks of conversations, bot
answers and votes, handoffs, tickets with SLA clocks (some breached, some waiting for the customer), ratings
and unanswered questions.

Deterministic: the same seed gives the same history, laid out backwards from the day it is loaded (so it is
always "the last weeks"). Loaded once: demo customers are marked by their account number prefix.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

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
    Team,
)
from core.operators import add_operator
from handoff.models import Csat
from kb.models import Article, ArticleStatus, Gap, GapReason
from sla.calendar import due_with_pauses
from sla.policy import Impact, SlaPolicy, Urgency
from tickets.durations import record_durations
from tickets.models import SlaState, Ticket, TicketConversation, TicketStatus

MARK = "DEMO-"  # account numbers of generated customers
DEFAULT_WEEKS = 6
DEFAULT_SEED = 17

FIRST_NAMES = ("Анна", "Борис", "Вера", "Глеб", "Дарья", "Егор", "Жанна", "Илья", "Ксения", "Лев", "Мария", "Олег")
EN_NAMES = ("Alice", "Ben", "Chloe", "Daniel", "Emma", "Frank")
INTENTS = (
    ("ask_question", 40),
    ("report_problem", 22),
    ("ticket_status", 8),
    ("talk_to_human", 8),
    ("greet", 10),
    ("thanks", 7),
    ("out_of_scope", 5),
)
GAP_QUESTIONS = (
    "можно ли перенести договор на другого человека",
    "как подключить второй роутер",
    "почему списали деньги дважды",
    "есть ли скидка пенсионерам",
    "how do I change the owner of the contract",
    "как настроить IPTV на Smart TV",
)
SUBJECTS = (
    ("Нет интернета", "network"),
    ("Низкая скорость", "network"),
    ("Не проходит оплата", "billing"),
    ("Вопрос по счёту", "billing"),
    ("Не работает ТВ", "tv"),
    ("Замена роутера", "equipment"),
)
COMMENTS_GOOD = ("Спасибо, быстро помогли!", "Оператор очень вежливый", "Thanks, all works now")
COMMENTS_BAD = ("Долго ждал ответа", "Проблема так и не решена", "Пришлось писать три раза")
DEMO_OPERATORS = (("demo-olga", "Ольга (демо)"), ("demo-ivan", "Иван (демо)"))


@dataclass(frozen=True, slots=True)
class Loaded:
    conversations: int
    tickets: int
    ratings: int


def _weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _hour(rng: random.Random) -> int:
    # More people write in the day and the evening than at night.
    return rng.choices(
        range(24), weights=[1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 11, 11, 10, 10, 10, 10, 9, 9, 8, 7, 6, 4, 3, 2]
    )[0]


async def load_demo_history(
    factory: SessionFactory,
    sla: SlaPolicy,
    tz: ZoneInfo,
    *,
    weeks: int = DEFAULT_WEEKS,
    seed: int = DEFAULT_SEED,
    now: datetime | None = None,
) -> Loaded | None:
    """Generate the history unless it is there already; None when it was."""
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    async with transaction(factory) as db:
        if await db.scalar(select(func.count()).select_from(Customer).where(Customer.account_number.like(f"{MARK}%"))):
            return None
        operators = []
        for login, name in DEMO_OPERATORS:
            existing = await db.scalar(select(Operator).where(Operator.login == login))
            # Accounts the history needs for per-operator figures; nobody signs in with them.
            operators.append(existing or await add_operator(db, login, secrets.token_urlsafe(24), "operator", name))
        demo_operator = await db.scalar(select(Operator).where(Operator.login == "operator"))
        if demo_operator is not None:
            operators.append(demo_operator)
        teams = {t.key: t.id for t in (await db.execute(select(Team))).scalars()}
        articles = list(
            (await db.execute(select(Article.id).where(Article.status == ArticleStatus.PUBLISHED))).scalars()
        )
        customers = []
        plans = list(sla.plans)
        for i in range(80):
            english = i % 6 == 5
            customers.append(
                Customer(
                    name=(EN_NAMES if english else FIRST_NAMES)[i % (6 if english else 12)] + f" {i + 1}",
                    language="en" if english else "ru",
                    timezone=str(tz),
                    plan=plans[0] if rng.random() < 0.75 or len(plans) == 1 else rng.choice(plans[1:]),
                    account_number=f"{MARK}{i + 1:05d}",
                )
            )
        db.add_all(customers)
        await db.flush()
        counts = [0, 0, 0]
        start_day = (now.astimezone(tz) - timedelta(weeks=weeks)).date()
        for offset in range(weeks * 7 + 1):
            day = start_day + timedelta(days=offset)
            weekend = day.isoweekday() >= 6
            for _ in range(rng.randint(6, 12) if weekend else rng.randint(18, 32)):
                opened = datetime.combine(day, time(_hour(rng), rng.randint(0, 59)), tz).astimezone(UTC)
                if opened >= now - timedelta(minutes=30):
                    continue
                await _conversation(
                    db, rng, sla, now, opened, rng.choice(customers), operators, teams, articles, counts
                )
    return Loaded(*counts)


async def _conversation(  # one customer's story, start to end
    db: AsyncSession,
    rng: random.Random,
    sla: SlaPolicy,
    now: datetime,
    opened: datetime,
    customer: Customer,
    operators: list[Operator],
    teams: dict[str, int],
    articles: list[int],
    counts: list[int],
) -> None:
    channel = Channel.TELEGRAM if rng.random() < 0.6 else Channel.WEB
    conv = Conversation(
        customer_id=customer.id,
        channel=channel,
        chat_id=f"demo-{customer.account_number}-{channel.value}",
        status=ConversationStatus.CLOSED,
        language=customer.language,
        dialog_state={},
        last_seq=0,
        created_at=opened,
        updated_at=opened,
    )
    db.add(conv)
    await db.flush()
    counts[0] += 1
    messages: list[Message] = []

    def say(
        at: datetime, author: Author, text: str, operator: Operator | None = None, meta: dict[str, object] | None = None
    ) -> None:
        inbound = author is Author.CUSTOMER
        messages.append(
            Message(
                conversation_id=conv.id,
                seq=len(messages) + 1,
                direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
                author=author,
                operator_id=operator.id if operator else None,
                channel=channel,
                chat_id=conv.chat_id,
                channel_message_id=f"demo-{conv.id}-{len(messages) + 1}" if inbound else None,
                text=text,
                meta=dict(meta or {}),
                delivery_state=DeliveryState.RECEIVED if inbound else DeliveryState.SENT,
                created_at=at,
                delivered_at=None if inbound else at,
                handled_at=at if inbound else None,
            )
        )

    intent = _weighted(rng, INTENTS)
    band = None
    if intent in ("ask_question", "report_problem", "out_of_scope"):
        band = rng.choices(["answer", "suggest", "unknown"], weights=[55, 25, 20])[0]
    question = rng.choice(GAP_QUESTIONS) if band == "unknown" else "…"
    stamp: dict[str, object] = {"intent": intent}
    if band:
        stamp["band"] = band
    say(opened, Author.CUSTOMER, question, meta=stamp)
    say(opened + timedelta(seconds=2), Author.BOT, "…")
    at = opened + timedelta(minutes=1)
    if band == "unknown":
        db.add(
            Gap(
                text=question,
                language=customer.language,
                channel=channel.value,
                conversation_id=conv.id,
                created_at=opened,
            )
        )
    if band == "answer" and articles and rng.random() < 0.6:
        article = rng.choice(articles)
        helpful = rng.random() < 0.72
        say(at, Author.CUSTOMER, "", meta={"payload": f"h:{'y' if helpful else 'n'}{article}:demo"})
        if not helpful:
            db.add(
                Gap(
                    text=rng.choice(GAP_QUESTIONS),
                    language=customer.language,
                    channel=channel.value,
                    conversation_id=conv.id,
                    reason=GapReason.NOT_HELPFUL,
                    answered_article_id=article,
                    created_at=at,
                )
            )
    roll = rng.random()
    operator = rng.choice(operators)
    calendar = sla.calendar_for(customer.plan if customer.plan in sla.plans else sla.default_plan)
    if intent == "talk_to_human" or (band == "unknown" and roll < 0.6) or roll < 0.12:
        # Handed to a human: the wait is longer at night and at the weekend (the desk works office hours).
        conv.waiting_since = at
        conv.assignee_id = operator.id
        business_wait = rng.choice([3, 5, 8, 12, 20, 35, 60, 120])
        replied = due_with_pauses(calendar, at, business_wait)
        assert replied is not None
        replied = replied.astimezone(UTC)
        if replied >= now:
            conv.status = ConversationStatus.WAITING
            conv.assignee_id = None
        else:
            say(replied, Author.OPERATOR, "…", operator)
            conv.first_reply_at = replied
            conv.closed_at = replied + timedelta(minutes=rng.randint(5, 40))
            if conv.closed_at >= now:
                conv.status, conv.closed_at = ConversationStatus.ASSIGNED, None
            elif rng.random() < 0.45:
                _rate(db, rng, conv.closed_at, conversation_id=conv.id)
                counts[2] += 1
    elif intent == "report_problem" and roll < 0.75:
        await _ticket(db, rng, sla, now, at, customer, conv, operator, teams, counts)
    else:
        conv.closed_at = at + timedelta(minutes=rng.randint(1, 10))
        if conv.closed_at >= now:
            conv.status, conv.closed_at = ConversationStatus.BOT, None
    for message in messages:
        if message.created_at > now:
            message.created_at = now
    conv.last_seq = len(messages)
    db.add_all(messages)


def _rate(db: AsyncSession, rng: random.Random, at: datetime, **subject: int) -> None:
    rating = rng.choices([1, 2, 3, 4, 5], weights=[4, 5, 10, 30, 51])[0]
    comment = None
    if rng.random() < 0.35:
        comment = rng.choice(COMMENTS_GOOD if rating >= 4 else COMMENTS_BAD)
    db.add(Csat(rating=rating, comment=comment, created_at=at + timedelta(minutes=2), **subject))


async def _ticket(
    db: AsyncSession,
    rng: random.Random,
    sla: SlaPolicy,
    now: datetime,
    at: datetime,
    customer: Customer,
    conv: Conversation,
    operator: Operator,
    teams: dict[str, int],
    counts: list[int],
) -> None:
    plan = customer.plan if customer.plan in sla.plans else sla.default_plan
    calendar = sla.calendar_for(plan)
    subject, category = rng.choice(SUBJECTS)
    urgency = rng.choice(list(Urgency))
    impact = rng.choices(list(Impact), weights=[1, 2, 7])[0]
    priority = sla.priority_for(urgency, impact)
    targets = sla.targets(plan, priority)
    # Most answers land inside the target, some well past it: a realistic mix of met and breached.
    fr_minutes = int(targets.first_response * rng.choice([0.1, 0.3, 0.5, 0.7, 0.9, 1.4, 2.5]))
    responded = due_with_pauses(calendar, at, max(1, fr_minutes))
    assert responded is not None
    responded = responded.astimezone(UTC)
    pauses: list[list[str]] = []
    res_minutes = int(targets.resolution * rng.choice([0.2, 0.4, 0.6, 0.8, 0.95, 1.3, 2.0]))
    if rng.random() < 0.25 and responded < now:
        # Waited for the customer for a while after the first answer: the clock stood still.
        pause_end = responded + timedelta(hours=rng.randint(2, 30))
        pauses = [[responded.isoformat(), min(pause_end, now).isoformat()]]
    resolved = due_with_pauses(
        calendar, at, max(1, res_minutes), [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in pauses]
    )
    assert resolved is not None
    resolved = resolved.astimezone(UTC)
    due = sla.due_times(plan, priority, at)
    fr_due = due.first_response.astimezone(UTC) if due.first_response else None
    res_due = due_with_pauses(
        calendar, at, targets.resolution, [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in pauses]
    )
    res_due = res_due.astimezone(UTC) if res_due else None

    def state(done: datetime | None, due_at: datetime | None) -> SlaState:
        if due_at is None:
            return SlaState.OK
        if (done or now) > due_at:
            return SlaState.BREACHED
        if done is None and now > due_at - (due_at - at) * 0.2:
            return SlaState.AT_RISK
        return SlaState.OK

    first = responded if responded < now else None
    done = resolved if resolved < now else None
    fr_state, res_state = state(first, fr_due), state(done, res_due)
    rank = [SlaState.OK, SlaState.AT_RISK, SlaState.BREACHED]
    worst = max(fr_state, res_state, key=rank.index)
    status = TicketStatus.RESOLVED if done else (TicketStatus.OPEN if first else TicketStatus.NEW)
    ticket = Ticket(
        customer_id=customer.id,
        subject=subject,
        description=subject,
        category=category,
        team_id=teams.get("billing" if category == "billing" else "first-line"),
        assignee_id=operator.id,
        urgency=urgency,
        impact=impact,
        priority=priority,
        sla_priority=priority,
        status=status,
        plan=plan,
        sla_started_at=at,
        first_response_due=fr_due,
        first_responded_at=first,
        first_response_state=fr_state,
        resolution_due=res_due,
        resolution_state=res_state,
        sla_state=worst,
        pauses=pauses,
        breached_at=min(d for d in (fr_due, res_due) if d)
        if worst is SlaState.BREACHED and (fr_due or res_due)
        else None,
        resolved_at=done,
        created_at=at,
        updated_at=done or first or at,
    )
    record_durations(ticket, calendar)
    db.add(ticket)
    await db.flush()
    db.add(TicketConversation(ticket_id=ticket.id, conversation_id=conv.id, created_at=at))
    counts[1] += 1
    conv.closed_at = at + timedelta(minutes=2)
    if done and rng.random() < 0.5:
        _rate(db, rng, done, ticket_id=ticket.id)
        counts[2] += 1
