"""A customer in Telegram, end to end: the real aiogram stack against the Bot API stand-in.

One application per database backend serves the whole module (starting it imports and embeds the demo
knowledge base); every test is a different customer (its own chat), so tests do not see each other.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import select

from bot.keys import TELEGRAM
from core.models import Conversation, ConversationStatus, Direction, Message
from core.web.keys import SESSIONS
from handoff.models import Csat
from standin.botapi import TELEGRAM_MAX_TEXT
from standin.stack import Stack
from tests.support.databases import BACKENDS
from tests.support.eta import ETA_RU
from tests.support.stacks import backend_url, running_stack
from tests.support.staff import sign_in

pytestmark = pytest.mark.asyncio(loop_scope="module")
_chats = itertools.count(1000)


def new_chat() -> int:
    return next(_chats)


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with running_stack(backend_url(request), tmp_path_factory.mktemp("var")) as running:
        yield running


async def conversation_of(stack: Stack, chat_id: int) -> Conversation:
    async with stack.app[SESSIONS]() as session:
        return (
            await session.execute(
                select(Conversation)
                .where(Conversation.chat_id == str(chat_id))
                .order_by(Conversation.id.desc())
                .limit(1)
            )
        ).scalar_one()


async def test_a_question_is_answered_from_the_knowledge_base(stack: Stack) -> None:
    chat = new_chat()
    replies = await stack.say(chat, "как поменять пароль от вайфая?")
    assert any("пароль" in r.lower() for r in replies), replies
    assert any("помогло" in r for r in replies), "the answer asks whether it helped"
    helpful = await stack.press(chat, "Да")
    assert any("рад" in r.lower() for r in helpful)


async def test_an_english_question_gets_an_english_answer(stack: Stack) -> None:
    chat = new_chat()
    replies = await stack.say(chat, "how can I change my wifi password?", language="en")
    assert any("Wi-Fi" in r or "wifi" in r.lower() for r in replies), replies
    assert any("Did this help?" in r for r in replies)


async def test_an_unknown_question_is_admitted_and_offers_a_human(stack: Stack) -> None:
    chat = new_chat()
    replies = await stack.say(chat, "какой рецепт у борща с пампушками?")
    assert any("не знаю" in r or "не могу" in r for r in replies), replies
    labels = [b["text"] for b in stack.last_buttons(chat)]
    assert any("оператор" in label.lower() for label in labels)


async def test_a_problem_becomes_a_ticket_with_a_number_and_an_eta(stack: Stack) -> None:
    chat = new_chat()
    first = await stack.say(chat, "у меня уже второй день не показывает телевизор, нет сигнала на приставке")
    assert any("срочно" in r.lower() for r in first), first
    confirm = await stack.press(chat, "Срочно")
    assert any("Оформить заявку?" in r for r in confirm), confirm
    created = await stack.press(chat, "Да, оформить")
    text = " ".join(created)
    assert re.search(r"T-\d{6}", text), created
    assert re.search(ETA_RU, text), "the ETA is a date and an hour"
    number = re.search(r"T-\d{6}", text).group(0)  # type: ignore[union-attr]

    status = await stack.say(chat, f"какой статус у заявки {number}?")
    assert any(number in r for r in status), status
    mine = await stack.say(chat, "мои заявки")
    assert any(number in r for r in mine), mine

    # The operator solves it: the customer is told in the chat and rates it with buttons there.
    csrf = await sign_in(stack.client, "operator")
    headers = {"X-CSRF-Token": csrf}
    for status in ("open", "resolved"):
        moved = await stack.client.post(f"/api/tickets/{number}/transition", json={"to": status}, headers=headers)
        assert moved.status == 200, await moved.text()
    await stack.settle()
    assert [b["text"] for b in stack.last_buttons(chat)] == ["1", "2", "3", "4", "5"]
    rated = await stack.press(chat, "^4$")
    assert any("Спасибо за оценку" in r for r in rated)
    async with stack.app[SESSIONS]() as session:
        ratings = list((await session.execute(select(Csat).where(Csat.ticket_id.is_not(None)))).scalars())
    assert 4 in [r.rating for r in ratings]


async def test_another_customers_ticket_is_not_shown(stack: Stack) -> None:
    owner, stranger = new_chat(), new_chat()
    await stack.say(owner, "роутер сгорел, интернета нет совсем, пришлите мастера")
    await stack.press(owner, "Срочно")
    created = " ".join(await stack.press(owner, "Да, оформить"))
    number = re.search(r"T-\d{6}", created).group(0)  # type: ignore[union-attr]
    replies = await stack.say(stranger, f"статус заявки {number}")
    assert not any("роутер" in r for r in replies), "no leak of another customer's ticket"
    assert any("Не нашёл" in r for r in replies), replies


async def test_handoff_operator_reply_close_and_rating(stack: Stack) -> None:
    chat = new_chat()
    told = await stack.say(chat, "позовите живого оператора пожалуйста")
    assert any("оператор" in r.lower() for r in told), told
    conversation = await conversation_of(stack, chat)
    assert conversation.status is ConversationStatus.WAITING

    # While waiting the customer is told where they stand — once, not on every message.
    acknowledged = await stack.say(chat, "алло, есть кто?")
    assert any("в очереди" in r for r in acknowledged), acknowledged
    assert await stack.say(chat, "ау") == []

    client = stack.client
    csrf = await sign_in(client, "operator")
    headers = {"X-CSRF-Token": csrf}
    queue = await (await client.get("/api/inbox/conversations?status=waiting")).json()
    assert conversation.id in [c["id"] for c in queue["items"]]
    assert (await client.post(f"/api/inbox/conversations/{conversation.id}/take", headers=headers)).status == 200
    reply = await client.post(
        f"/api/inbox/conversations/{conversation.id}/reply",
        json={"text": "Здравствуйте! Меня зовут Анна."},
        headers=headers,
    )
    assert reply.status == 201
    await stack.settle()
    assert any(m.endswith("\nЗдравствуйте! Меня зовут Анна.") for m in stack.sent(chat)), "labelled with who wrote it"

    closed = await client.post(f"/api/inbox/conversations/{conversation.id}/close", headers=headers)
    assert closed.status == 200
    await stack.settle()
    assert any("Оцените" in r for r in stack.sent(chat))
    assert [b["text"] for b in stack.last_buttons(chat)] == ["1", "2", "3", "4", "5"]
    thanks = await stack.press(chat, "^5$")
    assert any("Спасибо за оценку" in r for r in thanks)
    async with stack.app[SESSIONS]() as session:
        ratings = list((await session.execute(select(Csat).where(Csat.conversation_id == conversation.id))).scalars())
    assert [r.rating for r in ratings] == [5]
    again = await stack.press(chat, "^4$")
    assert any("уже" in r for r in again), "a second press does not change the rating"


async def test_two_operators_cannot_take_one_chat(stack: Stack) -> None:
    chat = new_chat()
    await stack.say(chat, "соедините с оператором")
    conversation = await conversation_of(stack, chat)
    client = stack.client
    csrf = await sign_in(client, "operator")
    first = await client.post(f"/api/inbox/conversations/{conversation.id}/take", headers={"X-CSRF-Token": csrf})
    csrf = await sign_in(client, "admin")
    second = await client.post(f"/api/inbox/conversations/{conversation.id}/take", headers={"X-CSRF-Token": csrf})
    assert first.status == 200
    assert second.status == 409
    assert (await second.json())["error"]["details"]["assignee"]


async def test_the_same_update_twice_is_one_message_and_one_reply(stack: Stack) -> None:
    chat = new_chat()
    update = stack.standin.make_text_update(chat, chat, "как оплатить картой?")
    await stack.settle(update_id=stack.standin.push_update(update))
    first = stack.sent(chat)
    duplicate = dict(update)
    duplicate.pop("update_id")
    # Telegram redelivers: a new update_id, the same message.
    await stack.settle(update_id=stack.standin.push_update(duplicate))
    assert stack.sent(chat) == first
    async with stack.app[SESSIONS]() as session:
        inbound = (
            await session.execute(
                select(Message).where(Message.chat_id == str(chat), Message.direction == Direction.INBOUND)
            )
        ).scalars()
        assert len(list(inbound)) == 1


@pytest.mark.parametrize("fault", ["429", "500", "hang"])
async def test_replies_survive_telegram_faults_and_arrive_once(stack: Stack, fault: str) -> None:
    chat = new_chat()
    stack.app[TELEGRAM].bot.session.timeout = 2  # the hang outlasts the client's patience, not the test's
    stack.standin.fail_next("sendMessage", fault, retry_after=1, seconds=60, when=lambda p: p.get("chat_id") == chat)  # type: ignore[arg-type]
    await stack.say(chat, "привет")
    replies = stack.sent(chat)
    assert len(replies) == 1, replies
    assert "Здравствуйте" in replies[0]


async def test_stickers_files_and_long_texts_get_sensible_replies(stack: Stack) -> None:
    chat = new_chat()
    before = len(stack.sent(chat))
    await stack.settle(update_id=stack.standin.push_update(stack.standin.make_sticker_update(chat, chat)))
    assert any("стикер" in r for r in stack.sent(chat)[before:])
    before = len(stack.sent(chat))
    document = stack.standin.make_document_update(
        chat, chat, file_name="virus.exe", mime_type="application/x-msdownload"
    )
    await stack.settle(update_id=stack.standin.push_update(document))
    assert any("только текст" in r for r in stack.sent(chat)[before:])
    replies = await stack.say(chat, "🙂🙂🙂")
    assert replies, "emoji only still gets an answer"
    long = await stack.say(chat, "интернет " * 700)  # 6,300 characters: more than one Telegram message
    assert long, "a long message gets an answer"
    assert all(0 < len(r) <= TELEGRAM_MAX_TEXT for r in long)


async def test_a_reply_longer_than_a_telegram_message_arrives_whole_in_ordered_parts(stack: Stack) -> None:
    chat = new_chat()
    await stack.say(chat, "роутер не включается после грозы, индикаторы не горят совсем")
    await stack.press(chat, "Срочно")
    created = " ".join(await stack.press(chat, "Да, оформить"))
    number = re.search(r"T-\d{6}", created).group(0)  # type: ignore[union-attr]
    # Numbered lines, one unbroken 5,000-character word (no space to cut at) and Cyrillic throughout.
    lines = [f"Шаг {i}: отключите роутер от сети, подождите минуту и включите снова." for i in range(1, 90)]
    text = "\n".join([*lines[:45], "Я" * 5000, *lines[45:]])
    assert len(text) > 2 * TELEGRAM_MAX_TEXT

    csrf = await sign_in(stack.client, "operator")
    before = len(stack.sent(chat))
    reply = await stack.client.post(f"/api/tickets/{number}/reply", json={"text": text}, headers={"X-CSRF-Token": csrf})
    assert reply.status == 201, await reply.text()
    await stack.settle()
    parts = stack.sent(chat)[before:]
    assert len(parts) >= 3, [len(p) for p in parts]
    assert all(0 < len(part) <= TELEGRAM_MAX_TEXT for part in parts), [len(p) for p in parts]
    label = "Анна Смирнова, оператор:\n"  # the demo operator's name: a person wrote it
    assert parts[0].startswith(f"{label}Ответ по заявке {number}:")
    # Parts are cut at a line end where there is one (whitespace at a cut is dropped), mid-word where there is not.
    assert all(part.endswith(".") or part.endswith("Я" * 100) for part in parts[:-1]), [p[-20:] for p in parts]
    assert "".join("".join(parts).split()) == "".join(f"{label}Ответ по заявке {number}:\n{text}".split()), (
        "all, in order"
    )


async def test_forged_and_stale_buttons_get_a_polite_answer(stack: Stack) -> None:
    chat = new_chat()
    await stack.say(chat, "здравствуйте")
    forged = await stack.press_data(chat, "s:1:deadbe")
    assert any("неактуальна" in r for r in forged)
    csat = await stack.press_data(chat, "csat:1:5:000000")
    assert any("неактуальна" in r for r in csat)
    assert stack.standin.calls_to("answerCallbackQuery"), "the button spinner is stopped"


async def test_blocked_customer_is_marked_failed_not_retried_forever(stack: Stack) -> None:
    chat = new_chat()
    stack.standin.fail_next("sendMessage", "403", when=lambda p: p.get("chat_id") == chat)  # type: ignore[arg-type]
    await stack.say(chat, "привет")
    async with stack.app[SESSIONS]() as session:
        states = [
            m.delivery_state.value
            for m in (
                await session.execute(
                    select(Message).where(Message.chat_id == str(chat), Message.direction == Direction.OUTBOUND)
                )
            ).scalars()
        ]
    assert states == ["failed"]


async def test_the_bot_resumes_when_the_operator_returns_the_chat(stack: Stack) -> None:
    chat = new_chat()
    await stack.say(chat, "хочу поговорить с человеком")
    conversation = await conversation_of(stack, chat)
    csrf = await sign_in(stack.client, "operator")
    headers = {"X-CSRF-Token": csrf}
    assert (await stack.client.post(f"/api/inbox/conversations/{conversation.id}/take", headers=headers)).status == 200
    note = await stack.client.post(
        f"/api/inbox/conversations/{conversation.id}/note", json={"text": "клиент ждёт мастера"}, headers=headers
    )
    assert note.status == 201
    back = await stack.client.post(f"/api/inbox/conversations/{conversation.id}/return", headers=headers)
    assert back.status == 200
    await stack.settle()
    sent = stack.sent(chat)
    assert any("Оператор завершил разговор" in r for r in sent)
    assert not any("клиент ждёт мастера" in r for r in sent), "an internal note never reaches the customer"
    again = await stack.say(chat, "спасибо!")
    assert again, "the bot answers again"
