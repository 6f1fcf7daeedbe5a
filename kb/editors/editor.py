"""The article editor: create, edit, save over a version, publish, archive; stale saves keep the text."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import ValidationError

from core.db import transaction
from core.errors import Conflict, FrontlineError, InvalidInput
from core.web.auth import current_operator
from core.web.keys import SESSIONS
from core.web.routes import Access, match_int, unit_of_work
from kb import articles
from kb.editors.common import LANGUAGES, kb_of, page, phrase, problems, routes
from kb.editors.previews import preview_html, preview_telegram
from kb.models import Article, ArticleStatus
from kb.schemas import MAX_BODY_CHARS, ArticleContent, ArticleUpdate


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
    return await page(
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
        return await _editor(request, None, form, status=422, problems=problems(request, exc))
    except FrontlineError as exc:
        return await _editor(request, None, form, status=exc.status, problems=[_conflict_text(request, exc)])
    await kb_of(request).refresh([article.id])
    raise web.HTTPSeeOther(f"/kb/articles/{article.id}?saved=1")


def _conflict_text(request: web.Request, exc: FrontlineError) -> str:
    if isinstance(exc, Conflict) and "already exists" in exc.message:
        return phrase(request, "editors.duplicate_slug")
    return exc.message


async def load_article(request: web.Request, article_id: int) -> Article:
    async with transaction(request.config_dict[SESSIONS]) as session:
        return await articles.get_article(session, article_id)


@routes.get("/articles/{id}", access=Access.EDITOR, html=True)
async def edit_article(request: web.Request) -> web.Response:
    """The editor: title, questions, Markdown body with the preview, category, tags, language, status."""
    article = await load_article(request, match_int(request, "id"))
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
        article = await load_article(request, article_id)
        if isinstance(exc, ValidationError):
            return await _editor(request, article, form, status=422, problems=problems(request, exc))
        return await _editor(request, article, form, status=422, problems=[phrase(request, "editors.bad_version")])
    except Conflict as exc:
        article = await load_article(request, article_id)
        if "already exists" in exc.message:
            return await _editor(request, article, form, status=409, problems=[_conflict_text(request, exc)])
        # The editor's text stays in the form; the next save is over the version they have now been shown.
        kept = {**form, "version": str(article.version)}
        return await _editor(request, article, kept, status=409, conflict=article.version)
    except InvalidInput as exc:
        article = await load_article(request, article_id)
        return await _editor(request, article, form, status=422, problems=problems(request, exc))
    await kb_of(request).refresh([article_id])
    raise web.HTTPSeeOther(f"/kb/articles/{article_id}?saved=1")
