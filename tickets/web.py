"""Operators' JSON API for tickets and incidents (a sub-app mounted at ``/api``), and its start-up contexts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from core.errors import InvalidInput
from core.models import utcnow
from core.web.auth import current_operator
from core.web.keys import BUS, SESSIONS, SETTINGS, TEMPLATES
from core.web.routes import Access, Routes, json_response, match_int, read_json, read_query, unit_of_work
from nlu.embedding import Embedder, shared_embedder
from nlu.keys import EMBEDDER
from sla.policy import Priority
from tickets.breach import BreachWatch
from tickets.desk import TicketDesk
from tickets.keys import BREACH_WATCH, TICKET_DESK
from tickets.models import Actor, Incident, TicketStatus
from tickets.queries import TicketFilter, list_tickets
from tickets.schemas import (
    IncidentCreated,
    IncidentDetail,
    IncidentIn,
    IncidentList,
    IncidentOut,
    IncidentPatch,
    IncidentQuery,
    IncidentResolved,
    IncidentTicket,
    LinkBody,
    TextBody,
    TicketDetail,
    TicketPage,
    TicketPatch,
    TicketQuery,
    TransitionBody,
    incident_fields,
    summary,
    team_key,
    ticket_detail,
)
from tickets.service import EmbedderSource

__all__ = ["breach_ctx", "create_app", "routes", "tickets_ctx"]

routes = Routes("tickets")


def _desk(request: web.Request) -> TicketDesk:
    return request.config_dict[TICKET_DESK]


def _csv(value: str | None, cls: type[TicketStatus] | type[Priority], name: str) -> list[Any]:
    if not value:
        return []
    try:
        return [cls(part.strip()) for part in value.split(",") if part.strip()]
    except ValueError:
        raise InvalidInput(f"unknown {name} in {value!r}", allowed=[m.value for m in cls]) from None


async def _filter(request: web.Request, query: TicketQuery) -> TicketFilter:
    flt = TicketFilter(
        statuses=_csv(query.status, TicketStatus, "status"),
        priorities=_csv(query.priority, Priority, "priority"),
        breached=query.breached,
        at_risk=query.at_risk,
        customer_id=query.customer,
        text=query.q,
        sort=query.sort,
        page=query.page,
        per_page=query.per_page,
    )
    if query.team == "none":
        flt.no_team = True
    elif query.team:
        async with request.config_dict[SESSIONS]() as session:
            team = await _desk(request).tickets.team_by_key(session, query.team)
        if team is None:
            raise InvalidInput(f"unknown team {query.team!r}", field="team")
        flt.team_id = team.id
    if query.assignee == "none":
        flt.unassigned = True
    elif query.assignee == "me":
        flt.assignee_id = current_operator(request).id
    elif query.assignee:
        # isascii: "²".isdigit() is true but int("²") fails; 19 digits bound it to a 64-bit id
        if not (query.assignee.isascii() and query.assignee.isdigit() and len(query.assignee) <= 18):
            raise InvalidInput("assignee is an operator id, 'me' or 'none'", field="assignee")
        flt.assignee_id = int(query.assignee)
    return flt


# --- tickets -----------------------------------------------------------------------------------------


@routes.get("/tickets", access=Access.OPERATOR, query=TicketQuery, response=TicketPage)
async def tickets_list(request: web.Request) -> web.Response:
    """List tickets: filter by status, priority, team, assignee, SLA state, customer, text; newest or most due first."""
    query = read_query(request, TicketQuery)
    flt = await _filter(request, query)
    async with request.config_dict[SESSIONS]() as session:
        rows, has_more = await list_tickets(session, flt)
    page = TicketPage(items=[summary(r) for r in rows], page=flt.page, per_page=flt.per_page, has_more=has_more)
    return json_response(page)


@routes.get("/tickets/{number}", access=Access.OPERATOR, response=TicketDetail)
async def ticket_get(request: web.Request) -> web.Response:
    """A ticket with its SLA clock, incident links and full event log."""
    async with request.config_dict[SESSIONS]() as session:
        ticket = await _desk(request).tickets.get(session, request.match_info["number"])
        return json_response(await ticket_detail(session, ticket))


async def _detail(request: web.Request, ticket_id: int) -> web.Response:
    async with request.config_dict[SESSIONS]() as session:
        ticket = await _desk(request).tickets.get(session, ticket_id)
        return json_response(await ticket_detail(session, ticket))


@routes.patch("/tickets/{number}", access=Access.OPERATOR, body=TicketPatch, response=TicketDetail)
async def ticket_update(request: web.Request) -> web.Response:
    """Change fields; a new priority (or urgency/impact) re-plans the due times and re-tells the customer the ETA."""
    operator = current_operator(request)
    body = await read_json(request, TicketPatch)
    desk = _desk(request)
    async with unit_of_work(request) as uow:
        ticket = await desk.tickets.get(uow.session, request.match_info["number"], lock=True)
        fields = body.model_dump(exclude_unset=True, mode="json")
        await desk.tickets.update(uow, ticket, fields, operator_id=operator.id, now=utcnow())
        ticket_id = ticket.id
    return await _detail(request, ticket_id)


@routes.post("/tickets/{number}/transition", access=Access.OPERATOR, body=TransitionBody, response=TicketDetail)
async def ticket_transition(request: web.Request) -> web.Response:
    """Move the ticket to another status; an illegal move is a 409 naming from and to."""
    operator = current_operator(request)
    body = await read_json(request, TransitionBody)
    desk = _desk(request)
    async with unit_of_work(request) as uow:
        ticket = await desk.tickets.get(uow.session, request.match_info["number"], lock=True)
        await desk.tickets.transition(
            uow, ticket, body.to, actor=Actor.OPERATOR, operator_id=operator.id, now=utcnow(), reason=body.reason
        )
        ticket_id = ticket.id
    return await _detail(request, ticket_id)


async def _add_text(request: web.Request, private: bool) -> web.Response:
    """A reply (delivered to the customer) or an internal note (never shown), answered with the ticket."""
    operator = current_operator(request)
    body = await read_json(request, TextBody)
    desk = _desk(request)
    async with unit_of_work(request) as uow:
        ticket = await desk.tickets.get(uow.session, request.match_info["number"], lock=True)
        add = desk.tickets.note if private else desk.tickets.reply
        await add(uow, ticket, body.text, operator_id=operator.id, now=utcnow())
        ticket_id = ticket.id
    response = await _detail(request, ticket_id)
    response.set_status(201)
    return response


@routes.post("/tickets/{number}/reply", access=Access.OPERATOR, body=TextBody, response=TicketDetail, status=201)
async def ticket_reply(request: web.Request) -> web.Response:
    """A public reply, delivered to the customer's latest conversation of the ticket."""
    return await _add_text(request, private=False)


@routes.post("/tickets/{number}/notes", access=Access.OPERATOR, body=TextBody, response=TicketDetail, status=201)
async def ticket_note(request: web.Request) -> web.Response:
    """An internal note: in the ticket's log, never shown to the customer."""
    return await _add_text(request, private=True)


@routes.put("/tickets/{number}/incident", access=Access.OPERATOR, body=LinkBody, response=TicketDetail)
async def ticket_link(request: web.Request) -> web.Response:
    """Link the ticket to an open incident; its customer is told about the outage and its restoration time."""
    operator = current_operator(request)
    body = await read_json(request, LinkBody)
    desk = _desk(request)
    async with unit_of_work(request) as uow:
        ticket = await desk.tickets.get(uow.session, request.match_info["number"], lock=True)
        incident = await desk.incidents.get(uow.session, body.incident_id)
        await desk.incidents.link(uow, ticket, incident, operator_id=operator.id, now=utcnow())
        ticket_id = ticket.id
    return await _detail(request, ticket_id)


@routes.delete("/tickets/{number}/incident", access=Access.OPERATOR, response=TicketDetail)
async def ticket_unlink(request: web.Request) -> web.Response:
    """Unlink the ticket from its incident."""
    operator = current_operator(request)
    desk = _desk(request)
    async with unit_of_work(request) as uow:
        ticket = await desk.tickets.get(uow.session, request.match_info["number"], lock=True)
        await desk.incidents.unlink(uow, ticket, operator_id=operator.id, now=utcnow())
        ticket_id = ticket.id
    return await _detail(request, ticket_id)


# --- incidents ---------------------------------------------------------------------------------------


async def _incident_out(request: web.Request, incident: Incident, linked: int) -> dict[str, Any]:
    async with request.config_dict[SESSIONS]() as session:
        return incident_fields(incident, await team_key(session, incident.team_id), linked)


@routes.get("/incidents", access=Access.OPERATOR, query=IncidentQuery, response=IncidentList)
async def incidents_list(request: web.Request) -> web.Response:
    """Incidents, newest first, with the number of linked tickets."""
    query = read_query(request, IncidentQuery)
    async with request.config_dict[SESSIONS]() as session:
        rows = await _desk(request).incidents.list_incidents(session, query.status)
        items = [IncidentOut(**incident_fields(incident, team, n)) for incident, n, team in rows]
    return json_response(IncidentList(items=items))


@routes.post("/incidents", access=Access.OPERATOR, body=IncidentIn, response=IncidentCreated, status=201)
async def incident_create(request: web.Request) -> web.Response:
    """Open an incident; open tickets of the last hours that match it are linked and their customers told."""
    operator = current_operator(request)
    body = await read_json(request, IncidentIn)
    desk = _desk(request)
    async with unit_of_work(request) as uow:
        incident, linked = await desk.incidents.create(
            uow,
            title=body.title,
            service=body.service,
            category=body.category,
            description=body.description,
            restoration_eta=body.restoration_eta,
            team=body.team,
            operator_id=operator.id,
        )
    out = IncidentCreated(**await _incident_out(request, incident, linked), linked_now=linked)
    return json_response(out, status=201)


async def _incident_detail(request: web.Request, incident_id: int) -> IncidentDetail:
    desk = _desk(request)
    async with request.config_dict[SESSIONS]() as session:
        incident = await desk.incidents.get(session, incident_id)
        links = await desk.incidents.links(session, incident_id)
        tickets = [
            IncidentTicket(number=t.number, status=t.status, link=link.state, score=link.score) for t, link in links
        ]
        linked = sum(1 for t in tickets if t.link == "linked")
        return IncidentDetail(
            **incident_fields(incident, await team_key(session, incident.team_id), linked), tickets=tickets
        )


@routes.get("/incidents/{incident_id}", access=Access.OPERATOR, response=IncidentDetail)
async def incident_get(request: web.Request) -> web.Response:
    """An incident with its linked and suggested tickets."""
    return json_response(await _incident_detail(request, match_int(request, "incident_id")))


@routes.patch("/incidents/{incident_id}", access=Access.OPERATOR, body=IncidentPatch, response=IncidentDetail)
async def incident_update(request: web.Request) -> web.Response:
    """Edit an incident; a new restoration time is told to every linked customer once."""
    operator = current_operator(request)
    incident_id = match_int(request, "incident_id")
    body = await read_json(request, IncidentPatch)
    desk = _desk(request)
    async with unit_of_work(request) as uow:
        incident = await desk.incidents.get(uow.session, incident_id, lock=True)
        await desk.incidents.update(
            uow, incident, body.model_dump(exclude_unset=True), operator_id=operator.id, now=utcnow()
        )
    return json_response(await _incident_detail(request, incident_id))


@routes.post("/incidents/{incident_id}/resolve", access=Access.OPERATOR, response=IncidentResolved)
async def incident_resolve(request: web.Request) -> web.Response:
    """Resolve the incident and its linked tickets; every linked customer is told once, in their own channel."""
    operator = current_operator(request)
    incident_id = match_int(request, "incident_id")
    desk = _desk(request)
    async with unit_of_work(request) as uow:
        incident, resolved, told = await desk.incidents.resolve(uow, incident_id, operator_id=operator.id)
    linked = (await _incident_detail(request, incident_id)).linked_tickets
    out = IncidentResolved(
        incident=IncidentOut(**await _incident_out(request, incident, linked)),
        resolved_tickets=resolved,
        notified_customers=told,
    )
    return json_response(out)


@routes.delete("/incidents/{incident_id}", access=Access.OPERATOR, status=204)
async def incident_delete(request: web.Request) -> web.Response:
    """Delete an incident opened by mistake; its tickets are unlinked."""
    operator = current_operator(request)
    incident_id = match_int(request, "incident_id")
    async with unit_of_work(request) as uow:
        await _desk(request).incidents.delete(uow, incident_id, operator_id=operator.id, now=utcnow())
    return web.Response(status=204)


def create_app() -> web.Application:
    app = web.Application()
    routes.register(app)
    return app


# --- start-up ----------------------------------------------------------------------------------------


def _embedder_source(app: web.Application) -> EmbedderSource:
    """The root app's shared embedder when a context put one there, else one loaded on first use."""
    settings = app[SETTINGS]

    def source() -> Embedder:
        shared = app.get(EMBEDDER)
        if shared is not None:
            return shared
        return shared_embedder(settings.embedding_model, settings.embedding_threads)

    return source


async def tickets_ctx(app: web.Application) -> AsyncIterator[None]:
    """The shared :class:`TicketDesk` (SLA, escalation and routing files are read and checked here)."""
    settings = app[SETTINGS]
    desk = await asyncio.to_thread(TicketDesk.from_settings, settings, app[TEMPLATES], _embedder_source(app))
    app[TICKET_DESK] = desk
    yield


async def breach_ctx(app: web.Application) -> AsyncIterator[None]:
    """The breach watch: at-risk and breach marks, escalations. Safe to run in every worker on PostgreSQL."""
    settings = app[SETTINGS]
    watch = BreachWatch(
        app[SESSIONS],
        app[BUS],
        app[TICKET_DESK].tickets,
        language=settings.default_language,
        timezone=settings.default_timezone,
    )
    app[BREACH_WATCH] = watch
    await watch.start()
    yield
    await watch.stop()
