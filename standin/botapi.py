"""A stand-in Telegram Bot API server on loopback, for tests and benchmarks.

The real aiogram ``Bot``/``Dispatcher`` talk to it over HTTP exactly as they talk to
api.telegram.org, so the whole client stack (form encoding, response parsing, error
classification, polling loop, webhook handler) is exercised instead of mocked.

Typical use::

    async with BotApiStandIn() as server:
        bot = server.make_bot()
        try:
            await bot.send_message(42, "hi")
            assert server.sent_messages(42) == ["hi"]
        finally:
            await bot.session.close()

Behaviour worth knowing:

* A call is recorded in :attr:`BotApiStandIn.calls` when it is *answered* (so its status
  is known); a ``hang`` fault is therefore recorded only once the hang ends. A hung
  ``sendMessage`` whose client timed out meanwhile still reaches the chat and is recorded
  as ``ambiguous`` — the one outcome no client can tell apart from a loss.
* ``sendMessage`` / ``editMessageText`` enforce Telegram's real limits (empty text,
  4096 characters, 64-byte callback_data) because those are bugs we want tests to catch.
* With ``strict=True`` edits/deletes of unknown messages and no-op edits fail like on
  Telegram ("message to edit not found", "message is not modified"); by default they
  succeed so tests do not have to replay history first.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, Self

from aiohttp import ClientSession, ClientTimeout, web

if TYPE_CHECKING:
    from types import TracebackType

    from aiogram import Bot

JsonDict = dict[str, Any]
ChatId = int | str
FaultKind = Literal["429", "500", "hang", "403", "400", "migrate"]
MethodHandler = Callable[[JsonDict], Awaitable[Any]]

TELEGRAM_MAX_TEXT = 4096
TELEGRAM_MAX_CALLBACK_DATA = 64
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

# Parameters whose Bot API type is String. aiogram sends every non-string value
# JSON-encoded, so everything else is decoded with json.loads; these must stay raw,
# otherwise a user typing "123" or "true" would come back as an int or a bool.
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "url",
        "secret_token",
        "ip_address",
        "file_id",
        "action",
        "emoji",
        "title",
        "description",
        "short_description",
        "name",
        "query",
        "language_code",
        "business_connection_id",
        "message_effect_id",
        "photo",
        "document",
        "sticker",
        "video",
        "audio",
        "voice",
        "animation",
        "thumbnail",
        "certificate",
    }
)


class ApiError(Exception):
    """Raise from a method handler to answer ``{"ok": false, ...}`` with this status."""

    def __init__(self, status: int, description: str, parameters: JsonDict | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


@dataclass(frozen=True, slots=True)
class Upload:
    """A file part of a multipart request (aiogram sends ``attach://<key>`` plus the part)."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Call:
    """One answered Bot API request."""

    method: str
    params: JsonDict
    time: float  # time.monotonic() when the request arrived
    elapsed: float  # seconds until it was answered (includes injected hangs)
    status: int  # HTTP status returned
    token: str
    fault: str | None = None  # the injected fault kind, if any
    result: Any = None  # the "result" of a successful answer
    description: str | None = None  # the "description" of an error answer
    client_gone: bool = False  # the client had closed the connection before the answer (it timed out)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def ambiguous(self) -> bool:
        """Accepted after the client gave up: it reached the chat, but the sender saw a timeout."""
        return self.ok and self.client_gone


@dataclass(slots=True)
class Fault:
    kind: FaultKind
    retry_after: int = 1
    description: str | None = None
    seconds: float = 30.0
    migrate_to_chat_id: int = -100123
    when: Callable[[JsonDict], bool] | None = None


@dataclass(slots=True)
class StoredFile:
    """Bytes behind a file_id, served by getFile and GET /file/bot{token}/{file_path}."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    meta: JsonDict = field(default_factory=dict)


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _decode_params(raw: Mapping[str, Any], uploads: Mapping[str, Upload]) -> JsonDict:
    params: JsonDict = {}
    for key, value in raw.items():
        if isinstance(value, Upload):
            continue  # only reachable via its attach:// reference below
        if isinstance(value, str) and value.startswith("attach://") and value[9:] in uploads:
            params[key] = uploads[value[9:]]
        elif isinstance(value, str) and key not in _STRING_PARAMS:
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value  # e.g. chat_id="@channel"
        else:
            params[key] = value
    return params


class BotApiStandIn:
    """A loopback Bot API server with fault injection, call recording and an update queue."""

    def __init__(
        self,
        *,
        token: str | None = None,
        bot_first_name: str = "Frontline Test Bot",
        bot_username: str = "frontline_test_bot",
        long_poll_cap: float = 1.0,
        strict: bool = False,
    ) -> None:
        """
        :param token: if set, requests with any other token get 401 like a revoked token;
            by default every token is accepted and getMe derives the bot id from it.
        :param long_poll_cap: getUpdates never waits longer than this, whatever ``timeout``
            the client asks for, so stopping a poller or the server stays fast.
        :param strict: fail edits/deletes of unknown messages and no-op edits like Telegram.
        """
        self.token = token
        self.bot_first_name = bot_first_name
        self.bot_username = bot_username
        self.long_poll_cap = long_poll_cap
        self.strict = strict

        self.url = ""
        self.calls: list[Call] = []
        # Exceptions raised inside the stand-in itself (answered as 500): a test that
        # sees a TelegramServerError it did not inject should look here.
        self.errors: list[BaseException] = []
        self.webhook: JsonDict | None = None  # last setWebhook params, None after deleteWebhook
        self.commands: JsonDict = {}  # setMyCommands params by scope/language key
        self.messages: dict[tuple[ChatId, int], JsonDict] = {}  # what the chat now shows
        self._chats: dict[ChatId, JsonDict] = {}  # chats seen in built updates

        self._faults: dict[str, deque[Fault]] = {}
        self._updates: list[JsonDict] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[ChatId, itertools.count[int]] = {}
        self._callback_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._extra_methods: dict[str, tuple[str, MethodHandler]] = {}

        # Calls are appended under this condition so wait_for() wakes exactly when needed.
        self._calls_changed = asyncio.Condition()
        # push_update() must stay synchronous (it is called from plain helpers), and a
        # Condition needs an awaited lock, so long polls wait on a per-generation Event
        # that is set and replaced whenever the queue changes.
        self._updates_changed = asyncio.Event()
        self._polling_started = asyncio.Event()
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.hanging = 0  # calls inside a ``hang`` fault right now
        self._hangs_changed = asyncio.Event()

        self.app = web.Application(client_max_size=64 * 1024 * 1024)  # Telegram allows 50 MB uploads
        self.app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        self.app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)

        self._methods: dict[str, tuple[str, MethodHandler]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "getUpdates": self._get_updates,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "sendMessage": self._send_message,
                "editMessageText": self._edit_message_text,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "deleteMessage": self._delete_message,
                "answerCallbackQuery": self._true,
                "sendChatAction": self._true,
                "setMyCommands": self._set_my_commands,
                "deleteMyCommands": self._true,
                "getFile": self._get_file,
                "sendDocument": self._send_document,
                "sendPhoto": self._send_photo,
                "copyMessage": self._copy_message,
                "forwardMessage": self._forward_message,
            }.items()
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._stopping.clear()  # allow stop() then start() again
        # access_log=None: one log line per request drowns test output in benchmarks.
        # A short shutdown_timeout bounds stop() even if a handler misbehaves.
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sockname = self._runner.addresses[0]
        self.url = f"http://{host}:{sockname[1]}"

    async def stop(self) -> None:
        # Wake hangs and long polls first so the runner does not wait on them.
        self._stopping.set()
        self._notify_updates()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def make_bot(self, token: str = "123:abc", *, timeout: float = 10.0, **bot_kwargs: Any) -> Bot:
        """A real aiogram Bot pointed at this server. The caller must close ``bot.session``."""
        from aiogram import Bot
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer

        session = AiohttpSession(api=TelegramAPIServer.from_base(self.url), timeout=timeout)
        return Bot(token=token, session=session, **bot_kwargs)

    # ------------------------------------------------------------------ faults

    def fail_next(
        self,
        method: str,
        kind: FaultKind,
        *,
        retry_after: int = 1,
        description: str | None = None,
        seconds: float = 30.0,
        migrate_to_chat_id: int = -100123,
        times: int = 1,
        when: Callable[[JsonDict], bool] | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (matching ``when(params)``) fail.

        ``hang`` sleeps ``seconds`` (keep it above the client's timeout) and then answers
        normally, i.e. the message *is* delivered late, as can happen with Telegram — also when
        the client has given up meanwhile: the call is then recorded with ``client_gone`` (see
        :attr:`Call.ambiguous`). If the server stops first the hung call is dropped (500).
        Faults queue up in FIFO order.
        """
        fault = Fault(
            kind=kind,
            retry_after=retry_after,
            description=description,
            seconds=seconds,
            migrate_to_chat_id=migrate_to_chat_id,
            when=when,
        )
        queue = self._faults.setdefault(method.lower(), deque())
        queue.extend(replace(fault) for _ in range(times))

    def _take_fault(self, method: str, params: JsonDict) -> Fault | None:
        queue = self._faults.get(method.lower())
        if not queue:
            return None
        for fault in queue:
            if fault.when is None or fault.when(params):
                queue.remove(fault)
                return fault
        return None

    @staticmethod
    def _fault_error(fault: Fault) -> ApiError:
        if fault.kind == "429":
            return ApiError(
                429,
                fault.description or f"Too Many Requests: retry after {fault.retry_after}",
                {"retry_after": fault.retry_after},
            )
        if fault.kind == "403":
            return ApiError(403, fault.description or "Forbidden: bot was blocked by the user")
        if fault.kind == "400":
            return ApiError(400, fault.description or "Bad Request: injected fault")
        if fault.kind == "migrate":
            return ApiError(
                400,
                fault.description or "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": fault.migrate_to_chat_id},
            )
        # Avoid the word "restart": aiogram maps it to RestartingTelegram instead.
        return ApiError(500, fault.description or "Internal Server Error")

    # ------------------------------------------------------------------ recording

    def calls_to(self, method: str) -> list[Call]:
        name = method.lower()
        return [c for c in self.calls if c.method.lower() == name]

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,
        predicate: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        """Wait until at least ``count`` recorded calls of ``method`` match ``predicate``.

        Counts every call since start (or :meth:`reset`), failed ones included unless the
        predicate excludes them (e.g. ``predicate=lambda c: c.ok``). Returns the matches.
        """

        def matching() -> list[Call]:
            return [c for c in self.calls_to(method) if predicate is None or predicate(c)]

        try:
            async with asyncio.timeout(timeout), self._calls_changed:
                await self._calls_changed.wait_for(lambda: len(matching()) >= count)
        except TimeoutError:
            seen = [(c.method, c.status) for c in self.calls]
            raise TimeoutError(
                f"expected {count} matching {method} call(s) within {timeout}s, "
                f"got {len(matching())}; all calls: {seen}"
            ) from None
        return matching()

    def sent_messages(self, chat_id: ChatId | None = None) -> list[str]:
        """Texts of successful sendMessage calls, to ``chat_id`` or to anyone."""
        return [
            str(c.params.get("text", ""))
            for c in self.calls_to("sendMessage")
            if c.ok and (chat_id is None or c.params.get("chat_id") == chat_id)
        ]

    def ambiguous_sends(self, chat_id: ChatId | None = None) -> list[Call]:
        """sendMessage calls that reached the chat although the client had timed out and given up on them."""
        return [
            c
            for c in self.calls_to("sendMessage")
            if c.ambiguous and (chat_id is None or c.params.get("chat_id") == chat_id)
        ]

    async def wait_hangs_over(self, timeout: float = 60.0) -> None:
        """Return once no call is inside a ``hang`` fault (each has been accepted, or dropped by a stop)."""
        async with asyncio.timeout(timeout):
            while self.hanging:
                changed = self._hangs_changed
                await changed.wait()

    def _notify_hangs(self) -> None:
        self._hangs_changed.set()
        self._hangs_changed = asyncio.Event()

    def reset(self) -> None:
        """Forget calls, faults, updates and messages (e.g. between benchmark rounds)."""
        self.calls.clear()
        self.errors.clear()
        self._faults.clear()
        self._updates.clear()
        self.messages.clear()
        self._polling_started.clear()

    def register_method(self, name: str, handler: MethodHandler) -> None:
        """Answer an extra method: ``handler(params)`` returns the result or raises ApiError."""
        self._extra_methods[name.lower()] = (name, handler)

    # ------------------------------------------------------------------ updates

    def push_update(self, update: JsonDict) -> int:
        """Queue an update for getUpdates; assigns ``update_id`` if absent and returns it."""
        update_id = self._assign_update_id(update)
        self._updates.append(update)
        # Telegram hands updates out in update_id order, even if pushed out of order.
        self._updates.sort(key=lambda u: int(u["update_id"]))
        self._notify_updates()
        return update_id

    @property
    def pending_updates(self) -> list[JsonDict]:
        return list(self._updates)

    async def wait_polling_started(self, timeout: float = 5.0) -> None:
        """Return once the first getUpdates request has arrived."""
        async with asyncio.timeout(timeout):
            await self._polling_started.wait()

    async def post_webhook(
        self,
        url: str,
        update: JsonDict,
        secret_token: str | None = None,
        *,
        timeout: float = 10.0,
    ) -> int:
        """POST an update to a webhook like Telegram does; returns the HTTP status."""
        self._assign_update_id(update)
        headers = {SECRET_HEADER: secret_token} if secret_token is not None else {}
        async with (
            ClientSession(timeout=ClientTimeout(total=timeout)) as session,
            session.post(url, json=update, headers=headers) as resp,
        ):
            await resp.read()
            return resp.status

    def _assign_update_id(self, update: JsonDict) -> int:
        if "update_id" not in update:
            update["update_id"] = next(self._update_ids)
        else:
            # Keep automatic ids above explicit ones so they never collide.
            update_id = int(update["update_id"])
            self._update_ids = itertools.count(max(update_id + 1, next(self._update_ids)))
        return int(update["update_id"])

    def _notify_updates(self) -> None:
        self._updates_changed.set()
        self._updates_changed = asyncio.Event()

    # ------------------------------------------------------------------ update builders

    def next_message_id(self, chat_id: ChatId) -> int:
        # One sequence per chat shared by user and bot messages, as in Telegram.
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def bot_user(self, token: str = "123:abc") -> JsonDict:
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 123
        return {
            "id": bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    @staticmethod
    def user(user_id: int, first_name: str = "Ivan", language_code: str | None = "ru") -> JsonDict:
        user: JsonDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        if language_code is not None:
            user["language_code"] = language_code
        return user

    def chat(self, chat_id: ChatId, first_name: str | None = None) -> JsonDict:
        """The Chat object for ``chat_id``: as first built for an update, else synthesized."""
        if first_name is None and chat_id in self._chats:
            return dict(self._chats[chat_id])
        if isinstance(chat_id, str):
            # A "@username" chat id: Telegram resolves it to a channel with a numeric id.
            return {
                "id": -1000000000000 - zlib.crc32(chat_id.encode()),
                "type": "channel",
                "title": chat_id.lstrip("@"),
                "username": chat_id.lstrip("@"),
            }
        if chat_id < 0:
            return {"id": chat_id, "type": "supergroup", "title": "Test group"}
        chat = {"id": chat_id, "type": "private", "first_name": first_name or "User"}
        self._chats.setdefault(chat_id, chat)
        return dict(chat)

    def _user_message(
        self,
        chat_id: int,
        user_id: int,
        first_name: str,
        language_code: str | None,
        message_id: int | None,
    ) -> JsonDict:
        return {
            "message_id": message_id if message_id is not None else self.next_message_id(chat_id),
            "date": int(time.time()),
            "chat": self.chat(chat_id, first_name),
            "from": self.user(user_id, first_name, language_code),
        }

    def _user_update(self, chat_id: ChatId, message: JsonDict) -> JsonDict:
        # Stored so copyMessage/forwardMessage (operator handoff) see the real content;
        # a copy, because tests may mutate the returned update.
        self._store(chat_id, copy.deepcopy(message))
        return {"message": message}

    def make_text_update(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        first_name: str = "Ivan",
        language_code: str | None = "ru",
        *,
        message_id: int | None = None,
    ) -> JsonDict:
        message = self._user_message(chat_id, user_id, first_name, language_code, message_id)
        message["text"] = text
        if text.startswith("/"):
            # Telegram marks the leading command; some filters rely on the entity.
            command = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self._user_update(chat_id, message)

    def make_callback_update(
        self,
        chat_id: int,
        user_id: int,
        data: str,
        message_id: int,
        first_name: str = "Ivan",
        language_code: str | None = "ru",
    ) -> JsonDict:
        """A button press under ``message_id``; uses the stored message if the bot sent it."""
        message = self.messages.get((chat_id, message_id))
        if message is None:
            message = {
                "message_id": message_id,
                "date": int(time.time()),  # date 0 would make aiogram see an InaccessibleMessage
                "chat": self.chat(chat_id, first_name),
                "from": self.bot_user(),
                "text": "…",
            }
        return {
            "callback_query": {
                "id": str(next(self._callback_ids)),
                "from": self.user(user_id, first_name, language_code),
                "chat_instance": str(chat_id),
                "message": copy.deepcopy(message),  # later edits must not leak into this update
                "data": data,
            }
        }

    def make_sticker_update(
        self,
        chat_id: int,
        user_id: int,
        emoji: str = "👍",
        first_name: str = "Ivan",
        language_code: str | None = "ru",
        *,
        message_id: int | None = None,
    ) -> JsonDict:
        stored = self.add_file(b"RIFF-webp-sticker", "stickers/file.webp")
        message = self._user_message(chat_id, user_id, first_name, language_code, message_id)
        message["sticker"] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "set_name": "TestStickers",
            "file_size": len(stored.data),
        }
        return self._user_update(chat_id, message)

    def make_document_update(
        self,
        chat_id: int,
        user_id: int,
        file_name: str = "report.pdf",
        mime_type: str = "application/pdf",
        content: bytes = b"%PDF-1.4 test",
        caption: str | None = None,
        first_name: str = "Ivan",
        language_code: str | None = "ru",
        *,
        message_id: int | None = None,
    ) -> JsonDict:
        """A document message; ``content`` is served to getFile + bot.download()."""
        stored = self.add_file(content, f"documents/{file_name}")
        message = self._user_message(chat_id, user_id, first_name, language_code, message_id)
        message["document"] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(content),
        }
        if caption is not None:
            message["caption"] = caption
        return self._user_update(chat_id, message)

    def make_photo_update(
        self,
        chat_id: int,
        user_id: int,
        content: bytes = b"\xff\xd8\xff test jpeg",
        caption: str | None = None,
        first_name: str = "Ivan",
        language_code: str | None = "ru",
        *,
        message_id: int | None = None,
    ) -> JsonDict:
        stored = self.add_file(content, "photos/file.jpg")
        message = self._user_message(chat_id, user_id, first_name, language_code, message_id)
        message["photo"] = [self._photo_size(stored)]
        if caption is not None:
            message["caption"] = caption
        return self._user_update(chat_id, message)

    def add_file(self, data: bytes, path_hint: str = "documents/file") -> StoredFile:
        """Store bytes under a fresh file_id (served by getFile and the file download URL)."""
        n = next(self._file_ids)
        stem, dot, ext = path_hint.rpartition(".")
        path = f"{stem}_{n}.{ext}" if dot else f"{path_hint}_{n}"
        stored = StoredFile(file_id=f"FILE{n:06d}", file_unique_id=f"U{n:06d}", file_path=path, data=data)
        self._files[stored.file_id] = stored
        self._files_by_path[path] = stored
        return stored

    @staticmethod
    def _photo_size(stored: StoredFile) -> JsonDict:
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": 800,
            "height": 600,
            "file_size": len(stored.data),
        }

    # ------------------------------------------------------------------ HTTP

    async def _read_params(self, request: web.Request) -> JsonDict:
        raw: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            body = await request.json()
            # A JSON body is already typed; no per-field decoding needed.
            return {**raw, **(body if isinstance(body, dict) else {})}
        uploads: dict[str, Upload] = {}
        if request.can_read_body:
            # request.post() parses both multipart/form-data and urlencoded bodies.
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    uploads[key] = Upload(value.filename, value.content_type, value.file.read())
                elif isinstance(value, bytes | bytearray):
                    raw[key] = bytes(value).decode()
                else:
                    raw[key] = value
        return _decode_params(raw, uploads)

    def _resolve_method(self, name: str) -> tuple[str, MethodHandler | None]:
        found = self._extra_methods.get(name.lower()) or self._methods.get(name.lower())
        return found if found is not None else (name, None)

    async def _handle_api(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        token = request.match_info["token"]
        method, handler = self._resolve_method(request.match_info["method"])
        params = await self._read_params(request)
        if self.token is None or token == self.token:
            fault = self._take_fault(method, params)
            if fault is not None and fault.kind == "hang":
                # Shielded: whether or not the server cancels a handler whose client went away, the hung call
                # runs to its end and is accepted, as Telegram does with a request it has already received.
                return await asyncio.shield(self._hang_then_answer(request, method, handler, params, started, fault))
        else:
            fault = None
        return await self._answer(request, method, handler, params, started, fault)

    async def _hang_then_answer(
        self,
        request: web.Request,
        method: str,
        handler: MethodHandler | None,
        params: JsonDict,
        started: float,
        fault: Fault,
    ) -> web.Response:
        self.hanging += 1
        try:
            try:
                async with asyncio.timeout(fault.seconds):
                    await self._stopping.wait()
                # Stopped before the hang was over: the call never reached the chat.
                description = "Internal Server Error: stand-in stopped during a hang"
                await self._record(method, params, started, 500, request.match_info["token"], fault, None, description)
                return web.json_response({"ok": False, "error_code": 500, "description": description}, status=500)
            except TimeoutError:
                pass  # the hang is over: accept late, as Telegram sometimes does, even if the client gave up
            return await self._answer(request, method, handler, params, started, fault)
        finally:
            self.hanging -= 1
            self._notify_hangs()

    async def _answer(
        self,
        request: web.Request,
        method: str,
        handler: MethodHandler | None,
        params: JsonDict,
        started: float,
        fault: Fault | None,
    ) -> web.Response:
        token = request.match_info["token"]
        result: Any = None
        try:
            if self.token is not None and token != self.token:
                raise ApiError(401, "Unauthorized")
            if fault is not None and fault.kind != "hang":
                raise self._fault_error(fault)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            result = await handler({**params, "_token": token})
        except ApiError as e:
            body: JsonDict = {"ok": False, "error_code": e.status, "description": e.description}
            if e.parameters:
                body["parameters"] = e.parameters
            await self._record(method, params, started, e.status, token, fault, None, e.description)
            return web.json_response(body, status=e.status)
        except Exception as e:  # a bug in the stand-in: surface it as a server error
            self.errors.append(e)
            description = f"Internal Server Error: stand-in failed: {e!r}"
            await self._record(method, params, started, 500, token, fault, None, description)
            return web.json_response({"ok": False, "error_code": 500, "description": description}, status=500)
        await self._record(method, params, started, 200, token, fault, result, None, client_gone=_client_gone(request))
        return web.json_response({"ok": True, "result": result})

    async def _record(
        self,
        method: str,
        params: JsonDict,
        started: float,
        status: int,
        token: str,
        fault: Fault | None,
        result: Any,
        description: str | None,
        *,
        client_gone: bool = False,
    ) -> None:
        call = Call(
            method=method,
            params=params,
            time=started,
            elapsed=time.monotonic() - started,
            status=status,
            token=token,
            fault=fault.kind if fault is not None else None,
            result=result,
            description=description,
            client_gone=client_gone,
        )
        async with self._calls_changed:
            self.calls.append(call)
            self._calls_changed.notify_all()

    async def _handle_file(self, request: web.Request) -> web.Response:
        stored = self._files_by_path.get(request.match_info["path"])
        if stored is None:
            raise web.HTTPNotFound()
        return web.Response(body=stored.data, content_type="application/octet-stream")

    # ------------------------------------------------------------------ methods

    async def _true(self, params: JsonDict) -> bool:
        return True

    async def _get_me(self, params: JsonDict) -> JsonDict:
        me = self.bot_user(params["_token"])
        me.update(can_join_groups=True, can_read_all_group_messages=False, supports_inline_queries=False)
        return me

    async def _get_updates(self, params: JsonDict) -> list[JsonDict]:
        self._polling_started.set()
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        if offset > 0:
            # Everything below the offset is confirmed and forgotten, as on Telegram.
            self._updates = [u for u in self._updates if int(u["update_id"]) >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        limit = max(1, min(100, int(params.get("limit") or 100)))
        wait = min(float(params.get("timeout") or 0), self.long_poll_cap)
        if not self._updates and wait > 0 and not self._stopping.is_set():
            changed = self._updates_changed
            try:
                async with asyncio.timeout(wait):
                    await changed.wait()
            except TimeoutError:
                pass  # an empty long poll is a normal answer
        return self._updates[:limit]

    async def _set_webhook(self, params: JsonDict) -> bool:
        if not params.get("url"):
            return await self._delete_webhook(params)  # Telegram treats an empty url as delete
        self.webhook = {k: v for k, v in params.items() if k != "_token"}
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _delete_webhook(self, params: JsonDict) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, params: JsonDict) -> JsonDict:
        return {
            "url": (self.webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    async def _set_my_commands(self, params: JsonDict) -> bool:
        key = json.dumps([params.get("scope"), params.get("language_code")], sort_keys=True)
        self.commands[key] = params.get("commands", [])
        return True

    @staticmethod
    def _check_text(text: Any, what: str = "message text") -> str:
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, f"Bad Request: {what} is empty")
        if len(text) > TELEGRAM_MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        return text

    @staticmethod
    def _inline_markup(params: JsonDict) -> JsonDict | None:
        markup = params.get("reply_markup")
        if not isinstance(markup, dict):
            return None
        for row in markup.get("inline_keyboard") or []:
            for button in row:
                data = button.get("callback_data")
                if data is not None and len(str(data).encode()) > TELEGRAM_MAX_CALLBACK_DATA:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        # Only inline keyboards are part of the returned Message (aiogram rejects others).
        return markup if "inline_keyboard" in markup else None

    def _new_message(self, params: JsonDict) -> tuple[ChatId, JsonDict]:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if not isinstance(chat_id, int | str):
            raise ApiError(400, "Bad Request: chat not found")
        message: JsonDict = {
            "message_id": self.next_message_id(chat_id),
            "date": int(time.time()),
            "chat": self.chat(chat_id),
            "from": self.bot_user(params["_token"]),
        }
        if isinstance(params.get("message_thread_id"), int):
            message["message_thread_id"] = params["message_thread_id"]
        return chat_id, message

    def _store(self, chat_id: ChatId, message: JsonDict) -> JsonDict:
        self.messages[(chat_id, int(message["message_id"]))] = message
        return message

    async def _send_message(self, params: JsonDict) -> JsonDict:
        text = self._check_text(params.get("text"))
        markup = self._inline_markup(params)
        chat_id, message = self._new_message(params)
        message["text"] = text
        if markup is not None:
            message["reply_markup"] = markup
        return self._store(chat_id, message)

    def _target(self, params: JsonDict, action: str) -> tuple[ChatId, int, JsonDict] | None:
        """The stored message an edit/delete refers to (None for inline messages)."""
        if params.get("inline_message_id"):
            return None
        chat_id, message_id = params.get("chat_id"), params.get("message_id")
        if not isinstance(chat_id, int | str) or not isinstance(message_id, int):
            raise ApiError(400, f"Bad Request: message to {action} not found")
        message = self.messages.get((chat_id, message_id))
        if message is None:
            if self.strict:
                raise ApiError(400, f"Bad Request: message to {action} not found")
            message = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": self.chat(chat_id),
                "from": self.bot_user(params["_token"]),
            }
        return chat_id, message_id, message

    def _not_modified(self, before: JsonDict, after: JsonDict) -> None:
        keys = ("text", "reply_markup", "caption")
        if self.strict and all(before.get(k) == after.get(k) for k in keys):
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )

    async def _edit_message_text(self, params: JsonDict) -> JsonDict | bool:
        text = self._check_text(params.get("text"))
        markup = self._inline_markup(params)
        target = self._target(params, "edit")
        if target is None:
            return True  # inline messages: Telegram answers just True
        chat_id, _, before = target
        after = {k: v for k, v in before.items() if k != "reply_markup"}
        # Editing text without reply_markup removes the inline keyboard on Telegram.
        after["text"] = text
        if markup is not None:
            after["reply_markup"] = markup
        self._not_modified(before, after)
        after["edit_date"] = int(time.time())
        return self._store(chat_id, after)

    async def _edit_message_reply_markup(self, params: JsonDict) -> JsonDict | bool:
        markup = self._inline_markup(params)
        target = self._target(params, "edit")
        if target is None:
            return True
        chat_id, _, before = target
        after = {k: v for k, v in before.items() if k != "reply_markup"}
        if markup is not None:
            after["reply_markup"] = markup
        self._not_modified(before, after)
        after["edit_date"] = int(time.time())
        return self._store(chat_id, after)

    async def _delete_message(self, params: JsonDict) -> bool:
        target = self._target(params, "delete")
        if target is not None:
            chat_id, message_id, _ = target
            self.messages.pop((chat_id, message_id), None)
        return True

    async def _get_file(self, params: JsonDict) -> JsonDict:
        file_id = params.get("file_id")
        stored = self._files.get(str(file_id))
        if stored is None:
            if self.strict or not file_id:
                raise ApiError(400, "Bad Request: invalid file_id")
            stored = StoredFile(str(file_id), f"U{file_id}", f"documents/{file_id}", b"")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    def _media(self, value: Any, path_hint: str) -> tuple[StoredFile, str | None, str | None]:
        """A sent file (upload or file_id) as stored file + file name + mime type."""
        if isinstance(value, Upload):
            return self.add_file(value.data, path_hint), value.filename, value.content_type
        if isinstance(value, str) and value in self._files:
            return self._files[value], None, None
        if isinstance(value, str) and value:
            # A URL or a file_id we never issued: Telegram would fetch/resolve it.
            return self.add_file(b"", path_hint), None, None
        raise ApiError(400, "Bad Request: there is no document in the request")

    def _with_caption(self, params: JsonDict, message: JsonDict) -> None:
        caption = params.get("caption")
        if caption:
            if len(caption) > 1024:
                raise ApiError(400, "Bad Request: message caption is too long")
            message["caption"] = caption
        markup = self._inline_markup(params)
        if markup is not None:
            message["reply_markup"] = markup

    async def _send_document(self, params: JsonDict) -> JsonDict:
        stored, file_name, mime_type = self._media(params.get("document"), "documents/file")
        chat_id, message = self._new_message(params)
        document: JsonDict = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
        }
        if file_name:
            document["file_name"] = file_name
        if mime_type:
            document["mime_type"] = mime_type
        message["document"] = document
        self._with_caption(params, message)
        return self._store(chat_id, message)

    async def _send_photo(self, params: JsonDict) -> JsonDict:
        stored, _, _ = self._media(params.get("photo"), "photos/file.jpg")
        chat_id, message = self._new_message(params)
        message["photo"] = [self._photo_size(stored)]
        self._with_caption(params, message)
        return self._store(chat_id, message)

    def _source(self, params: JsonDict) -> JsonDict:
        from_chat_id, message_id = params.get("from_chat_id"), params.get("message_id")
        if not isinstance(from_chat_id, int | str) or not isinstance(message_id, int):
            raise ApiError(400, "Bad Request: message to copy not found")
        source = self.messages.get((from_chat_id, message_id))
        if source is None:
            if self.strict:
                raise ApiError(400, "Bad Request: message to copy not found")
            source = {"text": "…"}
        return source

    async def _copy_message(self, params: JsonDict) -> JsonDict:
        source = self._source(params)
        chat_id, message = self._new_message(params)
        for key in ("text", "document", "photo", "sticker", "caption"):
            if key in source:
                message[key] = source[key]
        self._with_caption(params, message)
        self._store(chat_id, message)
        return {"message_id": message["message_id"]}  # copyMessage returns a MessageId

    async def _forward_message(self, params: JsonDict) -> JsonDict:
        source = self._source(params)
        chat_id, message = self._new_message(params)
        for key in ("text", "document", "photo", "sticker", "caption"):
            if key in source:
                message[key] = source[key]
        message["forward_origin"] = {
            "type": "hidden_user",
            "sender_user_name": "Forwarded",
            "date": int(source.get("date", time.time())),
        }
        return self._store(chat_id, message)
