"""A scripted operator on the inbox JSON API, for the soak bench: sign in, take, reply, close.

It works the way a person at the inbox would through any worker: a request cut by a dying worker is not
blindly repeated — the operator looks at the conversation first and replies only if the reply is not there,
so whatever reaches the customer twice is the desk's doing, not the script's.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, CookieJar

RETRYABLE = (OSError, ClientError, TimeoutError)


class Refused(Exception):
    """The desk answered with a status the operator did not expect."""


@dataclass
class Handled:
    """What the operator did with one conversation."""

    channel: str
    reply: str = ""
    replied: bool = False
    closed: bool = False


@dataclass
class ScriptedOperator:
    """One operator account, signed in once; every request goes to the worker ``pick()`` names."""

    pick: Callable[[], str]
    login: str
    password: str
    handled: dict[int, Handled] = field(default_factory=dict)
    lost_to_others: int = 0  # take answered 409: another operator had it
    errors: Counter[str] = field(default_factory=Counter)  # requests cut or refused, by kind; looked at again
    _http: ClientSession | None = None
    _csrf: str = ""

    async def __aenter__(self) -> ScriptedOperator:
        # unsafe: the workers are addressed by IP, for which aiohttp keeps no cookies otherwise.
        self._http = ClientSession(cookie_jar=CookieJar(unsafe=True), timeout=ClientTimeout(total=20))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.close()

    async def sign_in(self) -> None:
        http = self._require()
        for attempt in range(100):
            url = self.pick()
            try:
                async with http.get(f"{url}/login") as page:
                    found = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
                if found is None:
                    raise Refused("the login page carries no CSRF token")
                form = {"login": self.login, "password": self.password, "csrf_token": found.group(1)}
                async with http.post(f"{url}/login", data=form, allow_redirects=False) as signed:
                    if signed.status != 302:
                        raise Refused(f"sign-in answered {signed.status}")
                async with http.get(f"{url}/api/me") as me:
                    self._csrf = str((await me.json())["csrf_token"])
                return
            except RETRYABLE as exc:
                self.errors[type(exc).__name__] += 1
                await asyncio.sleep(min(0.3 * (attempt + 1), 3.0))
        raise RuntimeError("the operator could not sign in on any worker")

    async def work(self, stop: asyncio.Event, pause: float = 0.5) -> None:
        """Until ``stop``: take every waiting conversation, reply once, close it."""
        while not stop.is_set():
            try:
                waiting = await self._get("/api/inbox/conversations?status=waiting&limit=200")
                for item in waiting["items"]:
                    self.handled.setdefault(int(item["id"]), Handled(channel=str(item["channel"])))
                for conversation_id, handled in list(self.handled.items()):
                    if not handled.closed:
                        await self._handle(conversation_id, handled)
            except (*RETRYABLE, Refused) as exc:
                # A worker going away or the database restarting: look again next round.
                self.errors[str(exc) if isinstance(exc, Refused) else type(exc).__name__] += 1
            await asyncio.sleep(pause)

    async def _handle(self, conversation_id: int, handled: Handled) -> None:
        base = f"/api/inbox/conversations/{conversation_id}"
        detail = await self._get(base)
        if detail["status"] == "waiting":
            status, _ = await self._post(f"{base}/take")
            if status == 409:
                self.lost_to_others += 1
                handled.closed = True  # someone else's now
                return
            detail = await self._get(base)
        if detail["status"] == "closed":
            handled.closed = True
            return
        handled.reply = handled.reply or f"Оператор на связи: разговор {conversation_id}, чем помочь?"
        messages = detail["messages"]
        handled.replied = any(m["author"] == "operator" and m["text"] == handled.reply for m in messages)
        if not handled.replied:
            status, _ = await self._post(f"{base}/reply", {"text": handled.reply})
            if status != 201:
                raise Refused(f"reply answered {status}")
            handled.replied = True
        status, _ = await self._post(f"{base}/close")
        if status != 200:
            raise Refused(f"close answered {status}")
        handled.closed = True

    def _require(self) -> ClientSession:
        assert self._http is not None, "use the operator as an async context manager"
        return self._http

    async def _get(self, path: str) -> Any:
        async with self._require().get(self.pick() + path) as resp:
            if resp.status != 200:
                raise Refused(f"GET {path} answered {resp.status}")
            return await resp.json()

    async def _post(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        headers = {"X-CSRF-Token": self._csrf}
        async with self._require().post(self.pick() + path, json=body or {}, headers=headers) as resp:
            if resp.status >= 500:
                raise Refused(f"POST {path} answered {resp.status}")
            return resp.status, await resp.json(content_type=None)
