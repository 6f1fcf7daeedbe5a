"""The service-record pages over HTTP: admins only, the form's errors, the CSV upload, the customer card."""

from __future__ import annotations

import io
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app
from bot.demo import load_demo
from core.db import SessionFactory, session_factory, transaction
from core.models import Channel, Customer, Identity
from core.settings import Settings
from records.models import ServiceRecord
from records.views import today
from tests.support.people import add_conversation
from tests.support.staff import sign_in

ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
RECORD_PAGES = [
    ("GET", "/records"),
    ("GET", "/records/new"),
    ("POST", "/records/new"),
    ("GET", "/records/import"),
    ("POST", "/records/import"),
    ("GET", "/records/customers/{customer}"),
    ("GET", "/records/{record}"),
    ("POST", "/records/{record}"),
    ("POST", "/records/{record}/delete"),
]


@pytest.fixture
async def client(settings: Settings, engine: AsyncEngine, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    await load_demo(session_factory(engine), settings)
    return await aiohttp_client(create_app(settings))


async def _customer_with_record(sessions: SessionFactory, **record: Any) -> tuple[int, int, int]:
    """(customer id, conversation id, record id): a Telegram customer with one conversation and one record."""
    async with transaction(sessions) as session:
        customer = Customer(name="Анна", language="ru", timezone="Europe/Moscow", plan="standard")
        session.add(customer)
        await session.flush()
        session.add(Identity(customer_id=customer.id, channel=Channel.TELEGRAM, external_id="555001"))
        conversation = await add_conversation(session, customer, Channel.TELEGRAM)
        values = {"name": "Роутер", "serial_number": "RT-1", **record}
        row = ServiceRecord(customer_id=customer.id, **values)
        session.add(row)
        await session.flush()
        return customer.id, conversation.id, row.id


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_only_admins_reach_the_record_pages(client: TestClient[Any, Any], sessions: SessionFactory) -> None:
    customer_id, _conversation, record_id = await _customer_with_record(sessions)
    pages = [(m, p.format(customer=customer_id, record=record_id)) for m, p in RECORD_PAGES]
    for method, path in pages:
        response = await client.request(method, path, allow_redirects=False, headers={"Accept": "text/html"})
        assert response.status == (302 if method == "GET" else 401), (method, path)
    for role in ("operator", "editor", "manager"):
        client.session.cookie_jar.clear()
        csrf = await sign_in(client, role)
        for method, path in pages:
            response = await client.request(method, path, data={"csrf_token": csrf}, allow_redirects=False)
            assert response.status == 403, (role, method, path)
        assert "/records" not in await (await client.get("/inbox")).text(), "no link to a section they cannot open"
    async with transaction(sessions) as session:
        assert await session.get(ServiceRecord, record_id) is not None, "a refused delete deleted nothing"
    client.session.cookie_jar.clear()
    await sign_in(client, "admin")
    for method, path in pages:
        if method == "GET":
            assert (await client.get(path)).status == 200, path
    assert 'href="/records"' in await (await client.get("/inbox")).text()


async def test_the_form_shows_every_problem_and_keeps_what_was_typed(
    client: TestClient[Any, Any], sessions: SessionFactory
) -> None:
    customer_id, _conversation, _record = await _customer_with_record(sessions)
    csrf = await sign_in(client, "admin")
    form = {
        "csrf_token": csrf,
        "customer": "telegram:000",
        "kind": "equipment",
        "name": "<script>alert(1)</script>Камера",
        "serial_number": "RT-1",
        "installed_on": "2026-05-01",
        "interval_months": "-3",
        "warranty_end": "2026-04-01",
        "last_check_on": "2026-02-30",
    }
    refused = await client.post("/records/new", data=form, allow_redirects=False)
    assert refused.status == 422
    html = await refused.text()
    text = _text(html)
    assert "нет клиента «telegram:000»" not in text, "the customer is looked up only once the values are right"
    assert "Интервал обслуживания, мес.: «-3» — не целое число месяцев от 1 до 600" in text
    assert "Конец гарантии (2026-04-01) раньше даты установки" in text
    assert "Последняя проверка: «2026-02-30» — не дата" in text
    assert "<script>alert(1)</script>" not in html
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;Камера"' in html, "the typed name is kept, escaped"
    form.update(interval_months="6", warranty_end="2028-05-01", last_check_on="")
    clash = await client.post("/records/new", data=form, allow_redirects=False)
    assert clash.status == 422
    assert "нет клиента «telegram:000»" in _text(await clash.text())
    assert "серийный номер RT-1 уже есть в другой записи" in _text(await clash.text())
    form.update(customer="telegram:555001", serial_number="CAM-1")
    saved = await client.post("/records/new", data=form, allow_redirects=False)
    assert saved.status == 303
    assert saved.headers["Location"] == f"/records/customers/{customer_id}?saved=1"
    page = await (await client.get(saved.headers["Location"])).text()
    assert "Сохранено." in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;Камера" in page
    assert "01.11.2026" in page, "next check: installed 2026-05-01 + 6 months"


async def test_editing_and_deleting_a_record(client: TestClient[Any, Any], sessions: SessionFactory) -> None:
    customer_id, _conversation, record_id = await _customer_with_record(sessions)
    csrf = await sign_in(client, "admin")
    page = await (await client.get(f"/records/{record_id}")).text()
    assert 'value="RT-1"' in page
    changed = await client.post(
        f"/records/{record_id}",
        data={"csrf_token": csrf, "customer": str(customer_id), "name": "Роутер Pro", "serial_number": "RT-1"},
        allow_redirects=False,
    )
    assert changed.status == 303
    async with transaction(sessions) as session:
        assert (await session.get_one(ServiceRecord, record_id)).name == "Роутер Pro"
    gone = await client.post(f"/records/{record_id}/delete", data={"csrf_token": csrf}, allow_redirects=False)
    assert gone.status == 303
    assert (await client.get(f"/records/{record_id}")).status == 404
    again = await client.post(f"/records/{record_id}/delete", data={"csrf_token": csrf})
    assert again.status == 404
    assert "Такой записи нет" in await again.text()
    assert (await client.get("/records/customers/987654")).status == 404


async def test_the_list_searches_by_customer_and_serial_and_filters_what_is_due(
    client: TestClient[Any, Any], sessions: SessionFactory
) -> None:
    on = today()
    customer_id, _conversation, _record = await _customer_with_record(
        sessions, serial_number="DUE-1", warranty_end=on + timedelta(days=10)
    )
    async with transaction(sessions) as session:
        session.add(ServiceRecord(customer_id=customer_id, name="ТВ", serial_number="LATER-1"))
    await sign_in(client, "admin")

    def serials(html: str) -> list[str]:
        return re.findall(r'<tr data-serial="([^"]+)"', html)

    assert serials(await (await client.get("/records")).text()) == ["DUE-1", "LATER-1"]
    assert serials(await (await client.get("/records?due=1")).text()) == ["DUE-1"]
    assert serials(await (await client.get("/records", params={"q": "later"})).text()) == ["LATER-1"]
    assert serials(await (await client.get("/records", params={"q": "telegram:555001"})).text()) == ["DUE-1", "LATER-1"]
    assert serials(await (await client.get("/records", params={"q": "анна"})).text()) == ["DUE-1", "LATER-1"]
    assert serials(await (await client.get("/records", params={"q": "%"})).text()) == []
    listed = await (await client.get("/records?due=1")).text()
    assert "скоро" in _text(listed)


async def test_a_csv_upload_names_each_bad_line_or_imports_every_row(
    client: TestClient[Any, Any], sessions: SessionFactory
) -> None:
    customer_id, _conversation, _record = await _customer_with_record(sessions)
    csrf = await sign_in(client, "admin")

    async def upload(content: bytes, filename: str = "записи <b>.csv") -> Any:
        form = FormData(quote_fields=False)  # as browsers send a file name: UTF-8, not percent-encoded
        form.add_field("csrf_token", csrf)
        form.add_field("file", io.BytesIO(content), filename=filename, content_type="text/csv")
        return await client.post("/records/import", data=form, allow_redirects=False)

    bad = await upload(
        (
            "customer,name,serial_number,installed_on\n"
            f"{customer_id},Камера,CAM-1,2026-01-01\n"
            f"{customer_id},Приставка,STB-1,31.02.2026\n"
            "telegram:555001,ТВ,TV-1,не помню\n"
        ).encode()
    )
    assert bad.status == 422
    html = await bad.text()
    text = _text(html)
    assert "Ничего не импортировано." in text
    assert "файл записи &lt;b&gt;.csv, строка 3: Дата установки: «31.02.2026» — не дата" in html
    assert "файл записи &lt;b&gt;.csv, строка 4: Дата установки: «не помню» — не дата" in html
    async with transaction(sessions) as session:
        assert list(await session.scalars(select(ServiceRecord.serial_number))) == ["RT-1"]

    good = await upload(
        (
            "customer,name,serial_number,installed_on\n"
            f"{customer_id},Роутер новый,RT-1,2026-01-01\n"
            "telegram:555001,ТВ,TV-1,01.03.2026\n"
        ).encode()
    )
    assert good.status == 303
    done = await (await client.get(good.headers["Location"])).text()
    assert "Импортировано: новых 1, обновлено 1." in done

    binary = await upload(bytes(range(256)) * 4, "photo.png")
    assert binary.status == 422
    assert "файл photo.png: это не текстовый файл UTF-8" in _text(await binary.text())
    huge = await upload(b"customer,name,serial_number\n" + b"1,a,b\n" * 200_000, "big.csv")
    assert huge.status == 413
    assert "файл big.csv: файл больше 1024 КиБ" in _text(await huge.text())
    nothing = await client.post("/records/import", data={"csrf_token": csrf})
    assert nothing.status == 422
    assert "выберите файл CSV" in await nothing.text()


async def test_the_customer_card_shows_records_with_their_marks(
    client: TestClient[Any, Any], sessions: SessionFactory
) -> None:
    on = today()
    _customer, conversation_id, _record = await _customer_with_record(
        sessions,
        name="Роутер <b>AX</b>",
        warranty_end=on - timedelta(days=1),
        service_period_end=on + timedelta(days=5),
        installed_on=on - timedelta(days=400),
        interval_months=12,
    )
    await sign_in(client, "operator")
    page = await client.get(f"/inbox/conversations/{conversation_id}")
    assert page.status == 200
    html = await page.text()
    card = html[html.index("data-service-records") :]
    card = card[: card.index("</ul>")]
    text = _text(card)
    assert "Роутер &lt;b&gt;AX&lt;/b&gt;" in card
    assert "С/Н RT-1" in text
    assert f"гарантия до {(on - timedelta(days=1)):%d.%m.%Y} истекло" in text
    assert f"обслуживание до {(on + timedelta(days=5)):%d.%m.%Y} скоро" in text
    assert "просрочено" in text, "the yearly check of a router installed 400 days ago is overdue"
