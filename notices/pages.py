"""The admins' notice pages: compose (from a template), preview the audience, send once, follow delivery.

Plain forms, readable and usable without scripts. The compose form carries a one-time key, so the same form
posted twice stores one notice; "Send" is a conditional update, so two clicks send once.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select

from core.db import transaction
from core.errors import FrontlineError, NotFound
from core.models import Channel
from core.web.auth import current_operator
from core.web.keys import NAV, SESSIONS, TEMPLATES
from core.web.pages import NavItem
from core.web.routes import Access, Routes, match_int
from core.web.staff import staff_page
from notices import sending
from notices.audience import Audience, AudienceKind, Preview, preview
from notices.keys import DUE_SOURCES, NOTICE_SENDER
from notices.models import Notice, NoticeKind, NoticeState
from notices.status import failures, notice_status

__all__ = ["PAGES_DIR", "register", "routes"]

PAGES_DIR = Path(__file__).parent / "pages"
PRESETS = ("maintenance", "outage", "news")
FIELDS = ("key", "kind", "title", "text_ru", "text_en", "audience", "value", "days")
LIST_SIZE = 50

routes = Routes("notices")


def _form_from_preset(request: web.Request, preset: str) -> dict[str, str]:
    form = {"key": secrets.token_urlsafe(16), "kind": NoticeKind.SERVICE.value, "audience": AudienceKind.ALL.value}
    if preset in PRESETS:
        templates = request.config_dict[TEMPLATES]
        form["text_ru"] = str(templates.raw(f"notices.preset.{preset}.text", "ru"))
        form["text_en"] = str(templates.raw(f"notices.preset.{preset}.text", "en"))
        form["title"] = str(templates.raw(f"notices.preset.{preset}.title", current_operator(request).language))
        if preset == "outage":
            form["kind"] = NoticeKind.INCIDENT.value
    return form


async def _compose(
    request: web.Request, form: dict[str, str], status: int = 200, error: str | None = None
) -> web.Response:
    async with transaction(request.config_dict[SESSIONS]) as session:
        notices = list((await session.scalars(select(Notice).order_by(Notice.id.desc()).limit(LIST_SIZE))).all())
    return await staff_page(
        request,
        "notices.html",
        status=status,
        form=form,
        error=error,
        notices=notices,
        presets=PRESETS,
        kinds=[NoticeKind.SERVICE, NoticeKind.INCIDENT],
        audiences=list(AudienceKind),
        channels=[c.value for c in Channel],
    )


@routes.get("/notices", access=Access.ADMIN, html=True)
async def notices_page(request: web.Request) -> web.StreamResponse:
    """Compose a notice (optionally from a template) and the list of notices."""
    return await _compose(request, _form_from_preset(request, request.query.get("preset", "")))


def _audience_fields(form: dict[str, str]) -> dict[str, object]:
    days = form.get("days", "").strip()
    return {
        "kind": form.get("audience", ""),
        "value": form.get("value", "").strip(),
        # Not a number (or absurdly long): -1, which the audience refuses with a clear reason.
        "days": int(days) if days.isdigit() and len(days) <= 4 else (0 if not days else -1),
    }


@routes.post("/notices", access=Access.ADMIN, html=True)
async def notices_create(request: web.Request) -> web.StreamResponse:
    """Store a notice as a draft (once per form) and show its preview; a bad one comes back with the reason."""
    data = await request.post()
    form = {name: str(data.get(name, ""))[:4000] for name in FIELDS}
    operator = current_operator(request)
    try:
        audience = Audience.read(_audience_fields(form))
        fields = {name: form.get(name, "") for name in ("key", "kind", "title", "text_ru", "text_en")}
        draft = sending.NoticeDraft.read({**fields, "audience": audience})
        async with transaction(request.config_dict[SESSIONS]) as session:
            notice = await sending.create(session, draft, operator.id)
            notice_id = notice.id
    except FrontlineError as exc:
        message = request.config_dict[TEMPLATES].render("notices.bad_input", operator.language, message=str(exc))
        return await _compose(request, form, status=exc.status, error=message)
    raise web.HTTPSeeOther(f"/notices/{notice_id}")


async def _notice(request: web.Request, notice_id: int) -> tuple[Notice, Preview | None, dict[str, Any]]:
    async with transaction(request.config_dict[SESSIONS]) as session:
        notice = await session.get(Notice, notice_id)
        if notice is None:
            raise NotFound("there is no such notice")
        audience = Audience.model_validate(notice.audience)
        seen: Preview | None = None
        if notice.state is NoticeState.DRAFT:
            seen = await preview(
                session, audience, urgent=notice.kind.urgent, sources=request.config_dict.get(DUE_SOURCES)
            )
        counts = await notice_status(session, notice_id)
        failed = await failures(session, notice_id)
    return notice, seen, {"counts": counts, "failed": failed, "audience": audience}


@routes.get("/notices/{id}", access=Access.ADMIN, html=True)
async def notice_page(request: web.Request) -> web.StreamResponse:
    """A notice: its preview while a draft, then its delivery (pending, delivered, failed, opted out)."""
    return await _render_notice(request, match_int(request, "id"))


async def _render_notice(
    request: web.Request, notice_id: int, status: int = 200, message: str | None = None
) -> web.Response:
    try:
        notice, seen, facts = await _notice(request, notice_id)
    except FrontlineError as exc:  # an unknown notice, or an audience that can no longer be resolved
        return await staff_page(
            request,
            "notice.html",
            status=exc.status,
            notice=None,
            error=str(exc),
        )
    return await staff_page(
        request,
        "notice.html",
        status=status,
        notice=notice,
        preview=seen,
        message=message,
        error=None,
        **facts,
    )


@routes.post("/notices/{id}/send", access=Access.ADMIN, html=True)
async def notice_send(request: web.Request) -> web.StreamResponse:
    """Send a previewed notice: once, however often the button is pressed; never to an empty audience."""
    notice_id = match_int(request, "id")
    operator = current_operator(request)
    sources = request.config_dict.get(DUE_SOURCES)
    refused: int | None = None  # a page is rendered only after this transaction ends (SQLite: one writer)
    started = False
    async with transaction(request.config_dict[SESSIONS]) as session:
        notice = await session.get(Notice, notice_id)
        if notice is None:
            refused = 404
        elif notice.state is NoticeState.DRAFT:
            audience = Audience.model_validate(notice.audience)
            seen = await preview(session, audience, urgent=notice.kind.urgent, sources=sources)
            refused = 422 if seen.count == 0 else None
        if refused is None:
            started = await sending.start(session, notice_id, operator.id)
    if refused is not None:
        return await _render_notice(request, notice_id, status=refused)
    if not started:
        message = request.config_dict[TEMPLATES].render("notices.already_sent", operator.language)
        return await _render_notice(request, notice_id, status=409, message=message)
    sender = request.config_dict.get(NOTICE_SENDER)
    if sender is not None:
        sender.wake()
    raise web.HTTPSeeOther(f"/notices/{notice_id}")


def register(app: web.Application) -> None:
    routes.register(app)
    app[NAV].append(NavItem("nav.notices", "/notices", Access.ADMIN))
