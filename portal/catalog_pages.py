"""The service catalog page (``/help/<lang>/plans``): plans, what they include, targets in words, services.

The numbers come from :class:`portal.catalog.Catalog`, which reads the SLA files the bot's ETA and
``frontline sla due`` read. Requesting a service is a portal action (it opens a ticket for a known
customer): the page links to the portal's request form, which explains how to sign in when needed.
"""

from __future__ import annotations

from aiohttp import web

from core.templates import LANGUAGES
from core.web.keys import TEMPLATES
from core.web.routes import Access, Routes
from portal.keys import SITE
from portal.site import PageError, absolute, help_language, language_switch, negotiated_language, render

__all__ = ["routes"]

routes = Routes("help")


@routes.get("/{lang}/plans", access=Access.PUBLIC, html=True)
async def plans_page(request: web.Request) -> web.Response:
    """Support plans with their channels, hours, limits and targets, and the services one can request."""
    language = help_language(request)
    if language is None:
        raise PageError(404, "help.error.language", language=negotiated_language(request))
    catalog = request.config_dict[SITE].catalog
    t = request.config_dict[TEMPLATES]
    alternates = [{"lang": lang, "url": absolute(request, f"/help/{lang}/plans")} for lang in LANGUAGES]
    alternates.append({"lang": "x-default", "url": absolute(request, f"/help/{t.default_language}/plans")})
    return render(
        request,
        "help_plans.html",
        language=language,
        page_title=t.render("catalog.title", language),
        description=t.render("catalog.description", language),
        plans=catalog.offers(language),
        services=catalog.service_offers(language),
        canonical=absolute(request, f"/help/{language}/plans"),
        alternates=alternates,
        switch=language_switch(language, {lang: f"/help/{lang}/plans" for lang in LANGUAGES}),
    )
