"""The web channel: visitors' sockets, storing what they send, and delivering replies to them.

It only translates: a widget frame becomes an :class:`~core.store.InboundMessage` stored by the same
engine entry points Telegram uses (``receive`` then ``handle``), and replies come back through the outbox
(:meth:`WebChannel.deliver` is the outbox's deliverer for ``Channel.WEB``). A reply counts as delivered
when a socket of the visitor acknowledges its number; a visitor with no socket open gets it on return,
because a reconnecting widget is sent every message after the last number it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import Counter, Gauge
from pydantic import ValidationError
from sqlalchemy import select, update

from bot.channels.web.frames import MAX_TEXT, Press, Say, error
from bot.channels.web.pushes import WEB_ACKED, WEB_PUSH, WEB_PUSHED, Acked, Push, Pushed
from bot.engine.engine import ConversationEngine
from core.db import SessionFactory, transaction
from core.errors import FrontlineError
from core.events import Event, EventBus, typing_event
from core.models import (
    Author,
    Channel,
    Conversation,
    DeliveryState,
    Direction,
    Identity,
    Message,
    Operator,
    utcnow,
)
from core.outbox import TransientDeliveryError
from core.store import InboundMessage, clean_text
from core.web.metrics import Metrics
from kb.markdown import render_for_channel

log = logging.getLogger(__name__)

ACK_TIMEOUT = 10.0  # seconds the outbox waits for a socket to acknowledge a reply before retrying it
AWAY_RETRY = 30.0  # seconds before the outbox tries again for a visitor with no socket open
# Seconds a worker without the visitor's socket waits for another worker to say it sent the reply: short,
# because the outbox waits for every send of a pass before the next one, and a visitor away is common.
PUSH_TIMEOUT = 2.0
REPLAY_LIMIT = 200  # messages sent to a widget that has shown nothing of its conversation yet
# Per visitor (all their tabs together): messages each take a bot turn, so they get the tighter budget;
# acks, typing and suggestions are cheap. A person typing never reaches either.
MESSAGE_RATE, MESSAGE_BURST = 2.0, 10.0
FRAME_RATE, FRAME_BURST = 20.0, 60.0
# A visitor's "typing" is passed on to the inbox at most this often while it goes on (a stop always passes).
TYPING_EVERY = 2.0


@dataclass
class Bucket:
    """A token bucket: ``rate`` a second on average, ``burst`` at once."""

    rate: float
    burst: float
    tokens: float = -1.0
    at: float = field(default_factory=time.monotonic)

    def take(self) -> float:
        """0 when a frame may pass; otherwise the seconds until one may."""
        now = time.monotonic()
        if self.tokens < 0:
            self.tokens = self.burst
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class Sink(Protocol):
    """Where a visitor's frames go: a WebSocket, or a long-poll request's mailbox."""

    @property
    def closed(self) -> bool: ...

    async def send_json(self, data: Any) -> None: ...

    async def close(self, *, code: int = ..., message: bytes = ...) -> bool: ...


@dataclass(eq=False)
class Visitor:
    """One open socket (or waiting long-poll request) of one visitor (a visitor with two tabs has two)."""

    ws: Sink
    site: str
    vid: str
    language: str
    name: str = ""
    conversations: set[int] = field(default_factory=set)

    async def send(self, frame: dict[str, Any], metrics: WebMetrics) -> bool:
        if self.ws.closed:
            return False
        try:
            await self.ws.send_json(frame)
        except (ConnectionResetError, RuntimeError):
            return False
        metrics.frames_out.labels(str(frame.get("type"))).inc()
        return True


class WebMetrics:
    def __init__(self, metrics: Metrics) -> None:
        registry = metrics.registry
        self.connected = Gauge("frontline_webchat_connected", "Open widget sockets", registry=registry)
        self.frames_in = Counter("frontline_webchat_frames_in", "Frames from widgets", ["type"], registry=registry)
        self.frames_out = Counter("frontline_webchat_frames_out", "Frames to widgets", ["type"], registry=registry)
        self.rejected = Counter(
            "frontline_webchat_rejected_frames", "Frames refused, by reason", ["reason"], registry=registry
        )
        self.reconnects = Counter(
            "frontline_webchat_reconnects", "Widgets that came back with a token", registry=registry
        )
        self.resumes = Counter(
            "frontline_webchat_resumes", "Reconnects that were sent messages they had missed", registry=registry
        )


def message_frame(message: Message, operator_name: str | None = None) -> dict[str, Any]:
    """A stored message as the widget shows it; Markdown replies carry sanitised HTML as well."""
    frame: dict[str, Any] = {
        "type": "message",
        "conversation": message.conversation_id,
        "seq": message.seq,
        "author": message.author.value,
        "text": message.text,
        "buttons": [{"label": b["label"], "payload": b["payload"]} for b in message.buttons or []],
        "at": message.created_at.isoformat(),
    }
    if message.direction is Direction.INBOUND:
        frame["cid"] = message.channel_message_id
        label = message.meta.get("label")
        if not message.text and isinstance(label, str):
            frame["text"] = label
    elif message.meta.get("format") == "markdown":
        frame["html"] = render_for_channel(message.text, "web")
    if operator_name:
        frame["operator"] = operator_name
    return frame


@dataclass(eq=False)
class Elsewhere:
    """A reply this worker's outbox claimed, sent through another worker that holds the visitor's socket."""

    pushed: asyncio.Future[None]
    acked: asyncio.Future[None]


class WebChannel:
    # A widget shows a message once per (conversation, number) however often it is sent, so a send cut by a
    # dying worker is simply retried: made ``unknown`` instead, a reply older than the last number the widget
    # had shown would never reach it (a reconnect catches up only after that number).
    idempotent = True

    def __init__(
        self, engine: ConversationEngine, sessions: SessionFactory, metrics: WebMetrics, bus: EventBus
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.metrics = metrics
        self.bus = bus
        self._typing: dict[str, tuple[bool, float]] = {}  # visitor → (last state passed on, when)
        self.visitors: dict[str, set[Visitor]] = defaultdict(set)
        self.buckets: dict[tuple[str, bool], Bucket] = {}
        self._acks: dict[tuple[int, int], asyncio.Future[None]] = {}
        self._turns: dict[str, asyncio.Task[Any]] = {}
        self._elsewhere: dict[tuple[str, int, int], Elsewhere] = {}
        # Only a bus shared between workers can reach a socket held elsewhere; in one process there is none.
        if bus.shared:
            bus.subscribe(self._on_event, WEB_PUSH, WEB_PUSHED, WEB_ACKED)

    # --- sockets ------------------------------------------------------------------------------------

    def join(self, visitor: Visitor) -> None:
        self.visitors[visitor.vid].add(visitor)
        self.metrics.connected.inc()

    def leave(self, visitor: Visitor) -> None:
        sockets = self.visitors.get(visitor.vid)
        if sockets is not None and visitor in sockets:
            sockets.discard(visitor)
            self.metrics.connected.dec()
            if not sockets:
                del self.visitors[visitor.vid]
                self.buckets.pop((visitor.vid, True), None)
                self.buckets.pop((visitor.vid, False), None)
                self._typing.pop(visitor.vid, None)

    def limit(self, vid: str, message: bool) -> float:
        """0 when the visitor may send this frame now; else how long to wait (shared by their tabs)."""
        bucket = self.buckets.get((vid, message))
        if bucket is None:
            bucket = Bucket(MESSAGE_RATE, MESSAGE_BURST) if message else Bucket(FRAME_RATE, FRAME_BURST)
            self.buckets[(vid, message)] = bucket
        return bucket.take()

    async def broadcast(self, vid: str, frame: dict[str, Any]) -> int:
        sent = 0
        for visitor in list(self.visitors.get(vid, ())):
            sent += await visitor.send(frame, self.metrics)
        return sent

    # --- receiving ----------------------------------------------------------------------------------

    async def accept(self, visitor: Visitor, frame: Say | Press) -> None:
        """Store the message (once per client id), show it on every tab, and take the bot's turn."""
        text = frame.text if isinstance(frame, Say) else ""
        meta: dict[str, Any] = {"site": visitor.site}
        if isinstance(frame, Press):
            meta["label"] = frame.label
        inbound = InboundMessage(
            channel=Channel.WEB.value,
            external_user_id=visitor.vid,
            chat_id=visitor.vid,
            channel_message_id=frame.cid,
            text=text,
            payload=frame.payload if isinstance(frame, Press) else None,
            display_name=visitor.name,
            language_hint=visitor.language,
            meta=meta,
        )
        try:
            received = await self.engine.receive(inbound)
        except FrontlineError as exc:
            self.metrics.rejected.labels("invalid_message").inc()
            await visitor.send(error("invalid_message", exc.message, cid=frame.cid), self.metrics)
            return
        async with self.sessions() as session:
            message = await session.get_one(Message, received.message_id)
        if received.duplicate and not _same(message, inbound):
            self.metrics.rejected.labels("cid_reused").inc()
            detail = "this client id was already used for a different message"
            await visitor.send(error("cid_reused", detail, cid=frame.cid), self.metrics)
            return
        visitor.conversations.add(message.conversation_id)
        if received.duplicate:
            await visitor.send(message_frame(message), self.metrics)  # the resend's receipt; shown once already
        else:
            await self.broadcast(visitor.vid, message_frame(message))
        self._take_turn(visitor.vid, received.message_id)

    def _take_turn(self, vid: str, message_id: int) -> None:
        """Turns of one visitor run one after another, so replies come in the order the messages did."""
        previous = self._turns.get(vid)

        async def run() -> None:
            if previous is not None:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await previous
            await self.broadcast(vid, {"type": "typing", "on": True})
            try:
                await self.engine.handle(message_id)
            except Exception:
                log.exception("web turn failed; recovery will retry it", extra={"message_id": message_id})
            finally:
                await self.broadcast(vid, {"type": "typing", "on": False})

        task = asyncio.create_task(run())
        self._turns[vid] = task

        def done(finished: asyncio.Task[Any]) -> None:
            if self._turns.get(vid) is finished:
                del self._turns[vid]

        task.add_done_callback(done)

    async def drain(self) -> None:
        while self._turns:
            await asyncio.gather(*list(self._turns.values()), return_exceptions=True)

    # --- typing, both ways (relayed through the event bus, so any worker's inbox or widget hears it) --------

    async def customer_typing(self, visitor: Visitor, on: bool) -> None:
        """The visitor is typing (or stopped) in their latest conversation: tell the inbox, throttled."""
        if not visitor.conversations:
            return  # nothing written yet: no conversation an operator could have open
        last_on, at = self._typing.get(visitor.vid, (False, 0.0))
        now = time.monotonic()
        if on == last_on and (not on or now - at < TYPING_EVERY):
            return
        self._typing[visitor.vid] = (on, now)
        await self.bus.publish(typing_event(max(visitor.conversations), "customer", on))

    async def on_typing(self, event: Event) -> None:
        """An operator holding a web conversation types: the visitor's open widgets show who."""
        data = event.data
        if data.get("by") != "operator" or data.get("channel") != Channel.WEB.value:
            return
        frame = {"type": "typing", "on": bool(data.get("on")), "operator": str(data.get("name", ""))}
        await self.broadcast(str(data.get("chat_id", "")), frame)

    # --- catching up --------------------------------------------------------------------------------

    async def catch_up(self, visitor: Visitor, conversation_id: int | None, seq: int) -> int:
        """Send what the widget has not shown: after ``seq`` in its conversation (and replies not yet
        acknowledged), else the latest messages."""
        async with self.sessions() as session:
            customer_id = await session.scalar(
                select(Identity.customer_id).where(Identity.channel == Channel.WEB, Identity.external_id == visitor.vid)
            )
            if customer_id is None:
                return 0
            conversation = await session.scalar(
                select(Conversation)
                .where(Conversation.customer_id == customer_id, Conversation.channel == Channel.WEB)
                .order_by(Conversation.id.desc())
                .limit(1)
            )
            if conversation is None:
                return 0
            visitor.conversations.add(conversation.id)
            after = seq if conversation_id == conversation.id else max(0, conversation.last_seq - REPLAY_LIMIT)
            rows = [
                (row[0], row[1])
                for row in await session.execute(
                    select(Message, Operator.name)
                    .outerjoin(Operator, Operator.id == Message.operator_id)
                    .where(
                        Message.conversation_id == conversation.id,
                        Message.private.is_(False),
                        # After the last number the widget saw, and any reply no tab has acknowledged yet:
                        # one sent to a socket that was closing can be older than a message the widget
                        # saw since (its own next message is shown at once, not through the outbox).
                        (Message.seq > after)
                        | (
                            (Message.direction == Direction.OUTBOUND)
                            & Message.delivery_state.in_([DeliveryState.PENDING, DeliveryState.FAILED])
                        ),
                    )
                    .order_by(Message.seq)
                )
            ]
        for message, operator_name in rows:
            await visitor.send(message_frame(message, operator_name), self.metrics)
        return len(rows)

    # --- delivering (the outbox's deliverer for Channel.WEB) -----------------------------------------

    async def deliver(self, message: Message) -> str | None:
        """Send a reply to every open tab of the visitor; done when one of them acknowledges it."""
        if not self.visitors.get(message.chat_id):
            return await self._deliver_elsewhere(message)
        operator_name = await self._operator_name(message)
        key = (message.conversation_id, message.seq)
        waiter = self._acks.get(key)
        if waiter is None or waiter.done():
            waiter = asyncio.get_running_loop().create_future()
            self._acks[key] = waiter
        for visitor in list(self.visitors.get(message.chat_id, ())):
            visitor.conversations.add(message.conversation_id)
        try:
            if not await self.broadcast(message.chat_id, message_frame(message, operator_name)):
                raise TransientDeliveryError("the visitor's sockets closed", retry_after=AWAY_RETRY)
            await asyncio.wait_for(asyncio.shield(waiter), ACK_TIMEOUT)
        except TimeoutError:
            raise TransientDeliveryError("no socket acknowledged the reply") from None
        finally:
            if self._acks.get(key) is waiter:
                del self._acks[key]
        return f"web:{message.conversation_id}:{message.seq}"

    async def _operator_name(self, message: Message) -> str | None:
        if message.author is not Author.OPERATOR or message.operator_id is None:
            return None
        async with self.sessions() as session:
            return await session.scalar(select(Operator.name).where(Operator.id == message.operator_id))

    async def _deliver_elsewhere(self, message: Message) -> str:
        """No socket of the visitor here: ask the worker holding one to send the reply, and wait for the ack."""
        away = TransientDeliveryError("the visitor has no widget open", retry_after=AWAY_RETRY)
        if not self.bus.shared:
            raise away
        key = (message.chat_id, message.conversation_id, message.seq)
        loop = asyncio.get_running_loop()
        waiting = Elsewhere(pushed=loop.create_future(), acked=loop.create_future())
        self._elsewhere[key] = waiting
        try:
            push = Push(message=message.id, conversation=message.conversation_id, seq=message.seq, chat=message.chat_id)
            try:
                await self.bus.publish(Event(name=WEB_PUSH, data=push.model_dump()))
            except Exception:  # the bus is unreachable (Redis restarting): no other worker can be asked now
                log.warning("could not ask other workers to send a web reply", extra={"message_id": message.id})
                raise away from None
            done, _ = await asyncio.wait((waiting.pushed, waiting.acked), timeout=PUSH_TIMEOUT)
            if not done:
                raise away
            try:
                await asyncio.wait_for(waiting.acked, ACK_TIMEOUT)
            except TimeoutError:
                raise TransientDeliveryError("no socket acknowledged the reply") from None
        finally:
            if self._elsewhere.get(key) is waiting:
                del self._elsewhere[key]
        return f"web:{message.conversation_id}:{message.seq}"

    async def _on_event(self, event: Event) -> None:
        try:
            if event.name == WEB_PUSH:
                await self._push(Push.model_validate(event.data))
            elif event.name == WEB_PUSHED:
                pushed = Pushed.model_validate(event.data)
                self._settle(pushed.chat, pushed.conversation, [pushed.seq], acked=False)
            elif event.name == WEB_ACKED:
                acked = Acked.model_validate(event.data)
                self._settle(acked.chat, acked.conversation, acked.seqs, acked=True)
        except ValidationError:
            log.warning("dropped a malformed web delivery event", extra={"event": event.name})

    def _settle(self, chat: str, conversation_id: int, seqs: list[int], *, acked: bool) -> None:
        for seq in seqs:
            waiting = self._elsewhere.get((chat, conversation_id, seq))
            if waiting is None:
                continue
            future = waiting.acked if acked else waiting.pushed
            if not future.done():
                future.set_result(None)

    async def _push(self, push: Push) -> None:
        """Another worker claimed a reply for a visitor: send it if one of their sockets is here."""
        if not self.visitors.get(push.chat) or not self.bus.shared:
            return
        async with self.sessions() as session:
            message = await session.get(Message, push.message)
        if message is None or message.channel is not Channel.WEB or message.chat_id != push.chat or message.private:
            return
        operator_name = await self._operator_name(message)
        for visitor in list(self.visitors.get(push.chat, ())):
            visitor.conversations.add(message.conversation_id)
        # The widget's ack then reaches ``acknowledge`` here, which publishes it for the claiming worker.
        if await self.broadcast(push.chat, message_frame(message, operator_name)):
            pushed = Pushed(conversation=message.conversation_id, seq=message.seq, chat=push.chat)
            await self.bus.publish(Event(name=WEB_PUSHED, data=pushed.model_dump()))

    async def acknowledge(self, visitor: Visitor, conversation_id: int, seqs: list[int]) -> None:
        """The widget has shown these replies: they are delivered (in the outbox, or from a catch-up)."""
        if conversation_id not in visitor.conversations:
            self.metrics.rejected.labels("foreign_ack").inc()
            await visitor.send(
                error("foreign_ack", "acknowledged a conversation this socket was not sent"), self.metrics
            )
            return
        rest: list[int] = []
        for seq in seqs:
            waiter = self._acks.get((conversation_id, seq))
            if waiter is not None and not waiter.done():
                waiter.set_result(None)  # the outbox marks it delivered
            else:
                rest.append(seq)
        if not rest:
            return
        if self.bus.shared:  # an outbox send on another worker may be waiting for these
            acked = Acked(conversation=conversation_id, seqs=rest, chat=visitor.vid)
            try:
                await self.bus.publish(Event(name=WEB_ACKED, data=acked.model_dump()))
            except Exception:  # the bus is unreachable: that send retries, and the rows are marked below anyway
                log.warning("could not tell other workers of a web ack", extra={"conversation_id": conversation_id})
        async with transaction(self.sessions) as session:
            await session.execute(
                update(Message)
                .where(
                    Message.conversation_id == conversation_id,
                    Message.seq.in_(rest),
                    Message.direction == Direction.OUTBOUND,
                    Message.delivery_state.in_([DeliveryState.PENDING, DeliveryState.FAILED]),
                )
                .values(delivery_state=DeliveryState.SENT, delivered_at=utcnow(), next_attempt_at=None)
            )


def _same(message: Message, inbound: InboundMessage) -> bool:
    """Is a resend with this client id the message stored under it (not a different one reusing the id)?"""
    if inbound.payload is not None:
        return message.meta.get("payload") == inbound.payload
    text, _ = clean_text(inbound.text, MAX_TEXT)
    return message.text == text
