"""The operators' ticket and incident API, through the whole application as a signed-in operator."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app
from bot.demo import load_demo
from bot.keys import DELIVERY
from core.db import session_factory
from core.events import InProcessBus
from core.models import utcnow
from core.settings import Settings
from core.web.keys import BUS, DB_ENGINE, SESSIONS
from kb.keys import KNOWLEDGE_BASE
from tests.support.databases import count_statements
from tests.support.people import outbound, person, uow
from tests.support.staff import sign_in
from tickets.keys import BREACH_WATCH, TICKET_DESK

ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def client(settings: Settings, engine: AsyncEngine, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    await load_demo(session_factory(engine), settings)
    return await aiohttp_client(create_app(settings))


async def seed(client: TestClient[Any, Any]) -> dict[str, Any]:
    desk = client.app[TICKET_DESK]
    sessions = client.app[SESSIONS]
    anna, boris = await person(sessions, "Анна Петрова"), await person(sessions, "Борис")
    numbers = {}
    for who, text, urgency, impact in (
        (anna, "Роутер не включается после грозы", "high", "many"),
        (anna, "Не приходит счёт на почту", "low", "one"),
        (boris, "Нет сигнала на приставке", "medium", "one"),
    ):
        async with uow(sessions) as work:
            opened = await desk.open_ticket(
                work, who.customer, who.conversation, description=text, urgency=urgency, impact=impact
            )
        numbers[text] = opened.ticket.number
    return {"anna": anna, "boris": boris, "numbers": numbers}


async def test_operators_list_filter_and_search_tickets(client: TestClient[Any, Any]) -> None:
    data = await seed(client)
    await sign_in(client, "operator")
    router = data["numbers"]["Роутер не включается после грозы"]

    async def numbers(query: str) -> list[str]:
        response = await client.get(f"/api/tickets{query}")
        assert response.status == 200, await response.text()
        return [item["number"] for item in (await response.json())["items"]]

    everything = await numbers("")
    assert len(everything) == 3
    assert everything == sorted(everything, reverse=True), "newest first"
    assert await numbers("?priority=P1") == [router]
    assert await numbers("?q=грозы") == [router]
    assert await numbers(f"?q={router}") == [router]
    assert await numbers(f"?customer={data['anna'].customer.id}&status=new") == [
        data["numbers"]["Не приходит счёт на почту"],
        router,
    ]
    assert await numbers("?team=first-line&per_page=2") == everything[:2]
    assert await numbers("?breached=true") == []
    assert await numbers("?assignee=me") == []
    page = await (await client.get("/api/tickets?per_page=2&page=2")).json()
    assert (page["has_more"], len(page["items"])) == (False, 1)
    bad = await client.get("/api/tickets?status=lost")
    assert bad.status == 422
    assert (await bad.json())["error"]["code"] == "invalid_input"


async def test_operators_work_a_ticket_through_the_api(client: TestClient[Any, Any]) -> None:
    data = await seed(client)
    csrf = await sign_in(client, "operator")
    headers = {"X-CSRF-Token": csrf}
    number = data["numbers"]["Нет сигнала на приставке"]
    boris = data["boris"]

    detail = await (await client.get(f"/api/tickets/{number}")).json()
    assert (detail["status"], detail["priority"], detail["team"]) == ("new", "P3", "first-line")
    assert [e["kind"] for e in detail["events"]] == ["created"]
    assert (await client.get("/api/tickets/T-999999")).status == 404

    me = await (await client.get("/api/me")).json()
    patched = await client.patch(
        f"/api/tickets/{number}", json={"priority": "P1", "assignee_id": me["id"]}, headers=headers
    )
    assert patched.status == 200, await patched.text()
    body = await patched.json()
    assert (body["priority"], body["sla"]["priority"], body["assignee_id"]) == ("P1", "P1", me["id"])
    assert body["resolution_due"] < detail["resolution_due"]

    reply = await client.post(f"/api/tickets/{number}/reply", json={"text": "Перезагрузите приставку"}, headers=headers)
    assert reply.status == 201
    note = await client.post(f"/api/tickets/{number}/notes", json={"text": "Похоже на прошивку"}, headers=headers)
    assert note.status == 201
    illegal = await client.post(f"/api/tickets/{number}/transition", json={"to": "new"}, headers=headers)
    assert illegal.status == 409
    details = (await illegal.json())["error"]["details"]
    assert (details["from"], details["to"]) == ("open", "new")
    pending = await client.post(f"/api/tickets/{number}/transition", json={"to": "pending"}, headers=headers)
    assert (await pending.json())["sla"]["paused"] is True

    texts = [m.text for m in await outbound(client.app[SESSIONS], boris.conversation.id)]
    assert texts[-2:] == [
        f"Ответ по заявке {number}:\nПерезагрузите приставку",
        f"По заявке {number} нам нужен ваш ответ. Ответьте прямо здесь, сообщением. "
        "Пока мы ждём ответа, срок решения не идёт.",
    ]
    assert not any("прошивку" in t for t in texts), "internal notes are never delivered"
    assert [i["number"] for i in (await (await client.get("/api/tickets?assignee=me")).json())["items"]] == [number]


async def test_incidents_through_the_api(client: TestClient[Any, Any]) -> None:
    data = await seed(client)
    csrf = await sign_in(client, "operator")
    headers = {"X-CSRF-Token": csrf}
    number = data["numbers"]["Роутер не включается после грозы"]
    restoration = (utcnow() + timedelta(hours=4)).isoformat()

    created = await client.post(
        "/api/incidents",
        json={"title": "Гроза: сгорели роутеры", "service": "Домашний интернет", "restoration_eta": restoration},
        headers=headers,
    )
    assert created.status == 201, await created.text()
    incident = await created.json()
    naive = await client.post(
        "/api/incidents", json={"title": "x", "restoration_eta": "2026-11-30T10:00:00"}, headers=headers
    )
    assert naive.status == 422

    linked = await client.put(f"/api/tickets/{number}/incident", json={"incident_id": incident["id"]}, headers=headers)
    assert linked.status == 200, await linked.text()
    assert (await linked.json())["incident"]["id"] == incident["id"]
    listed = (await (await client.get("/api/incidents?status=open")).json())["items"]
    assert [(i["id"], i["linked_tickets"]) for i in listed] == [(incident["id"], 1)]
    one = await (await client.get(f"/api/incidents/{incident['id']}")).json()
    assert [t["number"] for t in one["tickets"] if t["link"] == "linked"] == [number]

    patched = await client.patch(f"/api/incidents/{incident['id']}", json={"service": "Интернет"}, headers=headers)
    assert (await patched.json())["service"] == "Интернет"
    resolved = await client.post(f"/api/incidents/{incident['id']}/resolve", headers=headers)
    assert resolved.status == 200
    assert (await resolved.json())["resolved_tickets"] == 1
    assert (await client.post(f"/api/incidents/{incident['id']}/resolve", headers=headers)).status == 409
    ticket = await (await client.get(f"/api/tickets/{number}")).json()
    assert ticket["status"] == "resolved"

    spare = await (await client.post("/api/incidents", json={"title": "Учебная тревога"}, headers=headers)).json()
    other = data["numbers"]["Не приходит счёт на почту"]
    await client.put(f"/api/tickets/{other}/incident", json={"incident_id": spare["id"]}, headers=headers)
    unlinked = await client.delete(f"/api/tickets/{other}/incident", headers=headers)
    assert (await unlinked.json())["incident"] is None
    assert (await client.delete(f"/api/incidents/{spare['id']}", headers=headers)).status == 204
    assert (await client.get(f"/api/incidents/{spare['id']}")).status == 404


async def test_operators_lists_do_not_query_per_row(client: TestClient[Any, Any]) -> None:
    """The ticket list and the incident list read a fixed number of statements, however many rows they show."""
    await seed(client)
    csrf = await sign_in(client, "operator")
    headers = {"X-CSRF-Token": csrf}
    app = client.app
    # Only the request may talk to the database while statements are counted: the knowledge base has
    # loaded, the breach watch and the delivery worker are stopped, and event handlers have finished.
    await app[KNOWLEDGE_BASE].ready.wait()
    await app[BREACH_WATCH].stop()
    await app[DELIVERY].stop()

    async def statements(path: str) -> tuple[int, list[Any]]:
        bus = app[BUS]
        assert isinstance(bus, InProcessBus)
        await bus.drain()
        with count_statements(app[DB_ENGINE]) as seen:
            response = await client.get(path)
        assert response.status == 200, await response.text()
        return len(seen), (await response.json())["items"]

    await client.post("/api/incidents", json={"title": "Гроза", "team": "first-line"}, headers=headers)
    one_incident, items = await statements("/api/incidents")
    assert [i["team"] for i in items] == ["first-line"]
    for title, team in (("Авария", "second-line"), ("Биллинг", "billing"), ("Без команды", None)):
        await client.post("/api/incidents", json={"title": title, "team": team}, headers=headers)
    four_incidents, items = await statements("/api/incidents")
    assert [i["team"] for i in items] == [None, "billing", "second-line", "first-line"]
    assert four_incidents == one_incident

    one_ticket, items = await statements("/api/tickets?per_page=1")
    three_tickets, items = await statements("/api/tickets")
    assert len(items) == 3
    assert {i["customer_name"] for i in items} == {"Анна Петрова", "Борис"}
    assert three_tickets == one_ticket
