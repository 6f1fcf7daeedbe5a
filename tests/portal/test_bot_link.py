"""The portal link through Telegram for real: the bot stack against the Bot API stand-in, the portal over HTTP.

The customer asks in their own words or presses the button under a ticket notice; the bot answers with a
single-use link in the same chat; the link opens that customer's requests and nobody else's.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from standin.stack import Stack
from tests.support.eta import ETA_RU
from tests.support.stacks import backend_url, running_stack
from tests.support.staff import sign_in

pytestmark = pytest.mark.asyncio(loop_scope="module")
_chats = itertools.count(5000)
LINK = re.compile(r"https?://\S+(/portal/enter/[A-Za-z0-9_-]+)")


@pytest_asyncio.fixture(
    scope="module", loop_scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def desk(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with running_stack(backend_url(request), tmp_path_factory.mktemp("var")) as running:
        yield running


async def open_ticket(desk: Stack, chat: int) -> str:
    await desk.say(chat, "второй день нет интернета, роутер мигает красным, перезагрузка не помогает")
    await desk.press(chat, "Срочно")
    created = " ".join(await desk.press(chat, "Да, оформить"))
    number = re.search(r"T-\d{6}", created)
    assert number, created
    return number.group(0)


def browser() -> aiohttp.ClientSession:
    """A browser of its own (its own cookies; aiohttp keeps cookies of an IP host only when told to)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def link_in(replies: list[str]) -> str:
    found = next((m.group(1) for r in replies if (m := LINK.search(r))), None)
    assert found, f"no portal link in {replies}"
    return found


async def enter(desk: Stack, customer: aiohttp.ClientSession, path: str) -> str:
    """Open the link as the customer's browser would, press its button; the portal's start page."""
    assert (await customer.get(desk.url.rstrip("/") + path)).status == 200
    home = await customer.post(desk.url.rstrip("/") + path)
    assert home.status == 200
    assert str(home.url).endswith("/portal/")
    return await home.text()


async def test_asking_the_bot_in_words_gets_a_link_to_ones_own_requests(desk: Stack) -> None:
    chat = next(_chats)
    number = await open_ticket(desk, chat)
    replies = await desk.say(chat, "дайте ссылку, хочу смотреть мои заявки на сайте")
    assert any("работает один раз" in r for r in replies), replies
    async with browser() as customer:
        home = await enter(desk, customer, link_in(replies))
    assert number in home
    assert re.search(f"решим {ETA_RU}", home), "the ETA, a date and an hour"
    english = await desk.say(chat, "send me a link to my tickets on the website", language="en")
    assert any("It works once" in r for r in english), english


async def test_the_button_under_a_ticket_notice_sends_a_link(desk: Stack) -> None:
    chat = next(_chats)
    number = await open_ticket(desk, chat)
    csrf = await sign_in(desk.client, "operator")
    reply = await desk.client.post(
        f"/api/tickets/{number}/reply", json={"text": "Проверили линию, приедем завтра"}, headers={"X-CSRF-Token": csrf}
    )
    assert reply.status == 201
    await desk.settle()
    assert [b["text"] for b in desk.last_buttons(chat)] == ["🌐 Мои заявки на сайте"]
    pressed = await desk.press(chat, "Мои заявки на сайте")
    async with browser() as customer:
        home = await enter(desk, customer, link_in(pressed))
        assert number in home
        ticket = await (await customer.get(f"{desk.url.rstrip('/')}/portal/tickets/{number}")).text()
    assert "Проверили линию, приедем завтра" in ticket, "the operator's reply is in the history"


async def test_a_second_customers_link_cannot_open_the_firsts_tickets(desk: Stack) -> None:
    first, second = next(_chats), next(_chats)
    number = await open_ticket(desk, first)
    replies = await desk.say(second, "мои заявки на сайте")
    async with browser() as customer:
        home = await enter(desk, customer, link_in(replies))
        assert number not in home
        response = await customer.get(f"{desk.url.rstrip('/')}/portal/tickets/{number}")
        assert response.status == 404
        assert "второй день нет интернета" not in await response.text()


async def test_a_link_is_used_once(desk: Stack) -> None:
    chat = next(_chats)
    path = link_in(await desk.say(chat, "мои заявки на сайте"))
    async with browser() as customer:
        await enter(desk, customer, path)
    async with browser() as someone_else:
        again: Any = await someone_else.post(desk.url.rstrip("/") + path)
        assert again.status == 410
        assert "попросите у бота новую" in await again.text()
