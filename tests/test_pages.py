"""Staff pages in real headless Chromium (Debian's build, driven by Playwright)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.sync_api import Browser, Page, expect, sync_playwright

from bot.app import create_app
from bot.demo import load_demo
from core.db import create_engine, session_factory
from core.migrate import upgrade
from core.settings import Settings

pytestmark = pytest.mark.browser
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


class ServerThread(threading.Thread):
    """The app on its own event loop in a thread: Playwright's sync API cannot share pytest's loop."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.ready = threading.Event()
        self.url = ""
        self.loop = asyncio.new_event_loop()
        self.runner: web.AppRunner | None = None

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        engine = create_engine(self.settings.database_url)
        await load_demo(session_factory(engine), self.settings)
        await engine.dispose()
        self.runner = web.AppRunner(create_app(self.settings))
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        async def shutdown() -> None:
            if self.runner is not None:
                await self.runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.join(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # A database of its own: the pages must not see accounts other modules locked or changed.
    folder = tmp_path_factory.mktemp("pages")
    database_url = f"sqlite+aiosqlite:///{folder / 'frontline.db'}"
    upgrade(database_url)
    settings = Settings(
        database_url=database_url,
        var_dir=tmp_path_factory.mktemp("var"),
        secret_key="test-secret-key-not-for-production",  # type: ignore[arg-type]
        _env_file=None,  # type: ignore[call-arg]
    )
    thread = ServerThread(settings)
    thread.start()
    assert thread.ready.wait(timeout=300), "the app did not start"
    yield thread.url
    thread.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="ru-RU", viewport={"width": 1100, "height": 760})
    page = context.new_page()
    yield page
    context.close()


def screenshot(page: Page, name: str) -> Path:
    folder = Path("var/screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_staff_sign_in_and_out_in_a_real_browser(server: str, page: Page) -> None:
    page.goto(f"{server}/")
    expect(page).to_have_url(f"{server}/login?next=/")
    expect(page.get_by_role("heading", name="Вход для сотрудников")).to_be_visible()
    page.get_by_label("Логин").fill("admin")
    page.get_by_label("Пароль").fill("wrong password")
    page.get_by_role("button", name="Войти").click()
    expect(page.get_by_role("alert")).to_contain_text("Неверный логин или пароль")
    screenshot(page, "login-failed")
    page.get_by_label("Логин").fill("admin")
    page.get_by_label("Пароль").fill("frontline-admin")
    page.get_by_role("button", name="Войти").click()
    expect(page.get_by_text("Ваша роль: admin")).to_be_visible()
    screenshot(page, "home")
    page.get_by_role("button", name="Выйти").click()
    expect(page.get_by_role("heading", name="Вход для сотрудников")).to_be_visible()


def test_english_sign_in_page(server: str, page: Any) -> None:
    page.goto(f"{server}/login?lang=en")
    expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    screenshot(page, "login-en")
