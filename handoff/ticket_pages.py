"""The tickets beside the inbox: a ticket list with filters and text search, and a ticket with its event log.

Changes (status, priority, team) go through the tickets JSON API (``/api/tickets/...``), which re-plans the
SLA and tells the customer; these pages only render, and ``frontend/src/inbox`` sends the forms as JSON.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from core.db import transaction
from core.errors import InvalidInput
from core.models import Operator, Team
from core.web.auth import csrf_token, current_operator
from core.web.keys import SESSIONS
from core.web.pages import render_page
from core.web.routes import Access, Routes, read_query
from sla.policy import Priority
from tickets.keys import TICKET_DESK
from tickets.models import TicketStatus
from tickets.queries import TicketFilter, list_tickets
from tickets.schemas import TicketQuery, summary, ticket_detail

routes = Routes("ticket-pages")


def _one(value: str | None, cls: type[TicketStatus] | type[Priority], name: str) -> list[Any]:
    if not value:
        return []
    try:
        return [cls(part) for part in value.split(",") if part]
    except ValueError:
        raise InvalidInput(f"unknown {name}", allowed=[m.value for m in cls]) from None


@routes.get("/inbox/tickets", access=Access.OPERATOR, html=True)
async def tickets_page(request: web.Request) -> web.StreamResponse:
    """Tickets: filter by status, priority and team, search by number or text, newest or most due first."""
    operator = current_operator(request)
    query = read_query(request, TicketQuery)
    flt = TicketFilter(
        statuses=_one(query.status, TicketStatus, "status"),
        priorities=_one(query.priority, Priority, "priority"),
        text=query.q or None,
        sort=query.sort,
        page=query.page,
        per_page=query.per_page,
        breached=query.breached,
    )
    async with transaction(request.config_dict[SESSIONS]) as session:
        teams = list((await session.execute(select(Team).order_by(Team.key))).scalars())
        if query.team:
            team = next((t for t in teams if t.key == query.team), None)
            if team is None:
                raise InvalidInput("unknown team", field="team")
            flt.team_id = team.id
        rows, has_more = await list_tickets(session, flt)
    params = {k: v for k, v in request.query.items() if k != "page" and v}
    return render_page(
        request,
        "tickets_list.html",
        operator=operator,
        language=operator.language,
        csrf_token=await csrf_token(request),
        tickets=[summary(r) for r in rows],
        query=query,
        teams=teams,
        statuses=[s.value for s in TicketStatus],
        priorities=[p.value for p in Priority],
        page=flt.page,
        has_more=has_more,
        params=params,
    )


@routes.get("/inbox/tickets/{number}", access=Access.OPERATOR, html=True)
async def ticket_page(request: web.Request) -> web.StreamResponse:
    """A ticket: its SLA timers, incident, conversations, and the whole event log; status and priority forms."""
    operator = current_operator(request)
    async with transaction(request.config_dict[SESSIONS]) as session:
        ticket = await request.config_dict[TICKET_DESK].tickets.get(session, request.match_info["number"])
        detail = await ticket_detail(session, ticket)
        teams = list((await session.execute(select(Team).order_by(Team.key))).scalars())
        ids = {e.operator_id for e in detail.events if e.operator_id}
        names = (
            {
                o.id: o.name or o.login
                for o in (await session.execute(select(Operator).where(Operator.id.in_(ids)))).scalars()
            }
            if ids
            else {}
        )
    return render_page(
        request,
        "ticket_page.html",
        operator=operator,
        language=operator.language,
        csrf_token=await csrf_token(request),
        ticket=detail,
        teams=teams,
        names=names,
        statuses=[s.value for s in TicketStatus],
        priorities=[p.value for p in Priority],
    )
