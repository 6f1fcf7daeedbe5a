"""The event bus: in-process, and across workers through the real Redis."""

from __future__ import annotations

import asyncio
import uuid

from core.events import Event, InProcessBus, RedisBus


async def test_in_process_bus_delivers_to_matching_subscribers() -> None:
    bus = InProcessBus()
    got: list[str] = []

    async def on_ticket(event: Event) -> None:
        got.append(event.name)

    bus.subscribe(on_ticket, "ticket.changed")
    await bus.publish(Event(name="ticket.changed"))
    await bus.publish(Event(name="message.stored"))
    await bus.stop()
    assert got == ["ticket.changed"]


async def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    bus = InProcessBus()
    got: list[str] = []

    async def broken(event: Event) -> None:
        raise RuntimeError("boom")

    async def fine(event: Event) -> None:
        got.append(event.name)

    bus.subscribe(broken)
    bus.subscribe(fine)
    await bus.publish(Event(name="x"))
    await bus.stop()
    assert got == ["x"]


async def test_an_event_published_on_one_worker_reaches_another_through_redis(redis_url: str) -> None:
    channel = f"frontline:test:{uuid.uuid4().hex}"
    publisher, subscriber = RedisBus(redis_url, channel), RedisBus(redis_url, channel)
    received: asyncio.Queue[Event] = asyncio.Queue()

    async def on_event(event: Event) -> None:
        await received.put(event)

    subscriber.subscribe(on_event, "article.changed")
    await subscriber.start()
    await publisher.start()
    try:
        await publisher.publish(Event(name="article.changed", data={"article_id": 7}))
        event = await asyncio.wait_for(received.get(), timeout=5)
        assert event.data == {"article_id": 7}
    finally:
        await publisher.stop()
        await subscriber.stop()
