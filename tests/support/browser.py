"""Real pages in real headless Chromium: the app served on loopback in a thread, Debian's Chromium via Playwright.

Playwright's sync API cannot share pytest-aiohttp's running loop, so the app runs on its own event loop in
a thread (:class:`ServerThread`); ``run`` executes a coroutine on that loop from the test, for set-up such
as sending a customer message through the Bot API stand-in.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from playwright.sync_api import Browser, Page, sync_playwright

from bot.app import create_app
from bot.demo import load_demo
from core.db import create_engine, session_factory
from core.migrate import upgrade
from core.settings import ROOT, Settings
from standin.botapi import BotApiStandIn

T = TypeVar("T")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Chromium looks up Google hosts even with the flags above; resolve nothing but loopback.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
]
SCREENSHOTS = ROOT / "var" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}


class ServerThread(threading.Thread):
    """The app on its own event loop in a thread, on a free loopback port."""

    def __init__(
        self,
        settings: Settings,
        *,
        demo: bool = True,
        before_start: Callable[[ServerThread], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.demo = demo
        self.before_start = before_start
        self.ready = threading.Event()
        self.url = ""
        self.loop = asyncio.new_event_loop()
        self.runner: web.AppRunner | None = None
        self.app: web.Application | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start())
        except BaseException as exc:  # reported to the waiting test instead of dying silently
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        if self.demo:
            engine = create_engine(self.settings.database_url)
            await load_demo(session_factory(engine), self.settings)
            await engine.dispose()
        if self.before_start is not None:
            await self.before_start(self)
        self.app = create_app(self.settings)
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.settings.port or 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    def run_coroutine(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run ``coroutine`` on the server's loop (where the app's engine and sessions live)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=timeout)

    def stop(self) -> None:
        async def shutdown() -> None:
            if self.runner is not None:
                await self.runner.cleanup()

        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout=60)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.join(timeout=10)
        # A loop left open keeps its self-pipe sockets; their ResourceWarning would surface in a later test.
        if not self.is_alive() and not self.loop.is_closed():
            self.loop.close()


def page_settings(folder: Path, **overrides: Any) -> Settings:
    """Settings for a served app on a migrated SQLite database of its own under ``folder``."""
    database_url = f"sqlite+aiosqlite:///{folder / 'frontline.db'}"
    upgrade(database_url)
    values: dict[str, Any] = {
        "database_url": database_url,
        "var_dir": folder / "var",
        "secret_key": "test-secret-key-not-for-production",
        "redis_url": None,
        "telegram_token": None,
        "port": 0,
    }
    values.update(overrides)
    return Settings(**values, _env_file=None)  # type: ignore[call-arg]


@contextmanager
def serve(settings: Settings, **kwargs: Any) -> Iterator[ServerThread]:
    thread = ServerThread(settings, **kwargs)
    thread.start()
    assert thread.ready.wait(timeout=300), "the app did not start"
    if thread.error is not None:
        raise thread.error
    try:
        yield thread
    finally:
        thread.stop()


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG under ``var/screenshots`` for a person to look at (not compared by the test)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, base_url: str, login: str, password: str) -> None:
    """Sign in through the real form (Russian labels: the demo staff's language)."""
    page.goto(f"{base_url}/login")
    page.locator("#login").fill(login)
    page.locator("#password").fill(password)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)


@contextmanager
def served_with_standin(settings: Settings) -> Iterator[tuple[ServerThread, BotApiStandIn]]:
    """The app served in a thread with its Telegram channel polling a Bot API stand-in on the same loop."""
    standins: list[BotApiStandIn] = []

    async def start_standin(thread: ServerThread) -> None:
        standin = BotApiStandIn()
        await standin.start()
        standins.append(standin)
        thread.settings.telegram_api_url = standin.url

    thread = ServerThread(settings, before_start=start_standin)
    thread.start()
    assert thread.ready.wait(timeout=300), "the app did not start"
    if thread.error is not None:
        raise thread.error
    standin = standins[0]
    try:
        thread.run_coroutine(standin.wait_polling_started(timeout=30))
        yield thread, standin
    finally:
        # The app (and its poller) first, then the stand-in it polls, then the loop.
        if thread.runner is not None:
            thread.run_coroutine(thread.runner.cleanup())
            thread.runner = None
        thread.run_coroutine(standin.stop())
        thread.stop()
