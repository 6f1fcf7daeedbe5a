"""One loop for every background worker: run a step, again at once while it finds work, else wait.

The outbox delivery, the breach watch and the knowledge-base resync share it: a step returns whether it
did something (so a backlog drains without sleeping), ``wake()`` cuts the wait short when an event says
there is new work, and a failing step is logged and retried after a growing pause instead of spinning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[bool]]


class PeriodicTask:
    def __init__(
        self,
        name: str,
        step: Step,
        interval: float,
        *,
        max_backoff: float = 30.0,
        initial_delay: float = 0.0,
    ) -> None:
        self.name = name
        self._step = step
        self.interval = interval
        self._max_backoff = max_backoff
        self._initial_delay = initial_delay
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.failures = 0  # consecutive failed steps; 0 after a success

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """Run the next step now instead of at the end of the interval."""
        self._wake.set()

    async def _run(self) -> None:
        if self._initial_delay:
            await self._wait(self._initial_delay)
        while True:
            self._wake.clear()
            try:
                busy = await self._step()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failures += 1
                delay = min(self._max_backoff, self.interval * 2 ** min(self.failures, 16))
                log.exception("%s failed; retrying in %.1f s", self.name, delay)
                await self._wait(delay)
                continue
            self.failures = 0
            if busy:
                await asyncio.sleep(0)  # let other tasks run between batches of a long backlog
                continue
            await self._wait(self.interval)

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
