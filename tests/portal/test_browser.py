"""The help center, the catalog and the portal in headless Chromium, with Telegram at the Bot API stand-in.

One served application for the module (demo data, the Telegram poller talking to the stand-in on the same
loop); each test is a different reader or customer. Screenshots go to ``var/screenshots/`` for a person to
look at: the help center, an article, the catalog and the portal, in Russian and English, desktop and phone.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select, update

from core.models import utcnow
from core.settings import ROOT
from core.web.keys import SESSIONS
from kb.models import Article
from portal.models import PortalLink
from standin.botapi import BotApiStandIn
from standin.stack import TOKEN, Stack
from tests.support.browser import DESKTOP, PHONE, ServerThread, page_settings, screenshot, served_with_standin
from tests.support.eta import ETA_EN, ETA_RU

pytestmark = pytest.mark.browser
_chats = itertools.count(9000)
LINK = re.compile(r"https?://\S+(/portal/enter/[A-Za-z0-9_-]+)")
BOT = "liniya_support_bot"
VIEWPORTS = (("desktop", DESKTOP), ("phone", PHONE))


class Site:
    """The served app, its Telegram stand-in, and the customer's side of the chat (run on the app's loop)."""

    def __init__(self, thread: ServerThread, standin: BotApiStandIn) -> None:
        self.thread = thread
        self.url = thread.url
        assert thread.app is not None
        # The chat helpers need no HTTP client of their own: the browser is the client here.
        self.chat = Stack(standin=standin, app=thread.app, client=None)  # type: ignore[arg-type]

    def say(self, chat: int, text: str, language: str = "ru") -> list[str]:
        return self.thread.run_coroutine(self.chat.say(chat, text, language))

    def press(self, chat: int, label: str) -> list[str]:
        return self.thread.run_coroutine(self.chat.press(chat, label))

    def query(self, statement: Any, *, rows: bool = True) -> Any:
        """Run a statement in the app's database; the rows when it is a SELECT (``rows``)."""

        async def run() -> Any:
            assert self.thread.app is not None
            async with self.thread.app[SESSIONS]() as session, session.begin():
                result = await session.execute(statement)
                return result.all() if rows else None

        return self.thread.run_coroutine(run())

    def open_ticket(self, chat: int) -> str:
        self.say(chat, "второй день нет интернета, роутер мигает красным, перезагрузка не помогает")
        self.press(chat, "Срочно")
        created = " ".join(self.press(chat, "Да, оформить"))
        number = re.search(r"T-\d{6}", created)
        assert number, created
        return number.group(0)

    def portal_link(self, chat: int, words: str = "мои заявки на сайте", language: str = "ru") -> str:
        replies = self.say(chat, words, language)
        found = next((m.group(1) for r in replies if (m := LINK.search(r))), None)
        assert found, replies
        return self.url + found

    def operator_api(self, path: str) -> Any:
        """GET an operator API as the demo operator (signed in through the real form)."""

        async def run() -> Any:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                login = await (await http.get(f"{self.url}/login")).text()
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', login)
                assert csrf
                form = {"login": "operator", "password": "frontline-operator", "csrf_token": csrf.group(1)}
                assert (await http.post(f"{self.url}/login", data=form)).status == 200
                return await (await http.get(f"{self.url}{path}")).json()

        return self.thread.run_coroutine(run())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("portal-pages")
    settings = page_settings(folder, telegram_token=TOKEN, telegram_bot_username=BOT)
    with served_with_standin(settings) as (thread, standin):
        yield Site(thread, standin)


def new_page(browser: Browser, language: str = "ru", viewport: dict[str, int] = DESKTOP, **options: Any) -> Page:
    locale = "ru-RU" if language == "ru" else "en-GB"
    return browser.new_context(locale=locale, viewport=viewport, **options).new_page()  # type: ignore[arg-type]


HELP = {
    "ru": {
        "heading": "Чем мы можем помочь?",
        "question": "как поменять пароль от вайфая",
        "best": "Лучший ответ на ваш вопрос:",
        "nonsense": "рецепт борща с пампушками",
        "honest": "хорошего ответа на этот вопрос у нас пока нет",
        "yes": "Да",
        "thanks": "Рады, что помогло",
        "chat": "Написать нам",
    },
    "en": {
        "heading": "How can we help?",
        "question": "how do I change my wifi password",
        "best": "The best answer to your question:",
        "nonsense": "who won the football match yesterday",
        "honest": "we have no good answer to this question yet",
        "yes": "Yes",
        "thanks": "Glad it helped",
        "chat": "Chat with us",
    },
}


def _helpful(site: Site, slug: str, language: str) -> int:
    rows = site.query(select(Article.helpful).where(Article.slug == slug, Article.language == language))
    return int(rows[0][0])


@pytest.mark.parametrize("language", ["ru", "en"])
def test_help_center_search_and_a_helpful_click(site: Site, browser: Browser, language: str) -> None:
    words = HELP[language]
    page = new_page(browser, language)
    page.goto(f"{site.url}/help")
    expect(page).to_have_url(f"{site.url}/help/{language}/")
    expect(page.get_by_role("heading", name=words["heading"])).to_be_visible()
    for name, viewport in VIEWPORTS:
        page.set_viewport_size(viewport)
        screenshot(page, f"help-home-{language}-{name}")
    page.set_viewport_size(DESKTOP)

    page.get_by_role("searchbox").fill(words["question"])
    page.get_by_role("searchbox").press("Enter")
    expect(page.get_by_text(words["best"])).to_be_visible()
    assert "/search?q=" in page.url, "the results page is shareable"
    screenshot(page, f"help-search-{language}-desktop")
    page.locator(".top-answer h2 a").click()
    expect(page.locator("article h1")).to_contain_text("Wi-Fi")
    slug = page.url.split("?")[0].rsplit("/", 1)[1]
    for name, viewport in VIEWPORTS:
        page.set_viewport_size(viewport)
        screenshot(page, f"help-article-{language}-{name}")
    page.set_viewport_size(DESKTOP)
    before = _helpful(site, slug, language)
    page.get_by_role("button", name=words["yes"], exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(words["thanks"])
    assert "voted=" not in page.url, "with JavaScript the vote is sent without leaving the article"
    assert _helpful(site, slug, language) == before + 1, "counted with the bot's counters"

    page.goto(f"{site.url}/help/{language}/search?q={words['nonsense']}")
    expect(page.get_by_text(words["honest"])).to_be_visible()
    expect(page.locator(".top-answer")).to_have_count(0)
    chat = page.locator("main .chat-with-us")
    expect(chat).to_have_attribute("href", f"https://t.me/{BOT}")
    screenshot(page, f"help-no-answer-{language}-desktop")
    page.context.close()


def test_chat_with_us_opens_the_widget_with_the_question_when_it_is_there(site: Site, browser: Browser) -> None:
    """The contract with the web-chat widget: window.FrontlineChat.open({text}) with the reader's question."""
    page = new_page(browser)
    page.add_init_script("window.FrontlineChat = {open(o) { window.__opened = o.text; }};")
    page.goto(f"{site.url}/help/ru/search?q=рецепт борща")
    page.locator("main .chat-with-us").click()
    assert page.evaluate("window.__opened") == "рецепт борща"
    assert page.url.startswith(site.url), "the widget opened in place of the Telegram link"
    page.context.close()


def test_with_javascript_off_articles_search_and_votes_still_work(site: Site, browser: Browser) -> None:
    page = new_page(browser, java_script_enabled=False)
    page.goto(f"{site.url}/help/ru/")
    page.get_by_role("searchbox").fill("не работает интернет")
    page.get_by_role("button", name="Найти").click()
    expect(page.locator("[data-band]")).to_be_visible()
    expect(page.locator(".search-results a").first).to_be_visible()
    page.goto(f"{site.url}/help/ru/pay-by-card")
    expect(page.locator("article h1")).to_be_visible()
    expect(page.locator(".article-body")).to_contain_text("карт")
    before = _helpful(site, "pay-by-card", "ru")
    page.get_by_role("button", name="Да", exact=True).click()
    expect(page).to_have_url(re.compile(r"/help/ru/pay-by-card\?voted=yes"))
    expect(page.get_by_role("status")).to_contain_text("Рады, что помогло")
    assert _helpful(site, "pay-by-card", "ru") == before + 1
    page.goto(f"{site.url}/help/ru/no-such-article")
    expect(page.get_by_role("heading", name="Страница не найдена")).to_be_visible()
    page.goto(f"{site.url}/help/ru/search?q=" + "%3Cscript%3Ewindow.x%3D1%3C%2Fscript%3E")
    expect(page.locator("h1 q")).to_have_text("<script>window.x=1</script>")
    page.context.close()


def _sla_due(plan: str, priority: str) -> dict[str, Any]:
    """What `frontline sla due` prints, run as the command it is."""
    frontline = Path(sys.executable).parent / "frontline"
    out = subprocess.run(
        [str(frontline), "sla", "due", "--plan", plan, "--priority", priority, "--from", "2026-12-07T10:00:00+03:00"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    return dict(json.loads(out.stdout))


def test_the_catalog_shows_the_targets_frontline_sla_due_computes(site: Site, browser: Browser) -> None:
    for language in ("ru", "en"):
        page = new_page(browser, language)
        page.goto(f"{site.url}/help/{language}/plans")
        for name, viewport in VIEWPORTS:
            page.set_viewport_size(viewport)
            screenshot(page, f"catalog-{language}-{name}")
        if language == "ru":
            for plan in ("standard", "premium"):
                for priority in ("P1", "P2", "P3", "P4"):
                    due = _sla_due(plan, priority)["targets_minutes"]
                    row = page.locator(f"#plan-{plan} tr[data-priority={priority}] time")
                    expect(row.nth(0)).to_have_attribute("datetime", f"PT{due['first_response']}M")
                    expect(row.nth(1)).to_have_attribute("datetime", f"PT{due['resolution']}M")
            critical = page.locator("#plan-premium tr[data-priority=P1]")
            expect(critical).to_contain_text("Критичный")
            expect(critical).to_contain_text("15 минут")
            expect(critical).to_contain_text("4 часа")
            expect(page.locator("#plan-premium")).to_contain_text("круглосуточно")
        page.context.close()


def test_a_customer_gets_the_link_from_the_bot_sees_the_eta_and_replies(site: Site, browser: Browser) -> None:
    chat = next(_chats)
    number = site.open_ticket(chat)
    link = site.portal_link(chat)
    page = new_page(browser)
    page.goto(link)
    page.get_by_role("button", name="Открыть мои заявки").click()
    expect(page).to_have_url(f"{site.url}/portal/")
    row = page.locator(".ticket-row", has_text=number)
    expect(row).to_contain_text(re.compile(rf"решим {ETA_RU} \(МСК\)"))
    for name, viewport in VIEWPORTS:
        page.set_viewport_size(viewport)
        screenshot(page, f"portal-home-ru-{name}")
    page.set_viewport_size(DESKTOP)
    row.get_by_role("link", name=number).click()
    expect(page.locator(".ticket-facts .eta")).to_contain_text(re.compile(ETA_RU))
    text = "Роутер перезагрузила, не помогло. Дома после 18:00 <b>!</b>"
    page.get_by_label("Дополнить заявку").fill(text)
    page.get_by_role("button", name="Отправить").click()
    expect(page.get_by_role("status")).to_contain_text(f"добавлено в заявку {number}")
    expect(page.locator(".history-item.from-customer").last).to_have_text(re.compile(re.escape(text)))
    for name, viewport in VIEWPORTS:
        page.set_viewport_size(viewport)
        screenshot(page, f"portal-ticket-ru-{name}")
    page.set_viewport_size(DESKTOP)

    detail = site.operator_api(f"/api/tickets/{number}")
    assert text in [e["data"].get("text") for e in detail["events"] if e["kind"] == "customer_message"]
    conversation = site.operator_api(f"/api/inbox/conversations/{detail['conversation_ids'][0]}")
    assert text in [m["text"] for m in conversation["messages"] if m["author"] == "customer"]

    page.get_by_role("button", name="English").click()
    expect(page.locator(".ticket-facts")).to_contain_text("We will solve it")
    expect(page.locator(".ticket-facts .eta")).to_contain_text(re.compile(rf"{ETA_EN} MSK"))
    for name, viewport in VIEWPORTS:
        page.set_viewport_size(viewport)
        screenshot(page, f"portal-ticket-en-{name}")
    page.goto(f"{site.url}/portal/")
    for name, viewport in VIEWPORTS:
        page.set_viewport_size(viewport)
        screenshot(page, f"portal-home-en-{name}")
    page.context.close()


def test_links_are_personal_single_use_and_expire(site: Site, browser: Browser) -> None:
    owner, stranger = next(_chats), next(_chats)
    number = site.open_ticket(owner)
    owners_link = site.portal_link(owner)
    page = new_page(browser)
    page.goto(site.portal_link(stranger, "send me a link to my tickets on the website", "en"))
    page.get_by_role("button", name=re.compile("Open my requests|Открыть мои заявки")).click()
    expect(page.locator("main")).not_to_contain_text(number)
    response = page.goto(f"{site.url}/portal/tickets/{number}")
    assert response is not None
    assert response.status == 404
    expect(page.locator("main")).not_to_contain_text("роутер мигает")
    page.context.close()

    owners = new_page(browser)
    owners.goto(owners_link)
    owners.get_by_role("button", name="Открыть мои заявки").click()
    expect(owners.locator("main")).to_contain_text(number)
    owners.context.close()
    again = new_page(browser)
    response = again.goto(owners_link)
    assert response is not None
    assert response.status == 410
    expect(again.get_by_role("alert")).to_contain_text("уже использована")
    expect(again.locator("main")).to_contain_text("мои заявки на сайте")
    screenshot(again, "portal-link-used-ru-desktop")

    expired = site.portal_link(owner)
    past = utcnow() - timedelta(minutes=1)
    site.query(update(PortalLink).where(PortalLink.used_at.is_(None)).values(expires_at=past), rows=False)
    response = again.goto(expired)
    assert response is not None
    assert response.status == 410
    expect(again.get_by_role("alert")).to_contain_text("истёк")
    again.context.close()
