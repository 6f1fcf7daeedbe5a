"""The Bot API stand-in, proven against the real aiogram client, polling and webhook stacks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import ClientSession, web

from standin.botapi import BotApiStandIn, FaultKind

TOKEN = "123:abc"


@pytest.fixture
async def server() -> AsyncIterator[BotApiStandIn]:
    async with BotApiStandIn() as stand_in:
        yield stand_in


def make_bot(server: BotApiStandIn, timeout: float = 10.0) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(server.url), timeout=timeout)
    return Bot(token=TOKEN, session=session)


@pytest.fixture
async def bot(server: BotApiStandIn) -> AsyncIterator[Bot]:
    bot = make_bot(server)
    yield bot
    await bot.session.close()  # unclosed sessions warn, and warnings are errors here


def echo_router() -> Router:
    router = Router()

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    return router


async def test_get_me(bot: Bot, server: BotApiStandIn) -> None:
    me = await bot.get_me()
    assert me.id == 123
    assert me.is_bot
    assert me.username == server.bot_username
    assert server.calls[0].method == "getMe"
    assert server.calls[0].status == 200


async def test_send_message_is_recorded_and_echoed(bot: Bot, server: BotApiStandIn) -> None:
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Yes", callback_data="v:1")]])
    first = await bot.send_message(42, "123", reply_markup=markup)
    second = await bot.send_message(42, "second")
    other = await bot.send_message(43, "other chat")

    assert (first.message_id, second.message_id, other.message_id) == (1, 2, 1)
    assert first.text == "123"  # a String parameter is not JSON-decoded into an int
    assert first.from_user is not None
    assert first.from_user.is_bot
    assert first.reply_markup is not None
    assert first.reply_markup.model_dump() == markup.model_dump()
    call = server.calls_to("sendMessage")[0]
    assert call.params["chat_id"] == 42
    assert call.params["reply_markup"] == {"inline_keyboard": [[{"text": "Yes", "callback_data": "v:1"}]]}
    assert server.sent_messages(42) == ["123", "second"]
    assert server.sent_messages() == ["123", "second", "other chat"]
    assert len(await server.wait_for("sendMessage", count=3, timeout=1)) == 3


async def test_telegram_limits_are_enforced(bot: Bot, server: BotApiStandIn) -> None:
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(42, "x" * 4097)
    too_long = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="b", callback_data="d" * 65)]])
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(42, "hi", reply_markup=too_long)
    assert server.sent_messages(42) == []


@pytest.mark.parametrize(
    ("kind", "exception"),
    [
        ("429", TelegramRetryAfter),
        ("500", TelegramServerError),
        ("403", TelegramForbiddenError),
        ("400", TelegramBadRequest),
        ("migrate", TelegramMigrateToChat),
    ],
)
async def test_fault_raises_matching_aiogram_exception(
    bot: Bot, server: BotApiStandIn, kind: FaultKind, exception: type[TelegramAPIError]
) -> None:
    server.fail_next("sendMessage", kind=kind, retry_after=3, description=None)
    with pytest.raises(exception) as caught:
        await bot.send_message(42, "hi")
    if isinstance(caught.value, TelegramRetryAfter):
        assert caught.value.retry_after == 3
    if isinstance(caught.value, TelegramMigrateToChat):
        assert caught.value.migrate_to_chat_id == -100123

    await bot.send_message(42, "again")  # the fault was consumed
    failed, ok = server.calls_to("sendMessage")
    assert failed.fault == kind
    assert failed.status == (429 if kind == "429" else 400 if kind == "migrate" else int(kind))
    assert ok.ok
    assert server.sent_messages(42) == ["again"]


async def test_fault_description_times_and_filter(bot: Bot, server: BotApiStandIn) -> None:
    server.fail_next("sendMessage", kind="400", description="Bad Request: chat not found", times=2)
    server.fail_next("sendMessage", kind="403", when=lambda p: p["chat_id"] == 7)
    for _ in range(2):
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.send_message(42, "hi")
    await bot.send_message(42, "not chat 7")  # the 403 waits for its chat
    with pytest.raises(TelegramForbiddenError, match="blocked by the user"):
        await bot.send_message(7, "hi")


async def test_hang_times_out_the_client(server: BotApiStandIn) -> None:
    bot = make_bot(server, timeout=0.5)
    try:
        server.fail_next("sendMessage", kind="hang", seconds=30)
        with pytest.raises(TelegramNetworkError, match="timeout"):
            await bot.send_message(42, "lost")
        await bot.send_message(42, "next")
    finally:
        await bot.session.close()
    assert server.sent_messages(42) == ["next"]
    # stop() wakes the hung handler, which is then recorded as dropped.
    await server.stop()
    assert [(c.fault, c.status) for c in server.calls_to("sendMessage")] == [(None, 200), ("hang", 500)]


async def test_a_send_hanging_past_the_client_timeout_reaches_the_chat_and_is_marked_ambiguous(
    server: BotApiStandIn,
) -> None:
    """Telegram can accept a message after the client gave up waiting: the customer has it, the sender saw a
    timeout. The stand-in delivers it and tells it apart from an ordinary send."""
    bot = make_bot(server, timeout=0.3)
    try:
        server.fail_next("sendMessage", kind="hang", seconds=1.0)
        with pytest.raises(TelegramNetworkError, match="timeout"):
            await bot.send_message(42, "late")
        assert server.hanging == 1
        await server.wait_hangs_over(timeout=10)
        await bot.send_message(42, "next")
    finally:
        await bot.session.close()
    assert server.sent_messages(42) == ["late", "next"]
    assert [c.params["text"] for c in server.ambiguous_sends(42)] == ["late"]
    assert server.ambiguous_sends(43) == []


async def test_short_hang_delivers_late(bot: Bot, server: BotApiStandIn) -> None:
    server.fail_next("sendMessage", kind="hang", seconds=0.2)
    await bot.send_message(42, "slow")
    (call,) = server.calls_to("sendMessage")
    assert call.ok
    assert call.elapsed >= 0.2
    assert not call.ambiguous, "the client waited for the answer: nothing ambiguous about it"


async def test_unknown_method_and_wrong_token(server: BotApiStandIn) -> None:
    async with ClientSession() as http, http.post(f"{server.url}/bot{TOKEN}/noSuchMethod") as resp:
        assert resp.status == 404
        assert await resp.json() == {
            "ok": False,
            "error_code": 404,
            "description": "Not Found: method not found",
        }

    async with BotApiStandIn(token="999:right") as guarded:
        bot = guarded.make_bot()  # the helper must build the same real aiogram stack
        try:
            with pytest.raises(TelegramUnauthorizedError):
                await bot.get_me()
        finally:
            await bot.session.close()


async def test_wait_for_times_out_with_context(server: BotApiStandIn) -> None:
    with pytest.raises(TimeoutError, match="expected 1 matching sendMessage"):
        await server.wait_for("sendMessage", timeout=0.05)


async def test_get_updates_offset_limit_and_long_poll(bot: Bot, server: BotApiStandIn) -> None:
    first = server.push_update(server.make_text_update(42, 42, "one"))
    server.push_update(server.make_text_update(42, 42, "two"))
    assert [u.update_id for u in await bot.get_updates(limit=1)] == [first]
    updates = await bot.get_updates(offset=first + 1)
    assert [u.message.text for u in updates if u.message] == ["two"]
    assert len(server.pending_updates) == 1  # "one" was confirmed by the offset

    assert await bot.get_updates(offset=first + 2, timeout=1) == []  # capped long poll, empty

    waiting = asyncio.create_task(bot.get_updates(offset=first + 2, timeout=30))
    await server.wait_for("getUpdates", count=3)  # the earlier three calls are recorded
    server.push_update(server.make_text_update(42, 42, "three"))
    woken = await asyncio.wait_for(waiting, 2)
    assert [u.message.text for u in woken if u.message] == ["three"]


async def test_update_builders_validate_as_aiogram_updates(bot: Bot, server: BotApiStandIn) -> None:
    sent = await bot.send_message(42, "pick", reply_markup=InlineKeyboardMarkup(inline_keyboard=[]))
    builders = [
        server.make_text_update(42, 42, "/start payload"),
        server.make_callback_update(42, 42, "v:1", sent.message_id),
        server.make_sticker_update(42, 42),
        server.make_document_update(42, 42, "faq.txt", "text/plain", b"hello", caption="see"),
        server.make_photo_update(42, 42),
    ]
    for raw in builders:
        server.push_update(raw)
    updates = [Update.model_validate(raw, context={"bot": bot}) for raw in builders]
    text, callback, sticker, document, photo = updates
    assert text.message is not None
    assert text.message.from_user is not None
    assert text.message.from_user.language_code == "ru"
    assert text.message.chat.type == "private"
    assert callback.callback_query is not None
    assert isinstance(callback.callback_query.message, Message)
    assert callback.callback_query.message.text == "pick"
    assert sticker.message is not None
    assert sticker.message.sticker is not None
    assert photo.message is not None
    assert photo.message.photo
    assert document.message is not None
    assert document.message.document is not None

    file = await bot.get_file(document.message.document.file_id)
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None
    assert downloaded.read() == b"hello"


async def test_edits_and_strict_mode(bot: Bot) -> None:
    async with BotApiStandIn(strict=True) as strict:
        strict_bot = make_bot(strict)
        try:
            keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="a", callback_data="a")]])
            sent = await strict_bot.send_message(5, "v1", reply_markup=keyboard)
            edited = await strict_bot.edit_message_text("v2", chat_id=5, message_id=sent.message_id)
            assert isinstance(edited, Message)
            assert edited.text == "v2"
            assert edited.reply_markup is None  # editing text without markup drops the keyboard
            with pytest.raises(TelegramBadRequest, match="message is not modified"):
                await strict_bot.edit_message_text("v2", chat_id=5, message_id=sent.message_id)
            assert await strict_bot.delete_message(5, sent.message_id)
            with pytest.raises(TelegramBadRequest, match="message to delete not found"):
                await strict_bot.delete_message(5, sent.message_id)
        finally:
            await strict_bot.session.close()
    # Lenient by default: editing a message the stand-in never saw just works.
    edited = await bot.edit_message_text("x", chat_id=5, message_id=77)
    assert isinstance(edited, Message)
    assert edited.message_id == 77


async def test_dispatcher_polling_echo(bot: Bot, server: BotApiStandIn) -> None:
    dp = Dispatcher()
    dp.include_router(echo_router())
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False))
    try:
        await server.wait_polling_started()
        server.push_update(server.make_text_update(42, 42, "hi"))
        await server.wait_for("sendMessage", predicate=lambda c: c.ok)
        assert server.sent_messages(42) == ["echo: hi"]
    finally:
        await dp.stop_polling()
        await polling


async def test_callback_query_through_polling(bot: Bot, server: BotApiStandIn) -> None:
    router = Router()

    @router.callback_query(F.data == "done")
    async def on_done(query: CallbackQuery) -> None:
        await query.answer("ok")
        if isinstance(query.message, Message):
            await query.message.edit_text("closed")

    dp = Dispatcher()
    dp.include_router(router)
    sent = await bot.send_message(42, "ticket open")
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False))
    try:
        server.push_update(server.make_callback_update(42, 42, "done", sent.message_id))
        await server.wait_for("editMessageText")
    finally:
        await dp.stop_polling()
        await polling
    (answer,) = server.calls_to("answerCallbackQuery")
    assert answer.params["text"] == "ok"
    assert server.messages[(42, sent.message_id)]["text"] == "closed"


async def test_webhook_secret(bot: Bot, server: BotApiStandIn) -> None:
    dp = Dispatcher()
    dp.include_router(echo_router())
    app = web.Application()
    SimpleRequestHandler(dispatcher=dp, bot=bot, secret_token="s3cret").register(app, path="/webhook")
    setup_application(app, dp, bot=bot)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}/webhook"
    try:
        status = await server.post_webhook(url, server.make_text_update(42, 42, "hook"), "s3cret")
        assert status == 200
        await server.wait_for("sendMessage")
        assert server.sent_messages(42) == ["echo: hook"]

        assert await server.post_webhook(url, server.make_text_update(42, 42, "evil"), "wrong") == 401
        assert await server.post_webhook(url, server.make_text_update(42, 42, "evil")) == 401
    finally:
        await runner.cleanup()  # also closes the bot session (SimpleRequestHandler.close)
    assert server.sent_messages(42) == ["echo: hook"]
