""" "What would the bot say": a question run against the live index, or against a draft's unsaved text."""

from __future__ import annotations

from typing import Any, cast

from aiohttp import web
from pydantic import BaseModel, Field

from core.web.routes import Access, json_response, read_json
from kb.editors.common import LANGUAGES, kb_of, page, routes
from kb.editors.editor import load_article
from kb.editors.previews import preview_html
from kb.schemas import MAX_BODY_CHARS
from kb.search.index import Band, Document
from kb.service import ArticleHit


def _hits_view(hits: list[ArticleHit]) -> dict[str, Any]:
    band = hits[0].band if hits else Band.UNKNOWN
    return {
        "band": band.value,
        "served": hits[0] if hits and band is Band.ANSWER else None,
        "answer_html": preview_html(hits[0].answer_markdown) if hits and band is Band.ANSWER else "",
        "hits": hits,
    }


def _draft_document(article_id: int, fields: dict[str, Any]) -> Document:
    return Document(
        article_id=article_id,
        language=str(fields.get("language") or "ru"),
        title=str(fields.get("title") or ""),
        questions=tuple(str(q) for q in fields.get("questions") or ()),
        body=str(fields.get("body") or ""),
        key=str(fields.get("slug") or ""),
    )


@routes.get("/ask", access=Access.EDITOR, html=True)
async def ask_page(request: web.Request) -> web.Response:
    """Type a customer question: the band, top hits with scores and the article served, for the published KB
    and (``?article=``) for the KB with that article's saved text as if published."""
    question = request.query.get("q", "").strip()[:2000]
    language = request.query.get("language", "")
    language = language if language in LANGUAGES else ""
    raw_article = request.query.get("article", "")
    article = await load_article(request, int(raw_article)) if raw_article.isdigit() else None
    kb = kb_of(request)
    published: dict[str, Any] | None = None
    drafted: dict[str, Any] | None = None
    if question:
        published = _hits_view(await kb.search(question, language or None, 5, count_view=False))
        if article is not None:
            doc = _draft_document(
                article.id,
                {
                    "language": article.language,
                    "title": article.title,
                    "questions": article.questions,
                    "body": article.body,
                    "slug": article.slug,
                },
            )
            drafted = _hits_view(await kb.search_with_draft(question, language or None, doc))
    return await page(
        request,
        "kb_ask.html",
        question=question,
        lang_filter=language,
        article=article,
        published=published,
        drafted=drafted,
        languages=LANGUAGES,
        thresholds=kb.thresholds,
    )


class DraftIn(BaseModel):
    slug: str = Field(default="", max_length=120)
    language: str = Field(default="ru", max_length=8)
    title: str = Field(default="", max_length=300)
    questions: list[str] = Field(default_factory=list, max_length=100)
    body: str = Field(default="", max_length=MAX_BODY_CHARS)


class AskIn(BaseModel):
    question: str = Field(min_length=1, max_length=2000)
    language: str | None = Field(default=None, max_length=8)
    article_id: int | None = None
    draft: DraftIn | None = None


class AskHit(BaseModel):
    article_id: int
    title: str
    language: str
    band: str
    score: float
    confidence: float


class AskResult(BaseModel):
    band: str
    served_title: str | None
    answer_html: str
    hits: list[AskHit]


class AskOut(BaseModel):
    published: AskResult
    draft: AskResult | None


def _result(view: dict[str, Any]) -> AskResult:
    hits = cast(list[ArticleHit], view["hits"])
    served = cast(ArticleHit | None, view["served"])
    return AskResult(
        band=view["band"],
        served_title=served.title if served is not None else None,
        answer_html=view["answer_html"],
        hits=[
            AskHit(
                article_id=h.article_id,
                title=h.title,
                language=h.language,
                band=h.band.value,
                score=h.score,
                confidence=h.confidence,
            )
            for h in hits
        ],
    )


@routes.post("/ask", access=Access.EDITOR, body=AskIn, response=AskOut)
async def ask_with_draft(request: web.Request) -> web.Response:
    """What the bot would say now and with the editor's unsaved draft (the editor page's check)."""
    body = await read_json(request, AskIn)
    language = body.language if body.language in LANGUAGES else None
    kb = kb_of(request)
    published = _hits_view(await kb.search(body.question, language, 5, count_view=False))
    drafted = None
    if body.draft is not None:
        # An unsaved new article gets an id no stored article has.
        doc = _draft_document(body.article_id or -1, body.draft.model_dump())
        drafted = _result(_hits_view(await kb.search_with_draft(body.question, language, doc)))
    return json_response(AskOut(published=_result(published), draft=drafted))
