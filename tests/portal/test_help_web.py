"""The public help center over HTTP: pages, search bands, votes, 404s, sitemap and robots, bad input."""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from core.events import InProcessBus
from core.uow import UnitOfWork
from core.web.keys import SESSIONS
from kb.articles import create_article
from kb.models import Article, Gap
from kb.schemas import ArticleContent
from tests.support.staff import sign_in

pytestmark = pytest.mark.asyncio(loop_scope="module")
TOKEN = re.compile(r'name="token" value="([^"]+)"')
SITE_LOOK = 'class="site-header"'  # an error page still carries the site's header


async def test_the_help_center_speaks_the_readers_language(client: TestClient[Any, Any]) -> None:
    english = await client.get("/help", headers={"Accept-Language": "en-GB,en;q=0.9"}, allow_redirects=False)
    assert english.status == 302
    assert english.headers["Location"] == "/help/en/"
    russian = await client.get("/help/", headers={"Accept-Language": "ru"}, allow_redirects=False)
    assert russian.headers["Location"] == "/help/ru/"
    for language, heading in (("ru", "Чем мы можем помочь?"), ("en", "How can we help?")):
        page = await client.get(f"/help/{language}/")
        text = await page.text()
        assert page.status == 200
        assert heading in text
        assert f'<html lang="{language}">' in text
        assert len(re.findall(rf'href="/help/{language}/[a-z0-9-]+"', text)) >= 40, "articles by category"


async def test_an_article_has_title_description_open_graph_and_hreflang(client: TestClient[Any, Any]) -> None:
    page = await client.get("/help/ru/change-wifi-password")
    assert page.status == 200
    text = await page.text()
    assert re.search(r"<title>[^<]*Wi-Fi[^<]* — Линия связи</title>", text)
    description = re.search(r'<meta name="description" content="([^"]+)">', text)
    assert description
    assert 20 < len(description.group(1)) <= 160
    assert '<meta property="og:type" content="article">' in text
    assert re.search(r'<meta property="og:url" content="http://[^"]+/help/ru/change-wifi-password">', text)
    for language in ("ru", "en", "x-default"):
        assert re.search(rf'<link rel="alternate" hreflang="{language}" href="http://[^"]+/help/\w\w/change', text)
    assert re.search(r'<link rel="canonical" href="http://[^"]+/help/ru/change-wifi-password">', text)


async def test_unknown_slugs_languages_and_paths_are_404_pages_in_the_sites_look(client: TestClient[Any, Any]) -> None:
    for path in (
        "/help/ru/no-such-article",
        "/help/de/",
        "/help/de/change-wifi-password",
        "/help/ru/category/nothing-here",
        "/help/ru/a/b/c",
        "/help/ru/%00%FF",
        "/help/ru/" + "x" * 300,
    ):
        response = await client.get(path)
        text = await response.text()
        assert response.status == 404, path
        assert SITE_LOOK in text, path
        assert "Traceback" not in text
    assert (await client.get("/help/ru", allow_redirects=False)).headers["Location"] == "/help/ru/"


async def test_drafts_and_archived_articles_are_not_public(client: TestClient[Any, Any]) -> None:
    async with UnitOfWork(client.app[SESSIONS], InProcessBus()) as uow:
        await create_article(
            uow,
            ArticleContent(
                slug="secret-draft", language="ru", title="Черновик", questions=["черновик?"], body="Ещё не готово"
            ),
            None,
        )
    assert (await client.get("/help/ru/secret-draft")).status == 404
    assert "secret-draft" not in await (await client.get("/sitemap.xml")).text()
    assert "secret-draft" not in await (await client.get("/help/ru/")).text()


async def test_search_with_a_good_answer(client: TestClient[Any, Any]) -> None:
    page = await client.get("/help/ru/search", params={"q": "как поменять пароль от вайфая"})
    text = await page.text()
    assert page.status == 200
    assert 'data-band="answer"' in text
    assert re.search(r'<div class="top-answer"[^>]*>\s*<p[^>]*>[^<]*</p>\s*<h2><a href="/help/ru/change-wifi', text)
    assert '<meta name="robots" content="noindex">' in text


async def test_search_without_a_good_answer_says_so(client: TestClient[Any, Any]) -> None:
    for language, question, honest in (
        ("ru", "рецепт борща с пампушками", "хорошего ответа на этот вопрос у нас пока нет"),
        ("en", "who won the football match yesterday", "we have no good answer to this question yet"),
    ):
        text = await (await client.get(f"/help/{language}/search", params={"q": question})).text()
        assert 'data-band="unknown"' in text, question
        assert honest in text
        assert "top-answer" not in text, "no guess is dressed up as an answer"


async def test_bad_queries_get_clear_answers(client: TestClient[Any, Any]) -> None:
    empty = await client.get("/help/ru/search", params={"q": "   "})
    assert empty.status == 200
    assert "Введите вопрос" in await empty.text()
    long = await client.get("/help/ru/search", params={"q": "интернет " * 70})
    assert long.status == 422
    assert "слишком длинный" in await long.text()
    huge = await client.get("/help/ru/search", params={"q": "a" * 10_240})
    assert 400 <= huge.status < 500, "10 KB in a URL is refused before any page is built"
    assert "Traceback" not in await huge.text()
    script = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    escaped = await (await client.get("/help/ru/search", params={"q": script})).text()
    assert "<script>alert" not in escaped
    assert "<img src=x" not in escaped
    assert "&lt;script&gt;alert" in escaped
    broken = await client.get("/help/ru/search?q=%FF%FE%00%D0")
    assert broken.status == 200


async def _vote(client: TestClient[Any, Any], path: str, helpful: str, **extra: str) -> Any:
    text = await (await client.get(path)).text()
    match = TOKEN.search(text)
    assert match
    data = {"token": match.group(1), "helpful": helpful, **extra}
    return await client.post(f"{path.split('?')[0]}/feedback", data=data, allow_redirects=False), data


async def _counters(client: TestClient[Any, Any], slug: str) -> tuple[int, int]:
    async with client.app[SESSIONS]() as session:
        article = (
            await session.execute(select(Article).where(Article.slug == slug, Article.language == "ru"))
        ).scalar_one()
        return article.helpful, article.not_helpful


async def test_a_helpful_vote_counts_once_with_the_bots_counters(client: TestClient[Any, Any]) -> None:
    before = await _counters(client, "pay-by-card")
    response, form = await _vote(client, "/help/ru/pay-by-card", "yes")
    assert response.status == 303
    assert response.headers["Location"] == "/help/ru/pay-by-card?voted=yes#feedback"
    thanks = await (await client.get(response.headers["Location"])).text()
    assert "Рады, что помогло" in thanks
    replay = await client.post("/help/ru/pay-by-card/feedback", data=form, allow_redirects=False)
    assert replay.headers["Location"].endswith("voted=again#feedback")
    assert await _counters(client, "pay-by-card") == (before[0] + 1, before[1])


async def test_a_not_helpful_vote_after_a_search_becomes_a_gap(client: TestClient[Any, Any]) -> None:
    response, _form = await _vote(
        client, "/help/ru/pay-via-sbp?q=можно+ли+платить+через+сбп+из+другого+банка", "no", q="сбп из другого банка"
    )
    assert response.status == 303
    async with client.app[SESSIONS]() as session:
        gaps = list((await session.execute(select(Gap).where(Gap.channel == "help"))).scalars())
    assert [g.text for g in gaps] == ["сбп из другого банка"]


async def test_a_script_gets_json_and_forged_votes_are_refused(client: TestClient[Any, Any]) -> None:
    text = await (await client.get("/help/ru/promised-payment")).text()
    token = TOKEN.search(text)
    assert token
    as_json = await client.post(
        "/help/ru/promised-payment/feedback",
        data={"token": token.group(1), "helpful": "yes"},
        headers={"Accept": "application/json"},
    )
    assert await as_json.json() == {"result": "counted"}
    before = await _counters(client, "promised-payment")
    for form in (
        {"token": "forged.token", "helpful": "yes"},
        {"token": token.group(1)[:-3] + "abc", "helpful": "yes"},
        {"helpful": "yes"},
    ):
        assert (await client.post("/help/ru/promised-payment/feedback", data=form)).status == 400
    other = await client.post("/help/ru/pay-by-card/feedback", data={"token": token.group(1), "helpful": "yes"})
    assert other.status == 400, "a form shown under one article does not count for another"
    assert (await client.post("/help/ru/promised-payment/feedback", data={"helpful": "maybe"})).status == 422
    assert (await client.post("/help/ru/no-such/feedback", data={"helpful": "yes"})).status == 404
    assert await _counters(client, "promised-payment") == before


async def test_robots_and_sitemap_let_search_engines_in(client: TestClient[Any, Any]) -> None:
    robots = await (await client.get("/robots.txt")).text()
    lines = robots.splitlines()
    assert "User-agent: *" in lines
    assert "Allow: /help/" in lines
    assert "Disallow: /" not in lines, "the site is not closed to crawlers (zammad#3151)"
    sitemap_url = next(line.split(": ", 1)[1] for line in lines if line.startswith("Sitemap: "))
    assert sitemap_url.endswith("/sitemap.xml")
    response = await client.get("/sitemap.xml")
    assert response.content_type == "application/xml"
    root = ET.fromstring(await response.read())
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9", "x": "http://www.w3.org/1999/xhtml"}
    locations = [u.findtext("s:loc", namespaces=ns) or "" for u in root.findall("s:url", ns)]
    assert any(loc.endswith("/help/ru/change-wifi-password") for loc in locations)
    assert any(loc.endswith("/help/en/change-wifi-password") for loc in locations)
    assert any(loc.endswith("/help/en/plans") for loc in locations)
    entry = next(
        u for u in root.findall("s:url", ns) if (u.findtext("s:loc", namespaces=ns) or "").endswith("/ru/pay-by-card")
    )
    assert {link.get("hreflang") for link in entry.findall("x:link", ns)} == {"ru", "en"}
    for loc in locations[:5] + locations[-5:]:
        path = loc.split("://", 1)[1].split("/", 1)[1]
        assert (await client.get(f"/{path}")).status == 200, loc


async def test_publishing_and_archiving_reach_the_help_center_at_once(client: TestClient[Any, Any]) -> None:
    csrf = await sign_in(client, "editor")
    headers = {"X-CSRF-Token": csrf}
    body = {
        "slug": "router-on-the-balcony",
        "language": "ru",
        "title": "Роутер на балконе",
        "questions": ["можно ли поставить роутер на балкон"],
        "body": "Можно, если там не бывает мороза и сырости. **Лучше** — в комнате.",
        "category": "equipment",
    }
    created = await (await client.post("/api/kb/articles", json=body, headers=headers)).json()
    assert (await client.get("/help/ru/router-on-the-balcony")).status == 404, "a draft is not public"
    published = await client.post(f"/api/kb/articles/{created['id']}/publish", headers=headers)
    assert published.status == 200
    page = await status_soon(client, "/help/ru/router-on-the-balcony", 200)
    assert "<strong>Лучше</strong>" in await page.text()
    assert "router-on-the-balcony" in await (await client.get("/sitemap.xml")).text()
    archived = await client.post(f"/api/kb/articles/{created['id']}/archive", headers=headers)
    assert archived.status == 200
    await status_soon(client, "/help/ru/router-on-the-balcony", 404)
    assert "router-on-the-balcony" not in await (await client.get("/help/ru/category/equipment")).text()


async def status_soon(client: TestClient[Any, Any], path: str, status: int, within: float = 2.0) -> Any:
    """The page once it answers ``status``: the change travels by the event bus, within a second."""
    async with asyncio.timeout(within):
        while (response := await client.get(path)).status != status:
            await asyncio.sleep(0.05)
    return response
