"""``/robots.txt`` and ``/sitemap.xml``: search engines are welcome in the help center (and kept out of the rest).

The sitemap lists every published article in every language with ``xhtml:link`` alternates between
translations, the start pages and the catalog; search result pages and the portal are not for indexing.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from aiohttp import web

from core.templates import LANGUAGES
from core.web.routes import Access, Routes
from portal.keys import LIBRARY
from portal.site import absolute

__all__ = ["routes"]

routes = Routes("help")


@routes.get("/robots.txt", access=Access.PUBLIC)
async def robots(request: web.Request) -> web.Response:
    """Crawlers may read the help center and the catalog; not search results, the portal or staff pages."""
    lines = [
        "User-agent: *",
        "Allow: /help/",
        "Allow: /static/",
        "Disallow: /help/*/search",
        "Disallow: /portal",
        "Disallow: /api/",
        "Disallow: /login",
        f"Sitemap: {absolute(request, '/sitemap.xml')}",
    ]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


def _url(loc: str, alternates: list[tuple[str, str]], lastmod: str | None = None) -> str:
    parts = [f"<url><loc>{escape(loc)}</loc>"]
    if lastmod:
        parts.append(f"<lastmod>{lastmod}</lastmod>")
    parts += [
        f'<xhtml:link rel="alternate" hreflang={quoteattr(lang)} href={quoteattr(href)}/>' for lang, href in alternates
    ]
    parts.append("</url>")
    return "".join(parts)


@routes.get("/sitemap.xml", access=Access.PUBLIC)
async def sitemap(request: web.Request) -> web.Response:
    """Every public page of the help center, with translations as hreflang alternates."""
    entries = request.config_dict[LIBRARY].sitemap()
    urls: list[str] = []
    for path in ("", "plans"):
        alternates = [(lang, absolute(request, f"/help/{lang}/{path}")) for lang in LANGUAGES]
        urls += [_url(href, alternates) for _lang, href in alternates]
    for entry in entries:
        alternates = [(lang, absolute(request, f"/help/{lang}/{entry.slug}")) for lang in entry.languages]
        loc = absolute(request, f"/help/{entry.language}/{entry.slug}")
        urls.append(_url(loc, alternates if len(alternates) > 1 else [], entry.updated_at.date().isoformat()))
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:xhtml="http://www.w3.org/1999/xhtml">\n'
        + "\n".join(urls)
        + "\n</urlset>\n"
    )
    return web.Response(text=body, content_type="application/xml")
