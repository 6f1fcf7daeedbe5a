"""The public help center (a sub-app at ``/help``): start page, categories, articles, search, votes, catalog.

Every page is server-rendered and complete without JavaScript (forms are plain GET/POST); the help
script only enhances (a vote without reloading, the chat widget opened with the question). Search is the
bot's own: :meth:`KnowledgeBase.search` with the same bands, and the same honesty when the band is
``unknown`` — no guess is shown as an answer.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from core.db import transaction
from core.store import clean_text
from core.templates import LANGUAGES, TemplateError
from core.web.keys import SESSIONS, SETTINGS, TEMPLATES
from core.web.routes import Access, Routes
from kb.keys import KNOWLEDGE_BASE
from kb.search.index import Band
from portal import helpcenter
from portal.forms import Spent, spend_vote_token, vote_token
from portal.keys import LIBRARY, SITE
from portal.site import (
    PageError,
    absolute,
    chat,
    help_language,
    language_switch,
    negotiated_language,
    quoted,
    render,
)

__all__ = ["MAX_QUERY_CHARS", "routes"]

routes = Routes("help")

MAX_QUERY_CHARS = 500
"""Longer questions are refused with a clear page: the search box holds 500 characters."""
RESULTS = 5
OG_LOCALES = {"ru": "ru_RU", "en": "en_US"}


class Voted(BaseModel):
    result: str  # "counted" | "again"


def _language(request: web.Request) -> str:
    language = help_language(request)
    if language is None:
        raise PageError(404, "help.error.language", language=negotiated_language(request))
    return language


def _category_name(request: web.Request, key: str, language: str) -> str:
    """A category's name from the templates; a category without one is shown by its key."""
    try:
        return request.config_dict[TEMPLATES].render(f"help.categories.{key or 'other'}", language)
    except TemplateError:
        return key.replace("_", " ").replace("-", " ").capitalize()


def _switch_home(language: str, path: str = "") -> list[dict[str, Any]]:
    return language_switch(language, {lang: f"/help/{lang}/{path}" for lang in LANGUAGES})


def _seo(request: web.Request, language: str, path: str, translations: list[str] | None = None) -> dict[str, Any]:
    """Canonical URL and hreflang alternates of a page that exists at ``/help/<lang>/<path>``."""
    languages = translations if translations is not None else list(LANGUAGES)
    alternates = [{"lang": lang, "url": absolute(request, f"/help/{lang}/{path}")} for lang in languages]
    default = request.config_dict[TEMPLATES].default_language
    x_default = default if default in languages else (languages[0] if languages else language)
    alternates.append({"lang": "x-default", "url": absolute(request, f"/help/{x_default}/{path}")})
    return {
        "canonical": absolute(request, f"/help/{language}/{path}"),
        "alternates": alternates,
        "og_locale": OG_LOCALES.get(language, language),
        "og_alternate_locales": [OG_LOCALES[lang] for lang in languages if lang != language and lang in OG_LOCALES],
    }


@routes.get("/", access=Access.PUBLIC, html=True)
async def help_root(request: web.Request) -> web.StreamResponse:
    """The help center in the reader's language (from Accept-Language)."""
    raise web.HTTPFound(f"/help/{negotiated_language(request)}/", headers={"Vary": "Accept-Language"})


@routes.get("/{lang}/", access=Access.PUBLIC, html=True)
async def help_home(request: web.Request) -> web.Response:
    """The help center's start page: categories with their articles, the search box, the catalog."""
    language = _language(request)
    categories = request.config_dict[LIBRARY].by_category(language)
    t = request.config_dict[TEMPLATES]
    return render(
        request,
        "help_home.html",
        language=language,
        page_title=t.render("help.home.title", language),
        description=t.render("help.home.description", language),
        categories=[
            {
                "key": c.key,
                "name": _category_name(request, c.key, language),
                "articles": c.articles[: helpcenter.HOME_PER_CATEGORY],
                "count": c.count,
            }
            for c in categories
        ],
        switch=_switch_home(language),
        chat=chat(request.config_dict[SITE], language, ""),
        **_seo(request, language, ""),
    )


@routes.get("/{lang}/category/{category}", access=Access.PUBLIC, html=True)
async def help_category(request: web.Request) -> web.Response:
    """Every published article of one category."""
    language = _language(request)
    key = request.match_info["category"]
    if not helpcenter.CATEGORY.match(key):
        raise PageError(404, "help.error.category")
    found = request.config_dict[LIBRARY].by_category(language, key)
    if not found:
        raise PageError(404, "help.error.category")
    name = _category_name(request, key, language)
    t = request.config_dict[TEMPLATES]
    return render(
        request,
        "help_category.html",
        language=language,
        page_title=t.render("help.category.title", language, name=name),
        description=t.render("help.category.description", language, name=name, count=found[0].count),
        category={"key": key, "name": name, "articles": found[0].articles},
        switch=_switch_home(language, f"category/{key}"),
        **_seo(request, language, f"category/{key}"),
    )


def _query(request: web.Request) -> str:
    raw = request.query.get("q", "")
    text, _notes = clean_text(raw, MAX_QUERY_CHARS * 4)  # NUL bytes and broken encodings out, trimmed
    return " ".join(text.split())


@routes.get("/{lang}/search", access=Access.PUBLIC, html=True)
async def help_search(request: web.Request) -> web.Response:
    """Search results for ``?q=``: a shareable page with the bot's own answer bands."""
    language = _language(request)
    query = _query(request)
    t = request.config_dict[TEMPLATES]
    site = request.config_dict[SITE]
    context: dict[str, Any] = {
        "query": query,
        "page_title": t.render("help.search.title", language),
        "description": t.render("help.home.description", language),
        "noindex": True,
        "switch": language_switch(language, {lang: f"/help/{lang}/search?q={quoted(query)}" for lang in LANGUAGES}),
        "chat": chat(site, language, query),
        "band": None,
        "top": None,
        "others": [],
        "too_long": False,
    }
    if len(query) > MAX_QUERY_CHARS:
        context.update(query=query[:MAX_QUERY_CHARS], too_long=True)
        return render(request, "help_search.html", language=language, status=422, limit=MAX_QUERY_CHARS, **context)
    if not query:
        return render(request, "help_search.html", language=language, limit=MAX_QUERY_CHARS, **context)
    hits = await request.config_dict[KNOWLEDGE_BASE].search(query, language, RESULTS, count_view=False)
    band = hits[0].band if hits else Band.UNKNOWN
    context["page_title"] = t.render("help.search.title_for", language, query=query[:60])

    library = request.config_dict[LIBRARY]

    def link(hit: Any) -> dict[str, Any]:
        held = library.get(hit.article_id)
        return {
            "url": f"/help/{hit.language}/{hit.slug}?q={quoted(query)}",
            "title": hit.title,
            "language": hit.language,
            "excerpt": held.description if held is not None else helpcenter.description(hit.answer_markdown),
        }

    if band is Band.ANSWER:
        context.update(top=link(hits[0]), others=[link(h) for h in hits[1:] if h.band is not Band.UNKNOWN][:3])
    elif band is Band.SUGGEST:
        context.update(others=[link(h) for h in hits if h.band is Band.SUGGEST][:3])
    context["band"] = band.value
    return render(request, "help_search.html", language=language, limit=MAX_QUERY_CHARS, **context)


@routes.get("/{lang}/{slug}", access=Access.PUBLIC, html=True)
async def help_article(request: web.Request) -> web.Response:
    """One published article: readable URL, title, description, Open Graph, hreflang, "was this helpful?"."""
    language = _language(request)
    slug = request.match_info["slug"]
    library = request.config_dict[LIBRARY]
    article = library.article(language, slug)
    if article is None:
        raise PageError(404, "help.error.article")
    languages = library.translations(slug)
    related = library.by_category(language, article.category)
    settings = request.config_dict[SETTINGS]
    t = request.config_dict[TEMPLATES]
    query = _query(request)[:MAX_QUERY_CHARS]
    voted = request.query.get("voted")
    return render(
        request,
        "help_article.html",
        language=language,
        page_title=t.render("help.article.title", language, title=article.title),
        description=article.description,
        og_type="article",
        article={
            "slug": article.slug,
            "title": article.title,
            "html": article.html,
            "updated_at": article.updated_at,
            "category": article.category,
            "category_name": _category_name(request, article.category, language) if article.category else "",
        },
        related=[a for c in related for a in c.articles if a.slug != slug][:5],
        vote={
            "token": vote_token(settings.secret, article.id),
            "action": f"/help/{language}/{slug}/feedback",
            "query": query,
            "done": voted if voted in ("yes", "no", "again") else None,
        },
        switch=language_switch(
            language,
            {lang: f"/help/{lang}/{slug}" if lang in languages else f"/help/{lang}/" for lang in LANGUAGES},
        ),
        chat=chat(request.config_dict[SITE], language, query or article.title),
        **_seo(request, language, slug, languages),
    )


@routes.post("/{lang}/{slug}/feedback", access=Access.PUBLIC, response=Voted)
async def help_vote(request: web.Request) -> web.StreamResponse:
    """ "Was this helpful?": counted with the bot's buttons' counters, once per page shown (a signed form token).

    A form post (JavaScript off) is answered by a redirect back to the article; a script asking for JSON
    gets ``{"result": "counted" | "again"}``. A forged or expired form is a 400 either way.
    """
    language = _language(request)
    slug = request.match_info["slug"]
    form = await request.post()
    token, helpful, query = (str(form.get(name) or "") for name in ("token", "helpful", "q"))
    if helpful not in ("yes", "no"):
        raise PageError(422, "help.error.vote_value")
    kb = request.config_dict[KNOWLEDGE_BASE]
    article = request.config_dict[LIBRARY].article(language, slug)
    if article is None:
        raise PageError(404, "help.error.article")
    article_id = article.id
    async with transaction(request.config_dict[SESSIONS]) as session:
        spent = await spend_vote_token(session, request.config_dict[SETTINGS].secret, token, article_id)
    if spent is Spent.INVALID:
        raise PageError(400, "help.error.vote_expired")
    if spent is Spent.OK:
        text = " ".join(clean_text(query, MAX_QUERY_CHARS)[0].split()) or None
        # A "no" with the question that led here is also a gap for editors, as in the chat.
        await kb.feedback(article_id, helpful == "yes", text=text, language=language, channel="help")
    result = "counted" if spent is Spent.OK else "again"
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response(Voted(result=result).model_dump())
    done = helpful if spent is Spent.OK else "again"
    raise web.HTTPSeeOther(f"/help/{language}/{slug}?voted={done}#feedback")


@routes.get("/{tail:.*}", access=Access.PUBLIC, html=True)
async def help_elsewhere(request: web.Request) -> web.StreamResponse:
    """Anything else under /help: the language's start page for a bare language, else a 404 page."""
    tail = request.match_info["tail"]
    if tail in LANGUAGES:
        raise web.HTTPMovedPermanently(f"/help/{tail}/")
    raise PageError(404, "help.error.page")
