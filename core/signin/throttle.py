"""Growing waits after failed sign-ins, counted per key (a client address or a login).

A key gets a few free failures; after that every further failure imposes a wait that doubles up to a cap,
and attempts during the wait are refused before any password is hashed. Failures are forgotten after a
quiet ``window``, and a success clears its keys. The counts live in Redis when it is configured, so every
worker sees the same waits, and in this process otherwise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    free: int
    """The failure that starts the waits (the ones before it cost nothing)."""
    base: float
    """The first wait, seconds."""
    cap: float
    """The longest wait, seconds."""
    window: float
    """Seconds without a failure after which the count starts again."""

    def wait(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return float(min(self.cap, self.base * 2 ** (failures - self.free)))


class ThrottleStore(Protocol):
    async def retry_after(self, key: str) -> float:
        """Seconds before ``key`` may try again; 0 when it may now."""
        ...

    async def failed(self, key: str, rule: ThrottleRule) -> float:
        """Count a failure for ``key``; return the wait it now has."""
        ...

    async def reset(self, key: str) -> None: ...


@dataclass(slots=True)
class _Entry:
    failures: int
    last_failure: float
    blocked_until: float


class MemoryThrottle:
    """The counts of one process (the embedded single-worker mode)."""

    MAX_KEYS = 100_000  # an address sweep must not grow memory without bound

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    async def retry_after(self, key: str) -> float:
        entry = self._entries.get(key)
        return max(0.0, entry.blocked_until - time.monotonic()) if entry else 0.0

    async def failed(self, key: str, rule: ThrottleRule) -> float:
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is None or now - entry.last_failure > rule.window:
            if len(self._entries) >= self.MAX_KEYS:
                self._forget_old(now, rule.window)
            entry = self._entries[key] = _Entry(0, now, 0.0)
        entry.failures += 1
        entry.last_failure = now
        wait = rule.wait(entry.failures)
        entry.blocked_until = now + wait
        return wait

    async def reset(self, key: str) -> None:
        self._entries.pop(key, None)

    def _forget_old(self, now: float, window: float) -> None:
        for key in [k for k, e in self._entries.items() if now - e.last_failure > window or e.blocked_until < now]:
            del self._entries[key]


class RedisThrottle:
    """The counts shared by every worker: a failure counter and a block key that expires with the wait."""

    PREFIX = "frontline:signin:"

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def retry_after(self, key: str) -> float:
        ttl = int(await self._redis.pttl(f"{self.PREFIX}block:{key}"))
        return ttl / 1000 if ttl > 0 else 0.0

    async def failed(self, key: str, rule: ThrottleRule) -> float:
        counter = f"{self.PREFIX}fail:{key}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(counter)
            pipe.pexpire(counter, int(rule.window * 1000))
            failures, _ = await pipe.execute()
        wait = rule.wait(int(failures))
        if wait > 0:
            await self._redis.set(f"{self.PREFIX}block:{key}", b"1", px=max(1, int(wait * 1000)))
        return wait

    async def reset(self, key: str) -> None:
        await self._redis.delete(f"{self.PREFIX}fail:{key}", f"{self.PREFIX}block:{key}")
