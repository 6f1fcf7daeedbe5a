"""The /reports pages: the report, its CSV tables and the conversations or tickets behind each figure."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import transaction
from core.errors import InvalidInput, NotFound
from core.models import Channel, Customer
from core.settings import ROOT
from core.web.auth import csrf_token, current_operator
from core.web.keys import NAV, SESSIONS, SETTINGS, TEMPLATES
from core.web.pages import NavItem, page_language, render_page
from core.web.routes import Access, Routes
from kb.markdown import render_html
from reports import metrics
from reports.period import Filters, Period, read_filters, read_period
from reports.tables import Report, build_report, to_csv
from sla.policy import SlaPolicy
from tickets.keys import TICKET_DESK

__all__ = ["PAGES_DIR", "register", "routes"]

PAGES_DIR = Path(__file__).parent / "pages"
routes = Routes("reports")
PRIORITIES = ("P1", "P2", "P3", "P4")


def _sla(request: web.Request) -> SlaPolicy:
    return request.config_dict[TICKET_DESK].tickets.sla


def _tz(request: web.Request) -> ZoneInfo:
    return ZoneInfo(request.config_dict[SETTINGS].default_timezone)


async def _choices(db: AsyncSession, sla: SlaPolicy) -> dict[str, Any]:
    operators, teams = await metrics.names(db)
    plans = set(sla.plans) | set((await db.execute(select(Customer.plan).distinct())).scalars())
    return {
        "channels": [c.value for c in Channel],
        "plans": sorted(plans),
        "teams": sorted(teams.items(), key=lambda kv: kv[1]),
        "operators": sorted(operators.items(), key=lambda kv: kv[1]),
    }


async def _read(request: web.Request, db: AsyncSession) -> tuple[Period, Filters, dict[str, Any]]:
    choices = await _choices(db, _sla(request))
    query = dict(request.query)
    tz = _tz(request)
    period = read_period(query, tz, datetime.now(tz).date())
    filters = read_filters(
        query,
        set(choices["plans"]),
        {i for i, _ in choices["teams"]},
        {i for i, _ in choices["operators"]},
    )
    return period, filters, choices


def _charts(report: Report) -> dict[str, str]:
    """Chart data for the front end (frontend/src/reports): numbers and drill-down links, no labels' texts."""
    days = report.rhythm.by_day_channel
    channels = sorted({c for counts in days.values() for c in counts})
    funnel = report.tables["funnel"]
    data: dict[str, Any] = {
        "volume": {
            "labels": list(days),
            "series": {c: [days[d].get(c, 0) for d in days] for c in channels},
        },
        "funnel": {
            "keys": [row[0].value for row in funnel.rows],
            "values": [row[1].value for row in funnel.rows],
            "links": [row[1].link for row in funnel.rows],
        },
        "hours": report.rhythm.by_hour,
        "csat": report.csat.distribution,
    }
    return {name: json.dumps(value) for name, value in data.items()}


@routes.get("/reports", access=Access.MANAGER, html=True)
async def reports_page(request: web.Request) -> web.StreamResponse:
    """The managers' report: demand, the bot, humans, SLA and satisfaction for a period and filters."""
    operator = current_operator(request)
    async with request.config_dict[SESSIONS]() as db:  # read only; build_report ends transactions as it goes
        try:
            period, filters, choices = await _read(request, db)
        except InvalidInput as exc:
            choices = await _choices(db, _sla(request))
            return render_page(
                request,
                "reports.html",
                status=400,
                operator=operator,
                csrf_token=await csrf_token(request),
                error=exc.message,
                report=None,
                query=dict(request.query),
                choices=choices,
            )
        report = await build_report(db, period, filters, _sla(request), _tz(request))
    return render_page(
        request,
        "reports.html",
        operator=operator,
        csrf_token=await csrf_token(request),
        error=None,
        report=report,
        charts=_charts(report),
        query={"from": period.first_day.isoformat(), "to": period.last_day.isoformat(), **filters.query()},
        choices=choices,
        export_query=request.query_string,
    )


@routes.get("/reports/export/{table}", access=Access.MANAGER, html=True)  # a download the browser follows
async def export_table(request: web.Request) -> web.StreamResponse:
    """One table of the report as CSV, for the same period and filters."""
    name = request.match_info["table"].removesuffix(".csv")
    async with request.config_dict[SESSIONS]() as db:
        period, filters, _ = await _read(request, db)
        report = await build_report(db, period, filters, _sla(request), _tz(request))
    table = report.tables.get(name)
    if table is None:
        raise NotFound(f"no report table {name!r}", known=sorted(report.tables))
    templates = request.config_dict[TEMPLATES]
    language = page_language(request, templates)
    body = to_csv(table, lambda column: templates.render(f"reports.col.{column}", language))
    filename = f"{name}-{period.first_day.isoformat()}-{period.last_day.isoformat()}.csv"
    return web.Response(
        body=("\ufeff" + body).encode("utf-8"),  # the BOM makes spreadsheet programs read UTF-8
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


def _back(period: Period, filters: Filters) -> str:
    query = {"from": period.first_day.isoformat(), "to": period.last_day.isoformat(), **filters.query()}
    return "/reports?" + urlencode(query)


@routes.get("/reports/conversations", access=Access.MANAGER, html=True)
async def conversations_behind(request: web.Request) -> web.StreamResponse:
    """The conversations behind a figure of the report."""
    stage = request.query.get("stage") or "conversations"
    if stage not in metrics.STAGES:
        raise InvalidInput(f"unknown stage {stage!r}", field="stage", known=list(metrics.STAGES))
    async with transaction(request.config_dict[SESSIONS]) as db:
        period, filters, _ = await _read(request, db)
        rows = await metrics.drill_conversations(db, period, filters, stage)
    return render_page(
        request,
        "reports_items.html",
        operator=current_operator(request),
        csrf_token=await csrf_token(request),
        kind="conversations",
        conversations=rows,
        tickets=[],
        period=period,
        filters=filters,
        narrow={"stage": stage},
        back=_back(period, filters),
        limit=metrics.DRILL_LIMIT,
    )


@routes.get("/reports/tickets", access=Access.MANAGER, html=True)
async def tickets_behind(request: web.Request) -> web.StreamResponse:
    """The tickets behind a figure of the report."""
    priority = request.query.get("priority") or None
    if priority is not None and priority not in PRIORITIES:
        raise InvalidInput(f"unknown priority {priority!r}", field="priority")
    outcome = request.query.get("outcome") or "all"
    if outcome not in metrics.TICKET_OUTCOMES:
        raise InvalidInput(f"unknown outcome {outcome!r}", field="outcome", known=list(metrics.TICKET_OUTCOMES))
    async with transaction(request.config_dict[SESSIONS]) as db:
        period, filters, _ = await _read(request, db)
        rows = await metrics.drill_tickets(db, period, filters, priority=priority, outcome=outcome)
    return render_page(
        request,
        "reports_items.html",
        operator=current_operator(request),
        csrf_token=await csrf_token(request),
        kind="tickets",
        conversations=[],
        tickets=rows,
        period=period,
        filters=filters,
        narrow={"priority": priority or "", "outcome": outcome},
        back=_back(period, filters),
        limit=metrics.DRILL_LIMIT,
    )


DEFINITIONS = ROOT / "docs" / "metrics.md"


@routes.get("/reports/definitions", access=Access.MANAGER, html=True)
async def definitions(request: web.Request) -> web.StreamResponse:
    """How every figure of the report is counted (docs/metrics.md)."""
    text = DEFINITIONS.read_text(encoding="utf-8") if DEFINITIONS.is_file() else ""
    html = render_html(text)  # the knowledge base's renderer: sanitised HTML
    return render_page(
        request,
        "reports_definitions.html",
        operator=current_operator(request),
        csrf_token=await csrf_token(request),
        body=html,
    )


def register(app: web.Application) -> None:
    routes.register(app)
    app[NAV].append(NavItem("nav.reports", "/reports", Access.MANAGER))
