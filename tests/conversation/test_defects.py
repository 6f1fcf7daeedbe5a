"""Issue 19, defect by defect: scripted conversations through the Bot API stand-in, typed and pressed, ru and en.

Each test is named after the defect it holds shut. One application per database backend serves the module;
every test is its own customer (its own chat).
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from core.models import Conversation, ConversationStatus, Operator, utcnow
from core.web.keys import SESSIONS
from handoff.models import Csat
from kb.models import Gap
from standin.stack import Stack
from tests.support.databases import BACKENDS
from tests.support.stacks import backend_url, running_stack
from tests.support.staff import sign_in
from tickets.models import Ticket

pytestmark = pytest.mark.asyncio(loop_scope="module")
_chats = itertools.count(5000)
TICKET = re.compile(r"T-\d{6}")


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with running_stack(backend_url(request), tmp_path_factory.mktemp("var")) as running:
        yield running


def joined(replies: list[str]) -> str:
    return "\n".join(replies)


async def status_of(stack: Stack, chat: int) -> ConversationStatus:
    async with stack.app[SESSIONS]() as session:
        conversation = (
            await session.execute(
                select(Conversation).where(Conversation.chat_id == str(chat)).order_by(Conversation.id.desc()).limit(1)
            )
        ).scalar_one()
        return conversation.status


async def conversation_id_of(stack: Stack, chat: int) -> int:
    async with stack.app[SESSIONS]() as session:
        found = await session.scalar(
            select(Conversation.id).where(Conversation.chat_id == str(chat)).order_by(Conversation.id.desc()).limit(1)
        )
    assert found is not None
    return int(found)


async def open_ticket(stack: Stack, chat: int, text: str, language: str = "ru") -> str:
    await stack.say(chat, text, language)
    await stack.press(chat, "Срочно|Urgent", language)
    created = joined(await stack.press(chat, "оформить|open it|Yes", language))
    found = TICKET.search(created)
    assert found, created
    return found.group(0)


async def ticket_detail(stack: Stack, number: str) -> dict[str, object]:
    await sign_in(stack.client, "operator")
    response = await stack.client.get(f"/api/tickets/{number}")
    assert response.status == 200
    detail: dict[str, object] = await response.json()
    return detail


# --- 1. ticket intake is a trap ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("way_out", "language", "problem"),
    [
        ("отмена", "ru", "у меня уже второй день не показывает телевизор, нет сигнала на приставке"),
        ("не надо", "ru", "у меня уже второй день не показывает телевизор, нет сигнала на приставке"),
        ("стоп", "ru", "у меня уже второй день не показывает телевизор, нет сигнала на приставке"),
        ("/cancel", "ru", "у меня уже второй день не показывает телевизор, нет сигнала на приставке"),
        ("cancel", "en", "my internet has been down since yesterday, the router light is red"),
        ("never mind", "en", "my internet has been down since yesterday, the router light is red"),
    ],
)
async def test_intake_is_a_trap_cancel_words_leave_it(stack: Stack, way_out: str, language: str, problem: str) -> None:
    chat = next(_chats)
    asked = joined(await stack.say(chat, problem, language))
    assert "срочно" in asked.lower() or "urgent" in asked.lower(), asked
    left = joined(await stack.say(chat, way_out, language))
    assert "не оформляю" in left or "won't open" in left, left
    assert "Насколько это срочно" not in left
    assert "How urgent" not in left
    again = joined(await stack.say(chat, "спасибо" if language == "ru" else "thanks", language))
    assert "срочно" not in again.lower(), "the intake is over"
    assert "urgent" not in again.lower(), "the intake is over"


async def test_intake_is_a_trap_typed_urgency_is_understood(stack: Stack) -> None:
    chat = next(_chats)
    await stack.say(chat, "роутер не включается после грозы, индикаторы не горят совсем")
    confirm = joined(await stack.say(chat, "срочно"))
    assert "Оформить заявку?" in confirm, confirm
    assert "срочно\n" not in confirm.lower(), "the urgency word is not appended to the description"
    created = joined(await stack.say(chat, "да"))
    assert TICKET.search(created), created


async def test_intake_is_a_trap_a_new_question_is_answered_and_resume_offered(stack: Stack) -> None:
    chat = next(_chats)
    await stack.say(chat, "интернет постоянно отваливается каждые 10 минут, уже третий день")
    answered = joined(await stack.say(chat, "как поменять пароль от вайфая?"))
    assert "пароль" in answered.lower(), answered
    assert "Продолжим оформлять заявку о «интернет постоянно отваливается" in answered, answered
    assert "Насколько это срочно" not in answered
    resumed = joined(await stack.say(chat, "да, продолжим"))
    assert "Насколько это срочно" in resumed, resumed
    await stack.say(chat, "не срочно")
    created = joined(await stack.say(chat, "да"))
    number = TICKET.search(created)
    assert number, created
    detail = await ticket_detail(stack, number.group(0))
    assert "пароль" not in str(detail.get("description", "")).lower(), "the question did not go into the ticket"


async def test_intake_is_a_trap_a_new_question_in_english(stack: Stack) -> None:
    chat = next(_chats)
    await stack.say(chat, "my internet has been down since yesterday, the router light is red", "en")
    answered = joined(await stack.say(chat, "how can I change my wifi password?", "en"))
    assert "Wi-Fi" in answered or "wifi" in answered.lower(), answered
    assert "Shall we go on with the ticket" in answered, answered
    dropped = joined(await stack.press(chat, "No, not needed", "en"))
    assert "won't open the ticket" in dropped, dropped


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("лампочка los горит, что делать?", "ru"),
        ("положен перерасчет за дни без интернета?", "ru"),
        ("the LOS light on my router is red, what should I do?", "en"),
    ],
)
async def test_intake_is_a_trap_how_to_questions_are_answered(stack: Stack, question: str, language: str) -> None:
    chat = next(_chats)
    replies = joined(await stack.say(chat, question, language))
    assert "Насколько это срочно" not in replies, replies
    assert "How urgent" not in replies, replies
    assert "Опишите, пожалуйста, проблему" not in replies, replies
    assert "Did this help?" in replies or "Это помогло?" in replies or "статей" in replies or "articles" in replies


async def test_intake_is_a_trap_a_voice_message_keeps_the_flow(stack: Stack) -> None:
    chat = next(_chats)
    await stack.say(chat, "у меня уже второй день не показывает телевизор, нет сигнала на приставке")
    update = stack.standin.make_document_update(chat, chat, file_name="voice.ogg", mime_type="audio/ogg")
    before = len(stack.sent(chat))
    await stack.settle(update_id=stack.standin.push_update(update))
    replies = joined(stack.sent(chat)[before:])
    assert "только текст" in replies, replies
    assert "Насколько это срочно" in replies, "the flow goes on"


# --- 2. create / add / cancel / status told apart -------------------------------------------------------


@pytest.mark.parametrize(
    ("phrase", "language"),
    [
        ("создать заявку", "ru"),
        ("хочу оставить заявку", "ru"),
        ("оформите заявку", "ru"),
        ("I want to create a ticket", "en"),
        ("open a new ticket please", "en"),
    ],
)
async def test_create_ticket_is_not_read_as_cancel_or_add(stack: Stack, phrase: str, language: str) -> None:
    chat = next(_chats)
    problem = (
        "роутер сгорел, интернета нет совсем, пришлите мастера"
        if language == "ru"
        else ("the router burned out, no internet at all, please send an engineer")
    )
    number = await open_ticket(stack, chat, problem, language)
    replies = joined(await stack.say(chat, phrase, language))
    assert "Отменить заявку" not in replies, replies
    assert "Cancel ticket" not in replies, replies
    assert "Что добавить" not in replies, replies
    assert "What should I add" not in replies, replies
    assert "Опишите, пожалуйста, проблему" in replies or "describe the problem" in replies.lower(), replies
    detail = await ticket_detail(stack, number)
    assert detail["status"] != "closed"
    assert detail["status"] != "cancelled"


async def test_create_ticket_without_tickets_does_not_ask_which(stack: Stack) -> None:
    chat = next(_chats)
    replies = joined(await stack.say(chat, "создать заявку"))
    assert "Какую заявку" not in replies, replies
    assert "Опишите, пожалуйста, проблему" in replies, replies


# --- 3. a customer waiting for a human ------------------------------------------------------------------


async def test_waiting_customer_is_acknowledged_not_on_every_message(stack: Stack) -> None:
    chat = next(_chats)
    await stack.say(chat, "позовите живого оператора пожалуйста")
    assert await status_of(stack, chat) is ConversationStatus.WAITING
    first = joined(await stack.say(chat, "алло"))
    assert "в очереди" in first, first
    flood = [joined(await stack.say(chat, "?")) for _ in range(3)]
    assert flood == ["", "", ""], "one acknowledgement, not one per message"
    left = joined(await stack.say(chat, "отмена, уже не нужно"))
    assert "отменил вызов оператора" in left, left
    assert await status_of(stack, chat) is ConversationStatus.BOT


async def test_waiting_customer_can_ask_the_bot_and_keep_the_place(stack: Stack) -> None:
    chat = next(_chats)
    await stack.say(chat, "connect me to a human operator please", "en")
    answered = joined(await stack.say(chat, "how can I change my wifi password?", "en"))
    assert "Wi-Fi" in answered or "wifi" in answered.lower(), answered
    assert "keep your place" in answered, answered
    assert await status_of(stack, chat) is ConversationStatus.WAITING


async def test_waiting_customer_can_open_a_ticket_instead(stack: Stack) -> None:
    chat = next(_chats)
    await stack.say(chat, "соедините с оператором")
    await stack.say(chat, "алло")
    instead = joined(await stack.press(chat, "Оформить заявку"))
    assert "Опишите" in instead or "срочно" in instead.lower(), instead
    assert await status_of(stack, chat) is ConversationStatus.BOT


async def test_waiting_customer_presses_dont_wait(stack: Stack) -> None:
    chat = next(_chats)
    await stack.say(chat, "I need a human", "en")
    left = joined(await stack.press(chat, "Don't wait", "en"))
    assert "cancelled the operator request" in left, left
    assert await status_of(stack, chat) is ConversationStatus.BOT


# --- 4. commands ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    ["/start", "/start ref_promo2026", "/start " + "я" * 200, "/start@other_bot", "/start 🙂 漢字"],
)
async def test_commands_start_greets_whatever_the_payload(stack: Stack, command: str) -> None:
    chat = next(_chats)
    replies = joined(await stack.say(chat, command))
    assert "Здравствуйте" in replies, replies
    assert "не знаю" not in replies, replies
    assert "нет открытых заявок" not in replies, replies
    async with stack.app[SESSIONS]() as session:
        gaps = await session.scalar(select(func.count()).select_from(Gap).where(Gap.text.like("/start%")))
    assert gaps == 0, "a command is not a knowledge-base gap"


async def test_commands_help_menu_tickets_operator(stack: Stack) -> None:
    chat = next(_chats)
    helped = joined(await stack.say(chat, "/help"))
    assert "/tickets" in helped, helped
    assert "не знаю" not in helped, helped
    menu = joined(await stack.say(chat, "/menu"))
    assert "не справляюсь" not in menu, "a second command is no unknown streak"
    assert any("Мои заявки" in b["text"] for b in stack.last_buttons(chat))
    number = await open_ticket(stack, chat, "интернет пропадает по вечерам, после 19:00 вообще ничего не грузит")
    listed = joined(await stack.say(chat, "/tickets"))
    assert number in listed, listed
    linked = joined(await stack.say(chat, f"/start {number.replace('-', '')}"))
    assert number in linked, linked
    called = joined(await stack.say(chat, "/operator"))
    assert "оператор" in called.lower(), called
    assert await status_of(stack, chat) is ConversationStatus.WAITING


async def test_commands_are_registered_in_russian_and_english(stack: Stack) -> None:
    registered = stack.standin.commands
    by_language = {key: [c["command"] for c in value] for key, value in registered.items()}
    assert any('"ru"' in key for key in by_language), by_language
    assert any('"en"' in key for key in by_language), by_language
    for commands in by_language.values():
        assert {"start", "help", "cancel", "tickets", "operator", "menu"} <= set(commands)


# --- 5. a pending ticket's question ---------------------------------------------------------------------


async def test_pending_ticket_question_is_shown_and_the_reply_reaches_the_ticket(stack: Stack) -> None:
    chat = next(_chats)
    number = await open_ticket(stack, chat, "нет сигнала на приставке третий день, каналы не показывают")
    csrf = await sign_in(stack.client, "operator")
    headers = {"X-CSRF-Token": csrf}
    for target, reason in (("open", None), ("pending", "Когда мастеру удобно прийти?")):
        body = {"to": target, **({"reason": reason} if reason else {})}
        moved = await stack.client.post(f"/api/tickets/{number}/transition", json=body, headers=headers)
        assert moved.status == 200, await moved.text()
    await stack.settle()
    assert any("Когда мастеру удобно прийти?" in m for m in stack.sent(chat)), stack.sent(chat)[-1]
    replied = joined(await stack.say(chat, "я дома после 18:00"))
    assert f"в заявку {number}" in replied, replied
    assert "Опишите" not in replied, "no new intake"
    assert "срочно" not in replied.lower(), "no new intake"
    assert "18:00" in str(await ticket_detail(stack, number))


# --- 6. typed answers to button questions; answered buttons; ratings once -----------------------------------


async def test_typed_no_after_did_this_help_is_not_helpful(stack: Stack) -> None:
    chat = next(_chats)
    await stack.say(chat, "как поменять пароль от вайфая?")
    replies = joined(await stack.say(chat, "нет, не помогло"))
    assert "Чем ещё могу помочь" not in replies, replies
    assert "может быть" in replies or "Больше вариантов" in replies, replies


async def test_typed_no_in_english(stack: Stack) -> None:
    chat = next(_chats)
    await stack.say(chat, "how can I change my wifi password?", "en")
    replies = joined(await stack.say(chat, "no, it didn't help", "en"))
    assert "Anything else" not in replies, replies


async def test_ticket_rating_typed_and_pressed_counts_once(stack: Stack) -> None:
    chat = next(_chats)
    number = await open_ticket(stack, chat, "после грозы не работает роутер, индикаторы не горят")
    csrf = await sign_in(stack.client, "operator")
    for target in ("open", "resolved"):
        moved = await stack.client.post(
            f"/api/tickets/{number}/transition", json={"to": target}, headers={"X-CSRF-Token": csrf}
        )
        assert moved.status == 200
    await stack.settle()
    rating_buttons = stack.last_buttons(chat)
    typed = joined(await stack.say(chat, "5"))
    assert "Спасибо за оценку" in typed, typed
    five = next(b for b in rating_buttons if b["text"] == "5")
    one = next(b for b in rating_buttons if b["text"] == "1")
    again = joined(await stack.press_data(chat, five["callback_data"]))
    later = joined(await stack.press_data(chat, one["callback_data"]))
    assert "уже получили" in again, (again, later)
    assert "уже получили" in later, (again, later)
    async with stack.app[SESSIONS]() as session:
        ticket_id = (await ticket_detail(stack, number))["id"]
        ratings = list((await session.execute(select(Csat.rating).where(Csat.ticket_id == ticket_id))).scalars())
    assert ratings == [5]


async def test_forged_ticket_rating_is_refused(stack: Stack) -> None:
    chat = next(_chats)
    await stack.say(chat, "привет")
    replies = joined(await stack.press_data(chat, "tcsat:1.5:abcdef"))
    assert "неактуальна" in replies, replies


async def test_answered_buttons_show_the_choice_and_lose_the_keyboard(stack: Stack) -> None:
    chat = next(_chats)
    await stack.say(chat, "как поменять пароль от вайфая?")
    await stack.press(chat, "Да")
    edits = [c for c in stack.standin.calls_to("editMessageText") if c.params.get("chat_id") == chat]
    assert edits, "the question was edited"
    assert "→ 👍 Да" in edits[-1].params["text"]
    assert not edits[-1].params.get("reply_markup"), "no keyboard left to press twice"


# --- 8. case and punctuation ----------------------------------------------------------------------------


async def test_shouting_is_answered_like_lower_case(stack: Stack) -> None:
    chat = next(_chats)
    quiet = joined(await stack.say(chat, "как оплатить интернет"))
    chat = next(_chats)
    loud = joined(await stack.say(chat, "КАК ОПЛАТИТЬ ИНТЕРНЕТ!!!!!!"))
    assert "не знаю" not in loud, loud
    assert quiet.split("\n")[0] == loud.split("\n")[0], (quiet[:80], loud[:80])


# --- 10. tone and details -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "language"), [("бот тупой", "ru"), ("your bot is so stupid", "en")])
async def test_tone_an_insult_is_feedback_not_a_question_for_editors(stack: Stack, text: str, language: str) -> None:
    chat = next(_chats)
    replies = joined(await stack.say(chat, text, language))
    assert "редакторов" not in replies, replies
    assert "editors" not in replies, replies
    assert any("оператор" in b["text"].lower() or "operator" in b["text"].lower() for b in stack.last_buttons(chat))


@pytest.mark.parametrize(("text", "language"), [("ок", "ru"), ("👍", "ru"), ("ok", "en")])
async def test_tone_ok_or_an_emoji_first_is_not_anything_else(stack: Stack, text: str, language: str) -> None:
    chat = next(_chats)
    replies = joined(await stack.say(chat, text, language))
    assert replies, "an answer"
    assert "Чем ещё" not in replies, replies
    assert "Anything else" not in replies, replies


async def test_tone_no_priority_jargon_to_customers(stack: Stack) -> None:
    chat = next(_chats)
    await stack.say(chat, "у меня уже второй день не показывает телевизор, нет сигнала на приставке")
    await stack.press(chat, "Срочно")
    created = joined(await stack.press(chat, "Да, оформить"))
    assert "Приоритет" not in created, created
    assert not re.search(r"\bP\d\b", created), created


async def test_tone_the_same_problem_twice_is_one_ticket_and_a_word(stack: Stack) -> None:
    chat = next(_chats)
    problem = "телевизор пишет канал закодирован на всех каналах с утра"
    number = await open_ticket(stack, chat, problem)
    await stack.say(chat, problem)
    await stack.say(chat, "не срочно")
    second = joined(await stack.say(chat, "да"))
    assert f"уже есть — {number}" in second, second
    listed = joined(await stack.say(chat, "/tickets"))
    assert len(set(TICKET.findall(listed))) == 1, listed


async def test_tone_operator_messages_labelled_as_coming_from_a_person(stack: Stack) -> None:
    for language, name, asks, label in (
        ("ru", "Анна", "позовите живого оператора пожалуйста", "Анна, оператор:"),
        ("en", "Anna", "connect me to a human operator please", "Anna, operator:"),
    ):
        chat = next(_chats)
        await stack.say(chat, asks, language)
        async with stack.app[SESSIONS]() as session, session.begin():
            operator = (await session.execute(select(Operator).where(Operator.login == "operator"))).scalar_one()
            operator.name = name
        conversation = await conversation_id_of(stack, chat)
        headers = {"X-CSRF-Token": await sign_in(stack.client, "operator")}
        base = f"/api/inbox/conversations/{conversation}"
        assert (await stack.client.post(f"{base}/take", headers=headers)).status == 200
        await stack.settle()
        before = len(stack.sent(chat))
        reply = await stack.client.post(
            f"{base}/reply", json={"text": "Посмотрю вашу линию <b>сейчас</b>."}, headers=headers
        )
        assert reply.status == 201
        await stack.settle()
        delivered = stack.sent(chat)[before:]
        assert delivered == [f"{label}\nПосмотрю вашу линию <b>сейчас</b>."], delivered
        call = [c for c in stack.standin.calls_to("sendMessage") if c.ok and c.params.get("chat_id") == chat][-1]
        assert call.params.get("entities") == [{"type": "bold", "offset": 0, "length": len(label)}], call.params
        assert "parse_mode" not in call.params, "the operator's text is sent as typed, not as HTML"


async def test_tone_today_and_tomorrow_not_the_date_said_on_that_monday(stack: Stack) -> None:
    msk = ZoneInfo("Europe/Moscow")
    local_now = utcnow().astimezone(msk)
    today_late = datetime.combine(local_now.date(), clock_time(23, 59), msk)
    tomorrow = datetime.combine(local_now.date() + timedelta(days=1), clock_time(15, 0), msk)
    later = datetime.combine(local_now.date() + timedelta(days=3), clock_time(15, 0), msk)
    weekdays_ru = ["понедельника", "вторника", "среды", "четверга", "пятницы", "субботы", "воскресенья"]
    for language, due, expected in (
        ("ru", today_late, "Срок: сегодня в 23:59 (МСК)."),
        ("ru", tomorrow, "Срок: завтра в 15:00 (МСК)."),
        ("en", today_late, "Due: today at 23:59 MSK."),
        ("en", tomorrow, "Due: tomorrow at 15:00 MSK."),
        ("ru", later, f"Срок: до {weekdays_ru[later.weekday()]}, {later.day} "),
    ):
        chat = next(_chats)
        number = await open_ticket(stack, chat, "у меня уже второй день не показывает телевизор, нет сигнала", language)
        async with stack.app[SESSIONS]() as session, session.begin():
            ticket = await session.get_one(Ticket, int(number.removeprefix("T-")))
            ticket.resolution_due = due
        status = joined(
            await stack.say(chat, f"статус заявки {number}" if language == "ru" else f"status of {number}", language)
        )
        assert expected in status, status


async def test_tone_a_conversation_no_human_answered_is_not_rated(stack: Stack) -> None:
    chat = next(_chats)
    await stack.say(chat, "позовите живого оператора пожалуйста")
    conversation = await conversation_id_of(stack, chat)
    headers = {"X-CSRF-Token": await sign_in(stack.client, "operator")}
    base = f"/api/inbox/conversations/{conversation}"
    assert (await stack.client.post(f"{base}/take", headers=headers)).status == 200
    note = await stack.client.post(f"{base}/note", json={"text": "клиент не отвечает"}, headers=headers)
    assert note.status == 201
    before = len(stack.sent(chat))
    closed = await stack.client.post(f"{base}/close", headers=headers)
    assert closed.status == 200
    assert (await closed.json())["csat_asked"] is False
    await stack.settle()
    assert not any("Оцените" in m for m in stack.sent(chat)[before:]), stack.sent(chat)[before:]
    typed = joined(await stack.say(chat, "5"))
    assert "Спасибо за оценку" not in typed, typed
    async with stack.app[SESSIONS]() as session:
        rated = await session.scalar(select(func.count()).select_from(Csat).where(Csat.conversation_id == conversation))
    assert rated == 0

    # The same close after a person answered asks for the rating.
    chat = next(_chats)
    await stack.say(chat, "позовите живого оператора пожалуйста")
    conversation = await conversation_id_of(stack, chat)
    base = f"/api/inbox/conversations/{conversation}"
    assert (await stack.client.post(f"{base}/take", headers=headers)).status == 200
    assert (await stack.client.post(f"{base}/reply", json={"text": "Готово."}, headers=headers)).status == 201
    closed = await stack.client.post(f"{base}/close", headers=headers)
    assert (await closed.json())["csat_asked"] is True
    await stack.settle()
    assert any("Оцените" in m for m in stack.sent(chat)), stack.sent(chat)


# --- bad input ----------------------------------------------------------------------------------------


async def test_bad_input_a_button_of_a_flow_that_no_longer_exists(stack: Stack) -> None:
    chat = next(_chats)
    await stack.say(chat, "интернет постоянно отваливается каждые 10 минут, уже третий день")
    await stack.say(chat, "как поменять пароль от вайфая?")
    resume = next(b for b in stack.last_buttons(chat) if "продолжить" in b["text"])
    await stack.press(chat, "Нет, не нужно")
    stale = joined(await stack.press_data(chat, resume["callback_data"]))
    assert "неактуальна" in stale, stale


async def test_bad_input_an_edited_message_changes_the_ticket_number(stack: Stack) -> None:
    chat = next(_chats)
    number = await open_ticket(stack, chat, "роутер не видит кабель, интернета нет со вчерашнего вечера")
    update = stack.standin.make_text_update(chat, chat, "статус заявки T-999999")
    await stack.settle(update_id=stack.standin.push_update(update))
    edited = dict(update["message"])
    edited["text"] = f"статус заявки {number}"
    edited["edit_date"] = int(time.time())
    before = len(stack.sent(chat))
    await stack.settle(update_id=stack.standin.push_update({"edited_message": edited}))
    replies = joined(stack.sent(chat)[before:])
    assert number in replies, replies


async def test_bad_input_a_forwarded_notice_does_not_open_an_intake(stack: Stack) -> None:
    chat = next(_chats)
    update = stack.standin.make_text_update(
        chat, chat, "Внимание! Плановые работы: интернет не будет работать завтра с 10:00 до 12:00"
    )
    update["message"]["forward_origin"] = {"type": "hidden_user", "date": int(time.time()), "sender_user_name": "ЖКХ"}
    before = len(stack.sent(chat))
    await stack.settle(update_id=stack.standin.push_update(update))
    replies = joined(stack.sent(chat)[before:])
    assert replies, "an answer"
    assert "Насколько это срочно" not in replies, replies
    assert "Опишите, пожалуйста, проблему" not in replies, replies
