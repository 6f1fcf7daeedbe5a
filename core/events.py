"""The event bus: in-process (embedded default) or Redis pub/sub (several workers), one interface.

Every subscriber on every worker receives every event once, including events its own worker published.
Events are notifications, not the record: the database is. A subscriber that missed one (a restart)
reads the current state from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from pydantic import BaseModel, Field

log = logging.getLogger(__name__)

MESSAGE_STORED = "message.stored"
CONVERSATION_STATUS_CHANGED = "conversation.status_changed"
TICKET_CHANGED = "ticket.changed"
ARTICLE_CHANGED = "article.changed"
# Someone is typing in a conversation (``by``: operator or customer, ``on``: started or stopped). Never stored:
# a typing indicator only matters while it is happening, so it is relayed and forgotten.
CONVERSATION_TYPING = "conversation.typing"


class Event(BaseModel):
    name: str
    data: dict[str, Any] = Field(default_factory=dict)


Handler = Callable[[Event], Awaitable[None]]


def typing_event(conversation_id: int, by: str, on: bool, **extra: Any) -> Event:
    """A ``conversation.typing`` event; ``extra`` carries what the receiving channel needs (channel, chat id, name)."""
    return Event(name=CONVERSATION_TYPING, data={"conversation_id": conversation_id, "by": by, "on": on, **extra})


class EventBus(Protocol):
    # Whether events reach other processes: a subscriber may then be on a worker other than the publisher.
    shared: bool

    def subscribe(self, handler: Handler, *names: str) -> None: ...
    async def publish(self, event: Event) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class _Dispatcher:
    """Runs local handlers; a failing handler is logged and never stops the others."""

    def __init__(self) -> None:
        self._handlers: list[tuple[Handler, frozenset[str]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def subscribe(self, handler: Handler, *names: str) -> None:
        self._handlers.append((handler, frozenset(names)))

    def dispatch(self, event: Event) -> None:
        for handler, names in self._handlers:
            if names and event.name not in names:
                continue
            task = asyncio.create_task(self._run(handler, event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _run(handler: Handler, event: Event) -> None:
        try:
            await handler(event)
        except Exception:
            log.exception("event handler failed", extra={"event": event.name})

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class InProcessBus(_Dispatcher):
    shared = False

    async def publish(self, event: Event) -> None:
        self.dispatch(event)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.drain()


class RedisBus(_Dispatcher):
    """Redis pub/sub: fire-and-forget fan-out to every worker subscribed to the channel."""

    shared = True

    def __init__(self, url: str, channel: str = "frontline:events") -> None:
        super().__init__()
        from redis.asyncio import Redis

        self._redis: Redis = Redis.from_url(url)
        self._channel = channel
        self._listener: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen())
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def _listen(self) -> None:
        while True:
            try:
                pubsub = self._redis.pubsub()
                await pubsub.subscribe(self._channel)
                self._ready.set()
                async for raw in pubsub.listen():
                    if raw.get("type") != "message":
                        continue
                    try:
                        event = Event.model_validate_json(raw["data"])
                    except ValueError:
                        log.warning("dropped a malformed event from redis")
                        continue
                    self.dispatch(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("redis event listener lost its connection; reconnecting")
                await asyncio.sleep(1)

    async def publish(self, event: Event) -> None:
        await self._redis.publish(self._channel, event.model_dump_json())

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self.drain()
        await self._redis.aclose()


def create_bus(redis_url: str | None) -> EventBus:
    return RedisBus(redis_url) if redis_url else InProcessBus()
