"""One customer across web chat and Telegram: link codes through the whole stack (real sockets, both databases)."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select, update

from core.models import Channel, Conversation, Customer, Identity, LinkCode, utcnow
from core.web.keys import SESSIONS
from tests.support.databases import BACKENDS
from tests.support.stacks import backend_url, running_stack
from tests.webchat.conftest import Chat, Widget, new_cid

pytestmark = pytest.mark.asyncio(loop_scope="module")
BOT = "frontline_test_bot"
_chats = itertools.count(7000)
CODE = re.compile(r"\b([A-Z2-9]{4}-[A-Z2-9]{4})\b")


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def linked(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Chat]:
    async with running_stack(
        backend_url(request), tmp_path_factory.mktemp("var"), telegram_bot_username=BOT
    ) as running:
        yield Chat(running)


async def web_says(chat: Chat, widget: Widget, text: str) -> list[dict[str, Any]]:
    return await chat.replies(widget, await widget.say(text))


async def web_presses(chat: Chat, widget: Widget, replies: list[dict[str, Any]], label: str) -> list[dict[str, Any]]:
    button = next(b for r in replies for b in r["buttons"] if re.search(label, b["label"]))
    cid = new_cid()
    await widget.send({"type": "button", "cid": cid, "payload": button["payload"], "label": button["label"]})
    shown = await widget.until(lambda f: f.get("cid") == cid)
    return await chat.replies(widget, shown)


async def web_code(chat: Chat, widget: Widget, ask: str = "связать с телеграмом") -> tuple[str, str]:
    replies = await web_says(chat, widget, ask)
    text = "\n".join(r["text"] for r in replies)
    match = CODE.search(text)
    assert match is not None, text
    return match.group(1), text


async def telegram_links(chat: Chat, widget: Widget, tg: int, text: str) -> tuple[list[str], dict[str, Any]]:
    """Telegram sends the code while the widget is open: the bot's replies there and the confirmation on the web.

    The stack settles only when the web confirmation leaves the outbox, which takes the widget's ack.
    """
    sent = asyncio.create_task(chat.stack.say(tg, text))
    shown = await widget.until(
        lambda f: f["type"] == "message" and f["author"] != "customer" and re.search("Готово|Done", f["text"])
    )
    await widget.send({"type": "ack", "conversation": shown["conversation"], "seqs": [shown["seq"]]})
    return await sent, shown


async def customers_of(chat: Chat, *where: Any) -> set[int]:
    async with chat.stack.app[SESSIONS]() as session:
        return set((await session.execute(select(Identity.customer_id).where(*where))).scalars())


async def web_customer(chat: Chat, widget: Widget) -> set[int]:
    """The customer behind the widget's conversation."""
    async with chat.stack.app[SESSIONS]() as session:
        conversation = await session.get_one(Conversation, widget.conversation)
        return {conversation.customer_id}


async def test_web_asks_telegram_sends_the_code_and_both_chats_are_one_customer(linked: Chat) -> None:
    widget = await linked.widget(lang="ru")
    first = await web_says(linked, widget, "второй день нет интернета, роутер мигает красным, перезагрузка не помогает")
    confirm = await web_presses(linked, widget, first, "Срочно")
    created = await web_presses(linked, widget, confirm, "Да, оформить")
    number = re.search(r"T-\d{6}", " ".join(r["text"] for r in created))
    assert number is not None, created
    web_conversation = created[0]["conversation"]

    code, shown = await web_code(linked, widget)
    assert f"https://t.me/{BOT}?start=link_{code.replace('-', '')}" in shown, "the widget shows the deep link"

    tg = next(_chats)
    await linked.stack.say(tg, "привет")  # a Telegram customer of its own before linking
    done, web_done = await telegram_links(linked, widget, tg, f"/link {code}")
    assert any(re.search("Готово|Done", r) for r in done), done
    assert web_done["conversation"] == web_conversation, "the web chat is told too"

    web_owner = await web_customer(linked, widget)
    tg_owner = await customers_of(linked, Identity.channel == Channel.TELEGRAM, Identity.external_id == str(tg))
    assert web_owner == tg_owner, "one customer behind both identities"
    assert len(web_owner) == 1
    async with linked.stack.app[SESSIONS]() as session:
        owners = set(
            (await session.execute(select(Conversation.customer_id).where(Conversation.chat_id == str(tg)))).scalars()
        )
        assert owners == web_owner, "the Telegram conversation follows the identity"
        remaining = await session.scalar(select(Customer.id).where(Customer.id.in_(web_owner)))
        assert remaining is not None

    tickets = await linked.stack.say(tg, "/tickets")
    assert any(number.group(0) in r for r in tickets), tickets

    again = await linked.stack.say(next(_chats), f"/link {code}")
    assert any(re.search("уже использован|already been used", r) for r in again), again
    await widget.close()


async def test_a_code_sent_in_its_own_chat_or_unknown_is_refused(linked: Chat) -> None:
    widget = await linked.widget(lang="ru")
    code, _ = await web_code(linked, widget)
    own = await web_says(linked, widget, code)
    assert any(re.search("выдан в этом же чате|issued in this chat", r["text"]) for r in own), own
    tg = next(_chats)
    unknown = await linked.stack.say(tg, "/link ABCD-EFGH")
    assert any(re.search("Такого кода|don't know this link code", r) for r in unknown), unknown
    assert await customers_of(linked, Identity.channel == Channel.TELEGRAM, Identity.external_id == str(tg))
    await widget.close()


async def test_an_expired_code_is_refused_and_merges_nothing(linked: Chat) -> None:
    widget = await linked.widget(lang="ru")
    code, _ = await web_code(linked, widget)
    async with linked.stack.app[SESSIONS]() as session, session.begin():
        await session.execute(update(LinkCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    tg = next(_chats)
    refused = await linked.stack.say(tg, f"/link {code}")
    assert any(re.search("истёк|expired", r) for r in refused), refused
    web_owner = await web_customer(linked, widget)
    tg_owner = await customers_of(linked, Identity.channel == Channel.TELEGRAM, Identity.external_id == str(tg))
    assert web_owner.isdisjoint(tg_owner)
    await widget.close()


async def test_the_deep_link_links_and_telegram_asks_the_web_chat_answers(linked: Chat) -> None:
    widget = await linked.widget(lang="en")
    code, _ = await web_code(linked, widget, "link my telegram")
    tg = next(_chats)
    done, _ = await telegram_links(linked, widget, tg, f"/start link_{code.replace('-', '')}")
    assert any(re.search("Готово|Done", r) for r in done), done
    web_owner = await web_customer(linked, widget)
    tg_owner = await customers_of(linked, Identity.channel == Channel.TELEGRAM, Identity.external_id == str(tg))
    assert web_owner == tg_owner

    # The other way round: a Telegram customer asks, a new web visitor types the bare code.
    tg2 = next(_chats)
    asked = "\n".join(await linked.stack.say(tg2, "/link"))
    match = CODE.search(asked)
    assert match is not None, asked
    other = await linked.widget(lang="ru")
    typed = await web_says(linked, other, match.group(1).lower())
    assert any(re.search("Готово|Done", r["text"]) for r in typed), typed
    assert await web_customer(linked, other) == await customers_of(
        linked, Identity.channel == Channel.TELEGRAM, Identity.external_id == str(tg2)
    )

    # A customer already linked cannot be pulled into a third one.
    third = await linked.widget(lang="ru")
    code3, _ = await web_code(linked, third)
    taken = await linked.stack.say(tg, f"/link {code3}")
    assert any(re.search("уже связан|already linked", r) for r in taken), taken
    for w in (widget, other, third):
        await w.close()
