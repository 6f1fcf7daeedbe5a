"""The operator inbox's pages: the queue (/inbox), a conversation, and the live stream that keeps them current.

Pages are rendered on the server; ``frontend/src/inbox`` adds live updates, the draft kept in the browser,
the actions (through the JSON API in :mod:`handoff.web`) and the keyboard. The list and the conversation's
thread are also served as fragments, so a live update re-reads them through the same access-checked code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import transaction
from core.errors import InvalidInput
from core.events import CONVERSATION_STATUS_CHANGED, Event
from core.models import (
    Channel,
    Conversation,
    ConversationStatus,
    Customer,
    Identity,
    Message,
    Operator,
    Team,
    utcnow,
)
from core.store import get_conversation
from core.uow import UnitOfWork
from core.web.auth import current_operator, session_check
from core.web.keys import BUS, NAV, SESSIONS, SETTINGS, TEMPLATES
from core.web.pages import NavItem
from core.web.routes import Access, Routes, match_int
from core.web.staff import staff_fragment, staff_page
from handoff import canned_pages, queue, routing, teams_pages, ticket_pages
from handoff.events import ROUTING_CHANGED
from handoff.keys import LIVE_HUB
from handoff.live import LiveHub, serve_stream
from handoff.models import Csat, OperatorPresence
from handoff.why import Why, why_of
from kb.keys import KNOWLEDGE_BASE
from kb.markdown import render_html
from records import views as records_views
from records.queries import records_of
from tickets.desk import TicketDesk
from tickets.keys import TICKET_DESK

PAGES_DIR = Path(__file__).parent / "pages"
routes = Routes("inbox-pages")
HISTORY_LIMIT = 300
REPLY_LIMIT = 4000
LANGUAGES = ("ru", "en")


async def inbox_ctx(app: web.Application) -> AsyncIterator[None]:
    """The live hub on this worker, fed by the event bus, and routing (start after the bus context)."""
    hub = LiveHub()
    hub.attach(app[BUS])
    app[LIVE_HUB] = hub
    settings = app[SETTINGS]
    away_after = timedelta(seconds=settings.inbox_away_after)
    rules = routing.RoutingRules.load(settings.data_dir, settings.inbox_default_team)

    async def offer() -> None:
        await routing.offer_waiting(app[SESSIONS], app[BUS], rules, away_after, app[TEMPLATES])

    async def route(event: Event) -> None:
        if event.data.get("to") == ConversationStatus.WAITING.value:
            async with UnitOfWork(app[SESSIONS], app[BUS]) as uow:
                await routing.route_waiting(uow, int(event.data["conversation_id"]), rules, away_after, app[TEMPLATES])
        if event.data.get("from") == ConversationStatus.ASSIGNED.value and event.data.get("to") != "assigned":
            await offer()  # its holder has room for one more chat

    async def routing_changed(event: Event) -> None:
        if event.data.get("status", routing.Presence.ONLINE.value) == routing.Presence.ONLINE.value:
            await offer()  # going away or offline frees no one

    app[BUS].subscribe(route, CONVERSATION_STATUS_CHANGED)
    app[BUS].subscribe(routing_changed, ROUTING_CHANGED)
    yield
    await hub.close()


def register(app: web.Application) -> None:
    ticket_pages.routes.register(app)
    canned_pages.routes.register(app)  # before /inbox/conversations: nothing overlaps, but keep pages together
    teams_pages.routes.register(app)
    routes.register(app)
    app[NAV].append(NavItem("nav.inbox", "/inbox", Access.OPERATOR))
    app[NAV].append(NavItem("nav.tickets", "/inbox/tickets", Access.OPERATOR))
    app[NAV].append(NavItem("nav.canned", "/inbox/canned", Access.ADMIN))
    app[NAV].append(NavItem("nav.teams", "/inbox/teams", Access.ADMIN))
    # Open streams end before the server waits for its handlers, so shutdown is not held up by them.
    app.on_shutdown.append(_close_streams)


async def _close_streams(app: web.Application) -> None:
    hub = app.get(LIVE_HUB)
    if hub is not None:
        await hub.close()


def _filters(request: web.Request) -> tuple[queue.View, queue.Filters]:
    try:
        view = queue.View(request.query.get("view", queue.View.WAITING.value))
        channel_value = request.query.get("channel") or None
        channel = Channel(channel_value) if channel_value else None
    except ValueError:
        raise InvalidInput("unknown view or channel", views=[v.value for v in queue.View]) from None
    language = request.query.get("language") or None
    if language is not None and language not in LANGUAGES:
        raise InvalidInput("unknown language", languages=list(LANGUAGES))
    return view, queue.Filters(channel=channel, language=language)


LIVE_REFRESH = "X-Frontline-Refresh"
"""Sent by the inbox script when it re-reads a fragment because of a live event, not because of the operator."""


def live_refresh(request: web.Request) -> bool:
    return request.headers.get(LIVE_REFRESH) == "live"


async def _queue_context(request: web.Request, operator: Operator) -> dict[str, Any]:
    view, filters = _filters(request)
    team_key = request.query.get("team") or None
    async with transaction(request.config_dict[SESSIONS]) as session:
        teams = list((await session.execute(select(Team).order_by(Team.key))).scalars())
        if team_key is not None:
            team = next((t for t in teams if t.key == team_key), None)
            if team is None:
                raise InvalidInput("unknown team", field="team")
            filters = replace(filters, team_id=team.id)
        presence = await routing.touch(session, operator.id, active=not live_refresh(request))
        rows = await queue.list_view(session, view, operator.id, filters)
        counts = await queue.counts(session, operator.id, filters)
    query = {k: v for k, v in (("channel", filters.channel), ("language", filters.language), ("team", team_key)) if v}
    return {
        "view": view.value,
        "views": [v.value for v in queue.View],
        "filters": query,
        "rows": rows,
        "counts": {v.value: c for v, c in counts.items()},
        "unread_total": sum(unread for _total, unread in counts.values()),
        "channels": [c.value for c in Channel],
        "languages": LANGUAGES,
        "now": utcnow(),
        "presence_status": presence,
        "teams": teams,
    }


@routes.get("/inbox", access=Access.OPERATOR, html=True)
async def inbox_page(request: web.Request) -> web.StreamResponse:
    """The inbox: Waiting, Mine, All open and Closed, filtered by channel and language, kept live."""
    context = await _queue_context(request, current_operator(request))
    return await staff_page(request, "inbox.html", **context)


@routes.get("/inbox/list", access=Access.OPERATOR, html=True)
async def inbox_list(request: web.Request) -> web.StreamResponse:
    """The list and the views' counts as an HTML fragment: what a live tab re-reads after an event."""
    context = await _queue_context(request, current_operator(request))
    return staff_fragment(request, "inbox_list.html", **context)


@routes.get("/inbox/events", access=Access.OPERATOR, html=True)
async def inbox_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: what changed, as ids and states; the tab re-reads what it shows. The stream ends
    with ``signed_out`` when the session that opened it expires or is signed out."""
    return await serve_stream(request, request.config_dict[LIVE_HUB], await session_check(request))


@dataclass(frozen=True, slots=True)
class HistoryItem:
    message: Message
    conversation_id: int
    author_name: str
    why: Why | None
    html: Markup | None = None  # a Markdown bot answer, rendered as the help center shows it (safe HTML)


async def _history(session: AsyncSession, customer_id: int) -> list[HistoryItem]:
    """The customer's latest messages across all their conversations and channels, oldest first."""
    stmt = (
        select(Message, Operator.name)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .outerjoin(Operator, Operator.id == Message.operator_id)
        .where(Conversation.customer_id == customer_id)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(HISTORY_LIMIT)
    )
    rows = (await session.execute(stmt)).all()
    return [HistoryItem(m, m.conversation_id, name or "", why_of(m), _markdown_html(m)) for m, name in reversed(rows)]


def _markdown_html(message: Message) -> Markup | None:
    # Article answers are stored as Markdown; an operator should read them as the customer did, not as asterisks.
    if message.meta.get("format") != "markdown":
        return None
    return Markup(render_html(message.text))  # noqa: S704 - render_html cleans its output with nh3


async def thread_context(
    session: AsyncSession, conversation_id: int, operator: Operator, *, active: bool = True
) -> dict[str, Any]:
    """The conversation's state and the customer's history; marks it read for this operator."""
    conversation = await get_conversation(session, conversation_id)
    holder = await session.get(Operator, conversation.assignee_id) if conversation.assignee_id else None
    items = await _history(session, conversation.customer_id)
    await queue.mark_read(session, operator.id, conversation.id, conversation.last_seq)
    presence = await routing.touch(session, operator.id, active=active)
    return {
        "conversation": conversation,
        "holder": (holder.name or holder.login) if holder else None,
        "mine": conversation.assignee_id == operator.id and conversation.status.value == "assigned",
        "items": items,
        "last_seq": conversation.last_seq,
        "presence_status": presence,
    }


async def card_context(session: AsyncSession, desk: TicketDesk, customer_id: int) -> dict[str, Any]:
    """The customer card: who they are, where they write from, open tickets with ETA, past ratings, equipment."""
    customer = await session.get_one(Customer, customer_id)
    identities = list((await session.execute(select(Identity).where(Identity.customer_id == customer_id))).scalars())
    tickets = await desk.customer_tickets(session, customer_id)
    ratings = list(
        (
            await session.execute(
                select(Csat)
                .join(Conversation, Conversation.id == Csat.conversation_id)
                .where(Conversation.customer_id == customer_id)
                .order_by(Csat.created_at.desc())
                .limit(10)
            )
        ).scalars()
    )
    on = records_views.today()
    service_records = [records_views.view(r, on) for r in await records_of(session, customer_id)]
    return {
        "customer": customer,
        "identities": identities,
        "tickets": tickets,
        "ratings": ratings,
        "service_records": service_records,
    }


@dataclass(frozen=True, slots=True)
class TransferChoice:
    operator: Operator
    status: routing.Presence


async def transfer_context(session: AsyncSession, operator: Operator, away_after: timedelta) -> dict[str, Any]:
    """Whom a conversation can be transferred to: other active operators (with presence) and active teams."""
    rows = await session.execute(
        select(Operator, OperatorPresence)
        .outerjoin(OperatorPresence, OperatorPresence.operator_id == Operator.id)
        .where(Operator.active.is_(True), Operator.id != operator.id)
        .order_by(Operator.name, Operator.login)
    )
    now = utcnow()
    choices = [TransferChoice(o, routing.effective_status(p, now, away_after)) for o, p in rows]
    teams = list((await session.execute(select(Team).where(Team.active.is_(True)).order_by(Team.key))).scalars())
    return {"transfer_operators": choices, "transfer_teams": teams}


@routes.get("/inbox/conversations/{id}", access=Access.OPERATOR, html=True)
async def conversation_page(request: web.Request) -> web.StreamResponse:
    """A conversation: the customer's history across channels, their card, suggestions, reply and notes."""
    operator = current_operator(request)
    conversation_id = match_int(request, "id")
    async with transaction(request.config_dict[SESSIONS]) as session:
        thread = await thread_context(session, conversation_id, operator)
        conversation: Conversation = thread["conversation"]
        card = await card_context(session, request.config_dict[TICKET_DESK], conversation.customer_id)
        transfer = await transfer_context(
            session, operator, timedelta(seconds=request.config_dict[SETTINGS].inbox_away_after)
        )
    last_inbound = next(
        (i.message.text for i in reversed(thread["items"]) if i.message.author.value == "customer" and i.message.text),
        "",
    )
    suggestions = []
    if last_inbound:
        hits = await request.config_dict[KNOWLEDGE_BASE].search(
            last_inbound, conversation.language, k=5, count_view=False
        )
        # Articles the search itself calls unrelated ("unknown" band) would only be noise beside the chat.
        suggestions = [hit for hit in hits if str(hit.band) != "unknown"][:3]
    # The new ticket's description, prefilled with what the customer wrote in this conversation.
    ticket_draft = "\n".join(
        i.message.text
        for i in thread["items"]
        if i.conversation_id == conversation.id and i.message.author.value == "customer" and i.message.text
    )[-4000:]
    return await staff_page(
        request,
        "inbox_conversation.html",
        **transfer,
        ticket_draft=ticket_draft,
        **card,
        suggestions=suggestions,
        last_inbound=last_inbound,
        reply_limit=REPLY_LIMIT,
        **thread,
    )


@routes.get("/inbox/conversations/{id}/thread", access=Access.OPERATOR, html=True)
async def conversation_thread(request: web.Request) -> web.StreamResponse:
    """The conversation's state and history as an HTML fragment, re-read by the page after an event."""
    operator = current_operator(request)
    async with transaction(request.config_dict[SESSIONS]) as session:
        thread = await thread_context(session, match_int(request, "id"), operator, active=not live_refresh(request))
    return staff_fragment(request, "inbox_thread.html", **thread)
