"""Teams, transfer, auto-assignment and the incident link in headless Chromium, the customer in Telegram.

One served application for the module (its own database), with the customer at the Bot API stand-in.
Screenshots go to ``var/screenshots/`` (``teams-*``, ``transfer-*``, ``ticket-incident-*``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from core.db import transaction
from core.models import Conversation, ConversationStatus, Message, Operator
from core.operators import add_operator
from core.web.keys import SESSIONS
from standin.stack import TOKEN
from tests.handoff.test_inbox_browser import PASSWORDS, Site
from tests.support.browser import DESKTOP, PHONE, page_settings, screenshot, served_with_standin, sign_in

pytestmark = pytest.mark.browser
EXTRA = {"vera": "frontline-vera-1", "boris": "frontline-boris-1"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    settings = page_settings(tmp_path_factory.mktemp("teams-pages"), telegram_token=TOKEN)
    with served_with_standin(settings) as (thread, standin):
        served = Site(thread, standin)

        async def staff() -> None:
            async with transaction(served.app[SESSIONS]) as session:
                await add_operator(session, "vera", EXTRA["vera"], name="Вера Орлова")
                boris = await add_operator(session, "boris", EXTRA["boris"], name="Борис Отключённый")
                boris.active = False

        thread.run_coroutine(staff())
        yield served


def staff(browser: Browser, site: Site, login: str) -> Page:
    page = browser.new_context(locale="ru-RU", viewport=DESKTOP).new_page()
    sign_in(page, site.url, login, PASSWORDS.get(login) or EXTRA[login])
    return page


def conversation(site: Site, conversation_id: int) -> Conversation:
    async def load() -> Conversation:
        async with site.app[SESSIONS]() as session:
            found = await session.get(Conversation, conversation_id)
            assert found is not None
            return found

    return site.thread.run_coroutine(load())


def operator_id(site: Site, login: str) -> int:
    async def load() -> int:
        async with site.app[SESSIONS]() as session:
            found = await session.scalar(select(Operator.id).where(Operator.login == login))
            assert found is not None
            return int(found)

    return site.thread.run_coroutine(load())


def notes(site: Site, conversation_id: int) -> list[str]:
    async def load() -> list[str]:
        async with site.app[SESSIONS]() as session:
            rows = await session.execute(
                select(Message.text).where(Message.conversation_id == conversation_id, Message.private.is_(True))
            )
            return [text for (text,) in rows]

    return site.thread.run_coroutine(load())


def set_presence(page: Page, status: str) -> None:
    with page.expect_response(re.compile(r"/api/inbox/presence$")) as answer:
        page.locator("[data-presence]").select_option(status)
    assert answer.value.status == 200


def test_admins_manage_teams_members_and_capacity_and_operators_cannot(site: Site, browser: Browser) -> None:
    admin = staff(browser, site, "admin")
    admin.goto(f"{site.url}/inbox/teams")
    expect(admin.get_by_role("heading", level=1)).to_have_text("Команды и операторы")
    # A bad key is refused beside the form, and what was typed is kept.
    admin.locator("#team-key").fill("Plохой ключ")
    admin.locator("#team-key").evaluate("el => el.removeAttribute('pattern')")  # the server decides, not the browser
    admin.locator("#team-name").fill("Роуминг <b>VIP</b>")
    admin.get_by_role("button", name="Создать команду").click()
    expect(admin.locator("#new-team [role=alert]")).to_contain_text("Ключ: латинские строчные буквы")
    expect(admin.locator("#team-name")).to_have_value("Роуминг <b>VIP</b>")
    admin.locator("#team-key").fill("roaming")
    admin.get_by_role("button", name="Создать команду").click()
    team = admin.locator("[data-team='roaming']")
    expect(team).to_contain_text("Роуминг <b>VIP</b>")  # shown as text
    expect(admin.locator("[data-team='roaming'] h3 b")).to_have_count(0)
    # The same key twice is refused.
    admin.locator("#team-key").fill("roaming")
    admin.locator("#team-name").fill("Ещё один роуминг")
    admin.get_by_role("button", name="Создать команду").click()
    expect(admin.locator("#new-team [role=alert]")).to_have_text("Команда с таким ключом уже есть.")

    # Vera in two teams; Boris (disabled) cannot be picked.
    for key in ("roaming", "billing"):
        card = admin.locator(f"[data-team='{key}']")
        expect(card.locator("select[name=operator_id] option", has_text="Борис")).to_have_count(0)
        card.locator("select[name=operator_id]").select_option(label="Вера Орлова")
        card.get_by_role("button", name="Добавить в команду").click()
        expect(admin.locator(f"[data-team='{key}'] [data-member='vera']")).to_be_visible()
    # Rename, switch auto-assignment on; then disable.
    card = admin.locator("[data-team='roaming']")
    card.locator("input[name=name]").fill("Роуминг и связь за рубежом")
    card.locator("input[name=auto_assign]").check()
    card.get_by_role("button", name="Сохранить").click()
    expect(admin.locator("[data-team='roaming'] h3")).to_contain_text("Роуминг и связь за рубежом")
    expect(admin.locator("[data-team='roaming']")).to_contain_text("Автоназначение")
    # Capacity: a bad value is refused beside its row and kept; a good one is saved.
    row = admin.locator("tr[data-operator='vera']")
    row.locator("input[name=capacity]").evaluate("el => { el.removeAttribute('max'); el.value = '99'; }")
    row.get_by_role("button", name="Сохранить").click()
    expect(admin.locator("tr[data-operator='vera'] [role=alert]")).to_have_text("Ёмкость — целое число от 0 до 50.")
    expect(admin.locator("tr[data-operator='vera'] input[name=capacity]")).to_have_value("99")
    admin.locator("tr[data-operator='vera'] input[name=capacity]").fill("2")
    admin.locator("tr[data-operator='vera']").get_by_role("button", name="Сохранить").click()
    expect(admin.locator("tr[data-operator='vera'] input[name=capacity]")).to_have_value("2")
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        admin.set_viewport_size(viewport)
        screenshot(admin, f"teams-{name}")
    admin.set_viewport_size(DESKTOP)

    card = admin.locator("[data-team='roaming']")
    card.locator("input[name=active]").uncheck()
    card.get_by_role("button", name="Сохранить").click()
    expect(admin.locator("[data-team='roaming']")).to_contain_text("Отключена")
    # Vera leaves billing.
    admin.locator("[data-team='billing'] [data-member='vera']").get_by_role("button", name="Убрать").click()
    expect(admin.locator("[data-team='billing'] [data-member='vera']")).to_have_count(0)
    expect(admin.locator("[data-team='roaming'] [data-member='vera']")).to_be_visible()

    # A form posted without its CSRF token changes nothing.
    status = admin.evaluate(
        "() => fetch('/inbox/teams', {method: 'POST', body: new URLSearchParams({key: 'forged', name: 'x'})})"
        ".then(r => r.status)"
    )
    assert status == 403
    admin.reload()
    expect(admin.locator("[data-team='forged']")).to_have_count(0)
    admin.context.close()

    operator = staff(browser, site, "operator")
    operator.goto(f"{site.url}/inbox/teams")
    expect(operator.locator("#team-key")).to_have_count(0)  # an operator cannot reach the admins' page
    expect(operator.get_by_role("link", name="Команды")).to_have_count(0)
    operator.context.close()


def test_transfer_to_an_operator_with_a_note_bad_targets_and_back_to_a_team(site: Site, browser: Browser) -> None:
    chat, conversation_id = site.ask_for_human()
    anna = staff(browser, site, "operator")
    vera = staff(browser, site, "vera")
    vera.goto(f"{site.url}/inbox")
    expect(vera.locator("[data-live-state]")).to_have_text("Обновляется вживую")
    anna.goto(f"{site.url}/inbox/conversations/{conversation_id}")
    anna.get_by_role("button", name="Взять").click()
    expect(anna.locator(".thread-state .state")).to_have_text("Разговор у вас.")

    # A disabled operator: a clear error, and nothing changes.
    anna.get_by_role("button", name="Передать").click()
    dialog = anna.get_by_role("dialog")
    expect(dialog).to_contain_text("Передать разговор")
    expect(dialog.locator("#transfer-operator option", has_text="Борис")).to_have_count(0)  # not offered
    dialog.locator("#transfer-operator").evaluate(
        "(el, id) => { el.add(new Option('Борис', String(id))); el.value = String(id); }", operator_id(site, "boris")
    )
    dialog.locator("#transfer-note").fill("не должно сохраниться")
    dialog.get_by_role("button", name="Передать").click()
    expect(dialog.get_by_role("alert")).to_have_text("Этот оператор отключён или его нет — разговор остался у вас.")
    # An unknown team: the same.
    dialog.get_by_label("В команду").check()
    dialog.locator("#transfer-team").evaluate(
        "el => { el.add(new Option('?', 'no-such-team')); el.value = 'no-such-team'; }"
    )
    dialog.get_by_role("button", name="Передать").click()
    expect(dialog.get_by_role("alert")).to_have_text("Такой команды нет или она отключена — разговор остался у вас.")
    held = conversation(site, conversation_id)
    assert (held.status, held.assignee_id) == (ConversationStatus.ASSIGNED, operator_id(site, "operator"))
    assert notes(site, conversation_id) == [], "a refused transfer stores no note"

    # To Vera, with a note: she is told live; the note is internal and never reaches the customer.
    dialog.get_by_label("Оператору").check()
    dialog.locator("#transfer-operator").select_option(str(operator_id(site, "vera")))
    dialog.locator("#transfer-note").fill("Клиент ждёт возврата <b>денег</b>, проверь платёж")
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        anna.set_viewport_size(viewport)
        screenshot(anna, f"transfer-{name}")
    anna.set_viewport_size(DESKTOP)
    dialog.get_by_role("button", name="Передать").click()
    expect(anna.get_by_role("dialog")).to_have_count(0)
    expect(anna.locator(".thread-state .state")).to_contain_text("Вера Орлова")
    told = vera.locator("[data-notices] a", has_text=f"Вам передали разговор #{conversation_id}.")
    expect(told).to_be_visible()
    told.click()
    expect(vera.locator(".thread-state .state")).to_have_text("Разговор у вас.")
    expect(vera.locator("li.message.is-note")).to_contain_text("Клиент ждёт возврата <b>денег</b>")
    expect(vera.locator("li.message.is-note b")).to_have_count(0)
    assert not any("возврата" in m for m in site.sent(chat)), "the transfer note is never delivered"

    # Vera hands it to a team: it waits again in that team's queue, filterable by team.
    vera.get_by_role("button", name="Передать").click()
    vera.get_by_role("dialog").get_by_label("В команду").check()
    vera.get_by_role("dialog").locator("#transfer-team").select_option("second-line")
    vera.get_by_role("dialog").get_by_role("button", name="Передать").click()
    expect(vera.locator(".thread-state .state")).to_contain_text("Ждёт оператора")
    vera.goto(f"{site.url}/inbox?team=second-line")
    expect(vera.locator(f"li[data-conversation='{conversation_id}'] [data-team-badge]")).to_have_text(
        "Команда: Вторая линия"
    )
    vera.goto(f"{site.url}/inbox?team=billing")
    expect(vera.locator(f"li[data-conversation='{conversation_id}']")).to_have_count(0)
    anna.context.close()
    vera.context.close()


def test_auto_assignment_never_picks_an_away_operator(site: Site, browser: Browser) -> None:
    admin = staff(browser, site, "admin")
    admin.goto(f"{site.url}/inbox/teams")
    card = admin.locator("[data-team='first-line']")
    for label in ("Анна Смирнова", "Вера Орлова"):
        card.locator("select[name=operator_id]").select_option(label=label)
        card.get_by_role("button", name="Добавить в команду").click()
        card = admin.locator("[data-team='first-line']")
    card.locator("input[name=auto_assign]").check()
    card.get_by_role("button", name="Сохранить").click()
    expect(admin.locator("[data-team='first-line']")).to_contain_text("Автоназначение")
    admin.context.close()

    anna, vera = staff(browser, site, "operator"), staff(browser, site, "vera")
    for page in (anna, vera):
        page.goto(f"{site.url}/inbox?view=mine")
        expect(page.locator("[data-live-state]")).to_have_text("Обновляется вживую")
    set_presence(vera, "away")
    set_presence(anna, "online")
    assigned = []
    for _ in range(2):
        _chat, conversation_id = site.ask_for_human()
        # Anna sees it arrive in Mine, live; Vera, away, never gets it.
        expect(anna.locator(f"li[data-conversation='{conversation_id}']")).to_be_visible()
        assigned.append(conversation(site, conversation_id).assignee_id)
    assert assigned == [operator_id(site, "operator")] * 2
    expect(vera.locator("li.conversation")).to_have_count(0)

    # Nobody online: the chat stays waiting rather than going to someone away.
    set_presence(anna, "away")
    _chat, waiting_id = site.ask_for_human()
    anna.goto(f"{site.url}/inbox?view=waiting")
    expect(anna.locator(f"li[data-conversation='{waiting_id}']")).to_be_visible()
    waiting = conversation(site, waiting_id)
    assert (waiting.status, waiting.assignee_id) == (ConversationStatus.WAITING, None)
    # Vera comes online in the page header: the oldest waiting chat is hers, without anyone clicking.
    set_presence(vera, "online")
    expect(vera.locator(f"li[data-conversation='{waiting_id}']")).to_be_visible()
    assert conversation(site, waiting_id).assignee_id == operator_id(site, "vera")
    set_presence(vera, "offline")  # the next tests take their chats by hand
    anna.context.close()
    vera.context.close()


def test_a_ticket_is_linked_to_an_open_incident_and_unlinked_on_its_page(site: Site, browser: Browser) -> None:
    chat, conversation_id = site.ask_for_human()
    page = staff(browser, site, "admin")
    page.goto(f"{site.url}/inbox/conversations/{conversation_id}")
    page.get_by_role("button", name="Взять").click()
    expect(page.locator(".thread-state .state")).to_have_text("Разговор у вас.")
    created = page.evaluate(
        "() => fetch('/api/incidents', {method: 'POST', headers: {'Content-Type': 'application/json',"
        " 'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content},"
        " body: JSON.stringify({title: 'Авария <i>на</i> подстанции Север', service: 'Электропитание узла'})})"
        ".then(r => r.json())"
    )
    incident_id = int(created["id"])
    page.get_by_text("Создать заявку по разговору").click()
    page.locator("#ticket-subject").fill("Не приходят SMS с кодом")
    page.locator("#ticket-description").fill("Не приходят SMS с кодом подтверждения от банка")
    page.get_by_role("button", name="Создать заявку").click()
    page.wait_for_url(re.compile(r"/inbox/tickets/T-\d{6}$"))
    card = page.locator("[data-incident-card]")
    expect(card).to_contain_text("Не связана с инцидентом.")
    expect(page.locator("dl.sla")).to_contain_text("Первый ответ")  # the SLA timers beside it
    card.locator("#incident-id").select_option(str(incident_id))
    card.get_by_role("button", name="Связать").click()
    expect(page.locator(f"[data-linked-incident='{incident_id}']")).to_contain_text(
        "Связана с инцидентом: Авария <i>на</i> подстанции Север"
    )
    expect(page.locator("[data-incident-card] i")).to_have_count(0)
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        screenshot(page, f"ticket-incident-{name}")
    page.set_viewport_size(DESKTOP)
    assert any("Авария" in m for m in site.sent(chat)), "the customer is told about the outage"
    page.locator("[data-incident-card]").get_by_role("button", name="Отвязать").click()
    expect(page.locator("[data-incident-card]")).to_contain_text("Не связана с инцидентом.")
    # Status changes from the same page; the event log records them.
    page.locator("#to").select_option("pending")
    page.locator("form[data-url$='/transition'] button").click()
    expect(page.locator(".events li[data-kind='status']")).to_have_count(1)
    page.context.close()
