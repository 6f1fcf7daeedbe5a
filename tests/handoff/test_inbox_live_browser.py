"""The conversation view live, in headless Chromium: typing both ways between an operator's page and the real
widget on the /demo page, the "why" under bot messages, and a session that ends under an open page.

One served application for the module (demo data, demo staff, Telegram at the Bot API stand-in). Screenshots
go to ``var/screenshots/inbox-live-*`` for a person to look at.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select, update

from core.models import Channel, Conversation, Operator, StaffSession, utcnow
from core.web.keys import SESSIONS
from standin.botapi import BotApiStandIn
from standin.stack import TOKEN, Stack
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
TIMEOUT = 60_000
# The live stream re-checks its session every few seconds: this bounds the wait, it is not a figure.
SIGN_OUT_SEEN = 30_000
_chats = itertools.count(83000)
OPERATOR = ("operator", "frontline-operator")
LABEL = "Анна Смирнова, оператор:"  # how Telegram shows who wrote a reply (the demo operator)


class Site:
    def __init__(self, thread: ServerThread, standin: BotApiStandIn) -> None:
        self.thread = thread
        self.url = thread.url
        assert thread.app is not None
        self.app = thread.app
        self.chat = Stack(standin=standin, app=thread.app, client=None)  # type: ignore[arg-type]

    def latest(self, *where: object) -> int:
        async def find() -> int:
            async with self.app[SESSIONS]() as session:
                found = await session.scalar(select(Conversation.id).where(*where).order_by(Conversation.id.desc()))
            assert found is not None
            return int(found)

        return self.thread.run_coroutine(find())

    def expire_sessions(self, login: str) -> None:
        """The operator's sessions run out, as they do after ``session_max_age``."""

        async def expire() -> None:
            async with self.app[SESSIONS]() as session, session.begin():
                operator = await session.scalar(select(Operator.id).where(Operator.login == login))
                await session.execute(
                    update(StaffSession)
                    .where(StaffSession.operator_id == operator)
                    .values(expires_at=utcnow() - timedelta(seconds=1))
                )

        self.thread.run_coroutine(expire())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    settings = page_settings(tmp_path_factory.mktemp("inbox-live"), telegram_token=TOKEN)
    with served_with_standin(settings) as (thread, standin):
        yield Site(thread, standin)


def operator_page(browser: Browser, site: Site) -> Page:
    page = browser.new_context(locale="ru-RU", viewport=DESKTOP).new_page()
    sign_in(page, site.url, *OPERATOR)
    return page


def widget_page(browser: Browser, site: Site) -> Page:
    page = browser.new_context(locale="ru-RU", viewport=DESKTOP).new_page()
    page.goto(f"{site.url}/demo?lang=ru")
    page.get_by_role("button", name="Чат поддержки").click(timeout=TIMEOUT)
    return page


def say(widget: Page, text: str) -> None:
    field = widget.get_by_role("textbox", name="Сообщение")
    field.fill(text)
    field.press("Enter")


def test_operator_and_web_visitor_see_each_other_typing_and_bot_messages_say_why(site: Site, browser: Browser) -> None:
    widget = widget_page(browser, site)
    say(widget, "как поменять пароль от вайфая?")
    expect(widget.get_by_role("log")).to_contain_text("Wi-Fi", timeout=TIMEOUT)
    say(widget, "позовите оператора")
    expect(widget.get_by_role("log")).to_contain_text("оператор", timeout=TIMEOUT)
    conversation_id = site.latest(Conversation.channel == Channel.WEB)

    page = operator_page(browser, site)
    page.goto(f"{site.url}/inbox/conversations/{conversation_id}")
    page.get_by_role("button", name="Взять").click()
    expect(page.locator(".thread-state .state")).to_have_text("Разговор у вас.")

    # Why the bot answered: intent, band, and the article, linked to its editor page.
    why = page.locator("li.from-bot [data-why]").filter(has_text="Wi-Fi").first
    expect(why).to_contain_text("ответ из базы знаний")
    expect(why).to_contain_text("намерение")
    article = why.locator("a[data-why-article]")
    expect(article).to_have_attribute("href", re.compile(r"^/kb/articles/\d+$"))
    expect(page.locator("li.from-customer [data-why]")).to_have_count(0)  # only the bot's messages say why
    # The article's Markdown reads as the customer saw it: bold text, not asterisks.
    answer = page.locator("li.from-bot .text.rich").filter(has_text="Оборудование").first
    expect(answer.locator("strong").first).to_be_visible()
    expect(answer).not_to_contain_text("**")

    # The operator types: the visitor's widget names who.
    page.locator("#reply-text").press_sequentially("Здравствуйте! Сейчас", delay=40)
    typing = widget.locator(".typing")
    expect(typing).to_have_text("Анна Смирнова печатает…", timeout=TIMEOUT)
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        widget.set_viewport_size(viewport)
        screenshot(widget, f"inbox-live-widget-typing-{name}")
    widget.set_viewport_size(DESKTOP)

    # The visitor types: the operator's page says so, without a reload.
    widget.get_by_role("textbox", name="Сообщение").press_sequentially("у меня роутер", delay=40)
    expect(page.locator("[data-customer-typing]")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("[data-customer-typing]")).to_have_text("Клиент печатает…")
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        screenshot(page, f"inbox-live-conversation-{name}")
    page.set_viewport_size(DESKTOP)

    # Sending ends the operator's typing; the visitor's message ends theirs.
    page.get_by_role("button", name="Отправить").click()
    expect(widget.get_by_role("log")).to_contain_text("Здравствуйте! Сейчас", timeout=TIMEOUT)
    expect(typing).to_have_text("", timeout=TIMEOUT)
    widget.get_by_role("textbox", name="Сообщение").press("Enter")
    expect(page.locator("ol.messages")).to_contain_text("у меня роутер", timeout=TIMEOUT)
    expect(page.locator("[data-customer-typing]")).to_be_hidden()
    widget.context.close()
    page.context.close()


def test_an_expired_session_ends_the_live_page_and_the_kept_draft_is_sent_after_sign_in(
    site: Site, browser: Browser
) -> None:
    chat = next(_chats)
    site.thread.run_coroutine(site.chat.say(chat, "позовите оператора"))
    conversation_id = site.latest(Conversation.chat_id == str(chat))
    page = operator_page(browser, site)
    page.goto(f"{site.url}/inbox/conversations/{conversation_id}")
    page.get_by_role("button", name="Взять").click()
    expect(page.locator(".thread-state .state")).to_have_text("Разговор у вас.")
    expect(page.locator("[data-live-state]")).to_have_text("Обновляется вживую")
    page.locator("#reply-text").fill("Ответ, набранный <b>до</b> конца сессии")

    site.expire_sessions(OPERATOR[0])
    state = page.locator("[data-live-state]")
    expect(state).to_have_text("Вы вышли из системы — войдите снова. Черновик сохранён.", timeout=SIGN_OUT_SEEN)
    expect(page.locator("#reply-text")).to_have_value("Ответ, набранный <b>до</b> конца сессии")
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        screenshot(page, f"inbox-live-signed-out-{name}")
    page.set_viewport_size(DESKTOP)

    page.locator("[data-sign-in-again]").click()
    page.locator("#login").fill(OPERATOR[0])
    page.locator("#password").fill(OPERATOR[1])
    page.locator("form[action='/login'] button[type=submit]").click()
    expect(page).to_have_url(f"{site.url}/inbox/conversations/{conversation_id}")
    expect(page.locator("[data-live-state]")).to_have_text("Обновляется вживую")
    expect(page.locator("#reply-text")).to_have_value("Ответ, набранный <b>до</b> конца сессии")
    page.get_by_role("button", name="Отправить").click()
    expect(page.locator("#reply-text")).to_have_value("")
    site.thread.run_coroutine(site.chat.settle())
    assert f"{LABEL}\nОтвет, набранный <b>до</b> конца сессии" in site.chat.sent(chat)
    page.context.close()
