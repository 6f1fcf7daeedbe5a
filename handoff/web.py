"""The inbox's JSON API: the queue, a conversation with its messages, take, reply, note, close, return."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, Field

from core.events import Event, typing_event
from core.models import Author, Conversation, ConversationStatus, Customer, Message
from core.store import add_outbound, get_conversation, history
from core.web.auth import current_operator
from core.web.keys import BUS, SESSIONS, TEMPLATES
from core.web.routes import Access, Routes, json_response, match_int, read_json, read_query, unit_of_work
from handoff import canned, inbox, routing, teams
from handoff.events import ROUTING_CHANGED
from tickets.keys import TICKET_DESK
from tickets.models import Ticket

routes = Routes("inbox")


class ConversationSummary(BaseModel):
    id: int
    channel: str
    status: str
    customer_id: int
    customer_name: str
    language: str
    assignee_id: int | None
    waiting_since: datetime | None
    updated_at: datetime


class MessageOut(BaseModel):
    id: int
    seq: int
    direction: str
    author: str
    text: str
    private: bool
    delivery_state: str
    created_at: datetime
    attachments: list[dict[str, object]]


class ConversationDetail(ConversationSummary):
    messages: list[MessageOut]


class ConversationList(BaseModel):
    items: list[ConversationSummary]


class QueueQuery(BaseModel):
    status: Literal["waiting", "assigned", "mine", "bot", "closed"] = "waiting"
    limit: int = Field(default=50, ge=1, le=200)


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class Done(BaseModel):
    ok: bool = True
    message_id: int | None = None
    csat_asked: bool | None = None  # closing: whether the customer was asked for a rating (only if a person answered)


def _summary(conversation: Conversation, customer: Customer | None) -> ConversationSummary:
    return ConversationSummary(
        id=conversation.id,
        channel=conversation.channel.value,
        status=conversation.status.value,
        customer_id=conversation.customer_id,
        customer_name=customer.name if customer else "",
        language=conversation.language,
        assignee_id=conversation.assignee_id,
        waiting_since=conversation.waiting_since,
        updated_at=conversation.updated_at,
    )


def _message(m: Message) -> MessageOut:
    return MessageOut(
        id=m.id,
        seq=m.seq,
        direction=m.direction.value,
        author=m.author.value,
        text=m.text,
        private=m.private,
        delivery_state=m.delivery_state.value,
        created_at=m.created_at,
        attachments=m.attachments,
    )


@routes.get("/conversations", access=Access.OPERATOR, query=QueueQuery, response=ConversationList)
async def list_conversations(request: web.Request) -> web.Response:
    """The queue (waiting, oldest first), my conversations, or all assigned ones."""
    query = read_query(request, QueueQuery)
    operator = current_operator(request)
    status = ConversationStatus.ASSIGNED if query.status == "mine" else ConversationStatus(query.status)
    async with request.config_dict[SESSIONS]() as session:
        rows = await inbox.list_conversations(
            session, [status], operator.id if query.status == "mine" else None, query.limit
        )
        customers = {c.id: await session.get(Customer, c.customer_id) for c in rows}
    return json_response(ConversationList(items=[_summary(c, customers[c.id]) for c in rows]))


@routes.get("/conversations/{id}", access=Access.OPERATOR, response=ConversationDetail)
async def get_one(request: web.Request) -> web.Response:
    """A conversation with its whole history, internal notes included."""
    conversation_id = match_int(request, "id")
    async with request.config_dict[SESSIONS]() as session:
        conversation = await get_conversation(session, conversation_id)
        customer = await session.get(Customer, conversation.customer_id)
        messages = await history(session, conversation_id)
    summary = _summary(conversation, customer)
    return json_response(ConversationDetail(**summary.model_dump(), messages=[_message(m) for m in messages]))


@routes.post("/conversations/{id}/take", access=Access.OPERATOR, response=Done)
async def take(request: web.Request) -> web.Response:
    """Take a waiting conversation; a second operator gets 409 naming who has it."""
    async with unit_of_work(request) as uow:
        await inbox.take(uow, match_int(request, "id"), current_operator(request), request.config_dict[TEMPLATES])
    return json_response(Done())


@routes.post("/conversations/{id}/reply", access=Access.OPERATOR, body=ReplyIn, response=Done, status=201)
async def reply(request: web.Request) -> web.Response:
    """Reply to the customer in their own channel (stored, then delivered)."""
    body = await read_json(request, ReplyIn)
    async with unit_of_work(request) as uow:
        message_id = await inbox.reply(uow, match_int(request, "id"), current_operator(request), body.text)
    return json_response(Done(message_id=message_id), status=201)


@routes.post("/conversations/{id}/note", access=Access.OPERATOR, body=ReplyIn, response=Done, status=201)
async def note(request: web.Request) -> web.Response:
    """An internal note: stored with the conversation, never shown to the customer."""
    body = await read_json(request, ReplyIn)
    async with unit_of_work(request) as uow:
        message_id = await inbox.reply(
            uow, match_int(request, "id"), current_operator(request), body.text, private=True
        )
    return json_response(Done(message_id=message_id), status=201)


@routes.post("/conversations/{id}/close", access=Access.OPERATOR, response=Done)
async def close(request: web.Request) -> web.Response:
    """Close the conversation; if an operator answered, the customer is asked for a rating in their channel."""
    async with unit_of_work(request) as uow:
        asked = await inbox.close(
            uow, match_int(request, "id"), current_operator(request), request.config_dict[TEMPLATES]
        )
    return json_response(Done(csat_asked=asked))


@routes.post("/conversations/{id}/return", access=Access.OPERATOR, response=Done)
async def return_to_bot(request: web.Request) -> web.Response:
    """Give the conversation back to the bot."""
    async with unit_of_work(request) as uow:
        await inbox.return_to_bot(
            uow, match_int(request, "id"), current_operator(request), request.config_dict[TEMPLATES]
        )
    return json_response(Done())


class TypingIn(BaseModel):
    on: bool


@routes.post("/conversations/{id}/typing", access=Access.OPERATOR, body=TypingIn, response=Done)
async def typing(request: web.Request) -> web.Response:
    """The holder started or stopped typing a reply: relayed to the customer's channel, never stored.

    Only the holder's typing is shown to the customer (409 for anyone else); the page sends it throttled.
    """
    body = await read_json(request, TypingIn)
    operator = current_operator(request)
    async with request.config_dict[SESSIONS]() as session:
        conversation = await get_conversation(session, match_int(request, "id"))
    inbox.require_holder(conversation, operator)
    event = typing_event(
        conversation.id,
        "operator",
        body.on,
        channel=conversation.channel.value,
        chat_id=conversation.chat_id,
        name=operator.name or operator.login,
    )
    await request.config_dict[BUS].publish(event)
    return json_response(Done())


class TransferIn(BaseModel):
    to_operator_id: int | None = None
    to_team: str | None = Field(default=None, max_length=64)
    note: str = Field(default="", max_length=4000)


@routes.post("/conversations/{id}/transfer", access=Access.OPERATOR, body=TransferIn, response=Done)
async def transfer(request: web.Request) -> web.Response:
    """Transfer a held conversation to another operator or to a team, with an internal note."""
    body = await read_json(request, TransferIn)
    async with unit_of_work(request) as uow:
        await inbox.transfer(
            uow,
            match_int(request, "id"),
            current_operator(request),
            to_operator_id=body.to_operator_id,
            to_team_key=body.to_team,
            note=body.note,
        )
    return json_response(Done())


class TicketFromConversationIn(BaseModel):
    subject: str | None = Field(default=None, max_length=200)
    description: str = Field(min_length=1, max_length=16_000)
    urgency: Literal["low", "medium", "high"] = "medium"
    impact: Literal["one", "several", "many"] = "one"


class TicketCreated(BaseModel):
    number: str


@routes.post(
    "/conversations/{id}/ticket",
    access=Access.OPERATOR,
    body=TicketFromConversationIn,
    response=TicketCreated,
    status=201,
)
async def ticket_from_conversation(request: web.Request) -> web.Response:
    """Open a ticket for the conversation's customer, linked to it; the customer is told its number and ETA."""
    body = await read_json(request, TicketFromConversationIn)
    desk = request.config_dict[TICKET_DESK]
    embedded = await desk.embed_ticket(body.description, body.subject)  # before the transaction: it is slow
    async with unit_of_work(request) as uow:
        conversation = await get_conversation(uow.session, match_int(request, "id"))
        customer = await uow.session.get_one(Customer, conversation.customer_id)
        opened = await desk.open_ticket(
            uow,
            customer,
            conversation,
            description=body.description,
            subject=body.subject,
            urgency=body.urgency,
            impact=body.impact,
            embedded=embedded,
        )
        if conversation.status is not ConversationStatus.CLOSED:
            await add_outbound(uow, conversation, opened.text, author=Author.SYSTEM)
            # The ticket's category decides the conversation's team too (tickets are routed by category).
            ticket = await uow.session.get_one(Ticket, opened.ticket.id)
            await routing.follow_ticket_team(uow.session, conversation, ticket.team_id)
        number = opened.ticket.number
    return json_response(TicketCreated(number=number), status=201)


class CannedQuery(BaseModel):
    q: str = Field(default="", max_length=40)


class CannedOut(BaseModel):
    shortcut: str
    title: str
    text: str


class CannedList(BaseModel):
    items: list[CannedOut]


@routes.get("/conversations/{id}/canned", access=Access.OPERATOR, query=CannedQuery, response=CannedList)
async def canned_for_conversation(request: web.Request) -> web.Response:
    """Canned responses in the conversation's language, placeholders filled for its customer."""
    query = read_query(request, CannedQuery)
    operator = current_operator(request)
    async with request.config_dict[SESSIONS]() as session:
        conversation = await get_conversation(session, match_int(request, "id"))
        customer = await session.get_one(Customer, conversation.customer_id)
        found = await canned.search(session, query.q, conversation.language)
        tickets = await request.config_dict[TICKET_DESK].customer_tickets(session, customer.id) if found else []
    values = {
        "name": customer.name,
        "operator": operator.name or operator.login,
        "ticket": tickets[0].number if tickets else "",
        "eta": (tickets[0].eta_text or "") if tickets else "",
    }
    rendered = [canned.render(row, values) for row in found]
    items = [CannedOut(shortcut=r.shortcut, title=r.title, text=r.text) for r in rendered]
    return json_response(CannedList(items=items))


class PresenceIn(BaseModel):
    status: Literal["online", "away", "offline"]
    capacity: int | None = Field(default=None, ge=0, le=50)


class PresenceOut(BaseModel):
    status: str
    capacity: int


@routes.post("/presence", access=Access.OPERATOR, body=PresenceIn, response=PresenceOut)
async def presence(request: web.Request) -> web.Response:
    """Set one's own presence (online, away, offline) and, optionally, how many chats one takes at once."""
    body = await read_json(request, PresenceIn)
    async with unit_of_work(request) as uow:
        row = await routing.set_presence(uow.session, current_operator(request).id, body.status, body.capacity)
        out = PresenceOut(status=row.status, capacity=row.capacity)
        # Coming online (or taking more chats) may let waiting chats be assigned: routing hears it after commit.
        uow.emit(Event(name=ROUTING_CHANGED, data={"operator_id": row.operator_id, "status": row.status}))
    return json_response(out)


@routes.put("/teams/{key}/members/{operator_id}", access=Access.ADMIN, response=Done)
async def add_member(request: web.Request) -> web.Response:
    """Add an operator to a team (an operator may be in several)."""
    async with unit_of_work(request) as uow:
        await teams.add_member(uow.session, request.match_info["key"], match_int(request, "operator_id"))
    return json_response(Done())


class RoutingIn(BaseModel):
    auto_assign: bool


@routes.put("/teams/{key}/routing", access=Access.ADMIN, body=RoutingIn, response=Done)
async def team_routing(request: web.Request) -> web.Response:
    """Turn a team's auto-assignment (round-robin among its online operators under capacity) on or off."""
    body = await read_json(request, RoutingIn)
    async with unit_of_work(request) as uow:
        await teams.set_auto_assign(uow.session, request.match_info["key"], body.auto_assign)
    return json_response(Done())


def create_app() -> web.Application:
    app = web.Application()
    routes.register(app)
    return app
