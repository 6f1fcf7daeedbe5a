"""Staff sign-in pages in real headless Chromium (Debian's build, driven by Playwright)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import DESKTOP, page_settings, screenshot, serve

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # A database of its own: the pages must not see accounts other modules locked or changed.
    with serve(page_settings(tmp_path_factory.mktemp("pages"))) as thread:
        yield thread.url


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="ru-RU", viewport=DESKTOP)
    page = context.new_page()
    yield page
    context.close()


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
    # The shared stylesheet from the front-end build is applied (not a bare, unstyled page).
    expect(page.locator("header.topbar")).to_have_css("background-color", "rgb(29, 36, 51)")
    screenshot(page, "home")
    page.get_by_role("button", name="Выйти").click()
    expect(page.get_by_role("heading", name="Вход для сотрудников")).to_be_visible()


def test_english_sign_in_page(server: str, page: Page) -> None:
    page.goto(f"{server}/login?lang=en")
    expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    screenshot(page, "login-en")
