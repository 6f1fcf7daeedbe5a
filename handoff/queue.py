"""The inbox's views of conversations: Waiting, Mine, All open, Closed — filtered, with unread counts.

Each view is one indexed query with a LIMIT (``ix_conversations_status_waiting_since``,
``ix_conversations_status_updated_at``, ``ix_conversations_assignee_id_status``, and for All open the
partial ``ix_conversations_open_updated_at``); the rows' customers,
assignees and last messages are fetched for those rows only, so a list costs the same on a big install.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Author, Channel, Conversation, ConversationStatus, Customer, Message, Operator, Team, utcnow
from handoff.models import InboxRead

OPEN = (ConversationStatus.WAITING, ConversationStatus.ASSIGNED)


class View(enum.StrEnum):
    WAITING = "waiting"
    MINE = "mine"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Filters:
    channel: Channel | None = None
    language: str | None = None
    team_id: int | None = None


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    customer_name: str
    channel: str
    language: str
    status: str
    assignee: str | None
    waiting_since: datetime | None
    updated_at: datetime
    preview: str
    unread: bool
    team: str | None = None  # the team's name (its key when unnamed)

    def waiting_minutes(self, now: datetime | None = None) -> int | None:
        if self.waiting_since is None or self.status != ConversationStatus.WAITING.value:
            return None
        return max(0, int(((now or utcnow()) - self.waiting_since).total_seconds() // 60))


def _view_condition(view: View, operator_id: int) -> ColumnElement[bool]:
    if view is View.WAITING:
        return Conversation.status == ConversationStatus.WAITING
    if view is View.MINE:
        return and_(Conversation.assignee_id == operator_id, Conversation.status == ConversationStatus.ASSIGNED)
    if view is View.OPEN:
        # Written into the SQL, not bound: a plan made for bound values could not use the partial index
        # ``ix_conversations_open_updated_at`` (its WHERE is this very list), and these values are ours.
        return Conversation.status.in_(bindparam("open_statuses", list(OPEN), expanding=True, literal_execute=True))
    return Conversation.status == ConversationStatus.CLOSED


def _conditions(view: View, operator_id: int, filters: Filters) -> list[ColumnElement[bool]]:
    found = [_view_condition(view, operator_id)]
    if filters.channel is not None:
        found.append(Conversation.channel == filters.channel)
    if filters.language is not None:
        found.append(Conversation.language == filters.language)
    if filters.team_id is not None:
        found.append(Conversation.team_id == filters.team_id)
    return found


def _unread_condition(operator_id: int) -> ColumnElement[bool]:
    seen = (
        select(InboxRead.seen_seq)
        .where(InboxRead.operator_id == operator_id, InboxRead.conversation_id == Conversation.id)
        .scalar_subquery()
    )
    return Conversation.last_seq > func.coalesce(seen, 0)


async def list_view(
    session: AsyncSession, view: View, operator_id: int, filters: Filters, limit: int = 50
) -> list[Row]:
    stmt = select(Conversation, _unread_condition(operator_id)).where(*_conditions(view, operator_id, filters))
    if view is View.WAITING:
        stmt = stmt.order_by(Conversation.waiting_since.asc(), Conversation.id)  # the oldest first
    else:
        stmt = stmt.order_by(Conversation.updated_at.desc(), Conversation.id.desc())
    found = (await session.execute(stmt.limit(limit))).all()
    if not found:
        return []
    conversations: list[Conversation] = [row[0] for row in found]
    customer_ids = {c.customer_id for c in conversations}
    customers: dict[int, str] = {
        cid: name
        for cid, name in await session.execute(select(Customer.id, Customer.name).where(Customer.id.in_(customer_ids)))
    }
    assignee_ids = {c.assignee_id for c in conversations if c.assignee_id is not None}
    assignees: dict[int, str] = {}
    if assignee_ids:
        named = func.coalesce(func.nullif(Operator.name, ""), Operator.login)
        assignees = {
            oid: name
            for oid, name in await session.execute(select(Operator.id, named).where(Operator.id.in_(assignee_ids)))
        }
    team_ids = {c.team_id for c in conversations if c.team_id is not None}
    teams: dict[int, str] = {}
    if team_ids:
        team_name = func.coalesce(func.nullif(Team.name, ""), Team.key)
        teams = {
            tid: name for tid, name in await session.execute(select(Team.id, team_name).where(Team.id.in_(team_ids)))
        }
    # The preview is the customer's latest message: one backward walk of (conversation_id, seq) per row, so the
    # cost is per listed row whatever the size of the messages table.
    latest = (
        select(Message.text)
        .where(Message.conversation_id == Conversation.id, Message.author == Author.CUSTOMER)
        .order_by(Message.seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Conversation.id, latest).where(Conversation.id.in_([c.id for c in conversations]))
    )
    previews: dict[int, str] = {cid: text or "" for cid, text in rows}
    result: list[Row] = []
    for conversation, unread in found:
        text = previews.get(conversation.id, "")
        result.append(
            Row(
                id=conversation.id,
                customer_name=customers.get(conversation.customer_id, ""),
                channel=conversation.channel.value,
                language=conversation.language,
                status=conversation.status.value,
                assignee=assignees.get(conversation.assignee_id) if conversation.assignee_id else None,
                waiting_since=conversation.waiting_since,
                updated_at=conversation.updated_at,
                preview=text[:140],
                unread=bool(unread),
                team=teams.get(conversation.team_id) if conversation.team_id else None,
            )
        )
    return result


async def counts(session: AsyncSession, operator_id: int, filters: Filters) -> dict[View, tuple[int, int]]:
    """Per view: (conversations, unread conversations). Closed is not counted: it only grows."""
    out: dict[View, tuple[int, int]] = {}
    # One join with this operator's reads, not a sub-query per conversation: a count reads every open
    # conversation, and a per-row sub-query made All open cost a probe of inbox_reads for each of them.
    read = and_(InboxRead.operator_id == operator_id, InboxRead.conversation_id == Conversation.id)
    unread = Conversation.last_seq > func.coalesce(InboxRead.seen_seq, 0)
    for view in (View.WAITING, View.MINE, View.OPEN):
        stmt = (
            select(func.count(), func.count().filter(unread))
            .select_from(Conversation)
            .outerjoin(InboxRead, read)
            .where(*_conditions(view, operator_id, filters))
        )
        total, unseen = (await session.execute(stmt)).one()
        out[view] = (int(total), int(unseen))
    return out


async def mark_read(session: AsyncSession, operator_id: int, conversation_id: int, seq: int) -> None:
    """Remember that this operator has seen the conversation up to ``seq`` (never moves backwards)."""
    read = await session.get(InboxRead, (operator_id, conversation_id))
    if read is None:
        session.add(InboxRead(operator_id=operator_id, conversation_id=conversation_id, seen_seq=seq))
    elif read.seen_seq < seq:
        read.seen_seq = seq
    await session.flush()
