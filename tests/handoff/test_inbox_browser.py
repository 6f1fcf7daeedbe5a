"""The operator inbox in headless Chromium, with the customer in Telegram at the Bot API stand-in.

One served application for the module (demo data, demo staff, the Telegram poller on the same loop); each
test uses its own Telegram chats, so tests do not depend on each other's conversations. Screenshots of the
queue and a conversation go to ``var/screenshots/`` (``inbox-*``) for a person to look at.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from core.events import Event
from core.models import Conversation
from core.web.keys import BUS, SESSIONS
from handoff.keys import LIVE_HUB
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
from tickets.events import INCIDENT_FORMING, TICKET_BREACH

pytestmark = pytest.mark.browser
_chats = itertools.count(52000)
PASSWORDS = {"operator": "frontline-operator", "admin": "frontline-admin", "editor": "frontline-editor"}

LABEL = "Анна Смирнова, оператор:"  # how Telegram shows who wrote a reply (the demo operator)


class Site:
    """The served app, its Telegram stand-in, and the customer's side of the chat (run on the app's loop)."""

    def __init__(self, thread: ServerThread, standin: BotApiStandIn) -> None:
        self.thread = thread
        self.url = thread.url
        assert thread.app is not None
        self.app = thread.app
        self.chat = Stack(standin=standin, app=thread.app, client=None)  # type: ignore[arg-type]

    def say(self, chat: int, text: str) -> list[str]:
        return self.thread.run_coroutine(self.chat.say(chat, text))

    def press(self, chat: int, label: str) -> list[str]:
        return self.thread.run_coroutine(self.chat.press(chat, label))

    def sent(self, chat: int) -> list[str]:
        self.thread.run_coroutine(self.chat.settle())
        return self.chat.sent(chat)

    def conversation_id(self, chat: int) -> int:
        async def find() -> int:
            async with self.app[SESSIONS]() as session:
                found = await session.scalar(
                    select(Conversation.id)
                    .where(Conversation.chat_id == str(chat))
                    .order_by(Conversation.id.desc())
                    .limit(1)
                )
            assert found is not None
            return int(found)

        return self.thread.run_coroutine(find())

    def ask_for_human(self, text: str = "позовите оператора") -> tuple[int, int]:
        chat = next(_chats)
        told = self.say(chat, text)
        assert any("оператор" in r.lower() for r in told), told
        return chat, self.conversation_id(chat)

    def drop_live_connections(self) -> None:
        async def drop() -> None:
            self.app[LIVE_HUB].disconnect_all()

        self.thread.run_coroutine(drop())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    settings = page_settings(tmp_path_factory.mktemp("inbox-pages"), telegram_token=TOKEN)
    with served_with_standin(settings) as (thread, standin):
        yield Site(thread, standin)


def staff(browser: Browser, site: Site, role: str = "operator", **options: Any) -> Page:
    context: BrowserContext = browser.new_context(locale="ru-RU", viewport=DESKTOP, **options)
    page = context.new_page()
    sign_in(page, site.url, role, PASSWORDS[role])
    return page


def row(page: Page, conversation_id: int) -> Any:
    return page.locator(f"li[data-conversation='{conversation_id}']")


def test_anonymous_visitors_are_sent_to_sign_in(site: Site, browser: Browser) -> None:
    page = browser.new_context(locale="ru-RU").new_page()
    page.goto(f"{site.url}/inbox")
    expect(page).to_have_url(f"{site.url}/login?next=/inbox")
    page.context.close()


def test_a_waiting_chat_appears_live_is_taken_and_the_reply_reaches_telegram(site: Site, browser: Browser) -> None:
    page = staff(browser, site)
    page.goto(f"{site.url}/inbox")
    expect(page.locator("[data-live-state]")).to_have_text("Обновляется вживую")
    chat, conversation_id = site.ask_for_human("позовите живого оператора <b>срочно</b>")
    # No reload: the live stream brings the new waiting chat into the open page.
    expect(row(page, conversation_id)).to_be_visible()
    expect(row(page, conversation_id)).to_contain_text("позовите живого оператора <b>срочно</b>")
    expect(page.locator("li.conversation b")).to_have_count(0)  # the customer's HTML is shown as text
    assert page.title().startswith("("), "the unread count is in the page title"
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        screenshot(page, f"inbox-queue-{name}")
    page.set_viewport_size(DESKTOP)

    row(page, conversation_id).locator("a").click()
    expect(page.locator(".thread-state .state")).to_contain_text("Ждёт оператора")
    page.get_by_role("button", name="Взять").click()
    expect(page.locator(".thread-state .state")).to_have_text("Разговор у вас.")
    assert any("Анна Смирнова из службы поддержки" in m for m in site.sent(chat)), (
        "the customer is told a human joined, and who"
    )

    page.locator("#reply-text").fill("Здравствуйте! Сейчас посмотрю, что с вашим подключением.")
    page.get_by_role("button", name="Отправить").click()
    expect(page.locator("ol.messages")).to_contain_text("Сейчас посмотрю")
    assert f"{LABEL}\nЗдравствуйте! Сейчас посмотрю, что с вашим подключением." in site.sent(chat)
    expect(page.locator("#reply-text")).to_have_value("")

    # The customer answers: it appears in the open conversation without a reload.
    site.say(chat, "спасибо, жду")
    expect(page.locator("ol.messages")).to_contain_text("спасибо, жду")

    page.locator("[data-note-mode]").check()
    page.locator("#reply-text").fill("клиент на тарифе Базовый, проверить линию")
    page.get_by_role("button", name="Отправить").click()
    expect(page.locator("li.message.is-note")).to_contain_text("проверить линию")
    assert not any("проверить линию" in m for m in site.sent(chat)), "an internal note is never delivered"
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        screenshot(page, f"inbox-conversation-{name}")
    page.context.close()


def test_two_operators_claim_at_once_and_exactly_one_wins(site: Site, browser: Browser) -> None:
    _chat, conversation_id = site.ask_for_human()
    first, second = staff(browser, site, "operator"), staff(browser, site, "admin")
    for page in (first, second):
        page.goto(f"{site.url}/inbox/conversations/{conversation_id}")
        expect(page.get_by_role("button", name="Взять")).to_be_visible()
    # Both requests are started before either answer is awaited.
    for page in (first, second):
        page.evaluate(
            "id => { window.claim = fetch(`/api/inbox/conversations/${id}/take`, {method: 'POST',"
            " headers: {'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content}})"
            ".then(r => r.status); }",
            conversation_id,
        )
    statuses = sorted(int(p.evaluate("() => window.claim")) for p in (first, second))
    assert statuses == [200, 409], statuses
    # Through the button as well: the loser is told who has the conversation.
    for page in (first, second):
        page.reload()
    winner, loser = (
        (first, second) if "у вас" in first.locator(".thread-state .state").inner_text() else (second, first)
    )
    expect(winner.locator(".thread-state .state")).to_have_text("Разговор у вас.")
    name = "Анна Смирнова" if winner is first else "Администратор"
    expect(loser.locator(".thread-state .state")).to_contain_text(name)
    expect(loser.get_by_role("button", name="Взять")).to_have_count(0)
    # A live tab loses the button as soon as someone else takes the conversation; a tab that is cut off
    # (its live stream blocked here) still shows it, and on a click learns who won.
    _chat2, other = site.ask_for_human()
    second.route("**/inbox/events", lambda route: route.abort())
    for page in (first, second):
        page.goto(f"{site.url}/inbox/conversations/{other}")
    first.get_by_role("button", name="Взять").click()
    expect(first.locator(".thread-state .state")).to_have_text("Разговор у вас.")
    second.get_by_role("button", name="Взять").click()
    expect(second.get_by_role("alert")).to_contain_text("Этот разговор уже взял(а) Анна Смирнова")
    first.context.close()
    second.context.close()


def test_a_draft_survives_a_reload_and_an_expired_session(site: Site, browser: Browser) -> None:
    chat, conversation_id = site.ask_for_human()
    page = staff(browser, site)
    page.goto(f"{site.url}/inbox/conversations/{conversation_id}")
    page.get_by_role("button", name="Взять").click()
    expect(page.locator(".thread-state .state")).to_have_text("Разговор у вас.")
    page.locator("#reply-text").fill("Черновик, который нельзя потерять")
    page.reload()
    expect(page.locator("#reply-text")).to_have_value("Черновик, который нельзя потерять")

    page.context.clear_cookies()  # the session is gone, as after it expired
    page.get_by_role("button", name="Отправить").click()
    expect(page.get_by_role("alert")).to_contain_text("Сессия истекла")
    expect(page.locator("#reply-text")).to_have_value("Черновик, который нельзя потерять")
    page.get_by_role("alert").get_by_role("link", name="Войти").click()
    page.locator("#login").fill("operator")
    page.locator("#password").fill(PASSWORDS["operator"])
    page.locator("form[action='/login'] button[type=submit]").click()
    expect(page).to_have_url(f"{site.url}/inbox/conversations/{conversation_id}")
    expect(page.locator("#reply-text")).to_have_value("Черновик, который нельзя потерять")
    page.get_by_role("button", name="Отправить").click()
    expect(page.locator("#reply-text")).to_have_value("")
    assert f"{LABEL}\nЧерновик, который нельзя потерять" in site.sent(chat)

    # A 10 MB paste is refused with a clear message, and nothing is lost or sent.
    page.locator("#reply-text").evaluate("el => { el.value = 'x'.repeat(10 * 1024 * 1024); }")
    page.get_by_role("button", name="Отправить").click()
    expect(page.get_by_role("alert")).to_contain_text("Слишком длинный текст")
    page.context.close()


def test_a_dropped_connection_shows_offline_and_catches_up(site: Site, browser: Browser) -> None:
    page = staff(browser, site)
    page.goto(f"{site.url}/inbox")
    state = page.locator("[data-live-state]")
    expect(state).to_have_text("Обновляется вживую")
    page.route("**/inbox/events", lambda route: route.abort())  # the network is down for the stream
    site.drop_live_connections()
    expect(state).to_contain_text("Нет связи")
    _chat, conversation_id = site.ask_for_human()
    expect(row(page, conversation_id)).to_have_count(0)  # missed while offline, and the tab says so
    page.unroute("**/inbox/events")
    expect(state).to_have_text("Связь восстановлена, список обновлён.")
    expect(row(page, conversation_id)).to_be_visible()
    page.context.close()


def test_return_to_bot_and_close_with_a_rating_on_the_customer_card(site: Site, browser: Browser) -> None:
    page = staff(browser, site)
    chat, conversation_id = site.ask_for_human()
    page.goto(f"{site.url}/inbox/conversations/{conversation_id}")
    page.get_by_role("button", name="Взять").click()
    page.get_by_role("button", name="Вернуть боту").click()
    expect(page.locator(".thread-state .state")).to_have_text("Разговор ведёт бот.")
    assert any("Оператор завершил разговор" in m for m in site.sent(chat))

    chat, conversation_id = site.ask_for_human()
    page.goto(f"{site.url}/inbox/conversations/{conversation_id}")
    page.get_by_role("button", name="Взять").click()
    expect(page.locator(".thread-state .state")).to_have_text("Разговор у вас.")
    # Only a conversation a person answered is rated.
    page.locator("#reply-text").fill("Проверил линию, всё работает.")
    page.get_by_role("button", name="Отправить").click()
    expect(page.locator("ol.messages")).to_contain_text("Проверил линию")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Закрыть").click()
    expect(page.locator(".thread-state .state")).to_have_text("Разговор закрыт.")
    assert any("Оцените" in m for m in site.sent(chat)), "the customer is asked for a rating"
    site.press(chat, "^4$")
    page.reload()
    expect(page.locator("[data-ratings]")).to_contain_text("★★★★☆")


def test_a_ticket_from_the_conversation_the_ticket_list_and_the_ticket_page(site: Site, browser: Browser) -> None:
    chat, conversation_id = site.ask_for_human()
    page = staff(browser, site)
    page.goto(f"{site.url}/inbox/conversations/{conversation_id}")
    page.get_by_role("button", name="Взять").click()
    expect(page.locator(".thread-state .state")).to_have_text("Разговор у вас.")
    site.say(chat, "второй день нет интернета, роутер мигает")
    page.reload()
    page.get_by_text("Создать заявку по разговору").click()
    expect(page.locator("#ticket-description")).to_have_value(re.compile("роутер мигает"))
    page.locator("#ticket-subject").fill("Нет интернета, роутер мигает <i>красным</i>")
    page.locator("#ticket-urgency").select_option("high")
    page.get_by_role("button", name="Создать заявку").click()
    page.wait_for_url(re.compile(r"/inbox/tickets/T-\d{6}$"))
    number = page.url.rsplit("/", 1)[1]
    expect(page.get_by_role("heading", level=1)).to_contain_text(number)
    expect(page.get_by_role("heading", level=1)).to_contain_text("<i>красным</i>")  # shown as text
    expect(page.locator(".events li[data-kind='created']")).to_have_count(1)
    assert any(number in m for m in site.sent(chat)), "the customer is told the ticket number"
    page.locator("#priority").select_option("P1")
    page.locator("form[data-url$='" + number + "'] button").click()
    expect(page.locator(".events li[data-kind='priority']")).to_have_count(1)
    # The log reads in the operator's language, not in the stored enum values.
    expect(page.locator(".events li[data-kind='created'] strong")).to_have_text("создана")
    expect(page.locator(".events li[data-kind='created']")).to_contain_text("— → новая")
    expect(page.locator(".events li[data-kind='priority']")).to_contain_text("приоритет P2 → P1 Анна Смирнова")
    expect(page.locator(".sla .badge").first).to_have_text(re.compile("^(в срок|под угрозой|нарушен)$"))
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        screenshot(page, f"inbox-ticket-{name}")
    page.set_viewport_size(DESKTOP)

    page.goto(f"{site.url}/inbox/tickets")
    expect(page.locator(f"tr[data-ticket='{number}']")).to_be_visible()
    expect(page.get_by_role("link", name="Заявки")).to_have_attribute("aria-current", "page")
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        screenshot(page, f"inbox-tickets-{name}")
    page.set_viewport_size(DESKTOP)
    page.get_by_role("searchbox").fill("роутер мигает")
    page.get_by_role("button", name="Показать").click()
    expect(page.locator(f"tr[data-ticket='{number}']")).to_be_visible()
    page.locator("select[name=status]").select_option("closed")
    page.get_by_role("button", name="Показать").click()
    expect(page.locator(f"tr[data-ticket='{number}']")).to_have_count(0)
    page.context.close()


def test_breaches_and_forming_incidents_appear_as_notices_and_the_keyboard_help(site: Site, browser: Browser) -> None:
    page = staff(browser, site)
    page.goto(f"{site.url}/inbox")
    expect(page.locator("[data-live-state]")).to_have_text("Обновляется вживую")

    async def publish() -> None:
        bus = site.app[BUS]
        await bus.publish(Event(name=TICKET_BREACH, data={"ticket_id": 1, "number": "T-000123", "kind": "breached"}))
        await bus.publish(
            Event(
                name=INCIDENT_FORMING, data={"team_id": 1, "numbers": ["T-1", "T-2", "T-3"], "subject": "<b>нет ТВ</b>"}
            )
        )

    site.thread.run_coroutine(publish())
    notices = page.locator("[data-notices] .notice")
    expect(notices.filter(has_text="Заявка T-000123: срок SLA истёк.")).to_have_count(1)
    expect(notices.filter(has_text="похожих заявок — 3 (<b>нет ТВ</b>)")).to_have_count(1)
    notices.first.get_by_role("button", name="Скрыть").click()
    expect(notices).to_have_count(1)
    page.keyboard.press("?")
    expect(page.get_by_role("dialog")).to_contain_text("Горячие клавиши")
    expect(page.get_by_role("dialog")).to_contain_text("Взять разговор")
    screenshot(page, "inbox-help-desktop")
    page.get_by_role("button", name="Закрыть").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    page.context.close()


def test_canned_responses_are_managed_by_admins_and_filled_in_for_the_customer(site: Site, browser: Browser) -> None:
    admin = staff(browser, site, "admin")
    admin.goto(f"{site.url}/inbox/canned")
    admin.locator("#shortcut").fill("hello")
    admin.locator("#canned-language").select_option("ru")
    admin.locator("#title").fill("Приветствие <b>жирное</b>")
    admin.locator("#body").fill("Здравствуйте, {{ name }}! Меня зовут {{ operator }}. {{ nonsense }}")
    admin.get_by_role("button", name="Сохранить").click()
    expect(admin.get_by_role("alert")).to_contain_text("nonsense")  # an unknown placeholder is refused
    expect(admin.locator("#body")).to_have_value(re.compile("nonsense"))  # and the typed text is kept
    admin.locator("#body").fill("Здравствуйте, {{ name }}! Меня зовут {{ operator }}.")
    admin.get_by_role("button", name="Сохранить").click()
    expect(admin.locator("tr[data-canned='hello-ru']")).to_contain_text("Приветствие <b>жирное</b>")
    expect(admin.locator("tr[data-canned='hello-ru'] b")).to_have_count(0)
    screenshot(admin, "inbox-canned-desktop")
    admin.context.close()

    chat, conversation_id = site.ask_for_human()
    page = staff(browser, site)
    page.goto(f"{site.url}/inbox/canned")
    expect(page.locator("body")).to_contain_text("admin")  # refused: this needs the admin role
    expect(page.locator("#shortcut")).to_have_count(0)
    page.goto(f"{site.url}/inbox/conversations/{conversation_id}")
    page.get_by_role("button", name="Взять").click()
    expect(page.locator(".thread-state .state")).to_have_text("Разговор у вас.")
    page.locator("#canned-search").fill("/hel")
    page.get_by_role("button", name=re.compile("hello — Приветствие")).click()
    expect(page.locator("#reply-text")).to_have_value("Здравствуйте, Ivan! Меня зовут Анна Смирнова.")
    page.get_by_role("button", name="Отправить").click()
    expect(page.locator("#reply-text")).to_have_value("")
    assert f"{LABEL}\nЗдравствуйте, Ivan! Меня зовут Анна Смирнова." in site.sent(chat)
    page.context.close()
