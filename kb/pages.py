"""The editors' pages under ``/kb`` (editor and admin roles): articles, the editor, revisions, "what would the bot
say", gaps, import/export and calibration.

Server-rendered and complete without JavaScript: every action is a plain form (CSRF field) that posts here and
redirects or re-renders. The editors script only enhances: the live Markdown preview (``POST /kb/render``) and
the "what would the bot say" check with the form's unsaved text (``POST /kb/ask``). Pages are served with a
Content-Security-Policy that allows images from this site only, so an article's external image is never
fetched while an editor previews it (the preview also shows such images as a placeholder).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import nh3
from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select

from core.db import transaction
from core.errors import Conflict, FrontlineError, InvalidInput
from core.models import Operator, utcnow
from core.web.auth import csrf_token, current_operator
from core.web.keys import NAV, SESSIONS, SETTINGS, TEMPLATES
from core.web.pages import NavItem, render_page
from core.web.routes import Access, Routes, json_response, match_int, read_json, unit_of_work
from kb import articles, diffs, gaps, importer, picks
from kb.keys import KNOWLEDGE_BASE
from kb.markdown import render_html, render_telegram
from kb.models import Article, ArticleRevision, ArticleStatus
from kb.schemas import MAX_BODY_CHARS, ArticleContent, ArticleUpdate
from kb.search.index import Band, Document
from kb.service import ArticleHit, KnowledgeBase
from kb.web import recalibrated_path

__all__ = ["PAGES_DIR", "register"]

PAGES_DIR = Path(__file__).parent / "pages"
CSP = (
    "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SORTS = ("updated", "title", "served", "helpful", "not_helpful")
HELPFULNESS = ("", "unhelpful", "helpful", "unrated")
LANGUAGES = ("ru", "en")
routes = Routes("kb-pages")
entry = Routes("kb-pages")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _kb(request: web.Request) -> KnowledgeBase:
    return request.config_dict[KNOWLEDGE_BASE]


def _t(request: web.Request, key: str, **params: Any) -> str:
    return request.config_dict[TEMPLATES].render(key, current_operator(request).language, **params)


async def _page(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    operator = current_operator(request)
    return render_page(
        request,
        name,
        status=status,
        operator=operator,
        language=operator.language,
        csrf_token=await csrf_token(request),
        **context,
    )


# --- previews --------------------------------------------------------------------------------------------

_IMG = re.compile(r"<img\b[^>]*>")
_ATTR = re.compile(r'(\w+)="([^"]*)"')
_TELEGRAM_TAGS = {"b", "i", "s", "u", "code", "pre", "a", "blockquote"}


def _is_local(src: str) -> bool:
    return src.startswith("/") and not src.startswith("//")


def preview_html(markdown: str) -> str:
    """The web rendering of the help center, with images from other sites shown as a placeholder (not fetched)."""

    def neutralise(match: re.Match[str]) -> str:
        attrs = dict(_ATTR.findall(match.group(0)))
        src = attrs.get("src", "")
        if _is_local(src):
            return match.group(0)
        label = attrs.get("alt") or src  # both already escaped by the renderer
        return f'<span class="image-blocked" title="{src}">[{label}]</span>'

    return _IMG.sub(neutralise, render_html(markdown))


def preview_telegram(markdown: str) -> str:
    """What Telegram shows: the bot's own Telegram HTML, cleaned once more before it goes into the page."""
    return str(
        nh3.clean(
            render_telegram(markdown),
            tags=_TELEGRAM_TAGS,
            attributes={"a": {"href"}},
            url_schemes={"http", "https", "mailto", "tel"},
            link_rel="noopener noreferrer nofollow",
        )
    )


class RenderIn(BaseModel):
    body: str = Field(max_length=MAX_BODY_CHARS)


class RenderOut(BaseModel):
    html: str
    telegram: str


@routes.post("/render", access=Access.EDITOR, body=RenderIn, response=RenderOut)
async def render_preview(request: web.Request) -> web.Response:
    """The answer rendered as the help center and as Telegram show it (the editor's live preview)."""
    body = await read_json(request, RenderIn)
    return json_response(RenderOut(html=preview_html(body.body), telegram=preview_telegram(body.body)))


# --- the article list ------------------------------------------------------------------------------------


PERIODS = ("7", "30", "90", "all")


@dataclass(frozen=True, slots=True)
class Row:
    """An article in the list with its counts over the chosen period."""

    article: Article
    served: int
    helpful: int
    not_helpful: int


def _helpfulness(row: Row, wanted: str) -> bool:
    if wanted == "unhelpful":
        return row.not_helpful > row.helpful
    if wanted == "helpful":
        return row.helpful > 0 and row.helpful >= row.not_helpful
    if wanted == "unrated":
        return row.helpful == 0 and row.not_helpful == 0
    return True


def _sort_key(sort: str) -> Callable[[Row], Any]:
    keys: dict[str, Callable[[Row], Any]] = {
        "title": lambda r: r.article.title.casefold(),
        "served": lambda r: -r.served,
        "helpful": lambda r: -r.helpful,
        "not_helpful": lambda r: -r.not_helpful,
    }
    return keys.get(sort, lambda r: -r.article.updated_at.timestamp())


def _choice(request: web.Request, name: str, allowed: Sequence[str], default: str = "") -> str:
    value = request.query.get(name, default)
    return value if value in allowed else default


@routes.get("/", access=Access.EDITOR, html=True)
async def article_list(request: web.Request) -> web.Response:
    """Articles with search, filters (status, language, category, tag, helpfulness), sorting and the answers
    served and votes over a period (``all``: the all-time totals)."""
    text = request.query.get("q", "").strip()[:200]
    filters = {
        "status": _choice(request, "status", [s.value for s in ArticleStatus]),
        "language": _choice(request, "language", LANGUAGES),
        "category": request.query.get("category", "")[:64],
        "tag": request.query.get("tag", "")[:64],
        "helpfulness": _choice(request, "helpfulness", HELPFULNESS),
        "sort": _choice(request, "sort", SORTS, "updated"),
        "period": _choice(request, "period", PERIODS, "30"),
    }
    since = None if filters["period"] == "all" else utcnow() - timedelta(days=int(filters["period"]))
    async with transaction(request.config_dict[SESSIONS]) as session:
        everything = await articles.all_articles(session)
        counts = await articles.event_counts(session, since) if since is not None else {}
    categories = sorted({a.category for a in everything if a.category})
    tags = sorted({str(t) for a in everything for t in a.tags})
    needle = text.casefold()

    def row(a: Article) -> Row:
        if since is None:
            return Row(a, a.views, a.helpful, a.not_helpful)
        own = counts.get(a.id, {})
        return Row(a, own.get("served", 0), own.get("helpful", 0), own.get("not_helpful", 0))

    shown = [
        r
        for r in map(row, everything)
        if (not filters["status"] or r.article.status.value == filters["status"])
        and (not filters["language"] or r.article.language == filters["language"])
        and (not filters["category"] or r.article.category == filters["category"])
        and (not filters["tag"] or filters["tag"] in r.article.tags)
        and _helpfulness(r, filters["helpfulness"])
        and (not needle or articles.matches(r.article, needle))
    ]
    shown.sort(key=_sort_key(filters["sort"]))
    return await _page(
        request,
        "kb_list.html",
        rows=shown,
        total=len(everything),
        q=text,
        filters=filters,
        categories=categories,
        tags=tags,
        sorts=SORTS,
        periods=PERIODS,
        statuses=[s.value for s in ArticleStatus],
        languages=LANGUAGES,
        helpfulness=HELPFULNESS,
    )


# --- the editor --------------------------------------------------------------------------------------------


def _form_of(article: Article | None) -> dict[str, Any]:
    if article is None:
        return {
            "slug": "",
            "language": "ru",
            "title": "",
            "questions": "",
            "body": "",
            "category": "",
            "tags": "",
            "status": ArticleStatus.DRAFT.value,
            "version": "",
            "note": "",
        }
    return {
        "slug": article.slug,
        "language": article.language,
        "title": article.title,
        "questions": "\n".join(str(q) for q in article.questions),
        "body": article.body,
        "category": article.category,
        "tags": ", ".join(str(t) for t in article.tags),
        "status": article.status.value,
        "version": str(article.version),
        "note": "",
    }


def _submitted(form: MultiDictProxy[Any]) -> dict[str, Any]:
    def text(name: str) -> str:
        value = form.get(name, "")
        return value if isinstance(value, str) else ""

    return {
        "slug": text("slug").strip(),
        "language": text("language"),
        "title": text("title"),
        "questions": text("questions"),
        "body": text("body"),
        "category": text("category"),
        "tags": text("tags"),
        "status": text("status"),
        "version": text("version"),
        "note": text("note")[:200],
    }


def _lines(value: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in value.replace("\r\n", "\n").split("\n") if line.strip())


def _tags(value: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in value.split(",") if t.strip())


def _content_fields(form: dict[str, Any]) -> dict[str, Any]:
    return {
        "slug": form["slug"],
        "language": form["language"],
        "title": form["title"],
        "questions": _lines(form["questions"]),
        "body": form["body"],
        "category": form["category"],
        "tags": _tags(form["tags"]),
    }


def _problems(request: web.Request, exc: ValidationError | FrontlineError) -> list[str]:
    """Readable problems: the field's label from the templates with the validator's message."""
    if isinstance(exc, ValidationError):
        errors: list[Any] = exc.errors(include_url=False, include_context=False, include_input=False)
    else:
        errors = list(exc.details.get("errors", [])) if isinstance(exc.details.get("errors"), list) else []
        if not errors:
            return [exc.message]
    out = []
    for error in errors:
        where = next((str(p) for p in error.get("loc", ()) if isinstance(p, str)), "")
        label = _t(request, f"editors.field.{where}") if where in _FIELD_LABELS else where
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        out.append(f"{label}: {message}" if label else message)
    return out


_FIELD_LABELS = {"slug", "language", "title", "questions", "body", "category", "tags", "status"}


async def _editor(
    request: web.Request,
    article: Article | None,
    form: dict[str, Any],
    *,
    status: int = 200,
    problems: list[str] | None = None,
    conflict: int | None = None,
    saved: bool = False,
) -> web.Response:
    translations: list[Article] = []
    articles_list: list[Article] = []
    if article is not None:
        async with transaction(request.config_dict[SESSIONS]) as session:
            translations = await articles.translations(session, article)
    return await _page(
        request,
        "kb_editor.html",
        status=status,
        article=article,
        form=form,
        problems=problems or [],
        conflict=conflict,
        saved=saved,
        translations=translations,
        others=articles_list,
        preview=preview_html(form["body"]),
        telegram=preview_telegram(form["body"]),
        languages=LANGUAGES,
        max_body=MAX_BODY_CHARS,
    )


@routes.get("/new", access=Access.EDITOR, html=True)
async def new_article(request: web.Request) -> web.Response:
    """An empty editor (``?slug=&language=`` start a translation)."""
    form = _form_of(None)
    slug = request.query.get("slug", "")
    if slug:
        form["slug"] = slug[:120]
    if request.query.get("language") in LANGUAGES:
        form["language"] = request.query["language"]
    return await _editor(request, None, form)


@routes.post("/new", access=Access.EDITOR, html=True)
async def create_article(request: web.Request) -> web.StreamResponse:
    """Create an article from the editor's form (a draft, or published at once)."""
    form = _submitted(await request.post())
    wanted = ArticleStatus.PUBLISHED if form["status"] == "published" else ArticleStatus.DRAFT
    try:
        content = ArticleContent.model_validate({**_content_fields(form), "status": wanted})
        async with unit_of_work(request) as uow:
            article = await articles.create_article(uow, content, current_operator(request).id)
    except ValidationError as exc:
        return await _editor(request, None, form, status=422, problems=_problems(request, exc))
    except FrontlineError as exc:
        return await _editor(request, None, form, status=exc.status, problems=[_conflict_text(request, exc)])
    await _kb(request).refresh([article.id])
    raise web.HTTPSeeOther(f"/kb/articles/{article.id}?saved=1")


def _conflict_text(request: web.Request, exc: FrontlineError) -> str:
    if isinstance(exc, Conflict) and "already exists" in exc.message:
        return _t(request, "editors.duplicate_slug")
    return exc.message


async def _load(request: web.Request, article_id: int) -> Article:
    async with transaction(request.config_dict[SESSIONS]) as session:
        return await articles.get_article(session, article_id)


@routes.get("/articles/{id}", access=Access.EDITOR, html=True)
async def edit_article(request: web.Request) -> web.Response:
    """The editor: title, questions, Markdown body with the preview, category, tags, language, status."""
    article = await _load(request, match_int(request, "id"))
    return await _editor(request, article, _form_of(article), saved=bool(request.query.get("saved")))


STATUS_OF_ACTION = {
    "publish": ArticleStatus.PUBLISHED,
    "archive": ArticleStatus.ARCHIVED,
    "draft": ArticleStatus.DRAFT,
}


@routes.post("/articles/{id}", access=Access.EDITOR, html=True)
async def save_article(request: web.Request) -> web.StreamResponse:
    """Save the editor's form over the version it was opened at; a stale save re-renders with the text kept."""
    article_id = match_int(request, "id")
    posted = await request.post()
    form = _submitted(posted)
    action = str(posted.get("action", "save"))
    operator = current_operator(request)
    try:
        version = int(form["version"])
        changes = ArticleUpdate.model_validate({"version": version, "note": form["note"], **_content_fields(form)})
        async with unit_of_work(request) as uow:
            current = await articles.get_article(uow.session, article_id, for_update=True)
            if current.version != version:
                raise Conflict("stale", current_version=current.version)
            if articles.content_of(current).model_dump(exclude={"status"}) != ArticleContent.model_validate(
                {**_content_fields(form), "status": current.status}
            ).model_dump(exclude={"status"}):
                current = await articles.update_article(uow, article_id, changes, operator.id)
            target = STATUS_OF_ACTION.get(action)
            if target is not None:
                await articles.set_status(uow, article_id, target, operator.id, current.version)
    except ValueError as exc:
        article = await _load(request, article_id)
        if isinstance(exc, ValidationError):
            return await _editor(request, article, form, status=422, problems=_problems(request, exc))
        return await _editor(request, article, form, status=422, problems=[_t(request, "editors.bad_version")])
    except Conflict as exc:
        article = await _load(request, article_id)
        if "already exists" in exc.message:
            return await _editor(request, article, form, status=409, problems=[_conflict_text(request, exc)])
        # The editor's text stays in the form; the next save is over the version they have now been shown.
        kept = {**form, "version": str(article.version)}
        return await _editor(request, article, kept, status=409, conflict=article.version)
    except InvalidInput as exc:
        article = await _load(request, article_id)
        return await _editor(request, article, form, status=422, problems=_problems(request, exc))
    await _kb(request).refresh([article_id])
    raise web.HTTPSeeOther(f"/kb/articles/{article_id}?saved=1")


# --- revisions -----------------------------------------------------------------------------------------------


async def _authors(request: web.Request, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    async with transaction(request.config_dict[SESSIONS]) as session:
        rows = await session.execute(select(Operator.id, Operator.name, Operator.login).where(Operator.id.in_(ids)))
        return {int(i): str(name or login) for i, name, login in rows}


def _pick(revisions: list[ArticleRevision], raw: str | None, default: int) -> ArticleRevision | None:
    if not revisions:
        return None
    if raw and raw.isdigit():
        found = next((r for r in revisions if r.id == int(raw)), None)
        if found is not None:
            return found
    return revisions[min(default, len(revisions) - 1)]


@routes.get("/articles/{id}/revisions", access=Access.EDITOR, html=True)
async def revisions_page(request: web.Request) -> web.Response:
    """History with author and time, a diff between any two revisions (``?a=&b=``), restore."""
    article_id = match_int(request, "id")
    async with transaction(request.config_dict[SESSIONS]) as session:
        article = await articles.get_article(session, article_id)
        revisions = await articles.list_revisions(session, article_id)
    new = _pick(revisions, request.query.get("b"), 0)
    old = _pick(revisions, request.query.get("a"), 1)
    if old is not None and new is not None and old.version > new.version:
        old, new = new, old
    changes = diffs.diff_revisions(old, new) if old is not None and new is not None and old is not new else []
    authors = await _authors(request, {r.author_id for r in revisions if r.author_id is not None})
    return await _page(
        request,
        "kb_revisions.html",
        article=article,
        revisions=revisions,
        authors=authors,
        old=old,
        new=new,
        changes=[c for c in changes if c.changed],
        restored=request.query.get("restored"),
    )


@routes.post("/articles/{id}/revisions/{revision_id}/restore", access=Access.EDITOR, html=True)
async def restore_revision(request: web.Request) -> web.StreamResponse:
    """Bring an old revision's content back as a new save."""
    article_id = match_int(request, "id")
    revision_id = match_int(request, "revision_id")
    form = await request.post()
    raw = form.get("version")
    expected = int(raw) if isinstance(raw, str) and raw.isdigit() else None
    async with unit_of_work(request) as uow:
        article = await articles.restore_revision(uow, article_id, revision_id, current_operator(request).id, expected)
        version = article.version
    await _kb(request).refresh([article_id])
    raise web.HTTPSeeOther(f"/kb/articles/{article_id}/revisions?restored={version}")


# --- what would the bot say ------------------------------------------------------------------------------------


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
    article = await _load(request, int(raw_article)) if raw_article.isdigit() else None
    kb = _kb(request)
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
    return await _page(
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
    kb = _kb(request)
    published = _hits_view(await kb.search(body.question, language, 5, count_view=False))
    drafted = None
    if body.draft is not None:
        # An unsaved new article gets an id no stored article has.
        doc = _draft_document(body.article_id or -1, body.draft.model_dump())
        drafted = _result(_hits_view(await kb.search_with_draft(body.question, language, doc)))
    return json_response(AskOut(published=_result(published), draft=drafted))


# --- gaps ------------------------------------------------------------------------------------------------------


ANSWERED_CHECKS = 50
"""Groups (largest first) checked against the published knowledge base when the gaps page opens."""


def _ids(value: object) -> list[int]:
    text = value if isinstance(value, str) else ""
    ids = [int(p) for p in text.split(",") if p.strip().isdigit()]
    if not ids or len(ids) > 5000:
        raise InvalidInput("no gaps chosen")
    return ids


@routes.get("/gaps", access=Access.EDITOR, html=True)
async def gaps_page(request: web.Request) -> web.Response:
    """Questions the bot could not answer (or that customers marked not helpful), grouped by similarity."""
    raw_days = request.query.get("days", "30")
    days = min(max(int(raw_days), 1), 365) if raw_days.isdigit() else 30
    language = request.query.get("language", "")
    language = language if language in LANGUAGES else ""
    kb = _kb(request)
    groups, total = await gaps.group_gaps(
        request.config_dict[SESSIONS], kb.embedder, days=days, language=language or None
    )
    async with transaction(request.config_dict[SESSIONS]) as session:
        every = await articles.all_articles(session)
        members = {g.gap_ids[0]: await gaps.gaps_of(session, g.gap_ids[:50]) for g in groups}
    choices = sorted(
        (a for a in every if a.status is not ArticleStatus.ARCHIVED), key=lambda a: (a.language, a.title.casefold())
    )
    # A group the bot answers by now (an article was published or changed since) only needs dismissing.
    answered: dict[int, str] = {}
    for group in groups[:ANSWERED_CHECKS]:
        hits = await kb.search(group.text, group.language, 1, count_view=False)
        if hits and hits[0].band is Band.ANSWER:
            answered[group.gap_ids[0]] = hits[0].title
    return await _page(
        request,
        "kb_gaps.html",
        groups=groups,
        members=members,
        total=total,
        days=days,
        lang_filter=language,
        languages=LANGUAGES,
        choices=choices,
        answered=answered,
        done=request.query.get("done", ""),
        article_id=request.query.get("article", ""),
    )


@routes.post("/gaps/variant", access=Access.EDITOR, html=True)
async def gaps_to_variant(request: web.Request) -> web.StreamResponse:
    """Add a group's questions to an article's question variants: the bot answers them from then on."""
    form = await request.post()
    gap_ids = _ids(form.get("gap_ids"))
    raw = form.get("article_id")
    if not isinstance(raw, str) or not raw.isdigit():
        raise InvalidInput("choose an article")
    async with unit_of_work(request) as uow:
        article = await gaps.add_as_variant(uow, gap_ids, int(raw), None, current_operator(request).id)
        article_id = article.id
    await _kb(request).refresh([article_id])
    raise web.HTTPSeeOther(f"/kb/gaps?done=variant&article={article_id}")


@routes.post("/gaps/draft", access=Access.EDITOR, html=True)
async def gaps_to_draft(request: web.Request) -> web.StreamResponse:
    """A draft article from a group: its questions are the customers' words."""
    form = await request.post()
    gap_ids = _ids(form.get("gap_ids"))
    async with unit_of_work(request) as uow:
        article = await gaps.convert_gaps(uow, gap_ids, current_operator(request).id, None)
        article_id = article.id
    raise web.HTTPSeeOther(f"/kb/articles/{article_id}?saved=1")


@routes.post("/gaps/dismiss", access=Access.EDITOR, html=True)
async def gaps_dismiss(request: web.Request) -> web.StreamResponse:
    """Dismiss a group (noise, or answered already)."""
    form = await request.post()
    gap_ids = _ids(form.get("gap_ids"))
    async with transaction(request.config_dict[SESSIONS]) as session:
        await gaps.dismiss_gaps(session, gap_ids)
    raise web.HTTPSeeOther("/kb/gaps?done=dismissed")


# --- import / export, calibration --------------------------------------------------------------------------------


def _calibration(request: web.Request) -> dict[str, Any]:
    kb = _kb(request)
    settings = request.config_dict[SETTINGS]
    path = recalibrated_path(settings)
    if not path.exists():
        path = settings.data_dir / "kb" / "thresholds.yml"
    when = datetime.fromtimestamp(path.stat().st_mtime, UTC) if path.exists() else None
    return {
        "answer": kb.thresholds.answer,
        "suggest": kb.thresholds.suggest,
        "info": dict(kb.thresholds.info),
        "when": when,
        "embedder": kb.embedder.name,
        "path": str(path),
    }


async def _import_page(request: web.Request, status: int = 200, **context: Any) -> web.Response:
    operator = current_operator(request)
    return await _page(
        request,
        "kb_import.html",
        status=status,
        calibration=_calibration(request),
        is_admin=operator.role.value == "admin",
        **context,
    )


@routes.get("/import", access=Access.EDITOR, html=True)
async def import_page(request: web.Request) -> web.Response:
    """Import (Markdown + front matter, CSV, zip), export links, and the calibration status."""
    return await _import_page(request, report=None, problems=[])


@routes.post("/import", access=Access.EDITOR, html=True)
async def import_upload(request: web.Request) -> web.Response:
    """Import the uploaded file: all or nothing, with every problem's file and line."""
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        return await _import_page(request, 422, report=None, problems=[], error=_t(request, "editors.import.no_file"))
    raw = upload.file.read()
    if not raw:
        return await _import_page(request, 422, report=None, problems=[], error=_t(request, "editors.import.empty"))
    try:
        contents = importer.parse_upload(raw, upload.content_type, upload.filename or "")
        async with unit_of_work(request) as uow:
            done = await articles.import_articles(uow, contents, current_operator(request).id)
    except importer.ImportFailed as exc:
        return await _import_page(request, 422, report=None, problems=exc.problems)
    except FrontlineError as exc:
        return await _import_page(request, exc.status, report=None, problems=[], error=exc.message)
    await _kb(request).refresh([d.article_id for d in done if d.action != "unchanged"])
    return await _import_page(request, report=done, problems=[])


EVAL_SETS = ("kb_demo_tune.yml", "kb_colloquial_tune.yml")
"""The labelled questions the button calibrates on (the same sets as ``frontline kb calibrate``)."""


@routes.post("/calibrate", access=Access.ADMIN, html=True)
async def recalibrate(request: web.Request) -> web.Response:
    """Recalibrate the bands on the evaluation sets and the customers' picks; used at once and saved under
    ``var/kb/`` for the next start (the shipped ``data/kb/thresholds.yml`` is left alone)."""
    from kb.cli import load_questions

    settings = request.config_dict[SETTINGS]
    kb = _kb(request)
    questions = [
        q for name in EVAL_SETS if (path := settings.data_dir / "eval" / name).exists() for q in load_questions(path)
    ]
    async with transaction(request.config_dict[SESSIONS]) as session:
        published = await articles.all_articles(session, ArticleStatus.PUBLISHED)
        chosen = await picks.labelled_picks(session)
    ids = {(a.slug, a.language): a.id for a in published}
    any_language = {a.slug: a.id for a in published}
    in_scope: list[tuple[str, str, int]] = []
    off_topic: list[tuple[str, str]] = []
    for text, language, slug in questions:
        if slug is None:
            off_topic.append((text, language))
        elif (article_id := ids.get((slug, language), any_language.get(slug))) is not None:
            in_scope.append((text, language, article_id))
    live = set(ids.values())
    in_scope += [(text, language, aid) for text, language, aid in chosen if aid in live]
    if not in_scope or not off_topic:
        return await _import_page(
            request, 422, report=None, problems=[], calibrated=_t(request, "editors.calibration.failed")
        )
    thresholds = await kb.recalibrate(in_scope, off_topic)
    target = recalibrated_path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    thresholds.save(target, kb.embedder.name)
    message = _t(
        request,
        "editors.calibration.done",
        answer=f"{thresholds.answer:.4f}",
        suggest=f"{thresholds.suggest:.4f}",
        in_scope=len(in_scope),
        off_topic=len(off_topic),
    )
    return await _import_page(request, report=None, problems=[], calibrated=message)


# --- wiring --------------------------------------------------------------------------------------------------


@entry.get("/kb", access=Access.EDITOR, html=True)
async def kb_entry(request: web.Request) -> web.StreamResponse:
    """The editors' pages."""
    raise web.HTTPFound("/kb/")


def register(app: web.Application) -> None:
    """Mount the editors' pages at ``/kb`` on the root application."""
    entry.register(app)
    app[NAV].append(NavItem("editors.nav", "/kb/", Access.EDITOR))
    pages = web.Application(middlewares=[security_headers])
    routes.register(pages)
    app.add_subapp("/kb", pages)
