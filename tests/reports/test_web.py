"""The /reports pages through the real application: access, figures, drill-down, CSV and bad input."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app
from bot.demo import DEMO_ACCOUNTS
from core.db import SessionFactory, transaction
from core.operators import add_operator
from core.settings import Settings
from tests.reports.dataset import History, load_history
from tests.support.staff import sign_in

ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
PERIOD = "from=2026-10-19&to=2026-11-01"


@pytest.fixture
async def history(sessions: SessionFactory) -> History:
    async with transaction(sessions) as db:
        for account in DEMO_ACCOUNTS:
            await add_operator(db, account.login, account.password, account.role, account.name)
    return await load_history(sessions)


@pytest.fixture
async def client(
    settings: Settings, engine: AsyncEngine, history: History, aiohttp_client: ClientFactory
) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(settings))


@pytest.mark.parametrize(("role", "status"), [("operator", 403), ("editor", 403), ("manager", 200), ("admin", 200)])
async def test_only_managers_and_admins_see_reports(client: TestClient[Any, Any], role: str, status: int) -> None:
    await sign_in(client, role)
    assert (await client.get(f"/reports?{PERIOD}")).status == status
    assert (await client.get(f"/reports/export/funnel.csv?{PERIOD}")).status == status
    home = await (await client.get("/")).text()
    assert ('href="/reports"' in home) is (status == 200)


async def test_the_report_shows_the_period_and_links_each_figure_to_what_is_behind_it(
    client: TestClient[Any, Any], history: History
) -> None:
    await sign_in(client, "manager")
    page = await (await client.get(f"/reports?{PERIOD}&lang=en")).text()
    assert "Resolved by the bot alone" in page
    assert ">50%<" in page  # deflection: 2 of 4 closed conversations
    # The customer's comment is shown as text, not as markup.
    assert "&lt;b&gt;долго&lt;/b&gt;" in page
    assert "<b>долго</b>" not in page
    # The "closed by the bot alone" figure opens exactly those conversations.
    link = re.search(r'href="(/reports/conversations\?[^"]*stage=deflected[^"]*)"', page)
    assert link, "the deflection figure links to its conversations"
    behind = await (await client.get(link.group(1).replace("&amp;", "&"))).text()
    shown = set(map(int, re.findall(r"/inbox/conversations/(\d+)", behind)))
    assert shown == {history.conversations["C4"], history.conversations["C5"]}
    # The SLA table's P1 cell opens the P1 ticket.
    tickets = await (
        await client.get(f"/reports/tickets?{PERIOD}&plan=office&priority=P1&outcome=resolution_breached&lang=en")
    ).text()
    assert "Outcome: resolution late" in tickets
    assert f"T-{history.tickets['T2']:06d}" in tickets
    assert f"T-{history.tickets['T1']:06d}" not in tickets


async def test_every_table_downloads_as_csv(client: TestClient[Any, Any]) -> None:
    await sign_in(client, "manager")
    page = await (await client.get(f"/reports?{PERIOD}")).text()
    exports = sorted(set(re.findall(r'href="/reports/export/([a-z_]+)\.csv', page)))
    assert len(exports) >= 18
    for name in exports:
        response = await client.get(f"/reports/export/{name}.csv?{PERIOD}&lang=en")
        assert response.status == 200, name
        assert response.headers["Content-Disposition"] == f'attachment; filename="{name}-2026-10-19-2026-11-01.csv"'
    body = await (await client.get(f"/reports/export/conversations_by_channel_plan.csv?{PERIOD}&lang=en")).read()
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows == [
        ["Channel", "Plan", "Conversations"],
        ["telegram", "care", "1"],
        ["telegram", "office", "3"],
        ["web", "office", "2"],
    ]
    funnel = list(
        csv.reader(
            io.StringIO((await (await client.get(f"/reports/export/funnel.csv?{PERIOD}")).read()).decode("utf-8-sig"))
        )
    )
    assert funnel[3] == ["deflected", "2", "0.3333"]


async def test_bad_input_gets_a_clear_answer(client: TestClient[Any, Any]) -> None:
    await sign_in(client, "manager")
    reversed_period = await client.get("/reports?from=2026-11-01&to=2026-10-01&lang=en")
    assert reversed_period.status == 400
    assert "the period starts after it ends" in await reversed_period.text()
    assert (await client.get("/reports?from=not-a-date")).status == 400
    assert (await client.get(f"/reports?{PERIOD}&plan=<script>")).status == 400
    assert "&lt;script&gt;" in await (await client.get(f"/reports?{PERIOD}&plan=<script>")).text()
    assert (await client.get(f"/reports?{PERIOD}&operator=999999")).status == 400
    assert (await client.get(f"/reports?{PERIOD}&team=abc")).status == 400
    assert (await client.get(f"/reports?{PERIOD}&team=999999")).status == 400
    assert (await client.get(f"/reports?{PERIOD}&language=xx")).status == 400
    unknown = await client.get(f"/reports/export/funnel.csv?{PERIOD}&channel=fax")
    assert unknown.status == 422  # the download answers as the other non-page routes do
    assert "unknown channel 'fax'" in await unknown.text()
    assert (await client.get(f"/reports?{PERIOD}&channel=fax")).status == 400
    assert (await client.get("/reports?from=2016-11-02&to=2026-11-01")).status == 200  # ten years
    assert (await client.get("/reports?from=2010-01-01&to=2026-11-01")).status == 400
    empty = await client.get("/reports?from=2020-01-01&to=2020-01-31&lang=en")
    assert empty.status == 200
    assert "Nothing happened in this period" in await empty.text()
    assert (await client.get(f"/reports/export/nope.csv?{PERIOD}")).status == 404
    assert (await client.get(f"/reports/conversations?{PERIOD}&stage=nope")).status == 422
    assert (await client.get(f"/reports/tickets?{PERIOD}&priority=P9")).status == 422


async def test_the_definitions_page(client: TestClient[Any, Any]) -> None:
    await sign_in(client, "manager")
    page = await (await client.get("/reports/definitions")).text()
    assert "<h1>How the reports count</h1>" in page
