"""The editors' API at /api/kb: editors write, publish and preview; operators and strangers are refused."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app
from core.db import session_factory, transaction
from core.events import InProcessBus
from core.operators import add_operator
from core.settings import Settings
from core.uow import UnitOfWork
from kb import gaps
from kb.articles import import_articles
from kb.importer import parse_files, to_csv, to_markdown
from kb.keys import KNOWLEDGE_BASE
from kb.schemas import ArticleContent
from tests.support.kb import VectorMemo
from tests.support.staff import csrf_headers

ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
LOGINS = {role: (role, f"{role}-password") for role in ("editor", "operator", "admin")}

ARTICLE = {
    "slug": "tv-remote-pairing",
    "language": "ru",
    "title": "Как привязать пульт к приставке",
    "questions": ["пульт не работает с приставкой", "как подключить пульт к тв приставке"],
    "body": "Нажмите **OK** и **Menu** на 5 секунд. <script>alert('x')</script>",
    "category": "equipment",
    "tags": ["tv", "remote"],
}


@pytest.fixture
async def client(settings: Settings, engine: AsyncEngine, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    async with transaction(session_factory(engine)) as session:
        for role, (login, password) in LOGINS.items():
            await add_operator(session, login, password, role)
    settings.embedding_threads = 1  # the tests' embedder: loaded once per process
    return await aiohttp_client(create_app(settings))


async def _json(response: Any, status: int) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


def band_of(confidence: float, thresholds: dict[str, float]) -> str:
    """The band a hit of this confidence falls in under these thresholds."""
    if confidence >= thresholds["answer"]:
        return "answer"
    return "suggest" if confidence >= thresholds["suggest"] else "unknown"


async def test_an_editor_writes_publishes_and_previews_an_article(client: TestClient[Any, Any]) -> None:
    csrf = await csrf_headers(client, "editor", LOGINS)
    created = await _json(await client.post("/api/kb/articles", json=ARTICLE, headers=csrf), 201)
    assert (created["status"], created["version"]) == ("draft", 1)
    assert "<strong>OK</strong>" in created["body_html"]
    assert "<script" not in created["body_html"], "HTML in a body is rendered inert"
    article_id = created["id"]

    question = {"question": "пульт от приставки перестал работать", "language": "ru"}
    preview = await _json(await client.post("/api/kb/preview", json=question, headers=csrf), 200)
    assert article_id not in [h["article_id"] for h in preview["hits"]], "a draft is never an answer"

    published = await client.post(f"/api/kb/articles/{article_id}/publish", json={"version": 1}, headers=csrf)
    assert (await _json(published, 200))["status"] == "published"
    preview = await _json(await client.post("/api/kb/preview", json=question, headers=csrf), 200)
    top = preview["hits"][0]
    assert top["article_id"] == article_id
    assert set(top) >= {"score", "confidence", "dense", "lexical", "title"}
    assert top["band"] == preview["band"] == band_of(top["confidence"], preview["thresholds"])
    assert (preview["answer_html"] is not None) == (preview["band"] == "answer")
    if preview["answer_html"] is not None:
        assert "<script" not in preview["answer_html"]

    listed = await _json(await client.get("/api/kb/articles", params={"status": "published", "text": "ПУЛЬТ НЕ"}), 200)
    assert [a["id"] for a in listed["items"]] == [article_id], "found by a question, whatever the case"
    assert (await _json(await client.get("/api/kb/articles", params={"text": "домофон"}), 200))["total"] == 0
    assert (await _json(await client.get("/api/kb/articles?language=en"), 200))["total"] == 0


async def test_a_concurrent_save_gets_a_conflict_and_revisions_restore(client: TestClient[Any, Any]) -> None:
    csrf = await csrf_headers(client, "editor", LOGINS)
    article_id = (await _json(await client.post("/api/kb/articles", json=ARTICLE, headers=csrf), 201))["id"]
    url = f"/api/kb/articles/{article_id}"
    first = {"version": 1, "title": "Пульт и приставка: привязка"}
    second = {"version": 1, "body": "Другой текст второго редактора"}
    saves = await asyncio.gather(client.put(url, json=first, headers=csrf), client.put(url, json=second, headers=csrf))
    statuses = sorted(r.status for r in saves)
    assert statuses == [200, 409], "two editors saved the version they read: exactly one wins"
    loser = next(r for r in saves if r.status == 409)
    assert (await loser.json())["error"]["code"] == "conflict"

    current = await _json(await client.get(url), 200)
    assert current["version"] == 2
    revisions = (await _json(await client.get(f"{url}/revisions"), 200))["items"]
    assert [r["version"] for r in revisions] == [2, 1]
    restore = await client.post(f"{url}/revisions/{revisions[1]['id']}/restore", json={"version": 2}, headers=csrf)
    restored = await _json(restore, 200)
    assert (restored["version"], restored["title"], restored["body"]) == (3, ARTICLE["title"], ARTICLE["body"])
    stale = await client.post(f"{url}/archive", json={"version": 2}, headers=csrf)
    assert stale.status == 409


async def test_operators_and_strangers_are_refused(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/api/kb/articles")).status == 401
    csrf = await csrf_headers(client, "operator", LOGINS)
    assert (await client.get("/api/kb/articles")).status == 403
    assert (await client.post("/api/kb/preview", json={"question": "x"}, headers=csrf)).status == 403
    assert (await client.post("/api/kb/articles", json=ARTICLE, headers=csrf)).status == 403
    assert (await client.get("/api/kb/gaps")).status == 403


async def test_an_admin_may_edit_too(client: TestClient[Any, Any]) -> None:
    csrf = await csrf_headers(client, "admin", LOGINS)
    assert (await client.post("/api/kb/articles", json=ARTICLE, headers=csrf)).status == 201


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, raw in files.items():
            archive.writestr(name, raw)
    return buffer.getvalue()


async def test_import_a_zip_and_export_it_again(
    client: TestClient[Any, Any], sample_articles: list[ArticleContent]
) -> None:
    csrf = await csrf_headers(client, "editor", LOGINS)
    files = {f"kb/{a.slug}.{a.language}.md": to_markdown(a).encode() for a in sample_articles}
    broken = _zip({**files, "kb/broken.ru.md": b"---\nslug: broken\nlanguage: ru\ntitle: 'unclosed\n---\n"})
    headers = {**csrf, "Content-Type": "application/zip"}
    failed = await _json(await client.post("/api/kb/import", data=broken, headers=headers), 422)
    assert failed["error"]["code"] == "import_failed"
    assert [p["file"] for p in failed["error"]["details"]["problems"]] == ["kb/broken.ru.md"]
    assert (await _json(await client.get("/api/kb/articles"), 200))["total"] == 0, "nothing of a broken batch"

    report = await _json(await client.post("/api/kb/import", data=_zip(files), headers=headers), 200)
    assert (report["created"], report["updated"], report["unchanged"]) == (len(sample_articles), 0, 0)

    exported = await client.get("/api/kb/export?format=csv")
    assert exported.status == 200
    assert exported.headers["Content-Type"].startswith("text/csv")
    again = parse_files([("export.csv", await exported.read())])
    assert sorted(again, key=lambda a: (a.slug, a.language)) == sorted(
        sample_articles, key=lambda a: (a.slug, a.language)
    )
    # A spreadsheet edit of one article, uploaded from a browser form.
    edited_rows = [again[0].model_copy(update={"title": again[0].title + " (edited)"}), *again[1:]]
    form = aiohttp.FormData()
    form.add_field("file", to_csv(edited_rows).encode(), filename="kb.csv", content_type="text/csv")
    edited = await _json(await client.post("/api/kb/import", data=form, headers=csrf), 200)
    assert (edited["updated"], edited["unchanged"]) == (1, len(sample_articles) - 1)

    md = await client.get("/api/kb/export")
    assert md.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(await md.read())) as archive:
        assert len(archive.namelist()) == len(sample_articles)


async def test_gaps_are_listed_grouped_converted_and_dismissed(
    client: TestClient[Any, Any], engine: AsyncEngine
) -> None:
    sessions = session_factory(engine)
    async with transaction(sessions) as session:
        for text in ("как подключить умный домофон", "подключите мне умный домофон", "чем кормить кота"):
            await gaps.record_gap(session, text, "ru", "web", None)
    csrf = await csrf_headers(client, "editor", LOGINS)
    listed = await _json(await client.get("/api/kb/gaps?days=7"), 200)
    assert listed["total"] == 3
    first, second = listed["groups"]
    assert (first["count"], second["count"]) == (2, 1)

    draft = await client.post("/api/kb/gaps/convert", json={"gap_ids": first["gap_ids"]}, headers=csrf)
    article = await _json(draft, 201)
    assert article["status"] == "draft"
    assert sorted(article["questions"]) == sorted(first["examples"])
    dismissed = await client.post("/api/kb/gaps/dismiss", json={"gap_ids": second["gap_ids"]}, headers=csrf)
    assert (await _json(dismissed, 200))["dismissed"] == 1
    assert (await _json(await client.get("/api/kb/gaps"), 200))["groups"] == []


@pytest.fixture
async def stocked_client(
    settings: Settings,
    engine: AsyncEngine,
    aiohttp_client: ClientFactory,
    sample_articles: list[ArticleContent],
    vector_memo: VectorMemo,
) -> TestClient[Any, Any]:
    """The app over a knowledge base that already has a few published articles (with their vectors stored)."""
    sessions = session_factory(engine)
    async with UnitOfWork(sessions, InProcessBus()) as uow:
        await import_articles(uow, sample_articles, None)
    await vector_memo.store(sessions)
    async with transaction(sessions) as session:
        await add_operator(session, "editor", "editor-password", "editor")
    return await aiohttp_client(create_app(settings))


async def test_the_preview_answers_a_paraphrase_and_admits_an_unrelated_question(
    stocked_client: TestClient[Any, Any],
) -> None:
    client = stocked_client
    await client.app[KNOWLEDGE_BASE].ready.wait()
    csrf = await csrf_headers(client, "editor", LOGINS)
    article_id = (await _json(await client.post("/api/kb/articles", json=ARTICLE, headers=csrf), 201))["id"]
    await _json(await client.post(f"/api/kb/articles/{article_id}/publish", json={"version": 1}, headers=csrf), 200)

    question = {"question": "пульт от приставки перестал работать", "language": "ru"}
    preview = await _json(await client.post("/api/kb/preview", json=question, headers=csrf), 200)
    assert preview["hits"][0]["article_id"] == article_id
    assert preview["band"] == "answer", preview
    assert "<strong>OK</strong>" in preview["answer_html"]
    assert "<script" not in preview["answer_html"]

    off_topic = {"question": "какой рецепт у борща с пампушками", "language": "ru"}
    unknown = await _json(await client.post("/api/kb/preview", json=off_topic, headers=csrf), 200)
    assert unknown["band"] == "unknown", unknown
    assert unknown["answer_html"] is None


@pytest.mark.xfail(
    strict=True, reason="defect in kb.search: with one article the fused score is 0 (nothing to compare)"
)
async def test_a_knowledge_base_of_one_article_answers_a_paraphrase_of_it(client: TestClient[Any, Any]) -> None:
    csrf = await csrf_headers(client, "editor", LOGINS)
    article_id = (await _json(await client.post("/api/kb/articles", json=ARTICLE, headers=csrf), 201))["id"]
    await _json(await client.post(f"/api/kb/articles/{article_id}/publish", json={"version": 1}, headers=csrf), 200)
    question = {"question": "пульт от приставки перестал работать", "language": "ru"}
    preview = await _json(await client.post("/api/kb/preview", json=question, headers=csrf), 200)
    assert preview["band"] == "answer", preview
