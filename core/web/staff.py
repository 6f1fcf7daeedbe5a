"""The one shape every staff page shares: the signed-in operator, their language and the CSRF token go into
the template, so a handler only loads what it shows."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.web.auth import csrf_token, current_operator
from core.web.pages import render_html, render_page


async def staff_page(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    """A whole page for the signed-in operator, in their language, with the CSRF token its forms send."""
    operator = current_operator(request)
    return render_page(
        request,
        template,
        status=status,
        operator=operator,
        language=operator.language,
        csrf_token=await csrf_token(request),
        **context,
    )


def staff_fragment(request: web.Request, template: str, **context: Any) -> web.Response:
    """Part of a page, re-read by a live tab: never cached, since it changes with every event."""
    operator = current_operator(request)
    html = render_html(request, template, operator=operator, language=operator.language, **context)
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})
