"""The customer portal over HTTP: magic links, one customer's data only, reply, cancel, rate, request a service."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, update

from core.models import Author, Conversation, Direction, Message, utcnow
from core.web.keys import SESSIONS
from handoff.models import Csat
from portal.models import PortalLink
from tests.portal.conftest import customer_with_ticket, enter, portal_link, signed_in
from tests.support.staff import sign_in
from tickets.keys import TICKET_DESK
from tickets.models import Actor, Ticket, TicketStatus

pytestmark = pytest.mark.asyncio(loop_scope="module")
HOWTO = "мои заявки на сайте"  # every refusal page says what to write to the bot for a new link


async def test_a_link_opens_the_customers_own_portal_once(client: TestClient[Any, Any]) -> None:
    anna = await customer_with_ticket(client.app, "Анна")
    path = await portal_link(client.app, anna.customer_id)
    page = await client.get(path)
    assert page.status == 200
    assert page.headers["Referrer-Policy"] == "same-origin", "the token in the URL never leaves the site"
    assert "Открыть мои заявки" in await page.text()
    await enter(client, path)
    home = await (await client.get("/portal/")).text()
    assert anna.ticket in home
    assert "решим до " in home, "the ETA is shown as a date and an hour"
    again = await client.post(path, allow_redirects=False)
    assert again.status == 410
    text = await again.text()
    assert "уже использована" in text
    assert HOWTO in text


async def test_an_expired_link_is_refused_with_how_to_get_a_new_one(client: TestClient[Any, Any]) -> None:
    anna = await customer_with_ticket(client.app, "Анна", text="")
    path = await portal_link(client.app, anna.customer_id)
    async with client.app[SESSIONS]() as session, session.begin():
        await session.execute(
            update(PortalLink)
            .where(PortalLink.customer_id == anna.customer_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    for response in (await client.get(path), await client.post(path, allow_redirects=False)):
        assert response.status == 410
        text = await response.text()
        assert "истёк" in text
        assert HOWTO in text
    assert (await client.get("/portal/")).status == 401, "no session was opened"


async def test_a_forged_link_opens_nothing(client: TestClient[Any, Any]) -> None:
    for token in ("forged", "x" * 43, "y" * 5000, "%D0%B9%00"):
        for method in ("GET", "POST"):
            response = await client.request(method, f"/portal/enter/{token}", allow_redirects=False)
            assert response.status == 404, (token[:10], method)
            assert HOWTO in await response.text()
    assert (await client.get("/portal/")).status == 401


async def test_a_link_posted_from_another_site_is_refused(client: TestClient[Any, Any]) -> None:
    anna = await customer_with_ticket(client.app, "Анна", text="")
    path = await portal_link(client.app, anna.customer_id)
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site", "Origin": "null"}):
        forged = await client.post(path, headers=headers, allow_redirects=False)
        assert forged.status == 403
    await enter(client, path)  # the link was not spent by the refused post


async def test_portal_pages_without_a_session_say_how_to_get_in(client: TestClient[Any, Any]) -> None:
    for method, path in (
        ("GET", "/portal/"),
        ("GET", "/portal/tickets/T-000001"),
        ("POST", "/portal/tickets/T-000001/reply"),
        ("POST", "/portal/tickets/T-000001/rating"),
        ("POST", "/portal/logout"),
    ):
        response = await client.request(method, path, data={"text": "hi"}, allow_redirects=False)
        assert response.status == 401, (method, path)
        assert HOWTO in await response.text()
    as_json = await client.get("/portal/", headers={"Accept": "application/json"})
    assert as_json.status == 401
    assert (await as_json.json())["error"]["code"] == "unauthorized"


async def test_a_customer_never_sees_another_customers_ticket(client: TestClient[Any, Any]) -> None:
    anna = await customer_with_ticket(client.app, "Анна", text="Нет интернета, роутер мигает красным светом")
    boris = await customer_with_ticket(client.app, "Борис", text="Приставка не ловит каналы с утра")
    csrf = await signed_in(client, boris)
    home = await (await client.get("/portal/")).text()
    assert boris.ticket in home
    assert anna.ticket not in home
    assert "роутер мигает" not in home
    page = await client.get(f"/portal/tickets/{anna.ticket}")
    assert page.status == 404
    assert "роутер" not in await page.text()
    for action, data in (("reply", {"text": "чужое"}), ("cancel", {}), ("rating", {"rating": "1"})):
        response = await client.post(
            f"/portal/tickets/{anna.ticket}/{action}", data={**data, "csrf_token": csrf}, allow_redirects=False
        )
        assert response.status == 404, action
    async with client.app[SESSIONS]() as session:
        ticket = (await session.execute(select(Ticket).where(Ticket.customer_id == anna.customer_id))).scalar_one()
        assert ticket.status is TicketStatus.NEW, "nothing happened to Anna's ticket"
    # Anna herself, in a browser of her own (a fresh cookie jar), does see it.
    client.session.cookie_jar.clear()
    await signed_in(client, anna)
    assert (await client.get(f"/portal/tickets/{anna.ticket}")).status == 200


async def test_a_reply_is_stored_in_the_conversation_and_reaches_the_operator(client: TestClient[Any, Any]) -> None:
    anna = await customer_with_ticket(client.app, "Анна")
    csrf = await signed_in(client, anna)
    text = "Перезагрузила роутер — не помогло. <b>Дома с 18:00</b>"
    sent = await client.post(
        f"/portal/tickets/{anna.ticket}/reply",
        data={"text": text, "csrf_token": csrf, "nonce": "n1"},
        allow_redirects=False,
    )
    assert sent.status == 303
    page = await (await client.get(f"/portal/tickets/{anna.ticket}")).text()
    assert "&lt;b&gt;Дома с 18:00&lt;/b&gt;" in page, "the reply is in the history, escaped"
    twice = await client.post(
        f"/portal/tickets/{anna.ticket}/reply", data={"text": text, "csrf_token": csrf, "nonce": "n1"}
    )
    assert "уже было отправлено" in await twice.text()

    operator = await sign_in_operator(client)
    detail = await (await client.get(f"/api/tickets/{anna.ticket}", headers=operator)).json()
    added = [e for e in detail["events"] if e["kind"] == "customer_message"]
    assert [e["data"]["text"] for e in added] == [text], "one event, though the form was sent twice"
    conversation = await (await client.get(f"/api/inbox/conversations/{anna.conversation_id}", headers=operator)).json()
    mine = [m for m in conversation["messages"] if m["author"] == "customer" and m["text"] == text]
    assert len(mine) == 1
    async with client.app[SESSIONS]() as session:
        stored = await session.get_one(Message, mine[0]["id"])
        assert stored.handled_at is not None, "the bot takes no turn on a message written in the portal"
        assert stored.meta["via"] == "portal"
        later = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.conversation_id == anna.conversation_id, Message.id > stored.id, Message.author == Author.BOT
            )
        )
        assert later == 0


async def sign_in_operator(client: TestClient[Any, Any]) -> dict[str, str]:
    """Operator headers in the same client (signing in ends the customer's session, which the test is done with)."""
    return {"X-CSRF-Token": await sign_in(client, "operator")}


async def test_replying_to_a_closed_ticket_is_a_clear_409(client: TestClient[Any, Any]) -> None:
    anna = await customer_with_ticket(client.app, "Анна")
    csrf = await signed_in(client, anna)
    cancelled = await client.post(f"/portal/tickets/{anna.ticket}/cancel", data={"csrf_token": csrf})
    assert cancelled.status == 200
    assert "отменена" in await cancelled.text()
    refused = await client.post(f"/portal/tickets/{anna.ticket}/reply", data={"text": "ещё", "csrf_token": csrf})
    assert refused.status == 409
    assert "закрыта" in await refused.text()
    again = await client.post(f"/portal/tickets/{anna.ticket}/cancel", data={"csrf_token": csrf})
    assert again.status == 409


async def test_empty_huge_or_unsigned_replies_are_refused(client: TestClient[Any, Any]) -> None:
    anna = await customer_with_ticket(client.app, "Анна")
    csrf = await signed_in(client, anna)
    url = f"/portal/tickets/{anna.ticket}/reply"
    assert (await client.post(url, data={"text": "   ", "csrf_token": csrf})).status == 422
    assert (await client.post(url, data={"text": "я" * 5000, "csrf_token": csrf})).status == 422
    assert (await client.post(url, data={"text": "без токена"})).status == 403
    assert (await client.post(url, data={"text": "чужой токен", "csrf_token": "forged"})).status == 403
    binary = await client.post(
        url,
        data=b"text=%FF%FE%00&csrf_token=" + csrf.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert binary.status in (303, 200, 422)
    assert (await client.get("/portal/tickets/not-a-number")).status == 404


async def test_rating_a_resolved_ticket_from_1_to_5(client: TestClient[Any, Any]) -> None:
    anna = await customer_with_ticket(client.app, "Анна")
    csrf = await signed_in(client, anna)
    url = f"/portal/tickets/{anna.ticket}/rating"
    early = await client.post(url, data={"rating": "5", "csrf_token": csrf})
    assert early.status == 409, "an open ticket is rated once it is solved"
    desk = client.app[TICKET_DESK]
    from core.uow import UnitOfWork
    from core.web.keys import BUS

    async with UnitOfWork(client.app[SESSIONS], client.app[BUS]) as uow:
        ticket = await desk.tickets.get(uow.session, anna.ticket, lock=True)
        await desk.tickets.transition(uow, ticket, TicketStatus.RESOLVED, actor=Actor.OPERATOR)
    for bad in ("0", "6", "-1", "4.5", "пять", ""):
        response = await client.post(url, data={"rating": bad, "csrf_token": csrf})
        assert response.status == 422, bad
        assert "от 1 до 5" in await response.text()
    rated = await client.post(url, data={"rating": "4", "comment": "Быстро, спасибо <3", "csrf_token": csrf})
    assert rated.status == 200
    assert "Спасибо за оценку" in await rated.text()
    async with client.app[SESSIONS]() as session:
        csat = (
            await session.execute(select(Csat).join(Ticket).where(Ticket.customer_id == anna.customer_id))
        ).scalar_one()
    assert (csat.rating, csat.comment) == (4, "Быстро, спасибо <3")


async def test_requesting_a_service_opens_a_ticket_of_its_category_with_an_eta(client: TestClient[Any, Any]) -> None:
    anna = await customer_with_ticket(client.app, "Анна", text="")
    csrf = await signed_in(client, anna)
    form = await client.get("/portal/request/equipment_check")
    assert form.status == 200
    data = {"details": "Роутер греется", "csrf_token": csrf, "nonce": "r1"}
    created = await client.post("/portal/request/equipment_check", data=data, allow_redirects=False)
    assert created.status == 303
    page = await (await client.get(created.headers["Location"])).text()
    assert "зарегистрирована" in page
    assert "Решим" in page
    again = await client.post("/portal/request/equipment_check", data=data)
    assert "уже было отправлено" in await again.text()
    async with client.app[SESSIONS]() as session:
        tickets = list((await session.execute(select(Ticket).where(Ticket.customer_id == anna.customer_id))).scalars())
        assert [(t.category, t.customer_id) for t in tickets] == [("equipment", anna.customer_id)]
        told = await session.scalar(
            select(Message.text)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.customer_id == anna.customer_id, Message.direction == Direction.OUTBOUND)
        )
    assert told is not None
    assert tickets[0].number in told, "the number and the ETA also go to the chat"
    assert (await client.post("/portal/request/no_such_service", data=data)).status == 404
    premium_only = await client.post("/portal/request/premium_support", data={**data, "nonce": "r2"})
    assert premium_only.status == 200, "premium support may be requested on the standard plan"


async def test_signing_out_ends_the_session(client: TestClient[Any, Any]) -> None:
    anna = await customer_with_ticket(client.app, "Анна", text="")
    csrf = await signed_in(client, anna)
    out = await client.post("/portal/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert out.status == 303
    assert (await client.get("/portal/")).status == 401


async def test_the_customer_chooses_the_language(client: TestClient[Any, Any]) -> None:
    anna = await customer_with_ticket(client.app, "Anna", language="ru")
    csrf = await signed_in(client, anna)
    switched = await client.post("/portal/language", data={"language": "en", "csrf_token": csrf, "next": "/portal/"})
    text = await switched.text()
    assert switched.status == 200
    assert "My requests" in text
    assert "solution by " in text
    bad = await client.post("/portal/language", data={"language": "de", "csrf_token": csrf})
    assert bad.status == 422
