"""The sign-in guard: which attempts are refused before hashing, and the password check off the event loop.

Rules (see the security note):

* per client address: from the 5th failure on, waits of 1, 2, 4 … s up to 15 min — the attacker's own address
  slows down, whatever logins it tries;
* per login: from the 10th failure (from any address) on, waits of 1, 2, 4 … s up to 5 min — a slow guess
  spread over many addresses is still limited. A browser that has signed in to that login before carries
  a device cookie and is exempt from the per-login wait, so a stranger cannot keep the owner out;
* no account is ever locked, and an unknown login costs one hash like a known one.

The argon2 check runs in one worker thread, one at a time, pinned to one CPU (argon2 starts a thread per
lane, and they inherit the pinning), so a burst of attempts leaves the event loop — and, with several
cores, the others — to everyone else. Each attempt is counted as a failure *before* its hash (a success
clears the count), so concurrent attempts cannot slip past the wait while earlier hashes are still queued; and
when ``max_waiting`` checks are already queued the next attempt is refused at once (retry in 1 s) — the
server sheds sign-in load instead of building an unbounded queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from core import security
from core.signin.throttle import ThrottleRule, ThrottleStore

T = TypeVar("T")
ADDRESS_RULE = ThrottleRule(free=5, base=1.0, cap=15 * 60.0, window=3600.0)
LOGIN_RULE = ThrottleRule(free=10, base=1.0, cap=5 * 60.0, window=3600.0)


@dataclass(frozen=True, slots=True)
class Refusal:
    retry_after: int
    """Whole seconds to wait (at least 1)."""


def _login_key(login: str) -> str:
    return "login:" + hashlib.sha256(login.strip().lower().encode()).hexdigest()[:32]


def _address_key(address: str) -> str:
    return "addr:" + address


def _pin_to_one_cpu() -> None:
    """Run the hashing thread (and the lane threads argon2 starts from it) on the last allowed CPU only."""
    if hasattr(os, "sched_getaffinity"):
        allowed = sorted(os.sched_getaffinity(0))
        if len(allowed) > 1:
            with contextlib.suppress(OSError):  # a sandbox may forbid it: then the thread just is not pinned
                os.sched_setaffinity(0, {allowed[-1]})  # 0: the calling thread on Linux


class SignInGuard:
    def __init__(self, store: ThrottleStore, concurrent_checks: int = 1, max_waiting: int = 4) -> None:
        self.store = store
        self._executor = ThreadPoolExecutor(
            max_workers=concurrent_checks, thread_name_prefix="signin-hash", initializer=_pin_to_one_cpu
        )
        self._checks = asyncio.Semaphore(concurrent_checks)
        self._decoy: str | None = None
        self.max_waiting = max_waiting
        self._waiting = 0

    async def refusal(self, address: str, login: str, trusted_device: bool) -> Refusal | None:
        """A refusal when this address (or, from an unknown browser, this login) must wait first, or when the
        password checks already queued are as many as the server takes."""
        if self._waiting >= self.max_waiting:
            return Refusal(1)
        wait = await self.store.retry_after(_address_key(address))
        if not trusted_device:
            wait = max(wait, await self.store.retry_after(_login_key(login)))
        return Refusal(max(1, math.ceil(wait))) if wait > 0 else None

    async def failed(self, address: str, login: str, trusted_device: bool) -> None:
        await self.store.failed(_address_key(address), ADDRESS_RULE)
        if not trusted_device:
            await self.store.failed(_login_key(login), LOGIN_RULE)

    async def succeeded(self, address: str, login: str) -> None:
        await self.store.reset(_address_key(address))
        await self.store.reset(_login_key(login))

    async def check_password(self, password_hash: str | None, password: str) -> bool:
        """Verify off the loop; with no hash (unknown login) verify against a decoy so the cost is the same."""
        self._waiting += 1
        try:
            return await self._check(password_hash, password)
        finally:
            self._waiting -= 1

    async def _check(self, password_hash: str | None, password: str) -> bool:
        async with self._checks:
            if password_hash is None:
                if self._decoy is None:
                    self._decoy = await self._run(security.hash_password, secrets.token_urlsafe(16))
                await self._run(security.verify_password, self._decoy, password)
                return False
            return await self._run(security.verify_password, password_hash, password)

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=False)

    async def warm_up(self) -> None:
        """Hash the decoy now, so the first unknown login does not cost two hashes."""
        async with self._checks:
            if self._decoy is None:
                self._decoy = await self._run(security.hash_password, secrets.token_urlsafe(16))
