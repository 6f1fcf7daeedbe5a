"""The editors' API, mounted at ``/api/kb`` (editor and admin roles), and the knowledge base's cleanup context.

Routes (paths relative to the mount point):

* ``GET /articles`` (filters status, language, category, text; limit/offset), ``POST /articles``,
  ``GET /articles/{id}``, ``PUT /articles/{id}`` (needs the ``version`` read: 409 when someone saved since),
  ``POST /articles/{id}/publish``, ``POST /articles/{id}/archive``, ``GET /articles/{id}/revisions``,
  ``POST /articles/{id}/revisions/{revision_id}/restore``;
* ``POST /preview`` — what the bot would say to a question: hits with scores and the band;
* ``GET /gaps`` (grouped), ``POST /gaps/dismiss``, ``POST /gaps/convert`` (a group → a draft article);
* ``GET /articles/{id}/candidates`` — questions customers asked before picking the article among suggested
  titles (candidate variants); ``POST /articles/{id}/candidates/accept`` adds them to its questions,
  ``POST /articles/{id}/candidates/dismiss`` drops them;
* ``POST /import`` — the body is a zip of ``.md``/``.csv`` files (``Content-Type: application/zip``), one CSV
  (``text/csv``) or one Markdown file (``text/markdown``), or a multipart form with a ``file`` field; a batch
  with any problem imports nothing and answers 422 with ``details.problems`` (file, line, message);
* ``GET /export?format=md|csv`` — a zip of Markdown files or one CSV, the formats import reads.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import BodyPartReader, web

from core.db import transaction
from core.errors import InvalidInput
from core.periodic import PeriodicTask
from core.settings import Settings
from core.web.auth import current_operator
from core.web.keys import BUS, SESSIONS, SETTINGS
from core.web.routes import Access, Routes, json_response, match_int, read_json, read_query, unit_of_work
from kb import articles, gaps, importer, picks
from kb.keys import KNOWLEDGE_BASE
from kb.markdown import render_html
from kb.models import Article, ArticleStatus
from kb.schemas import (
    ArticleContent,
    ArticleList,
    ArticleOut,
    ArticleQuery,
    ArticleSummary,
    ArticleUpdate,
    CandidateList,
    CandidateOut,
    DismissOut,
    ExportQuery,
    GapConvert,
    GapGroupOut,
    GapGroups,
    GapIds,
    GapQuery,
    ImportedArticle,
    ImportReport,
    PickAccept,
    PickIds,
    PreviewHit,
    PreviewIn,
    PreviewOut,
    RevisionList,
    RevisionOut,
    TranslationRef,
    VersionCheck,
)
from kb.search.index import Band, Thresholds
from kb.service import KnowledgeBase
from nlu.keys import EMBEDDER

log = logging.getLogger(__name__)
routes = Routes("kb")
RESYNC_SECONDS = 60.0
MAX_UPLOAD = 32 * 1024 * 1024
"""Imports stream past the app's 2 MB body limit: a whole knowledge base in one zip is larger than that."""


def _kb(request: web.Request) -> KnowledgeBase:
    return request.config_dict[KNOWLEDGE_BASE]


def _summary(article: Article) -> ArticleSummary:
    return ArticleSummary(
        id=article.id,
        slug=article.slug,
        language=article.language,
        title=article.title,
        category=article.category,
        tags=list(article.tags),
        status=article.status,
        version=article.version,
        views=article.views,
        helpful=article.helpful,
        not_helpful=article.not_helpful,
        updated_at=article.updated_at,
    )


def _out(article: Article, others: list[Article]) -> ArticleOut:
    return ArticleOut(
        **_summary(article).model_dump(),
        questions=list(article.questions),
        body=article.body,
        body_html=render_html(article.body),
        author_id=article.author_id,
        created_at=article.created_at,
        published_at=article.published_at,
        translations=[TranslationRef(id=t.id, language=t.language, status=t.status) for t in others],
    )


async def _version(request: web.Request) -> int | None:
    """The optional ``{"version": n}`` body of status changes; an empty body means "no check"."""
    if not await request.read():
        return None
    return (await read_json(request, VersionCheck)).version


# --- articles ----------------------------------------------------------------------------------------


@routes.get("/articles", access=Access.EDITOR, query=ArticleQuery, response=ArticleList)
async def list_articles(request: web.Request) -> web.Response:
    """Articles, newest change first, filtered by status, language, category and text."""
    query = read_query(request, ArticleQuery)
    async with transaction(request.config_dict[SESSIONS]) as session:
        items, total = await articles.list_articles(session, query)
    return json_response(ArticleList(items=[_summary(a) for a in items], total=total))


@routes.post("/articles", access=Access.EDITOR, body=ArticleContent, response=ArticleOut, status=201)
async def create_article(request: web.Request) -> web.Response:
    """Create an article (a draft unless ``status`` says otherwise)."""
    content = await read_json(request, ArticleContent)
    operator = current_operator(request)
    async with unit_of_work(request) as uow:
        article = await articles.create_article(uow, content, operator.id)
        out = _out(article, await articles.translations(uow.session, article))
    await _kb(request).refresh([article.id])
    return json_response(out, 201)


@routes.get("/articles/{id}", access=Access.EDITOR, response=ArticleOut)
async def get_article(request: web.Request) -> web.Response:
    """One article with its body rendered to safe HTML and its translations."""
    article_id = match_int(request, "id")
    async with transaction(request.config_dict[SESSIONS]) as session:
        article = await articles.get_article(session, article_id)
        out = _out(article, await articles.translations(session, article))
    return json_response(out)


@routes.put("/articles/{id}", access=Access.EDITOR, body=ArticleUpdate, response=ArticleOut)
async def update_article(request: web.Request) -> web.Response:
    """Save changes; ``version`` must be the one read (409 Conflict when someone saved in between)."""
    article_id = match_int(request, "id")
    changes = await read_json(request, ArticleUpdate)
    operator = current_operator(request)
    async with unit_of_work(request) as uow:
        article = await articles.update_article(uow, article_id, changes, operator.id)
        out = _out(article, await articles.translations(uow.session, article))
    await _kb(request).refresh([article_id])
    return json_response(out)


async def _set_status(request: web.Request, status: ArticleStatus) -> web.Response:
    article_id = match_int(request, "id")
    expected = await _version(request)
    operator = current_operator(request)
    async with unit_of_work(request) as uow:
        article = await articles.set_status(uow, article_id, status, operator.id, expected)
        out = _out(article, await articles.translations(uow.session, article))
    await _kb(request).refresh([article_id])
    return json_response(out)


@routes.post("/articles/{id}/publish", access=Access.EDITOR, body=VersionCheck, response=ArticleOut)
async def publish_article(request: web.Request) -> web.Response:
    """Publish: the bot answers from it (on every worker within a second)."""
    return await _set_status(request, ArticleStatus.PUBLISHED)


@routes.post("/articles/{id}/archive", access=Access.EDITOR, body=VersionCheck, response=ArticleOut)
async def archive_article(request: web.Request) -> web.Response:
    """Archive: the bot stops answering from it; the article and its revisions stay."""
    return await _set_status(request, ArticleStatus.ARCHIVED)


@routes.get("/articles/{id}/revisions", access=Access.EDITOR, response=RevisionList)
async def list_revisions(request: web.Request) -> web.Response:
    """Every saved version of an article, newest first."""
    article_id = match_int(request, "id")
    async with transaction(request.config_dict[SESSIONS]) as session:
        revisions = await articles.list_revisions(session, article_id)
    items = [
        RevisionOut(
            id=r.id,
            version=r.version,
            title=r.title,
            questions=list(r.questions),
            body=r.body,
            category=r.category,
            tags=list(r.tags),
            status=r.status,
            author_id=r.author_id,
            note=r.note,
            created_at=r.created_at,
        )
        for r in revisions
    ]
    return json_response(RevisionList(items=items))


@routes.post(
    "/articles/{id}/revisions/{revision_id}/restore", access=Access.EDITOR, body=VersionCheck, response=ArticleOut
)
async def restore_revision(request: web.Request) -> web.Response:
    """Bring back an old revision's content as a new save."""
    article_id = match_int(request, "id")
    revision_id = match_int(request, "revision_id")
    expected = await _version(request)
    operator = current_operator(request)
    async with unit_of_work(request) as uow:
        article = await articles.restore_revision(uow, article_id, revision_id, operator.id, expected)
        out = _out(article, await articles.translations(uow.session, article))
    await _kb(request).refresh([article_id])
    return json_response(out)


# --- what would the bot say --------------------------------------------------------------------------


@routes.post("/preview", access=Access.EDITOR, body=PreviewIn, response=PreviewOut)
async def preview(request: web.Request) -> web.Response:
    """What the bot would answer to a question: hits with scores and the confidence band."""
    body = await read_json(request, PreviewIn)
    kb = _kb(request)
    hits = await kb.search(body.question, body.language, body.k, count_view=False)
    band = hits[0].band if hits else Band.UNKNOWN
    thresholds = kb.thresholds
    return json_response(
        PreviewOut(
            band=str(band.value),
            answer_html=render_html(hits[0].answer_markdown) if hits and band is Band.ANSWER else None,
            hits=[
                PreviewHit(
                    article_id=h.article_id,
                    slug=h.slug,
                    language=h.language,
                    title=h.title,
                    band=str(h.band.value),
                    score=h.score,
                    confidence=h.confidence,
                    dense=h.dense,
                    lexical=h.lexical,
                )
                for h in hits
            ],
            thresholds={"answer": float(thresholds.answer), "suggest": float(thresholds.suggest)},
        )
    )


# --- gaps --------------------------------------------------------------------------------------------


@routes.get("/gaps", access=Access.EDITOR, query=GapQuery, response=GapGroups)
async def list_gaps(request: web.Request) -> web.Response:
    """Open gaps of the last days, grouped by similar meaning, largest group first."""
    query = read_query(request, GapQuery)
    kb = _kb(request)
    groups, total = await gaps.group_gaps(
        request.config_dict[SESSIONS], kb.embedder, days=query.days, language=query.language
    )
    out = [
        GapGroupOut(
            text=g.text,
            language=g.language,
            count=g.count,
            conversations=g.conversations,
            examples=g.examples,
            channels=g.channels,
            first_seen=g.first_seen,
            last_seen=g.last_seen,
            gap_ids=g.gap_ids,
        )
        for g in groups
    ]
    return json_response(GapGroups(days=query.days, total=total, groups=out))


@routes.post("/gaps/dismiss", access=Access.EDITOR, body=GapIds, response=DismissOut)
async def dismiss_gaps(request: web.Request) -> web.Response:
    """Dismiss gaps (noise, or already answered)."""
    body = await read_json(request, GapIds)
    async with transaction(request.config_dict[SESSIONS]) as session:
        count = await gaps.dismiss_gaps(session, body.gap_ids)
    return json_response(DismissOut(dismissed=count))


@routes.post("/gaps/convert", access=Access.EDITOR, body=GapConvert, response=ArticleOut, status=201)
async def convert_gaps(request: web.Request) -> web.Response:
    """Turn a group of gaps into a draft article whose questions are the customers' words."""
    body = await read_json(request, GapConvert)
    operator = current_operator(request)
    async with unit_of_work(request) as uow:
        article = await gaps.convert_gaps(uow, body.gap_ids, operator.id, body.title)
        out = _out(article, await articles.translations(uow.session, article))
    return json_response(out, 201)


# --- candidate variants from suggestion picks ---------------------------------------------------------


@routes.get("/articles/{id}/candidates", access=Access.EDITOR, response=CandidateList)
async def list_candidates(request: web.Request) -> web.Response:
    """Questions customers asked before picking this article among suggested titles, most frequent first."""
    article_id = match_int(request, "id")
    found = await _kb(request).candidates(article_id)
    items = [
        CandidateOut(text=c.text, language=c.language, count=c.count, pick_ids=c.pick_ids, last_seen=c.last_seen)
        for c in found
    ]
    return json_response(CandidateList(article_id=article_id, items=items))


@routes.post("/articles/{id}/candidates/accept", access=Access.EDITOR, body=PickAccept, response=ArticleOut)
async def accept_candidates(request: web.Request) -> web.Response:
    """Add the picked questions to the article's question variants (a new revision)."""
    article_id = match_int(request, "id")
    body = await read_json(request, PickAccept)
    operator = current_operator(request)
    async with unit_of_work(request) as uow:
        article = await picks.accept_picks(uow, article_id, body.pick_ids, body.version, operator.id)
        out = _out(article, await articles.translations(uow.session, article))
    await _kb(request).refresh([article_id])
    return json_response(out)


@routes.post("/articles/{id}/candidates/dismiss", access=Access.EDITOR, body=PickIds, response=DismissOut)
async def dismiss_candidates(request: web.Request) -> web.Response:
    """Drop picked questions from the candidates (and from calibration evidence)."""
    article_id = match_int(request, "id")
    body = await read_json(request, PickIds)
    async with transaction(request.config_dict[SESSIONS]) as session:
        count = await picks.dismiss_picks(session, article_id, body.pick_ids)
    return json_response(DismissOut(dismissed=count))


# --- import / export ---------------------------------------------------------------------------------


async def _read_capped(read: Callable[[int], Awaitable[bytes]]) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await read(64 * 1024):
        size += len(chunk)
        if size > MAX_UPLOAD:
            raise InvalidInput(f"the upload is larger than {MAX_UPLOAD // 1024 // 1024} MB")
        chunks.append(chunk)
    return b"".join(chunks)


async def _upload(request: web.Request) -> tuple[bytes, str, str]:
    """The uploaded bytes, their content type and file name: a raw body or a form's ``file`` field."""
    if request.content_type.startswith("multipart/"):
        try:
            reader = await request.multipart()
            async for part in reader:
                if isinstance(part, BodyPartReader) and part.name == "file":
                    data = await _read_capped(part.read_chunk)
                    return data, part.headers.get("Content-Type", ""), part.filename or ""
        except (ValueError, AssertionError) as exc:  # no boundary, a broken part: the form cannot be read
            raise InvalidInput("the multipart form could not be read", reason=str(exc)[:200]) from None
        raise InvalidInput("the form has no 'file' field")
    return await _read_capped(request.content.read), request.content_type, ""


@routes.post("/import", access=Access.EDITOR, response=ImportReport)
async def import_articles(request: web.Request) -> web.Response:
    """Import a zip of Markdown/CSV files or one CSV: all or nothing (see the module docstring)."""
    raw, content_type, filename = await _upload(request)
    if not raw:
        raise InvalidInput("the upload is empty")
    contents = importer.parse_upload(raw, content_type, filename)
    operator = current_operator(request)
    async with unit_of_work(request) as uow:
        done = await articles.import_articles(uow, contents, operator.id)
    report = ImportReport(
        created=sum(d.action == "created" for d in done),
        updated=sum(d.action == "updated" for d in done),
        unchanged=sum(d.action == "unchanged" for d in done),
        articles=[
            ImportedArticle(slug=d.slug, language=d.language, action=d.action, article_id=d.article_id) for d in done
        ],
    )
    return json_response(report)


@routes.get("/export", access=Access.EDITOR, query=ExportQuery)
async def export_articles(request: web.Request) -> web.Response:
    """Every article as a zip of Markdown files (``format=md``) or one CSV (``format=csv``)."""
    query = read_query(request, ExportQuery)
    async with transaction(request.config_dict[SESSIONS]) as session:
        contents = [articles.content_of(a) for a in await articles.all_articles(session, query.status)]
    if query.format == "csv":
        return web.Response(
            body=importer.to_csv(contents).encode("utf-8"),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": 'attachment; filename="knowledge-base.csv"'},
        )
    return web.Response(
        body=importer.to_zip(contents),
        content_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="knowledge-base.zip"'},
    )


def recalibrated_path(settings: Settings) -> Path:
    """Where "Recalibrate now" saves thresholds: runtime state under ``var/``, never the shipped ``data/`` file."""
    return settings.var_dir / "kb" / "thresholds.yml"


# --- wiring ------------------------------------------------------------------------------------------


def create_app() -> web.Application:
    app = web.Application()
    routes.register(app)
    return app


async def kb_ctx(app: web.Application) -> AsyncIterator[None]:
    """This worker's knowledge base (a root-app cleanup context after the database, bus and embedder)."""
    settings = app[SETTINGS]
    recalibrated = recalibrated_path(settings)
    kb = KnowledgeBase(
        app[SESSIONS],
        app[BUS],
        app[EMBEDDER],
        # An admin's recalibration (the editors' pages) wins over the shipped file; the lexicon stays in data/kb.
        thresholds=Thresholds.load(recalibrated, app[EMBEDDER].name) if recalibrated.exists() else None,
        thresholds_path=settings.data_dir / "kb" / "thresholds.yml",
        progress=True,
    )
    await kb.start(wait=False)
    app[KNOWLEDGE_BASE] = kb

    async def resync() -> bool:
        await kb.resync()
        return False

    # Events make edits searchable at once; the resync catches what a missed event would leave behind.
    loop = PeriodicTask("kb-resync", resync, RESYNC_SECONDS, initial_delay=RESYNC_SECONDS)
    loop.start()
    yield
    await loop.stop()
    await kb.close()
