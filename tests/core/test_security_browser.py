"""Issue 11 in a real browser: the security headers break no staff page, and the throttled sign-in reads well."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import DESKTOP, PHONE, page_settings, screenshot, serve, sign_in

pytestmark = pytest.mark.browser
SHOTS = Path("/work/shots/security")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(page_settings(tmp_path_factory.mktemp("security"))) as thread:
        yield thread.url


def _keep(path: Path) -> None:
    if SHOTS.parent.exists():
        SHOTS.mkdir(exist_ok=True)
        shutil.copy(path, SHOTS / path.name)


def test_finding10_the_policy_blocks_nothing_the_pages_need(server: str, browser: Browser) -> None:
    context = browser.new_context(locale="ru-RU", viewport=DESKTOP)
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    sign_in(page, server, "admin", "frontline-admin")
    for path in ("/", "/help"):
        response = page.goto(f"{server}{path}")
        assert response is not None
        assert "Content-Security-Policy" in {k.title(): v for k, v in response.headers.items()}
        page.wait_for_load_state("networkidle")
    assert violations == []
    context.close()


@pytest.mark.parametrize(("viewport", "name"), [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_finding1_the_throttled_sign_in_says_how_long_to_wait(
    server: str, browser: Browser, viewport: dict[str, int], name: str
) -> None:
    context = browser.new_context(locale="ru-RU", viewport=viewport)
    page: Page = context.new_page()
    page.goto(f"{server}/login")
    for _ in range(6):
        page.locator("#login").fill(f"nobody-{name}")
        page.locator("#password").fill("wrong-password")
        with page.expect_navigation():
            page.locator("form[action='/login'] button[type=submit]").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Слишком много попыток. Попробуйте снова через")
    _keep(screenshot(page, f"signin-throttled-{name}"))
    context.close()
