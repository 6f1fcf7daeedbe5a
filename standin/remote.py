"""The Bot API stand-in in a process of its own, for benchmarks: Telegram's side does not share our CPU.

In production Telegram's servers do the work of answering ``getUpdates`` and ``sendMessage``; a stand-in in the
benchmark's own process would take that CPU (and its share of the event loop) from the application it measures.
Here it runs as ``python -m standin.remote`` and is driven over loopback HTTP, next to the Bot API methods:

* ``POST /_control/texts`` ``{"texts": [[chat_id, text], ...]}`` queues one text message per pair, all at once
  (as many customers writing at the same moment), and answers the last ``update_id``;
* ``GET /_control/state`` answers how many updates are waiting, the offset the poller last asked for (it has
  stored every update below it), how many times it polled, how many messages were sent, and the stand-in's own
  CPU seconds so far.

:class:`RemoteStandIn` starts the process, reads its address and speaks this protocol.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import ClientSession, ClientTimeout, web

from standin.botapi import BotApiStandIn

READY = "standin-url "
"""The line the process prints on stdout once it listens: this prefix, then its base URL."""


def _offset(standin: BotApiStandIn) -> int:
    calls = standin.calls_to("getUpdates")
    offset = calls[-1].params.get("offset") if calls else None
    return int(offset) if offset is not None else 0


def _push_texts(standin: BotApiStandIn, texts: list[tuple[int, str]]) -> int:
    last = 0
    for chat_id, text in texts:
        last = standin.push_update(standin.make_text_update(int(chat_id), int(chat_id), str(text)))
    return last


def _state(standin: BotApiStandIn, cpu_s: float | None) -> dict[str, Any]:
    return {
        "pending": len(standin.pending_updates),
        "offset": _offset(standin),
        "polls": len(standin.calls_to("getUpdates")),
        "sent": len(standin.calls_to("sendMessage")),
        "cpu_s": cpu_s,
    }


def add_control(standin: BotApiStandIn) -> None:
    """The control routes of a stand-in driven from another process (before it starts)."""

    async def texts(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"update_id": _push_texts(standin, [(int(c), str(t)) for c, t in body["texts"]])})

    async def state(_request: web.Request) -> web.Response:
        return web.json_response(_state(standin, time.process_time()))

    standin.app.router.add_post("/_control/texts", texts)
    standin.app.router.add_get("/_control/state", state)


async def serve() -> None:
    """Run a stand-in until stdin closes (the parent went away or stopped it)."""
    standin = BotApiStandIn()
    add_control(standin)
    async with standin:
        print(READY + standin.url, flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


class RemoteStandIn:
    """A stand-in process (``python -m standin.remote``), started and stopped with ``async with``."""

    def __init__(self) -> None:
        self.url = ""
        self._proc: asyncio.subprocess.Process | None = None
        self._http: ClientSession | None = None

    async def __aenter__(self) -> Self:
        root = Path(__file__).resolve().parent.parent
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "standin.remote",
            cwd=root,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._proc.stdout is not None
        line = (await asyncio.wait_for(self._proc.stdout.readline(), 60)).decode().strip()
        if not line.startswith(READY):
            raise RuntimeError(f"the stand-in process did not start: {line!r}")
        self.url = line.removeprefix(READY)
        self._http = ClientSession(timeout=ClientTimeout(total=60))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._http is not None:
            await self._http.close()
        if self._proc is not None and self._proc.returncode is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                await asyncio.wait_for(self._proc.wait(), 10)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()

    async def _call(self, method: str, path: str, payload: Any = None) -> dict[str, Any]:
        assert self._http is not None
        async with self._http.request(method, self.url + path, json=payload) as response:
            response.raise_for_status()
            result: dict[str, Any] = json.loads(await response.text())
            return result

    async def push_texts(self, texts: list[tuple[int, str]]) -> int:
        """Queue one text message per (chat, text), all at once; the last update's id."""
        return int((await self._call("POST", "/_control/texts", {"texts": texts}))["update_id"])

    async def state(self) -> dict[str, Any]:
        return await self._call("GET", "/_control/state")

    async def wait_polling_started(self, timeout: float = 30.0) -> None:
        """Return once the application's poller asked for updates."""
        async with asyncio.timeout(timeout):
            while not (await self.state())["polls"]:
                await asyncio.sleep(0.1)


class LocalStandIn:
    """The same interface over a stand-in in this process (to compare with figures measured that way)."""

    def __init__(self) -> None:
        self.standin = BotApiStandIn()

    @property
    def url(self) -> str:
        return self.standin.url

    async def __aenter__(self) -> Self:
        await self.standin.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.standin.stop()

    async def push_texts(self, texts: list[tuple[int, str]]) -> int:
        return _push_texts(self.standin, texts)

    async def state(self) -> dict[str, Any]:
        return _state(self.standin, None)  # its CPU is the application's process's

    async def wait_polling_started(self, timeout: float = 30.0) -> None:
        await self.standin.wait_polling_started(timeout)


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None).parse_args()
    asyncio.run(serve())


if __name__ == "__main__":
    main()
