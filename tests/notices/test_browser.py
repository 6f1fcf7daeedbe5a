"""/notices in real headless Chromium: compose from a template, preview the audience, send, watch delivery —
with a customer whose name is HTML (shown as text everywhere) and the notice arriving in a Telegram chat."""

from __future__ import annotations

import html
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select, update

from core.models import Customer, Identity
from core.web.keys import SESSIONS
from standin.botapi import BotApiStandIn
from standin.stack import TOKEN
from tests.support.browser import (
    DESKTOP,
    PHONE,
    ServerThread,
    page_settings,
    screenshot,
    served_with_standin,
    sign_in,
)

pytestmark = pytest.mark.browser
SHOTS = Path("/work/shots")
CHAT = 9001
PLAN = "browser-e2e"
HOSTILE = "<img src=x onerror=\"document.title='pwned'\">Анна <b>Смирнова</b>"


def _shoot(page: Page, name: str) -> None:
    """Desktop and 375-px phone screenshots, copied to the session's shared folder when there is one."""
    for suffix, size in (("", DESKTOP), ("-phone", PHONE)):
        page.set_viewport_size(size)  # type: ignore[arg-type]
        path = screenshot(page, f"notices-{name}{suffix}")
        if SHOTS.is_dir():
            shutil.copy(path, SHOTS / path.name)
    page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, BotApiStandIn]]:
    settings = page_settings(tmp_path_factory.mktemp("notices"), telegram_token=TOKEN)
    with served_with_standin(settings) as (thread, standin):
        yield thread, standin


def _customer_writes(thread: ServerThread, standin: BotApiStandIn) -> None:
    """The customer writes once from Telegram; then an admin's data gives them a plan and an HTML name."""
    standin.push_update(standin.make_text_update(CHAT, CHAT, "привет", first_name="Anna"))

    async def stored() -> bool:
        async with thread.app[SESSIONS]() as session:
            found = await session.scalar(select(Identity.customer_id).where(Identity.external_id == str(CHAT)))
            if found is None:
                return False
            await session.execute(update(Customer).where(Customer.id == found).values(plan=PLAN, name=HOSTILE))
            await session.commit()
            return True

    deadline = time.monotonic() + 60
    while not thread.run_coroutine(stored()):
        assert time.monotonic() < deadline, "the customer's message was not stored"
        time.sleep(0.2)


def _transcript(page: Page, standin: BotApiStandIn) -> None:
    """The chat as the stand-in recorded it, drawn as a Telegram-like transcript (every text escaped)."""
    bubbles = []
    for call in standin.calls_to("sendMessage"):
        if not call.ok or call.params.get("chat_id") != CHAT:
            continue
        markup: Any = call.params.get("reply_markup") or {}
        buttons = "".join(
            f"<span class='btn'>{html.escape(b['text'])}</span>"
            for row in markup.get("inline_keyboard", [])
            for b in row
        )
        bubbles.append(f"<div class='bubble'>{html.escape(str(call.params['text']))}<div>{buttons}</div></div>")
    page.set_content(
        "<html><head><style>body{font:15px system-ui;background:#dfe7ef;margin:0;padding:16px}"
        ".bubble{background:#fff;border-radius:12px;padding:10px 12px;margin:8px 0;max-width:560px;"
        "white-space:pre-wrap;overflow-wrap:anywhere}.btn{display:inline-block;margin:8px 6px 0 0;padding:6px 10px;"
        "border-radius:8px;background:#eef3f8;color:#2a6fb0}h1{font-size:16px}</style></head><body>"
        f"<h1>Telegram · chat {CHAT}</h1>{''.join(bubbles)}</body></html>"
    )


def test_compose_preview_send_and_follow_delivery(site: tuple[ServerThread, BotApiStandIn], browser: Browser) -> None:
    thread, standin = site
    _customer_writes(thread, standin)
    page = browser.new_context(locale="ru-RU", viewport=DESKTOP).new_page()  # type: ignore[arg-type]
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, thread.url, "admin", "frontline-admin")

    page.goto(f"{thread.url}/notices")
    page.get_by_label("Начать с шаблона").select_option("maintenance")
    page.get_by_role("button", name="Взять шаблон").click()
    expect(page.get_by_label("Текст по-русски")).to_have_value(re.compile(r"^Здравствуйте, \{name\}! В субботу"))
    expect(page.get_by_label("Текст по-английски")).to_have_value(re.compile(r"^Hello, \{name\}! On Saturday"))
    page.get_by_label("Аудитория").select_option("plan")
    page.get_by_label("Тариф, канал, категория или номер аварии").fill(PLAN)
    _shoot(page, "compose")
    page.get_by_role("button", name="Предпросмотр").click()

    expect(page.locator("[data-count]")).to_have_attribute("data-count", "1")
    expect(page.locator("ul.names li")).to_have_text([HOSTILE])  # the name is text, not markup
    assert page.locator("ul.names img").count() == 0
    _shoot(page, "preview")
    page.get_by_role("button", name="Отправить (1)").click()

    expect(page.locator('#status [data-state="delivered"] td')).to_have_text("1", timeout=30_000)
    expect(page.locator('#status [data-state="failed"] td')).to_have_text("0")
    _shoot(page, "status")
    assert page.title() != "pwned"
    assert dialogs == []

    texts = standin.sent_messages(CHAT)
    assert any(text.startswith(f"Здравствуйте, {HOSTILE}!") for text in texts), texts
    _transcript(page, standin)
    _shoot(page, "telegram")

    page.goto(f"{thread.url}/notices")
    expect(page.locator("tr[data-notice]")).to_have_count(1)
    _shoot(page, "list")
