"""Service records in headless Chromium: an admin adds one (and sees the form's problems), imports a CSV
(and sees every bad line), and an operator finds the records on the customer card. HTML typed into a name
or a file name is shown as text.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from core.db import transaction
from core.models import Channel, Customer, Identity
from core.web.keys import SESSIONS
from records.views import today
from tests.support.browser import DESKTOP, PHONE, ServerThread, page_settings, screenshot, serve, sign_in
from tests.support.people import add_conversation

pytestmark = pytest.mark.browser
PASSWORDS = {"operator": "frontline-operator", "admin": "frontline-admin"}
NAME = "Роутер <b>AX</b><img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with serve(page_settings(tmp_path_factory.mktemp("records-pages"))) as thread:
        yield thread


def staff(browser: Browser, site: ServerThread, role: str) -> Page:
    page = browser.new_context(locale="ru-RU", viewport=DESKTOP).new_page()
    sign_in(page, site.url, role, PASSWORDS[role])
    return page


def customer(site: ServerThread, name: str, telegram_id: str) -> tuple[int, int]:
    """(customer id, conversation id) of a new Telegram customer with one open conversation."""

    async def create() -> tuple[int, int]:
        assert site.app is not None
        async with transaction(site.app[SESSIONS]) as session:
            row = Customer(name=name, language="ru", timezone="Europe/Moscow", plan="standard")
            session.add(row)
            await session.flush()
            session.add(Identity(customer_id=row.id, channel=Channel.TELEGRAM, external_id=telegram_id))
            conversation = await add_conversation(session, row, Channel.TELEGRAM)
            return row.id, conversation.id

    return site.run_coroutine(create())


def both_widths(page: Page, name: str) -> None:
    for width, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        screenshot(page, f"records-{name}-{width}")
    page.set_viewport_size(DESKTOP)


def test_an_admin_adds_a_record_and_sees_what_is_wrong_in_the_form(site: ServerThread, browser: Browser) -> None:
    customer_id, _conversation = customer(site, "Ирина", "700100")
    page = staff(browser, site, "admin")
    page.goto(f"{site.url}/records")
    page.get_by_role("link", name="Добавить запись").click()
    page.locator("#customer").fill("telegram:700100")
    page.locator("#name").fill(NAME)
    page.locator("#serial_number").fill("RT-700")
    page.locator("#installed_on").fill("2026-05-01")
    page.locator("#interval_months").fill("6")
    page.locator("#warranty_end").fill("2026-04-01")
    page.get_by_role("button", name="Сохранить").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Запись не сохранена")
    expect(alert).to_contain_text("Конец гарантии (2026-04-01) раньше даты установки")
    expect(page.locator("#warranty_end")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#warranty_end-error")).to_be_visible()
    expect(page.locator("#name")).to_have_value(NAME)  # what was typed is kept
    both_widths(page, "form-error")

    page.locator("#warranty_end").fill("2028-05-01")
    page.get_by_role("button", name="Сохранить").click()
    expect(page).to_have_url(f"{site.url}/records/customers/{customer_id}?saved=1")
    row = page.locator("tr[data-serial='RT-700']")
    expect(row).to_contain_text(NAME)
    expect(row.locator("b, img")).to_have_count(0)  # the name is text, not markup
    expect(row).to_contain_text("01.11.2026")  # installed 1 May + 6 months

    page.goto(f"{site.url}/records")
    expect(page.locator("tr[data-serial='RT-700']")).to_contain_text("Ирина")
    both_widths(page, "list")
    page.context.close()


def test_an_import_names_every_bad_line_then_imports_the_fixed_file(site: ServerThread, browser: Browser) -> None:
    customer_id, _conversation = customer(site, "Пётр", "700200")
    page = staff(browser, site, "admin")
    page.goto(f"{site.url}/records/import")
    expect(page.locator(".csv-header")).to_contain_text("customer,kind,name,serial_number,installed_on")
    bad = (
        "customer;name;serial_number;installed_on;service_period_end\n"
        f"{customer_id};Интернет 500;NET-700;01.02.2026;31.01.2027\n"
        f"{customer_id};IP-камера;CAM-700;31.02.2026;\n"
        "telegram:700200;ТВ-приставка;STB-700;2026-03-01;в конце года\n"
    )
    upload(page, "записи <i>декабрь</i>.csv", ("\ufeff" + bad).encode())
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Ничего не импортировано.")
    expect(alert).to_contain_text("файл записи <i>декабрь</i>.csv, строка 3: Дата установки: «31.02.2026» — не дата")
    expect(alert).to_contain_text("файл записи <i>декабрь</i>.csv, строка 4: Конец сервисного периода: «в конце года»")
    expect(alert.locator("i")).to_have_count(0)
    both_widths(page, "import-error")

    fixed = bad.replace("31.02.2026", "28.02.2026").replace("в конце года", "31.12.2026")
    upload(page, "записи.csv", fixed.encode())
    expect(page.get_by_role("status")).to_have_text("Импортировано: новых 3, обновлено 0.")
    upload(page, "записи.csv", fixed.replace("Интернет 500", "Интернет 1000").encode())
    expect(page.get_by_role("status")).to_have_text("Импортировано: новых 0, обновлено 3.")
    page.goto(f"{site.url}/records/customers/{customer_id}")
    expect(page.locator("tr[data-serial]")).to_have_count(3)
    expect(page.locator("tr[data-serial='NET-700']")).to_contain_text("Интернет 1000")
    page.context.close()


def upload(page: Page, filename: str, content: bytes) -> None:
    page.locator("#file").set_input_files({"name": filename, "mimeType": "text/csv", "buffer": content})
    page.get_by_role("button", name="Импортировать").click()
    page.wait_for_load_state()


def test_the_operator_sees_the_customer_records_on_the_card(site: ServerThread, browser: Browser) -> None:
    customer_id, conversation_id = customer(site, "Ольга", "700300")
    on = today()

    def day(offset: int) -> str:
        return (on + timedelta(days=offset)).isoformat()

    admin = staff(browser, site, "admin")
    admin.goto(f"{site.url}/records/import")
    rows = [
        f"{customer_id},{NAME},RT-730,{day(-370)},12,,{day(-5)},",
        f"{customer_id},Интернет 500,NET-730,{day(-300)},,,,{day(10)}",
    ]
    csv = "customer,name,serial_number,installed_on,interval_months,last_check_on,warranty_end,service_period_end\n"
    upload(admin, "card.csv", (csv + "\n".join(f'"{r.split(",")[0]}",' + r.split(",", 1)[1] for r in rows)).encode())
    expect(admin.get_by_role("status")).to_contain_text("новых 2")
    admin.context.close()

    page = staff(browser, site, "operator")
    page.goto(f"{site.url}/records")
    expect(page.locator("body")).to_contain_text("admin")  # refused: the section is for admins
    expect(page.locator("table")).to_have_count(0)
    page.goto(f"{site.url}/inbox/conversations/{conversation_id}")
    card = page.locator("[data-service-records]")
    router = card.locator("li[data-serial='RT-730']")
    expect(router).to_contain_text(NAME)
    expect(router.locator("b, img")).to_have_count(0)
    expect(router).to_contain_text("С/Н RT-730")
    expect(router).to_contain_text(f"гарантия до {(on - timedelta(days=5)):%d.%m.%Y} истекло")
    expect(router).to_contain_text("просрочено")  # a yearly check, installed 370 days ago, never done
    expect(card.locator("li[data-serial='NET-730']")).to_contain_text(
        f"обслуживание до {(on + timedelta(days=10)):%d.%m.%Y} скоро"
    )
    page.locator(".customer-card").scroll_into_view_if_needed()
    both_widths(page, "card")
    card_only: Any = page.locator(".customer-card")
    for width, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        card_only.screenshot(path=str(screenshot_path(f"records-card-only-{width}")))
    page.context.close()


def screenshot_path(name: str) -> Any:
    from tests.support.browser import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
