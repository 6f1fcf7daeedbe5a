"""Live updates for connected inbox tabs: bus events fanned out to server-sent-event streams.

Every worker's hub subscribes to the bus (Redis when several workers run), so a tab connected to any worker
hears about a message stored by any other. An event carries only ids and states — the page fetches what
it shows through the normal, access-checked routes. A stream that cannot keep up is told to resync
instead of silently dropping events, and every (re)connection starts with a ``hello`` that makes the tab
re-read its list: the database is the record, events are only the nudge.

A stream belongs to a signed-in session: it re-checks the session every ``SESSION_CHECK_SECONDS`` and,
once the session has expired or was signed out (on any worker), sends ``signed_out`` and ends, so a tab
never goes on hearing about conversations after its operator's session is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from core.events import (
    CONVERSATION_STATUS_CHANGED,
    CONVERSATION_TYPING,
    MESSAGE_STORED,
    TICKET_CHANGED,
    Event,
    EventBus,
)
from tickets.events import INCIDENT_CHANGED, INCIDENT_FORMING, TICKET_BREACH

FORWARDED = (
    MESSAGE_STORED,
    CONVERSATION_STATUS_CHANGED,
    TICKET_CHANGED,
    TICKET_BREACH,
    INCIDENT_FORMING,
    INCIDENT_CHANGED,
    CONVERSATION_TYPING,
)
# The fields a tab may see; anything else an event carries stays on the server.
VISIBLE = frozenset(
    {
        "conversation_id",
        "direction",
        "author",
        "private",
        "status",
        "channel",
        "from",
        "to",
        "assignee_id",
        "ticket_id",
        "number",
        "kind",
        "team_id",
        "level",
        "numbers",
        "subject",
        "incident_id",
        "by",
        "on",
    }
)
log = logging.getLogger(__name__)
QUEUE_SIZE = 256
HEARTBEAT_SECONDS = 15.0
SESSION_CHECK_SECONDS = 5.0
RESYNC = "resync"
SIGNED_OUT = "signed_out"
SignedIn = Callable[[], Awaitable[bool]]


class LiveHub:
    """The set of connected streams on this worker and the bus handler that feeds them."""

    def __init__(self) -> None:
        self._streams: set[asyncio.Queue[tuple[str, dict[str, Any]] | None]] = set()
        self._ids = itertools.count(1)
        self.closed = False

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(self._on_event, *FORWARDED)

    @property
    def connected(self) -> int:
        return len(self._streams)

    async def _on_event(self, event: Event) -> None:
        if event.name == CONVERSATION_TYPING and event.data.get("by") != "customer":
            return  # the holder's own typing goes to the customer, not to other tabs
        data = {k: v for k, v in event.data.items() if k in VISIBLE}
        for queue in list(self._streams):
            try:
                queue.put_nowait((event.name, data))
            except asyncio.QueueFull:
                # A slow tab: drop its backlog and tell it to re-read the list instead.
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait((RESYNC, {}))

    @contextlib.asynccontextmanager
    async def stream(self) -> AsyncIterator[asyncio.Queue[tuple[str, dict[str, Any]] | None]]:
        queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue(QUEUE_SIZE)
        self._streams.add(queue)
        try:
            yield queue
        finally:
            self._streams.discard(queue)

    async def close(self, _app: web.Application | None = None) -> None:
        """End every stream for good (on shutdown): the tabs reconnect to a worker that is still running."""
        self.closed = True
        self.disconnect_all()

    def disconnect_all(self) -> None:
        """End the open streams (their tabs reconnect and catch up); new ones may connect."""
        for queue in list(self._streams):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)

    def frame(self, name: str, data: dict[str, Any]) -> bytes:
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        return f"id: {next(self._ids)}\nevent: {name}\ndata: {payload}\n\n".encode()


async def serve_stream(request: web.Request, hub: LiveHub, signed_in: SignedIn) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache, no-store",
            "X-Accel-Buffering": "no",  # a reverse proxy must not hold events back
        }
    )
    await response.prepare(request)
    with contextlib.suppress(ConnectionResetError):
        await _pump(response, hub, signed_in)
    return response


async def _pump(response: web.StreamResponse, hub: LiveHub, signed_in: SignedIn) -> None:
    async with hub.stream() as queue:
        # "retry" tells the browser how soon to reconnect; "hello" makes the tab catch up on what it missed.
        await response.write(b"retry: 2000\n\n" + hub.frame("hello", {}))
        now = time.monotonic()
        next_check, next_ping = now + SESSION_CHECK_SECONDS, now + HEARTBEAT_SECONDS
        while not hub.closed:
            timed_out = False
            try:
                item = await asyncio.wait_for(queue.get(), max(0.0, min(next_check, next_ping) - time.monotonic()))
            except TimeoutError:
                item, timed_out = None, True
            if item is None and not timed_out:
                break
            now = time.monotonic()
            if now >= next_check:
                try:
                    still = await signed_in()
                except Exception:
                    # Not known to be signed in (the database is unreachable): end the stream, and the tab's
                    # reconnection goes through the access check again.
                    log.warning("live stream ended: the session could not be checked", exc_info=True)
                    break
                if not still:
                    await response.write(hub.frame(SIGNED_OUT, {}))
                    break
                next_check = now + SESSION_CHECK_SECONDS
            if item is not None:
                await response.write(hub.frame(*item))
            elif now >= next_ping:
                await response.write(b": ping\n\n")
                next_ping = now + HEARTBEAT_SECONDS
