"""The Telegram channel (aiogram 3): translate updates into inbound messages, deliver stored replies.

Updates are acknowledged to Telegram only after the message is stored: the poller advances ``offset``
past an update once its inbound message is committed, and the webhook answers 200 only then. A crash
in between makes Telegram send the update again, and the store's deduplication makes that harmless —
so no message is silently lost and none is handled twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from html import escape
from typing import Any

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods.base import Response
from aiogram.types import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MessageEntity,
    Update,
)
from aiogram.types import Message as TgMessage
from pydantic import ValidationError
from sqlalchemy import select

from bot.engine.engine import ConversationEngine
from core.db import transaction
from core.errors import FrontlineError
from core.models import Author, Conversation, Message, Operator, RejectedUpdate
from core.outbox import PermanentDeliveryError, TransientDeliveryError
from core.security import MAX_ID, storable, storable_text
from core.store import InboundMessage
from kb.markdown import render_for_channel

log = logging.getLogger(__name__)
TELEGRAM_LIMIT = 4096
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
# The order Telegram's menu shows them.
COMMANDS = ("start", "help", "tickets", "operator", "cancel", "menu", "link", "notices_off", "notices_on")
MAX_FEED_ATTEMPTS = 3
MAX_REJECTED_PAYLOAD = 64_000
# aiogram checks every answer of the Bot API against ``Response[<what the method returns>]``, a generic pydantic
# model that pydantic caches only while something else holds it: between two sends it was often collected and
# built again (a schema build, several ms, for one reply in seven). Held here for the methods the channel calls.
_RESPONSE_MODELS = (Response[TgMessage], Response[bool], Response[TgMessage | bool])


@dataclass(frozen=True, slots=True)
class Part:
    """One Telegram message of a reply: HTML, or plain text with its formatting as entities."""

    text: str
    parse_mode: str | None = None
    entities: list[MessageEntity] = field(default_factory=list)


class RejectedUpdateError(Exception):
    """The update can never be stored (malformed, out of range): record it and acknowledge it."""


def _has_huge_int(value: Any, depth: int = 0) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) > MAX_ID
    if depth > 50:
        return True
    if isinstance(value, dict):
        return any(_has_huge_int(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(_has_huge_int(v, depth + 1) for v in value)
    return False


def _language(code: str | None) -> str | None:
    if not code:
        return None
    return "ru" if code.split("-")[0] in ("ru", "uk", "be", "kk") else "en"


def translate_message(message: TgMessage, edited: bool = False) -> InboundMessage | None:
    """A Telegram message as an inbound message; None for service messages we do not store.

    An edit is a new inbound message (its own id: the edit time), handled like any other: the customer who
    corrects a ticket number gets an answer about the corrected one.
    """
    user = message.from_user
    if user is None or user.is_bot:
        return None
    attachments: list[dict[str, Any]] = []
    meta: dict[str, Any] = {"edited": True} if edited else {}
    if message.forward_origin is not None:
        meta["forwarded"] = True
    if message.sticker is not None:
        meta["kind"] = "sticker"
        attachments.append({"type": "sticker", "emoji": message.sticker.emoji, "file_id": message.sticker.file_id})
    if message.document is not None:
        doc = message.document
        attachments.append(
            {
                "type": "document",
                "file_id": doc.file_id,
                "name": doc.file_name,
                "mime": doc.mime_type,
                "size": doc.file_size,
            }
        )
    if message.photo:
        best = message.photo[-1]
        attachments.append({"type": "photo", "file_id": best.file_id, "size": best.file_size})
    for kind in ("voice", "video", "audio", "video_note", "location", "contact"):
        if getattr(message, kind, None) is not None:
            attachments.append({"type": kind})
    text = message.text or message.caption or ""
    if not text and not attachments:
        return None  # joins, pins, migrations and other service messages
    return InboundMessage(
        channel="telegram",
        external_user_id=str(user.id),
        chat_id=str(message.chat.id),
        channel_message_id=f"{message.message_id}:edit:{message.edit_date or 0}" if edited else str(message.message_id),
        text=text,
        attachments=attachments,
        display_name=" ".join(p for p in (user.first_name, user.last_name) if p),
        language_hint=_language(user.language_code),
        meta=meta,
    )


def translate_callback(callback: CallbackQuery) -> InboundMessage | None:
    if not callback.data or callback.message is None:
        return None
    user = callback.from_user
    return InboundMessage(
        channel="telegram",
        external_user_id=str(user.id),
        chat_id=str(callback.message.chat.id),
        channel_message_id=f"cb:{callback.id}",
        payload=callback.data[:64],
        display_name=" ".join(p for p in (user.first_name, user.last_name) if p),
        language_hint=_language(user.language_code),
    )


class TelegramChannel:
    """Owns the aiogram Bot and Dispatcher, the poller or the webhook, and the turns it has started."""

    idempotent = False  # Telegram shows a message sent twice twice: an interrupted send becomes "unknown"

    def __init__(self, bot: Bot, engine: ConversationEngine) -> None:
        self.bot = bot
        self.engine = engine
        self.dispatcher = Dispatcher(channel=self, engine=engine)
        self.dispatcher.include_router(create_router())
        self._turns: set[asyncio.Task[Any]] = set()
        self._poller: asyncio.Task[None] | None = None
        self.polling_started = asyncio.Event()
        self._failures: dict[int, int] = {}
        self.rejected = 0
        """Updates recorded as rejected by this process (see ``rejected_updates`` for all of them)."""

    @classmethod
    def create(
        cls, token: str, engine: ConversationEngine, api_url: str | None = None, timeout: float = 15.0
    ) -> TelegramChannel:
        session = (
            AiohttpSession(api=TelegramAPIServer.from_base(api_url), timeout=timeout)
            if api_url
            else AiohttpSession(timeout=timeout)
        )
        bot = Bot(token=token, session=session, default=DefaultBotProperties(link_preview_is_disabled=True))
        return cls(bot, engine)

    # --- receiving ----------------------------------------------------------------------------------

    async def accept(self, inbound: InboundMessage) -> None:
        """Store now (the caller acknowledges the update after this), take the turn in the background."""
        received = await self.engine.receive(inbound)
        task = asyncio.create_task(self.engine.handle(received.message_id))
        self._turns.add(task)
        task.add_done_callback(self._turn_done)

    def _turn_done(self, task: asyncio.Task[Any]) -> None:
        self._turns.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("telegram turn failed; recovery will retry it", exc_info=task.exception())

    async def drain(self) -> None:
        while self._turns:
            await asyncio.gather(*list(self._turns), return_exceptions=True)

    async def register_commands(self) -> None:
        """The command menu in Telegram, in Russian and English (a failure is logged; the bot works without it)."""
        templates = self.engine.templates
        try:
            for language in ("ru", "en"):
                commands = [
                    BotCommand(command=c, description=templates.render(f"commands.{c}", language)) for c in COMMANDS
                ]
                await self.bot.set_my_commands(commands, language_code=language)
            default = templates.language(self.engine.settings.default_language)
            await self.bot.set_my_commands(
                [BotCommand(command=c, description=templates.render(f"commands.{c}", default)) for c in COMMANDS]
            )
        except Exception:
            log.exception("could not register the bot's commands with Telegram")

    # --- polling ------------------------------------------------------------------------------------

    async def start_polling(self) -> None:
        await self.bot.delete_webhook(drop_pending_updates=False)
        self._poller = asyncio.create_task(self._poll(), name="telegram-poller")

    async def _poll(self) -> None:
        offset: int | None = None
        backoff = 1.0
        while True:
            try:
                raw_updates = await self._get_updates(offset)
                self.polling_started.set()
                for raw in raw_updates:
                    offset = await self._feed_raw(raw, offset)
                backoff = 1.0
            except asyncio.CancelledError:
                raise
            except TelegramUnauthorizedError:
                log.error("Telegram refused the bot token; the Telegram channel stops")
                return
            except Exception:
                # The batch is not acknowledged: Telegram sends it again on the next call.
                log.exception("telegram polling failed; retrying", extra={"backoff_s": backoff})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    async def _get_updates(self, offset: int | None) -> list[dict[str, Any]]:
        """Raw getUpdates: updates are validated one by one, so one malformed update cannot block the rest."""
        url = self.bot.session.api.api_url(self.bot.token, "getUpdates")
        payload: dict[str, Any] = {"timeout": 20, "allowed_updates": ALLOWED_UPDATES}
        if offset is not None:
            payload["offset"] = offset
        session = await self.bot.session.create_session()  # type: ignore[attr-defined]
        async with session.post(url, json=payload, timeout=30) as response:
            body = await response.json(content_type=None)
        if response.status == 401:
            raise TelegramUnauthorizedError(method=None, message="Unauthorized")  # type: ignore[arg-type]
        if not isinstance(body, dict) or not body.get("ok"):
            retry = (body.get("parameters") or {}).get("retry_after") if isinstance(body, dict) else None
            await asyncio.sleep(float(retry or 1))
            return []
        result = body.get("result")
        return [u for u in result if isinstance(u, dict)] if isinstance(result, list) else []

    async def _feed_raw(self, raw: dict[str, Any], offset: int | None) -> int | None:
        update_id = raw.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            await self.reject(raw, "no update_id")
            return offset
        try:
            await self.feed(raw)
        except RejectedUpdateError as exc:
            await self.reject(raw, str(exc))
        except Exception as exc:
            # Retried with the batch a few times (a database hiccup passes); then recorded and skipped, so
            # one update that can never be stored does not hold back every later one.
            failures = self._failures[update_id] = self._failures.get(update_id, 0) + 1
            if failures < MAX_FEED_ATTEMPTS:
                raise
            await self.reject(raw, f"could not be stored after {failures} attempts: {exc!r}")
        self._failures.pop(update_id, None)
        return update_id + 1

    async def feed(self, raw: Any) -> None:
        """Clean, validate and store one raw update; RejectedUpdateError when it can never be a Telegram update."""
        if not isinstance(raw, dict):
            raise RejectedUpdateError("not a JSON object")
        if _has_huge_int(raw):
            raise RejectedUpdateError("a number is beyond 64 bits")
        try:
            update = Update.model_validate(storable(raw), context={"bot": self.bot})
        except ValidationError as exc:
            raise RejectedUpdateError(f"not a Telegram update: {exc.error_count()} problems") from None
        await self.dispatcher.feed_update(self.bot, update)

    async def reject(self, raw: Any, reason: str) -> None:
        """Record an update that cannot be stored, raw (cleaned only so it can be stored), for operators."""
        update_id = raw.get("update_id") if isinstance(raw, dict) else None
        try:
            payload = json.dumps(storable(raw), ensure_ascii=False, default=str)[:MAX_REJECTED_PAYLOAD]
        except (ValueError, RecursionError):
            payload = repr(raw)[:MAX_REJECTED_PAYLOAD]
        async with transaction(self.engine.sessions) as session:
            session.add(
                RejectedUpdate(
                    channel="telegram",
                    update_id=str(update_id)[:64] if update_id is not None else None,
                    reason=storable_text(reason)[:2000],
                    payload=storable_text(payload),
                )
            )
        self.rejected += 1
        log.error("rejected a telegram update", extra={"update_id": update_id, "reason": reason[:300]})

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        await self.drain()
        await self.bot.session.close()

    # --- delivering ---------------------------------------------------------------------------------

    async def deliver(self, message: Message) -> str | None:
        """Send one stored reply (every part, the buttons on the last); map Telegram's errors to retry-later or
        give-up. A group that became a supergroup gets the rest of the reply — every remaining part, with the
        buttons — at its new id, and that send's errors are classified the same way."""
        markup = _keyboard(message)
        parts = _render(message, await self.operator_label(message))
        sent_ids: list[str] = []
        chat_id = int(message.chat_id)
        for _hop in range(2):  # at most one migration
            try:
                await self._send_parts(chat_id, parts[len(sent_ids) :], markup, sent_ids)
                return sent_ids[0] if sent_ids else None
            except TelegramMigrateToChat as exc:
                # The next inbound message moves the conversation; this reply goes to the new chat now.
                chat_id = exc.migrate_to_chat_id
            except TelegramRetryAfter as exc:
                raise TransientDeliveryError("telegram rate limit", retry_after=float(exc.retry_after)) from exc
            except (TelegramServerError, TelegramNetworkError) as exc:
                raise TransientDeliveryError(f"telegram unavailable: {exc}") from exc
            except (TelegramForbiddenError, TelegramNotFound) as exc:
                raise PermanentDeliveryError(f"telegram refused: {exc}") from exc
            except TelegramBadRequest as exc:
                raise PermanentDeliveryError(f"telegram rejected the message: {exc}") from exc
        raise PermanentDeliveryError("the chat moved more than once while sending")

    async def operator_label(self, message: Message) -> str | None:
        """ "Анна, оператор:" over an operator's reply, in the conversation's language; None for the bot's messages.

        A Telegram chat shows every message as the bot's: without it the customer cannot tell a person wrote.
        """
        if message.author is not Author.OPERATOR:
            return None
        async with self.engine.sessions() as session:
            language = await session.scalar(
                select(Conversation.language).where(Conversation.id == message.conversation_id)
            )
            name = (
                await session.scalar(select(Operator.name).where(Operator.id == message.operator_id))
                if message.operator_id is not None
                else None
            )
        name = (name or "").strip()
        if name:
            return self.engine.templates.render("handoff.operator_label", language, name=name)
        return self.engine.templates.render("handoff.operator_label_unnamed", language)

    async def _send_parts(
        self,
        chat_id: int,
        parts: list[Part],
        markup: InlineKeyboardMarkup | None,
        sent_ids: list[str],
    ) -> None:
        for index, part in enumerate(parts):
            sent = await self.bot.send_message(
                chat_id=chat_id,
                text=part.text,
                parse_mode=part.parse_mode,
                entities=part.entities or None,
                reply_markup=markup if index == len(parts) - 1 else None,
            )
            sent_ids.append(str(sent.message_id))


def _keyboard(message: Message) -> InlineKeyboardMarkup | None:
    if not message.buttons:
        return None
    rows = [[InlineKeyboardButton(text=b["label"], callback_data=b["payload"])] for b in message.buttons]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _utf16_length(text: str) -> int:
    """Telegram measures entity offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _render(message: Message, label: str | None = None) -> list[Part]:
    """The text as Telegram parts: Markdown replies become Telegram HTML; long texts are split.

    ``label`` (who wrote an operator's reply) opens the first part, in bold, on a line of its own.
    """
    if message.meta.get("format") == "markdown":
        html = render_for_channel(message.text, "telegram")
        if label:
            html = f"<b>{escape(label)}</b>\n{html}"
        if len(html) <= TELEGRAM_LIMIT:
            return [Part(html, "HTML")]
    prefix = f"{label}\n" if label else ""
    chunks = _split(message.text, TELEGRAM_LIMIT - len(prefix))
    parts = [Part(chunk) for chunk in chunks]
    if label:
        bold = MessageEntity(type="bold", offset=0, length=_utf16_length(label))
        parts[0] = Part(prefix + chunks[0], entities=[bold])
    return parts


def _split(text: str, limit: int) -> list[str]:
    chunks: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = text.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    chunks.append(text)
    return [c for c in chunks if c] or ["…"]


# --- handlers ---------------------------------------------------------------------------------------


async def on_message(message: TgMessage, channel: TelegramChannel) -> None:
    inbound = translate_message(message)
    if inbound is None:
        return
    try:
        await channel.accept(inbound)
    except FrontlineError as exc:
        log.warning("telegram message refused by the store", extra={"reason": exc.message})


async def on_edited_message(message: TgMessage, channel: TelegramChannel) -> None:
    inbound = translate_message(message, edited=True)
    if inbound is None:
        return
    try:
        await channel.accept(inbound)
    except FrontlineError as exc:
        log.warning("telegram edit refused by the store", extra={"reason": exc.message})


async def show_choice(callback: CallbackQuery) -> None:
    """The answered question keeps its text, shows the choice and loses its keyboard (no second press)."""
    message = callback.message
    if not isinstance(message, TgMessage) or message.reply_markup is None or not message.text:
        return
    chosen = next(
        (b.text for row in message.reply_markup.inline_keyboard for b in row if b.callback_data == callback.data),
        None,
    )
    if chosen is None:
        return
    text = f"{message.text}\n\n→ {chosen}"
    if len(text) > TELEGRAM_LIMIT:
        await message.edit_reply_markup(reply_markup=None)
        return
    await message.edit_text(text, entities=message.entities, reply_markup=None)


async def on_callback(callback: CallbackQuery, channel: TelegramChannel) -> None:
    inbound = translate_callback(callback)
    # Stop the button's spinner first: the customer sees the press registered even before the reply.
    with contextlib.suppress(Exception):
        await callback.answer()
    if inbound is None:
        return
    try:
        await show_choice(callback)
    except Exception:  # an old message Telegram no longer lets us edit: the press still counts
        log.info("could not mark the pressed button", exc_info=True)
    try:
        await channel.accept(inbound)
    except FrontlineError as exc:
        log.warning("telegram button refused by the store", extra={"reason": exc.message})


def create_router() -> Router:
    """The channel's router; a fresh one per Dispatcher (aiogram attaches a router to one parent only)."""
    router = Router(name=__name__)
    router.message.register(on_message)
    router.edited_message.register(on_edited_message)
    router.callback_query.register(on_callback, F.data)
    return router
