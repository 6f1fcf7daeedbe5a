"""Article bodies (Markdown) rendered for where they are shown: safe HTML, Telegram's HTML subset, plain text.

Raw HTML in a body is never passed through: markdown-it runs with ``html`` off (tags come out as visible,
escaped text) and refuses ``javascript:``-style links, and the web HTML is cleaned once more by nh3 with an
allow-list, so a ``<script>`` an editor pastes (or an import smuggles in) is rendered inert.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Literal

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

ChannelName = Literal["telegram", "web", "plain"]

_md = MarkdownIt("commonmark", {"html": False, "breaks": False}).enable(["table", "strikethrough"])

_HTML_TAGS = {
    "a", "b", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li",
    "ol", "p", "pre", "s", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_HTML_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "td": {"style"},
    "th": {"style"},
}
_URL_SCHEMES = {"http", "https", "mailto", "tel"}


def _image_allowed(src: str, image_sources: Sequence[str]) -> bool:
    """Same-origin paths, inline ``data:image/…`` and the allow-listed origins: an image from anywhere else
    would tell a third party who read the article and when (a tracking pixel)."""
    lowered = src.strip().lower()
    if lowered.startswith("data:image/"):
        return True
    if lowered.startswith("/") and not lowered.startswith("//") and "\\" not in lowered:
        return True
    return any(lowered.startswith(origin.lower().rstrip("/") + "/") for origin in image_sources)


def render_html(markdown: str, image_sources: Sequence[str] = ()) -> str:
    """Markdown → HTML safe to insert into a page; images only from this site, data: URLs or ``image_sources``."""

    def keep(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src":
            return value if _image_allowed(value, image_sources) else None
        if attribute == "href" and value.strip().lower().startswith("data:"):
            return None
        return value

    raw = _md.render(markdown)
    return str(
        nh3.clean(
            raw,
            tags=_HTML_TAGS,
            attributes=_HTML_ATTRIBUTES,
            url_schemes=_URL_SCHEMES | {"data"},
            link_rel="noopener noreferrer nofollow",
            filter_style_properties={"text-align"},
            attribute_filter=keep,
        )
    )


def render_telegram(markdown: str) -> str:
    """Markdown → Telegram's HTML subset (``parse_mode="HTML"``): b, i, s, code, pre, a, blockquote."""
    return _ChannelWriter(tags=True).write(_md.parse(markdown))


def render_plain(markdown: str) -> str:
    """Markdown → plain text (lists keep their bullets, links show their address)."""
    return _ChannelWriter(tags=False).write(_md.parse(markdown))


def render_for_channel(markdown: str, channel: str) -> str:
    """The body as the channel shows it: ``telegram`` → Telegram HTML, ``web`` → safe HTML, else plain text."""
    if channel == "telegram":
        return render_telegram(markdown)
    if channel == "web":
        return render_html(markdown)
    return render_plain(markdown)


_INLINE_TAGS = {
    "strong_open": "<b>",
    "strong_close": "</b>",
    "em_open": "<i>",
    "em_close": "</i>",
    "s_open": "<s>",
    "s_close": "</s>",
}


class _ChannelWriter:
    """Walks markdown-it's tokens and writes chat-friendly text: blank lines between blocks, bullets for lists."""

    def __init__(self, *, tags: bool) -> None:
        self.tags = tags
        self.out: list[str] = []
        self.lists: list[list[int | None]] = []  # one entry per open list: [next number] or [None] for bullets
        self.first_cell = True
        self.out_mark = 0

    def esc(self, text: str) -> str:
        return html.escape(text, quote=False) if self.tags else text

    def tag(self, markup: str) -> None:
        if self.tags:
            self.out.append(markup)

    def _tail(self) -> str:
        tail = ""
        for piece in reversed(self.out):
            tail = piece + tail
            if len(tail) >= 2:
                break
        return tail

    def newlines(self, count: int) -> None:
        """End the current line(s) so that the output ends with ``count`` newlines (none at the very start)."""
        if not "".join(self.out).strip():
            return
        tail = self._tail()
        have = len(tail) - len(tail.rstrip("\n"))
        if have < count:
            self.out.append("\n" * (count - have))

    def block(self) -> None:
        self.newlines(1 if self.lists else 2)

    def write(self, tokens: Sequence[Token]) -> str:
        for token in tokens:
            self.token(token)
        return "".join(self.out).strip()

    def token(self, token: Token) -> None:
        kind = token.type
        if kind == "inline":
            self.inline(token.children or [])
        elif kind == "heading_open":
            self.block()
            self.tag("<b>")
        elif kind == "heading_close":
            self.tag("</b>")
        elif kind == "paragraph_open":
            if not token.hidden:
                self.block()
        elif kind in ("bullet_list_open", "ordered_list_open"):
            self.block()
            start = token.attrs.get("start", 1) if kind == "ordered_list_open" else None
            self.lists.append([int(start) if start is not None else None])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.lists.pop()
            if not self.lists:
                self.newlines(2)
        elif kind == "list_item_open":
            self.newlines(1)
            current: list[int | None] = self.lists[-1] if self.lists else [None]
            number = current[0]
            marker = "•" if number is None else f"{number}."
            if number is not None:
                current[0] = number + 1
            self.out.append("  " * (len(self.lists) - 1) + marker + " ")
        elif kind == "blockquote_open":
            self.block()
            self.tag("<blockquote>")
        elif kind == "blockquote_close":
            self.tag("</blockquote>")
        elif kind in ("fence", "code_block"):
            self.block()
            self.tag("<pre>")
            self.out.append(self.esc(token.content.rstrip("\n")))
            self.tag("</pre>")
        elif kind == "hr":
            self.block()
            self.out.append("———")
        elif kind == "table_open":
            self.block()
        elif kind == "tr_open":
            self.newlines(1)
            self.first_cell = True
        elif kind in ("th_open", "td_open"):
            if not self.first_cell:
                self.out.append(" | ")
            self.first_cell = False
        elif kind == "table_close":
            self.newlines(2)

    def inline(self, children: Sequence[Token]) -> None:
        link_stack: list[str] = []
        for child in children:
            kind = child.type
            if kind == "text":
                self.out.append(self.esc(child.content))
            elif kind in _INLINE_TAGS:
                self.tag(_INLINE_TAGS[kind])
            elif kind == "code_inline":
                self.tag("<code>")
                self.out.append(self.esc(child.content))
                self.tag("</code>")
            elif kind in ("softbreak", "hardbreak"):
                self.out.append("\n")
            elif kind == "link_open":
                href = str(child.attrs.get("href", ""))
                link_stack.append(href)
                if self.tags:
                    self.out.append(f'<a href="{html.escape(href, quote=True)}">')
                self.out_mark = len(self.out)
            elif kind == "link_close":
                href = link_stack.pop() if link_stack else ""
                if self.tags:
                    self.out.append("</a>")
                else:
                    label = "".join(self.out[self.out_mark :])
                    if href and label.strip() != href and not href.startswith("mailto:"):
                        self.out.append(f" ({href})")
            elif kind == "image":
                src = str(child.attrs.get("src", ""))
                alt = child.content or src
                if self.tags:
                    self.out.append(f'<a href="{html.escape(src, quote=True)}">{self.esc(alt)}</a>')
                else:
                    self.out.append(f"{alt} ({src})" if src and alt != src else alt)
