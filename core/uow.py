"""A unit of work: one transaction, and the events it produced, published only after it commits."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import SessionFactory
from core.events import Event, EventBus


class UnitOfWork:
    def __init__(self, factory: SessionFactory, bus: EventBus) -> None:
        self._factory = factory
        self._bus = bus
        self._events: list[Event] = []
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("UnitOfWork used outside 'async with'")
        return self._session

    def emit(self, event: Event) -> None:
        self._events.append(event)

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._factory()
        await self._session.begin()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session = self.session
        try:
            if exc_type is None:
                await session.commit()
            else:
                await session.rollback()
        finally:
            await session.close()
            self._session = None
        if exc_type is None:
            events, self._events = self._events, []
            for event in events:
                await self._bus.publish(event)
