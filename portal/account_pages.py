"""The customer portal (a sub-app at ``/portal``): the customer's tickets, reply, cancel, rate, request a service.

Access: every page but the magic-link entry and the sign-in help is ``Access.PORTAL`` — the access middleware
lets through only a session bound to a customer (opened by a link the bot sent) and checks the session's
CSRF token on every form. Each ticket is looked up *for that customer* (:meth:`TicketService.get_for_customer`),
so another customer's ticket number is answered exactly like a number that does not exist.

A reply goes where the bot's "add to my ticket" goes: stored as the customer's message in the ticket's
latest conversation (so operators see it in the inbox), then :meth:`TicketDesk.add_to_ticket`
(:meth:`TicketService.customer_message`) records it on the ticket and restarts its reply clock.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp_session import get_session
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.models import Conversation, Customer, Identity, utcnow
from core.store import CustomerDefaults, InboundMessage, add_outbound, clean_text, open_conversation, record_inbound
from core.templates import LANGUAGES
from core.uow import UnitOfWork
from core.web.auth import csrf_token, portal_customer_id, start_customer_session
from core.web.errors import error_response, wants_json
from core.web.keys import SESSIONS, SETTINGS, TEMPLATES
from core.web.routes import Access, Routes, unit_of_work
from handoff.csat import record_csat
from handoff.models import Csat
from portal import links
from portal.forms import spend_once
from portal.keys import PAGE_LANGUAGE, SITE
from portal.site import PORTAL_CHAT_TEXT, PageError, chat, negotiated_language, render
from portal.wording import moment
from tickets.desk import TicketDesk
from tickets.events import Kind
from tickets.keys import TICKET_DESK
from tickets.models import Ticket, TicketEvent, TicketStatus
from tickets.notify import latest_conversation
from tickets.status import OPEN_STATUSES

__all__ = ["MAX_COMMENT_CHARS", "MAX_REPLY_CHARS", "portal_denied", "routes"]

routes = Routes("portal")

MAX_REPLY_CHARS = 4000
MAX_COMMENT_CHARS = 2000
HISTORY_LIMIT = 200
_RATABLE = frozenset({TicketStatus.RESOLVED, TicketStatus.CLOSED})


# --- who is asking -----------------------------------------------------------------------------------


async def _customer(request: web.Request, session: AsyncSession) -> Customer:
    """The customer the session is bound to (gone — merged or deleted — is as good as signed out)."""
    customer = await session.get(Customer, portal_customer_id(request))
    if customer is None:
        (await get_session(request)).invalidate()
        raise PageError(401, "portal.error.signed_out")
    request[PAGE_LANGUAGE] = _language(request, customer)
    return customer


def _language(request: web.Request, customer: Customer) -> str:
    templates = request.config_dict[TEMPLATES]
    return customer.language if customer.language in LANGUAGES else templates.default_language


def _desk(request: web.Request) -> TicketDesk:
    return request.config_dict[TICKET_DESK]


async def _ticket(request: web.Request, session: AsyncSession, customer: Customer, *, lock: bool = False) -> Ticket:
    number = request.match_info["number"]
    try:
        return await _desk(request).tickets.get_for_customer(session, customer.id, number, lock=lock)
    except NotFound:
        raise PageError(404, "portal.error.ticket", number=number[:20]) from None


async def _form(request: web.Request) -> dict[str, str]:
    form = await request.post()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _text(value: str, limit: int, empty_key: str | None, long_key: str) -> str:
    text, _notes = clean_text(value, limit * 4)
    if empty_key is not None and not text:
        raise PageError(422, empty_key)
    if len(text) > limit:
        raise PageError(422, long_key, limit=limit)
    return text


async def _page(request: web.Request, name: str, customer: Customer, **context: Any) -> web.Response:
    language = _language(request, customer)
    context.setdefault("chat", chat(request.config_dict[SITE], language, ""))
    return render(
        request,
        name,
        language=language,
        customer=customer,
        csrf_token=await csrf_token(request),
        switch=[],
        portal_languages=[lang for lang in LANGUAGES if lang != language],
        here=request.path,
        noindex=True,
        **context,
    )


# --- signing in and out ------------------------------------------------------------------------------


async def portal_denied(request: web.Request, status: int) -> web.StreamResponse:
    """What a portal request without a valid session (401) or form token (403) gets: how to get in again."""
    if wants_json(request):
        message = "open the portal with a new link from the bot" if status == 401 else "reload the page"
        return error_response(status, "unauthorized" if status == 401 else "forbidden", message)
    return _welcome(request, status, "portal.denied.session" if status == 401 else "portal.denied.form")


def _welcome(request: web.Request, status: int, notice: str | None, language: str | None = None) -> web.Response:
    language = language or negotiated_language(request)
    t = request.config_dict[TEMPLATES]
    site = request.config_dict[SITE]
    response = render(
        request,
        "portal_welcome.html",
        language=language,
        status=status,
        page_title=t.render("portal.welcome.title", language),
        notice=t.render(notice, language) if notice else None,
        ttl_minutes=max(1, request.config_dict[SETTINGS].portal_link_ttl // 60),
        chat=chat(site, language, t.render(PORTAL_CHAT_TEXT, language)),
        switch=[],
        noindex=True,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.get("/welcome", access=Access.PUBLIC, html=True)
async def portal_welcome(request: web.Request) -> web.Response:
    """How to open the portal: ask the bot for a link."""
    return _welcome(request, 200, "portal.signed_out" if request.query.get("bye") else None)


def _refused(request: web.Request, state: links.LinkState) -> web.Response:
    status = 404 if state is links.LinkState.UNKNOWN else 410
    response = _welcome(request, status, f"portal.link.{state.value}")
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@routes.get("/enter/{token}", access=Access.PUBLIC, html=True)
async def portal_enter_page(request: web.Request) -> web.Response:
    """The link from the bot: a button that opens the portal (fetching the link for a preview does not spend it)."""
    token = request.match_info["token"]
    async with request.config_dict[SESSIONS]() as session:
        checked = await links.check(session, token)
        customer = await session.get(Customer, checked.customer_id) if checked.customer_id else None
    if checked.state is not links.LinkState.VALID or customer is None:
        return _refused(request, checked.state if customer is not None else links.LinkState.UNKNOWN)
    language = _language(request, customer)
    t = request.config_dict[TEMPLATES]
    response = render(
        request,
        "portal_enter.html",
        language=language,
        page_title=t.render("portal.enter.title", language),
        action=f"{links.ENTER_PATH}{token}",
        customer_name=customer.name,
        switch=[],
        noindex=True,
    )
    # The token is in this page's URL: no Referer may carry it to another site, no cache may keep it.
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def _same_origin(request: web.Request) -> bool:
    """A browser's form post from our own pages (a cross-site form must not sign a visitor in as someone else).

    Browsers say where a request comes from in ``Sec-Fetch-Site``; older ones only in ``Origin``. A client that
    says neither is not a browser being tricked, and the single-use token still protects the link.
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return True
    public = request.config_dict[SETTINGS].public_url.rstrip("/")
    return origin in (public, f"{request.scheme}://{request.host}") or urlsplit(origin).netloc == request.host


@routes.post("/enter/{token}", access=Access.PUBLIC)
async def portal_enter(request: web.Request) -> web.StreamResponse:
    """Spend the link and open a session bound to its customer (single use, expiring)."""
    if not _same_origin(request):
        raise PageError(403, "portal.error.origin")
    async with unit_of_work(request) as uow:
        checked = await links.redeem(uow.session, request.match_info["token"])
    if checked.state is not links.LinkState.VALID or checked.customer_id is None:
        return _refused(request, checked.state)
    await start_customer_session(request, checked.customer_id)
    raise web.HTTPSeeOther("/portal/")


@routes.post("/logout", access=Access.PORTAL, html=True)
async def portal_logout(request: web.Request) -> web.StreamResponse:
    """Sign out of the portal."""
    (await get_session(request)).invalidate()
    raise web.HTTPSeeOther("/portal/welcome?bye=1")


@routes.post("/language", access=Access.PORTAL, html=True)
async def portal_language(request: web.Request) -> web.StreamResponse:
    """The customer's language (the portal's and the bot's)."""
    form = await _form(request)
    language = form.get("language", "")
    if language not in LANGUAGES:
        raise PageError(422, "portal.error.language")
    async with unit_of_work(request) as uow:
        customer = await _customer(request, uow.session)
        customer.language = language
    back = form.get("next", "")
    raise web.HTTPSeeOther(back if back.startswith("/portal/") and not back.startswith("//") else "/portal/")


# --- the customer's tickets --------------------------------------------------------------------------


@routes.get("/", access=Access.PORTAL, html=True)
async def portal_home(request: web.Request) -> web.Response:
    """The customer's tickets (newest first) with status, priority and ETA, and the services to request."""
    desk = _desk(request)
    async with request.config_dict[SESSIONS]() as session:
        customer = await _customer(request, session)
        tickets = await desk.customer_tickets(session, customer.id, open_only=False)
    language = _language(request, customer)
    catalog = request.config_dict[SITE].catalog
    t = request.config_dict[TEMPLATES]
    return await _page(
        request,
        "portal_home.html",
        customer,
        page_title=t.render("portal.home.title", language),
        plan=catalog.plan_name(customer.plan, language) if customer.plan in catalog.sla.plans else customer.plan,
        tickets=[
            {
                "number": v.number,
                "subject": v.subject,
                "status": t.render(f"tickets.status.{v.status.value}", language),
                "open": v.status in OPEN_STATUSES,
                "priority": t.render(f"catalog.priority.{v.priority.value}", language),
                "eta": v.eta_text,
                "last_action": v.last_action,
            }
            for v in tickets
        ],
        services=catalog.service_offers(language, customer.plan),
        done="again" if request.query.get("done") == "again" else None,
    )


async def _history(request: web.Request, session: AsyncSession, ticket: Ticket, customer: Customer) -> list[Any]:
    desk = _desk(request)
    language = _language(request, customer)
    t = request.config_dict[TEMPLATES]
    rows = await session.execute(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.public.is_(True))
        .order_by(TicketEvent.id)
        .limit(HISTORY_LIMIT)
    )
    items = []
    for event in rows.scalars():
        text = str((event.data or {}).get("text") or "")
        if event.kind in (Kind.REPLY, Kind.CUSTOMER_MESSAGE) and text:
            who = "operator" if event.kind == Kind.REPLY else "customer"
            items.append({"who": who, "label": t.render(f"portal.history.{who}", language), "text": text})
        else:
            action = desk.action_text(event, language)
            if action is None:
                continue
            items.append({"who": "system", "text": action})
        items[-1]["when"] = moment(t, event.created_at, language, customer.timezone)
        items[-1]["at"] = event.created_at.isoformat()
    return items


@routes.get("/tickets/{number}", access=Access.PORTAL, html=True)
async def portal_ticket(request: web.Request) -> web.Response:
    """One of the customer's tickets: status, priority, ETA, history; reply, cancel or rate it."""
    desk = _desk(request)
    async with request.config_dict[SESSIONS]() as session:
        customer = await _customer(request, session)
        ticket = await _ticket(request, session, customer)
        view = await desk.view(session, ticket, customer)
        history = await _history(request, session, ticket, customer)
        rating = (await session.execute(select(Csat).where(Csat.ticket_id == ticket.id))).scalar_one_or_none()
    language = _language(request, customer)
    t = request.config_dict[TEMPLATES]
    done = request.query.get("done")
    return await _page(
        request,
        "portal_ticket.html",
        customer,
        page_title=t.render("portal.ticket.title", language, number=view.number),
        ticket={
            "number": view.number,
            "subject": view.subject,
            "status": t.render(f"tickets.status.{view.status.value}", language),
            "status_key": view.status.value,
            "priority": t.render(f"catalog.priority.{view.priority.value}", language),
            "eta": view.eta_text,
            "created": moment(t, ticket.created_at, language, customer.timezone),
            "closed": view.status is TicketStatus.CLOSED,
            "open": view.status in OPEN_STATUSES,
            "ratable": view.status in _RATABLE,
        },
        rating={"value": rating.rating, "comment": rating.comment or ""} if rating else None,
        history=history,
        done=done if done in ("replied", "cancelled", "rated", "created", "again") else None,
        nonce=secrets.token_hex(12),
        limits={"reply": MAX_REPLY_CHARS, "comment": MAX_COMMENT_CHARS},
    )


async def _conversation_for_reply(uow: UnitOfWork, ticket: Ticket, customer: Customer) -> Conversation | None:
    """The conversation the reply joins: the ticket's latest one (reopened on its channel if it was closed)."""
    latest = await latest_conversation(uow.session, ticket.id)
    return await _reopened(uow, customer, latest)


async def _reopened(uow: UnitOfWork, customer: Customer, conversation: Conversation | None) -> Conversation | None:
    if conversation is None or conversation.customer_id != customer.id:
        return None
    return await open_conversation(uow.session, customer, conversation.channel, conversation.chat_id)


async def _store_customer_message(
    request: web.Request,
    uow: UnitOfWork,
    customer: Customer,
    conversation: Conversation,
    text: str,
    meta: dict[str, Any],
) -> None:
    """The reply as the customer's message in the conversation: the inbox shows it like one typed in the chat."""
    identity = (
        await uow.session.execute(
            select(Identity)
            .where(Identity.customer_id == customer.id, Identity.channel == conversation.channel)
            .order_by(Identity.id)
            .limit(1)
        )
    ).scalar_one_or_none()
    if identity is None:
        return
    settings = request.config_dict[SETTINGS]
    stored = await record_inbound(
        uow,
        InboundMessage(
            channel=conversation.channel.value,
            external_user_id=identity.external_id,
            chat_id=conversation.chat_id,
            text=text,
            meta={"via": "portal", **meta},
        ),
        CustomerDefaults(settings.default_language, settings.default_timezone, settings.default_plan),
        settings.max_message_chars,
    )
    # Written on the web, answered on the web: the bot takes no turn on it in the chat.
    stored.message.handled_at = utcnow()


@routes.post("/tickets/{number}/reply", access=Access.PORTAL, html=True)
async def portal_reply(request: web.Request) -> web.StreamResponse:
    """Add to the ticket: stored as the customer's message in its conversation and on the ticket."""
    form = await _form(request)
    text = _text(form.get("text", ""), MAX_REPLY_CHARS, "portal.error.empty_reply", "portal.error.long_reply")
    async with unit_of_work(request) as uow:
        customer = await _customer(request, uow.session)
        ticket = await _ticket(request, uow.session, customer, lock=True)
        number = ticket.number
        if ticket.status is TicketStatus.CLOSED:
            raise PageError(409, "portal.error.closed", number=number)
        if not await spend_once(uow.session, f"reply:{form.get('nonce') or secrets.token_hex(12)}"):
            raise web.HTTPSeeOther(f"/portal/tickets/{number}?done=again#history")
        conversation = await _conversation_for_reply(uow, ticket, customer)
        if conversation is not None:
            await _store_customer_message(request, uow, customer, conversation, text, {"ticket": number})
        await _desk(request).add_to_ticket(uow, customer.id, number, text, conversation=conversation)
    raise web.HTTPSeeOther(f"/portal/tickets/{number}?done=replied#history")


@routes.post("/tickets/{number}/cancel", access=Access.PORTAL, html=True)
async def portal_cancel(request: web.Request) -> web.StreamResponse:
    """Withdraw the ticket (it is closed)."""
    async with unit_of_work(request) as uow:
        customer = await _customer(request, uow.session)
        ticket = await _ticket(request, uow.session, customer, lock=True)
        number = ticket.number
        if ticket.status is TicketStatus.CLOSED:
            raise PageError(409, "portal.error.already_closed", number=number)
        await _desk(request).cancel_ticket(uow, customer.id, number)
    raise web.HTTPSeeOther(f"/portal/tickets/{number}?done=cancelled")


@routes.post("/tickets/{number}/rating", access=Access.PORTAL, html=True)
async def portal_rate(request: web.Request) -> web.StreamResponse:
    """Rate a resolved or closed ticket 1–5, with an optional comment (a second rating replaces the first)."""
    form = await _form(request)
    raw = form.get("rating", "").strip()
    if raw not in ("1", "2", "3", "4", "5"):
        raise PageError(422, "portal.error.rating")
    comment = _text(form.get("comment", ""), MAX_COMMENT_CHARS, None, "portal.error.long_comment") or None
    async with unit_of_work(request) as uow:
        customer = await _customer(request, uow.session)
        ticket = await _ticket(request, uow.session, customer)
        number = ticket.number
        if ticket.status not in _RATABLE:
            raise PageError(409, "portal.error.rate_open", number=number)
        await record_csat(uow.session, rating=int(raw), comment=comment, ticket_id=ticket.id)
    raise web.HTTPSeeOther(f"/portal/tickets/{number}?done=rated")


# --- requesting a service ----------------------------------------------------------------------------


@routes.get("/request/{service}", access=Access.PORTAL, html=True)
async def portal_request_form(request: web.Request) -> web.Response:
    """The form to request a catalog service."""
    catalog = request.config_dict[SITE].catalog
    async with request.config_dict[SESSIONS]() as session:
        customer = await _customer(request, session)
    language = _language(request, customer)
    key = request.match_info["service"]
    offer = next((s for s in catalog.service_offers(language) if s.key == key), None)
    if offer is None:
        raise PageError(404, "portal.error.service")
    t = request.config_dict[TEMPLATES]
    return await _page(
        request,
        "portal_request.html",
        customer,
        page_title=t.render("portal.request.title", language, service=offer.name),
        service=offer,
        allowed=catalog.may_request(key, customer.plan),
        nonce=secrets.token_hex(12),
        limit=MAX_REPLY_CHARS,
    )


@routes.post("/request/{service}", access=Access.PORTAL, html=True)
async def portal_request(request: web.Request) -> web.StreamResponse:
    """Request a catalog service: a ticket of the service's category, with its own ETA, told in the chat too."""
    catalog = request.config_dict[SITE].catalog
    key = request.match_info["service"]
    form = await _form(request)
    details = _text(form.get("details", ""), MAX_REPLY_CHARS, None, "portal.error.long_reply")
    async with unit_of_work(request) as uow:
        customer = await _customer(request, uow.session)
        service = catalog.services.get(key)
        if service is None:
            raise PageError(404, "portal.error.service")
        if not catalog.may_request(key, customer.plan):
            raise PageError(409, "portal.error.service_plan")
        if not await spend_once(uow.session, f"request:{form.get('nonce') or secrets.token_hex(12)}"):
            raise web.HTTPSeeOther("/portal/?done=again")
        conversation = await _latest_customer_conversation(uow, customer)
        if conversation is None:
            raise PageError(409, "portal.error.no_channel")
        name = service.names.get(_language(request, customer))
        opened = await _desk(request).open_ticket(
            uow,
            customer,
            conversation,
            description=f"{name}\n{details}".strip(),
            subject=name,
            category=service.category,
            urgency=service.urgency.value,
            impact="one",
        )
        # The number and the ETA also go to the chat: where the customer talks to us, the request is on record.
        await add_outbound(uow, conversation, opened.text, meta={"ticket_id": opened.ticket.id, "via": "portal"})
    raise web.HTTPSeeOther(f"/portal/tickets/{opened.ticket.number}?done=created")


async def _latest_customer_conversation(uow: UnitOfWork, customer: Customer) -> Conversation | None:
    latest = (
        await uow.session.execute(
            select(Conversation)
            .where(Conversation.customer_id == customer.id)
            .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return await _reopened(uow, customer, latest)
