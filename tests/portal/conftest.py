"""The served application with the demo data, customers with tickets, and a browser-less way into the portal."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.demo import load_demo
from core.db import create_engine, session_factory, transaction
from core.models import Channel, Conversation, Customer, Identity
from core.settings import Settings
from core.uow import UnitOfWork
from core.web.keys import BUS, SESSIONS, SETTINGS
from portal import links
from tests.support.databases import empty_tables
from tests.support.people import person
from tickets.keys import TICKET_DESK

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest_asyncio.fixture(
    scope="module", loop_scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[TestClient[Any, Any]]:
    """One application per module and backend (starting one loads and indexes the demo knowledge base).

    Tests share it and its database, so each works with customers of its own.
    """
    db_url = str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url"))
    engine = create_engine(db_url)
    await empty_tables(engine)
    settings = Settings(
        database_url=db_url,
        var_dir=tmp_path_factory.mktemp("var"),
        secret_key="test-secret-key-not-for-production",  # type: ignore[arg-type]
        redis_url=None,
        telegram_token=None,
        _env_file=None,  # type: ignore[call-arg]
    )
    try:
        await load_demo(session_factory(engine), settings)
    finally:
        await engine.dispose()
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


@pytest_asyncio.fixture(loop_scope="module")
async def client(served: TestClient[Any, Any]) -> TestClient[Any, Any]:
    """The module's application, seen from a browser with no cookies yet."""
    served.session.cookie_jar.clear()
    return served


@dataclass(frozen=True, slots=True)
class Someone:
    customer_id: int
    conversation_id: int
    chat_id: str
    ticket: str | None = None


async def customer_with_ticket(
    app: web.Application, name: str = "Анна", *, language: str = "ru", text: str | None = None, plan: str = "standard"
) -> Someone:
    """A Telegram customer (identity and open conversation) and, unless ``text`` is empty, one ticket."""
    found = await person(app[SESSIONS], name, language=language, plan=plan)
    async with transaction(app[SESSIONS]) as session:
        session.add(
            Identity(
                customer_id=found.customer.id,
                channel=Channel.TELEGRAM,
                external_id=found.conversation.chat_id,
                display_name=name,
            )
        )
    number = None
    if text != "":
        async with UnitOfWork(app[SESSIONS], app[BUS]) as uow:
            customer = await uow.session.get_one(Customer, found.customer.id)
            conversation = await uow.session.get_one(Conversation, found.conversation.id)
            opened = await app[TICKET_DESK].open_ticket(
                uow, customer, conversation, description=text or "Не работает интернет с утра, роутер мигает красным"
            )
            number = opened.ticket.number
    return Someone(found.customer.id, found.conversation.id, found.conversation.chat_id, number)


async def portal_link(app: web.Application, customer_id: int) -> str:
    """A fresh link, as the bot would send it; the path part (tests serve on a random port)."""
    async with UnitOfWork(app[SESSIONS], app[BUS]) as uow:
        customer = await uow.session.get_one(Customer, customer_id)
        url = await links.issue(uow, customer, app[SETTINGS], channel="telegram")
    return url[url.index(links.ENTER_PATH) :]


async def enter(client: TestClient[Any, Any], path: str) -> None:
    """Open the link and press its button: the client now holds the customer's portal session."""
    page = await client.get(path)
    assert page.status == 200, await page.text()
    pressed = await client.post(path, allow_redirects=False)
    assert pressed.status == 303, await pressed.text()
    assert pressed.headers["Location"] == "/portal/"


async def signed_in(client: TestClient[Any, Any], someone: Someone) -> str:
    """Sign ``client`` in as ``someone``; returns the CSRF token of the portal's forms."""
    await enter(client, await portal_link(client.app, someone.customer_id))
    home = await client.get("/portal/")
    assert home.status == 200, await home.text()
    match = CSRF.search(await home.text())
    assert match, "portal pages carry the session's CSRF token in their forms"
    return match.group(1)
