"""Issue 11, finding 9: inputs that used to answer 500 get a clear 4xx and lose nothing (both databases)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app
from core.db import session_factory, transaction
from core.settings import Settings
from kb.models import Article
from tests.core.test_security import add_demo_staff
from tests.support.staff import form_csrf, sign_in

ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
HUGE = 2**63
ARTICLE = {"slug": "nul-test", "language": "en", "title": "T", "body": "B", "questions": ["q"], "tags": []}


@pytest.fixture
async def client(settings: Settings, engine: AsyncEngine, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    await add_demo_staff(engine)
    return await aiohttp_client(create_app(settings))


@pytest.fixture
async def admin(client: TestClient[Any, Any]) -> dict[str, str]:
    return {"X-CSRF-Token": await sign_in(client, "admin")}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"/api/tickets/{HUGE}", None),
        ("GET", f"/api/incidents/{HUGE}", None),
        ("GET", f"/api/kb/articles/{HUGE}", None),
        ("GET", f"/api/inbox/conversations/{HUGE}", None),
        ("GET", f"/api/kb/articles/{'9' * 200}", None),
        ("PATCH", "/api/tickets/1", {"assignee_id": HUGE}),
        ("PUT", "/api/tickets/1/incident", {"incident_id": HUGE}),
        ("GET", "/api/tickets?assignee=²", None),
        ("GET", f"/api/tickets?assignee={HUGE}", None),
        ("POST", "/api/incidents", {"title": "Outage", "restoration_eta": "9999-12-31T23:59:59-14:00"}),
    ],
)
async def test_finding9_out_of_range_numbers_and_dates_are_refused(
    client: TestClient[Any, Any], admin: dict[str, str], method: str, path: str, body: Any
) -> None:
    response = await client.request(method, path, json=body, headers=admin)
    assert 400 <= response.status < 500, (response.status, await response.text())
    assert "error" in await response.json()


async def test_finding9_a_boolean_is_not_an_operator_id(client: TestClient[Any, Any], admin: dict[str, str]) -> None:
    response = await client.patch("/api/tickets/1", json={"assignee_id": True}, headers=admin)
    assert response.status == 422
    assert (await response.json())["error"]["details"]["fields"] == ["assignee_id"]


async def test_finding9_malformed_forms_get_a_4xx_before_the_csrf_check(client: TestClient[Any, Any]) -> None:
    await form_csrf(client)
    broken = b'--XYZ\r\nContent-Disposition: form-data; name="login"\r\n\r\nadmin'  # never closed
    for path in ("/login", "/logout"):
        response = await client.post(
            path, data=broken, headers={"Content-Type": "multipart/form-data; boundary=XYZ"}, allow_redirects=False
        )
        assert 400 <= response.status < 500, (path, response.status)
    response = await client.post(
        "/login",
        data=b"login=%ff%fe&password=x",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert 400 <= response.status < 500


def _zip(name: str, data: bytes, **info: Any) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def _corrupt_crc(raw: bytes) -> bytes:
    # Flip the CRC in both the local header (offset 14) and the central directory entry.
    archive = bytearray(raw)
    archive[14] ^= 0xFF
    central = raw.rfind(b"PK\x01\x02")
    archive[central + 16] ^= 0xFF
    return bytes(archive)


def _unsupported_method(raw: bytes) -> bytes:
    archive = bytearray(raw)
    archive[8] = 99  # compression method 99 (AES) in the local header …
    central = raw.rfind(b"PK\x01\x02")
    archive[central + 10] = 99  # … and in the central directory
    return bytes(archive)


def _encrypted(raw: bytes) -> bytes:
    archive = bytearray(raw)
    archive[6] |= 1  # the "encrypted" flag bit
    central = raw.rfind(b"PK\x01\x02")
    archive[central + 8] |= 1
    return bytes(archive)


def _false_size(raw: bytes) -> bytes:
    archive = bytearray(raw)
    central = raw.rfind(b"PK\x01\x02")
    archive[central + 24 : central + 28] = (3).to_bytes(4, "little")  # uncompressed size says 3 bytes
    archive[22:26] = (3).to_bytes(4, "little")
    return bytes(archive)


MARKDOWN = b"---\nslug: zipped\nlanguage: en\ntitle: Zipped\nquestions: [how]\n---\nBody text long enough here.\n"


@pytest.mark.parametrize("fault", [_corrupt_crc, _unsupported_method, _encrypted, _false_size])
async def test_finding9_broken_zip_members_are_refused(
    client: TestClient[Any, Any], admin: dict[str, str], engine: AsyncEngine, fault: Callable[[bytes], bytes]
) -> None:
    upload = fault(_zip("a.md", MARKDOWN * 20))
    response = await client.post("/api/kb/import", data=upload, headers={**admin, "Content-Type": "application/zip"})
    assert response.status == 422, await response.text()
    async with transaction(session_factory(engine)) as db:
        assert (await db.scalars(select(Article))).all() == [], "nothing imported"


async def test_finding9_deeply_nested_front_matter_is_refused(
    client: TestClient[Any, Any], admin: dict[str, str]
) -> None:
    deep = b"---\nslug: " + b"[" * 5000 + b"]" * 5000 + b"\n---\nbody\n"
    response = await client.post(
        "/api/kb/import", data=_zip("a.md", deep), headers={**admin, "Content-Type": "application/zip"}
    )
    assert response.status == 422
    assert "nested too deeply" in await response.text()


async def test_finding9_deeply_nested_json_is_refused(client: TestClient[Any, Any], admin: dict[str, str]) -> None:
    response = await client.patch(
        "/api/tickets/1", data="[" * 100_000 + "]" * 100_000, headers={**admin, "Content-Type": "application/json"}
    )
    assert response.status == 422


async def test_finding9_nul_and_lone_surrogates_are_cleaned_in_staff_input(
    client: TestClient[Any, Any], admin: dict[str, str], engine: AsyncEngine
) -> None:
    body = (
        '{"slug": "nul-test", "language": "en", "title": "Ti\\u0000tle \\ud800", '
        '"body": "Bo\\u0000dy text", "questions": ["q\\u0000uestion"], "tags": []}'
    )
    response = await client.post("/api/kb/articles", data=body, headers={**admin, "Content-Type": "application/json"})
    assert response.status == 201, await response.text()
    async with transaction(session_factory(engine)) as db:
        article = (await db.scalars(select(Article))).one()
    assert article.title == "Title ?"  # as customer text is cleaned (core.store.clean_text)
    assert article.body == "Body text"


async def test_finding9_a_multipart_upload_without_a_boundary_is_refused(
    client: TestClient[Any, Any], admin: dict[str, str]
) -> None:
    response = await client.post("/api/kb/import", data=b"x", headers={**admin, "Content-Type": "multipart/form-data"})
    assert response.status == 422
