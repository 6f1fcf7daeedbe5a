"""The tickets beside the inbox: a ticket list with filters and text search, and a ticket with its event log.

Changes (status, priority, team, the incident link) go through the tickets JSON API (``/api/tickets/...``),
which re-plans the SLA and tells the customer; these pages only render, and ``frontend/src/inbox`` sends the
forms as JSON.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from core.db import transaction
from core.errors import InvalidInput
from core.models import Operator, Team
from core.web.keys import SESSIONS
from core.web.routes import Access, Routes, read_query
from core.web.staff import staff_page
from sla.policy import Priority
from tickets.keys import TICKET_DESK
from tickets.models import IncidentStatus, TicketStatus
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
    return await staff_page(
        request,
        "tickets_list.html",
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
    desk = request.config_dict[TICKET_DESK]
    async with transaction(request.config_dict[SESSIONS]) as session:
        ticket = await desk.tickets.get(session, request.match_info["number"])
        detail = await ticket_detail(session, ticket)
        # The incidents it may be linked to: open ones, newest first.
        incidents = [row[0] for row in await desk.incidents.list_incidents(session, IncidentStatus.OPEN)]
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
    return await staff_page(
        request,
        "ticket_page.html",
        ticket=detail,
        teams=teams,
        names=names,
        incidents=incidents,
        statuses=[s.value for s in TicketStatus],
        priorities=[p.value for p in Priority],
    )
