"""The widget on the /demo page in headless Chromium: keyboard, answers, tickets, offline, reload, tabs, escaping.

One served application (demo data, SQLite) for the module; each test is a new visitor (a new browser
context has its own storage). Screenshots of the widget, closed and open, in Russian and English, on a
desktop and a 375-px phone, go to ``var/screenshots/webchat-*.png`` for a person to look at.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from core.models import Channel, Direction, Message
from core.web.keys import SESSIONS
from tests.support.browser import DESKTOP, PHONE, ServerThread, page_settings, screenshot, serve
from tests.support.eta import ETA_RU

pytestmark = pytest.mark.browser
TIMEOUT = 60_000
WORDS = {
    "ru": {"launcher": "Чат поддержки", "field": "Сообщение", "question": "как поменять пароль от вайфая?"},
    "en": {"launcher": "Support chat", "field": "Message", "question": "how do I change my wifi password?"},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with serve(page_settings(tmp_path_factory.mktemp("webchat-pages"), help_widget_site="demo")) as thread:
        yield thread


def visitor(browser: Browser, language: str = "ru", viewport: dict[str, int] = DESKTOP) -> BrowserContext:
    locale = "ru-RU" if language == "ru" else "en-GB"
    return browser.new_context(locale=locale, viewport=viewport)  # type: ignore[arg-type]


def open_demo(context: BrowserContext, server: ServerThread, language: str = "ru") -> Page:
    page = context.new_page()
    page.goto(f"{server.url}/demo?lang={language}")
    expect(page.get_by_role("button", name=WORDS[language]["launcher"])).to_be_visible(timeout=TIMEOUT)
    return page


def open_with_keyboard(page: Page, language: str = "ru") -> None:
    launcher = page.get_by_role("button", name=WORDS[language]["launcher"])
    for _ in range(30):  # Tab through the host page until the launcher has focus
        page.keyboard.press("Tab")
        if launcher.evaluate("el => el.getRootNode().activeElement === el"):
            break
    else:
        pytest.fail("the launcher cannot be reached with Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("textbox", name=WORDS[language]["field"])).to_be_focused()


def send(page: Page, text: str, language: str = "ru") -> None:
    field = page.get_by_role("textbox", name=WORDS[language]["field"])
    field.fill(text)
    field.press("Enter")


def log(page: Page) -> Any:
    return page.get_by_role("log")


def bubbles(page: Page, text: str) -> Any:
    return log(page).locator(".msg.me").filter(has_text=text)


def stored(server: ServerThread, *where: Any) -> list[Message]:
    async def run() -> list[Message]:
        assert server.app is not None
        async with server.app[SESSIONS]() as session:
            query = select(Message).where(Message.channel == Channel.WEB, *where).order_by(Message.id)
            return list((await session.execute(query)).scalars())

    return server.run_coroutine(run())


def test_keyboard_open_ask_and_get_the_article(server: ServerThread, browser: Browser) -> None:
    context = visitor(browser)
    page = open_demo(context, server)
    open_with_keyboard(page)
    send(page, WORDS["ru"]["question"])
    expect(log(page)).to_contain_text("Wi-Fi", timeout=TIMEOUT)
    expect(log(page).get_by_role("button", name="Да")).to_be_visible(timeout=TIMEOUT)
    expect(bubbles(page, WORDS["ru"]["question"]).locator(".mark")).to_have_text("доставлено")
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Чат поддержки")).to_be_focused()
    context.close()


def test_a_ticket_shows_its_number_and_eta(server: ServerThread, browser: Browser) -> None:
    context = visitor(browser)
    page = open_demo(context, server)
    page.get_by_role("button", name="Чат поддержки").click()
    send(page, "второй день нет интернета, роутер мигает красным, перезагрузка не помогает")
    log(page).get_by_role("button", name=re.compile("Срочно")).click(timeout=TIMEOUT)
    log(page).get_by_role("button", name=re.compile("Да, оформить")).click(timeout=TIMEOUT)
    expect(log(page)).to_contain_text(re.compile(r"T-\d{6}"), timeout=TIMEOUT)
    expect(log(page)).to_contain_text(re.compile(ETA_RU))
    screenshot(page, "webchat-ticket-ru-desktop")
    context.close()


def test_offline_messages_go_once_in_order_then_reload_and_second_tab(server: ServerThread, browser: Browser) -> None:
    context = visitor(browser)
    page = open_demo(context, server)
    page.get_by_role("button", name="Чат поддержки").click()
    send(page, "здравствуйте")
    expect(bubbles(page, "здравствуйте").locator(".mark")).to_have_text("доставлено", timeout=TIMEOUT)
    context.set_offline(True)
    expect(page.get_by_role("status")).to_contain_text("Нет связи", timeout=TIMEOUT)
    send(page, "первое сообщение без связи")
    send(page, "второе сообщение без связи")
    expect(bubbles(page, "первое сообщение без связи").locator(".mark")).to_have_text("ждёт связи")
    context.set_offline(False)
    for text in ("первое сообщение без связи", "второе сообщение без связи"):
        expect(bubbles(page, text).locator(".mark")).to_have_text("доставлено", timeout=TIMEOUT)
    texts = [t.strip() for t in log(page).locator(".msg.me").all_inner_texts()]
    assert [t.split("\n")[0] for t in texts] == [
        "здравствуйте",
        "первое сообщение без связи",
        "второе сообщение без связи",
    ]

    rows = stored(server, Message.text.like("%сообщение без связи"))
    assert [m.text for m in rows] == ["первое сообщение без связи", "второе сообщение без связи"]
    assert rows[0].seq < rows[1].seq

    def replies() -> list[Message]:
        return stored(
            server, Message.direction == Direction.OUTBOUND, Message.conversation_id == rows[0].conversation_id
        )

    def unanswered() -> list[int]:
        answered = {int(m.meta.get("in_reply_to", 0)) for m in replies()}
        return [m.id for m in rows if m.id not in answered]

    # Each message answered (a turn may say more than one thing; its replies are stored together), and the
    # widget shows every reply exactly once.
    deadline = time.monotonic() + TIMEOUT / 1000
    while unanswered():
        assert time.monotonic() < deadline, f"the bot did not answer {unanswered()}"
        time.sleep(0.2)
    expect(log(page).locator(".msg:not(.me)")).to_have_count(len(replies()), timeout=TIMEOUT)
    for m in rows:
        assert len(stored(server, Message.direction == Direction.INBOUND, Message.id == m.id)) == 1

    page.reload()
    page.get_by_role("button", name="Чат поддержки").click()
    for text in ("здравствуйте", "первое сообщение без связи", "второе сообщение без связи"):
        expect(bubbles(page, text)).to_have_count(1, timeout=TIMEOUT)

    other = context.new_page()
    other.goto(f"{server.url}/demo?lang=ru")
    other.get_by_role("button", name="Чат поддержки").click()
    expect(bubbles(other, "второе сообщение без связи")).to_have_count(1, timeout=TIMEOUT)
    send(other, "пишу из второй вкладки")
    expect(bubbles(page, "пишу из второй вкладки")).to_have_count(1, timeout=TIMEOUT)
    context.close()


def test_html_and_script_are_shown_as_text(server: ServerThread, browser: Browser) -> None:
    context = visitor(browser)
    page = open_demo(context, server)
    page.get_by_role("button", name="Чат поддержки").click()
    attack = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>жирный</b>'
    send(page, attack)
    expect(bubbles(page, "<script>").locator(".mark")).to_have_text("доставлено", timeout=TIMEOUT)
    expect(log(page).locator(".msg:not(.me)")).not_to_have_count(0, timeout=TIMEOUT)
    assert attack in bubbles(page, "<script>").inner_text()
    assert log(page).locator("img, script, .me b").count() == 0
    assert page.evaluate("window.pwned") is None
    context.close()


def test_the_help_center_opens_the_widget_with_the_question(server: ServerThread, browser: Browser) -> None:
    context = visitor(browser)
    page = context.new_page()
    page.goto(f"{server.url}/help/ru/search?q=" + "пароль от вайфая")
    chat = page.locator("[data-chat-text]").first
    expect(chat).to_be_visible(timeout=TIMEOUT)
    wanted = chat.get_attribute("data-chat-text") or ""
    chat.click()
    expect(page.get_by_role("textbox", name="Сообщение")).to_have_value(wanted, timeout=TIMEOUT)
    context.close()


@pytest.mark.parametrize("language", ["ru", "en"])
def test_screenshots_closed_and_open(server: ServerThread, browser: Browser, language: str) -> None:
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context = visitor(browser, language, viewport)
        page = open_demo(context, server, language)
        screenshot(page, f"webchat-closed-{language}-{name}")
        page.get_by_role("button", name=WORDS[language]["launcher"]).click()
        send(page, WORDS[language]["question"], language)
        expect(log(page).locator(".msg:not(.me) .chips button").first).to_be_visible(timeout=TIMEOUT)
        screenshot(page, f"webchat-open-{language}-{name}")
        context.close()


BLOCKED_WEBSOCKET = """
// A network that blocks WebSocket: every connection fails without ever opening.
window.WebSocket = class {
  constructor() { setTimeout(() => this.onclose && this.onclose({ code: 1006 }), 20); }
  send() {}
  close() {}
};
"""


def test_without_websocket_the_widget_falls_back_to_long_poll(server: ServerThread, browser: Browser) -> None:
    asked_before = len(stored(server, Message.text == WORDS["ru"]["question"]))  # by other tests' visitors
    context = visitor(browser)
    context.add_init_script(BLOCKED_WEBSOCKET)
    page = open_demo(context, server)
    page.get_by_role("button", name="Чат поддержки").click()
    send(page, WORDS["ru"]["question"])
    expect(bubbles(page, WORDS["ru"]["question"]).locator(".mark")).to_have_text("доставлено", timeout=TIMEOUT)
    expect(log(page)).to_contain_text("Wi-Fi", timeout=TIMEOUT)
    log(page).get_by_role("button", name="Да").click(timeout=TIMEOUT)
    expect(log(page).locator(".msg:not(.me)").last).not_to_contain_text("Это помогло?", timeout=TIMEOUT)
    rows = stored(server, Message.text == WORDS["ru"]["question"])
    assert len(rows) == asked_before + 1, "stored once, though every poll carried it until it was confirmed"
    context.close()


def test_the_bots_commands_are_quick_actions_in_the_widget(server: ServerThread, browser: Browser) -> None:
    context = visitor(browser)
    page = open_demo(context, server)
    page.get_by_role("button", name="Чат поддержки").click()
    quick = page.get_by_role("group", name="Быстрые действия")
    quick.get_by_role("button", name="Мои заявки").click()
    expect(log(page)).to_contain_text("У вас нет открытых заявок", timeout=TIMEOUT)
    quick.get_by_role("button", name="Что умеет бот").focus()
    page.keyboard.press("Enter")
    expect(log(page).locator(".msg.me")).to_have_count(2, timeout=TIMEOUT)
    context.close()
