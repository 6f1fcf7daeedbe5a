"""Article bodies rendered for the web and for Telegram: formatting kept, anything executable made inert."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from kb.markdown import render_for_channel, render_html, render_plain, render_telegram

HOSTILE = """Hello <script>alert("x")</script> there.

<img src=x onerror=alert(1)>

<a href="javascript:alert(1)">click</a> and [a link](javascript:alert(2)) and [data](data:text/html;base64,PHNjcmlwdD4=)

<iframe src="https://evil.example"></iframe>
"""

TELEGRAM_TAGS = {"b", "i", "s", "u", "code", "pre", "a", "blockquote"}


class _Elements(HTMLParser):
    """The real elements and attributes of an HTML text (escaped text does not count)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: list[tuple[str, str]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.extend((name, value or "") for name, value in attrs)


def _assert_inert(elements: _Elements) -> None:
    assert not elements.tags & {"script", "img", "iframe", "object", "embed", "style"}
    assert not [name for name, _ in elements.attributes if name.startswith("on")]
    urls = [value.lower() for name, value in elements.attributes if name in ("href", "src")]
    assert not [u for u in urls if u.startswith(("javascript:", "data:", "vbscript:"))]


def test_script_and_html_in_a_body_are_rendered_inert_on_the_web() -> None:
    html = render_html(HOSTILE)
    _assert_inert(_Elements(html))
    assert "&lt;script&gt;" in html, "the editor's text stays visible, escaped"


def test_script_and_html_in_a_body_are_rendered_inert_for_telegram() -> None:
    text = render_telegram(HOSTILE)
    elements = _Elements(text)
    _assert_inert(elements)
    assert elements.tags <= TELEGRAM_TAGS


def test_markdown_formatting_survives_on_the_web() -> None:
    html = render_html("# Title\n\n**bold** and [site](https://liniya.example)\n\n- one\n- two\n")
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html
    assert '<a href="https://liniya.example" rel="noopener noreferrer nofollow">site</a>' in html
    assert "<li>one</li>" in html


def test_telegram_gets_its_own_tags_and_escaped_text() -> None:
    text = render_telegram("# Heading\n\n1. first **step**\n2. second\n\n`code` and x < y & z\n")
    assert _Elements(text).tags <= TELEGRAM_TAGS
    assert "<b>Heading</b>" in text
    assert "1. first <b>step</b>\n2. second" in text
    assert "<code>code</code> and x &lt; y &amp; z" in text


def test_plain_text_keeps_list_bullets_and_link_addresses() -> None:
    text = render_plain("Pay in the [account](https://lk.liniya.example).\n\n- one\n- two")
    assert text == "Pay in the account (https://lk.liniya.example).\n\n• one\n• two"


@pytest.mark.parametrize("channel", ["telegram", "web", "plain"])
def test_every_channel_renders_the_demo_answer(channel: str) -> None:
    body = "**1. Проверьте баланс.** Пополните в [кабинете](https://lk.liniya.example)."
    out = render_for_channel(body, channel)
    assert "Проверьте баланс." in out
    assert "**" not in out
