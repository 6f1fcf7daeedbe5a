"""/reports in real headless Chromium on the generated demo history: charts drawn, a figure opens what is behind
it, a table downloads as CSV, and the page fits a phone."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from bot.demo import DEMO_ACCOUNTS, load_demo
from core.db import create_engine, session_factory
from core.settings import Settings
from reports.history import load_demo_history
from sla.policy import SlaPolicy
from tests.support.browser import DESKTOP, PHONE, page_settings, screenshot, serve, sign_in

pytestmark = pytest.mark.browser
SHOTS = Path("/work/shots/reports")
MANAGER = next(a for a in DEMO_ACCOUNTS if a.role == "manager")


async def _seed(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    try:
        factory = session_factory(engine)
        await load_demo(factory, settings)
        await load_demo_history(
            factory, SlaPolicy.load(settings.data_dir), ZoneInfo(settings.default_timezone), weeks=4
        )
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = page_settings(tmp_path_factory.mktemp("reports"))
    asyncio.run(_seed(settings))
    with serve(settings) as thread:
        yield thread.url


def _shoot(page: Page, name: str) -> None:
    path = screenshot(page, name)
    if SHOTS.parent.is_dir():  # the session's shared folder for people to look at, when there is one
        SHOTS.mkdir(exist_ok=True)
        shutil.copy(path, SHOTS / path.name)


def test_reports_in_a_browser(server: str, browser: Browser) -> None:
    context = browser.new_context(locale="ru-RU", viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    sign_in(page, server, MANAGER.login, MANAGER.password)
    page.goto(f"{server}/reports")
    expect(page.get_by_role("heading", name="Отчёты", exact=True)).to_be_visible()
    # Chart.js has drawn every chart (it sizes the canvas to its box when it draws).
    canvases = page.locator("canvas[data-chart]")
    expect(canvases).to_have_count(4)
    for i in range(4):
        expect(canvases.nth(i)).to_have_attribute("style", re.compile("height"))
    page.wait_for_timeout(600)  # let the charts' entry animation finish before the picture
    _shoot(page, "reports-desktop")
    # A CSV of a table downloads.
    with page.expect_download() as download:
        page.locator("#t-sla a.csv").click()
    assert download.value.suggested_filename.startswith("sla-")
    # The deflection figure opens the conversations behind it.
    page.locator(".kpi").nth(1).click()
    expect(page.get_by_role("heading", name="Диалоги за этой цифрой")).to_be_visible()
    expect(page.locator("tbody tr").first).to_be_visible()
    _shoot(page, "reports-drilldown")
    context.close()
    phone = browser.new_context(locale="ru-RU", viewport=PHONE, is_mobile=True)
    page = phone.new_page()
    sign_in(page, server, MANAGER.login, MANAGER.password)
    page.goto(f"{server}/reports")
    expect(page.locator("canvas[data-chart]").first).to_be_visible()
    # Nothing is wider than the phone: wide tables scroll inside their own box.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.wait_for_timeout(600)
    _shoot(page, "reports-phone")
    phone.close()
