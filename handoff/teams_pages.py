"""The admins' teams page: teams (create, rename, disable), members, auto-assignment, operators' capacity.

Plain forms that work without script; a refused change re-renders the page with the reason beside the form
it came from and the typed values kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import transaction
from core.errors import Conflict, FrontlineError, NotFound
from core.events import Event
from core.web.keys import SESSIONS
from core.web.routes import Access, Routes, match_int, unit_of_work
from core.web.staff import staff_page
from handoff import teams
from handoff.events import ROUTING_CHANGED

routes = Routes("teams-pages")
PAGE = "/inbox/teams"


def _error_key(exc: FrontlineError) -> str:
    """The template key of the reason shown beside the form."""
    if isinstance(exc, Conflict):
        return "teams.error.exists"
    if isinstance(exc, NotFound):
        return "teams.error.not_found"
    field = str(exc.details.get("field", ""))
    return f"teams.error.{field}" if field in ("key", "name", "capacity", "operator_id") else "teams.error.invalid"


async def _page(
    request: web.Request,
    *,
    status: int = 200,
    error: tuple[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> web.Response:
    async with transaction(request.config_dict[SESSIONS]) as session:
        team_views, operator_views = await teams.overview(session)
    return await staff_page(
        request,
        "teams.html",
        status=status,
        teams=team_views,
        operators=operator_views,
        error_form=error[0] if error else None,
        error_key=error[1] if error else None,
        form=form or {},
        capacity_limit=teams.CAPACITY_LIMIT,
    )


async def _change(
    request: web.Request,
    form_id: str,
    change: Callable[[AsyncSession], Awaitable[None]],
    form: dict[str, str] | None = None,
    *,
    reroute: bool = False,
) -> web.Response:
    """Apply one admin change; on success back to the page, on a refusal the page with the reason."""
    try:
        async with unit_of_work(request) as uow:
            await change(uow.session)
            if reroute:  # waiting chats may now fit someone
                uow.emit(Event(name=ROUTING_CHANGED, data={}))
    except FrontlineError as exc:
        return await _page(request, status=exc.status, error=(form_id, _error_key(exc)), form=form)
    raise web.HTTPSeeOther(f"{PAGE}#{form_id}")


def _text(data: MultiDictProxy[Any], name: str, limit: int = 400) -> str:
    """A posted text field, cut to ``limit``; a file or a missing field reads as empty."""
    value = data.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


@routes.get(PAGE, access=Access.ADMIN, html=True)
async def teams_page(request: web.Request) -> web.StreamResponse:
    """Teams with their members and auto-assignment, and every operator's capacity."""
    return await _page(request)


@routes.post(PAGE, access=Access.ADMIN, html=True)
async def team_create(request: web.Request) -> web.StreamResponse:
    """Create a team from its key and name."""
    data = await request.post()
    form = {"key": _text(data, "key"), "name": _text(data, "name")}

    async def change(session: AsyncSession) -> None:
        await teams.create_team(session, form["key"], form["name"])

    return await _change(request, "new-team", change, form)


@routes.post(PAGE + "/{key}", access=Access.ADMIN, html=True)
async def team_update(request: web.Request) -> web.StreamResponse:
    """Rename a team, enable or disable it, turn its auto-assignment on or off."""
    key = request.match_info["key"]
    data = await request.post()
    name = _text(data, "name")
    active = _text(data, "active") == "on"
    auto_assign = _text(data, "auto_assign") == "on"

    async def change(session: AsyncSession) -> None:
        await teams.rename_team(session, key, name)
        await teams.set_team_active(session, key, active)
        await teams.set_auto_assign(session, key, auto_assign and active)

    return await _change(request, f"team-{key}", change, {"name": name}, reroute=True)


@routes.post(PAGE + "/{key}/members", access=Access.ADMIN, html=True)
async def member_add(request: web.Request) -> web.StreamResponse:
    """Add an operator to the team (an operator may be in several teams)."""
    key = request.match_info["key"]
    data = await request.post()
    chosen = _text(data, "operator_id")

    async def change(session: AsyncSession) -> None:
        await teams.add_member(session, key, int(chosen) if chosen.isdigit() else 0)

    return await _change(request, f"team-{key}", change, reroute=True)


@routes.post(PAGE + "/{key}/members/{operator_id}/remove", access=Access.ADMIN, html=True)
async def member_remove(request: web.Request) -> web.StreamResponse:
    """Take an operator out of the team."""
    key = request.match_info["key"]
    operator_id = match_int(request, "operator_id")

    async def change(session: AsyncSession) -> None:
        await teams.remove_member(session, key, operator_id)

    return await _change(request, f"team-{key}", change)


@routes.post("/inbox/operators/{id}/capacity", access=Access.ADMIN, html=True)
async def capacity(request: web.Request) -> web.StreamResponse:
    """Set how many chats an operator holds at once before auto-assignment passes them by."""
    operator_id = match_int(request, "id")
    data = await request.post()
    value = _text(data, "capacity", 8).strip()

    async def change(session: AsyncSession) -> None:
        await teams.set_capacity(session, operator_id, int(value) if value.isdigit() else -1)

    return await _change(request, f"operator-{operator_id}", change, {"capacity": value}, reroute=True)
