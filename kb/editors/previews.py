"""The answer rendered as the help center and Telegram show it: the editor's live preview."""

from __future__ import annotations

import re

import nh3
from aiohttp import web
from pydantic import BaseModel, Field

from core.web.routes import Access, json_response, read_json
from kb.editors.common import routes
from kb.markdown import render_html, render_telegram
from kb.schemas import MAX_BODY_CHARS

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
