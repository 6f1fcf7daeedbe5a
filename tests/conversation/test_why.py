"""Every bot reply says why the bot said it: what it understood, how the knowledge base answered, and gaps.

Through the Bot API stand-in on both databases; the "why" is read from the stored replies, as the inbox reads it.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from core.models import Author, Conversation, Message
from core.web.keys import SESSIONS
from kb.models import Article
from standin.stack import Stack
from tests.support.databases import BACKENDS
from tests.support.stacks import backend_url, running_stack

pytestmark = pytest.mark.asyncio(loop_scope="module")
_chats = itertools.count(73000)


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with running_stack(backend_url(request), tmp_path_factory.mktemp("var")) as running:
        yield running


async def bot_replies(stack: Stack, chat: int) -> list[Message]:
    async with stack.app[SESSIONS]() as session:
        rows = await session.execute(
            select(Message)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.chat_id == str(chat), Message.author == Author.BOT)
            .order_by(Message.seq)
        )
        return list(rows.scalars())


async def title_of(stack: Stack, article_id: int) -> str:
    async with stack.app[SESSIONS]() as session:
        article = await session.get_one(Article, article_id)
        return str(article.title)


async def test_an_answer_from_the_knowledge_base_names_intent_band_and_article(stack: Stack) -> None:
    chat = next(_chats)
    told = await stack.say(chat, "как поменять пароль от вайфая?")
    assert any("Wi-Fi" in r for r in told), told
    replies = await bot_replies(stack, chat)
    assert replies, "the bot answered"
    for reply in replies:  # the article and the "did it help?" question: both say why
        why: dict[str, Any] = reply.meta["why"]
        assert why["band"] == "answer"
        assert why["intent"]
        assert 0 <= why["confidence"] <= 1
        (article,) = why["articles"]
        assert article["title"] == await title_of(stack, article["id"])
        assert article["title"] in replies[0].text  # the article the bot gave is the one it names
        assert 0 < article["confidence"] <= 1
        assert "gap" not in why


async def test_no_answer_says_so_and_that_it_became_a_gap(stack: Stack) -> None:
    chat = next(_chats)
    await stack.say(chat, "сколько стоит запуск ракеты на марс из моего гаража")
    replies = await bot_replies(stack, chat)
    assert replies
    why = replies[0].meta["why"]
    assert why["band"] == "unknown"
    assert why["gap"] is True
    assert "articles" not in why
