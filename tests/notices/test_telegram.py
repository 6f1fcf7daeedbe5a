"""Notices end to end on both databases: the admin's pages, the fan-out, the outbox, the Telegram stand-in.

A double click stores and sends one notice; a customer who blocked the bot is counted as failed and not
retried; the opt-out button and /notices_off are honoured, /notices_on undoes them; an incident notice still
reaches an opted-out customer; an empty audience sends nothing.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import select, update

from bot.keys import DELIVERY
from core.models import Customer, DeliveryState, Identity, Message
from core.web.keys import SESSIONS
from notices.keys import NOTICE_SENDER
from notices.models import NoticeRecipient
from standin.stack import Stack
from tests.support.databases import BACKENDS
from tests.support.stacks import backend_url, running_stack
from tests.support.staff import sign_in

pytestmark = pytest.mark.asyncio(loop_scope="module")

RU, EN, BLOCKED = 8101, 8102, 8103
PLAN = "notices-e2e"


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def desk(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with running_stack(backend_url(request), tmp_path_factory.mktemp("var")) as running:
        await running.say(RU, "привет")
        await running.say(EN, "hello", language="en")
        await running.say(BLOCKED, "привет")
        async with running.app[SESSIONS]() as session:
            ids = select(Identity.customer_id).where(Identity.external_id.in_([str(RU), str(EN), str(BLOCKED)]))
            await session.execute(update(Customer).where(Customer.id.in_(ids)).values(plan=PLAN))
            await session.commit()
        yield running


async def _compose(desk: Stack, csrf: str, kind: str, key: str, plan: str = PLAN) -> str:
    """Post the compose form; the notice's page it redirects to."""
    form = {
        "csrf_token": csrf,
        "key": key,
        "kind": kind,
        "title": f"{kind} {key}",
        "text_ru": "Здравствуйте, {name}! Ночью плановые работы.",
        "text_en": "Hello {name}! Planned works tonight.",
        "audience": "plan",
        "value": plan,
        "days": "",
    }
    response = await desk.client.post("/notices", data=form, allow_redirects=False)
    assert response.status == 303, await response.text()
    return str(response.headers["Location"])


async def _send(desk: Stack, csrf: str, page: str) -> int:
    response = await desk.client.post(f"{page}/send", data={"csrf_token": csrf}, allow_redirects=False)
    return response.status


async def _deliver(desk: Stack) -> None:
    await desk.app[NOTICE_SENDER].drain()
    desk.app[DELIVERY].wake()
    await desk.settle()


async def _counts(desk: Stack, page: str) -> dict[str, int]:
    html = await (await desk.client.get(page)).text()
    rows = re.findall(r'data-state="(\w+)"><th scope="row">[^<]*</th><td>(\d+)</td>', html)
    return {name: int(value) for name, value in rows}


async def test_double_click_sends_once_and_a_blocked_customer_is_counted_not_retried(desk: Stack) -> None:
    csrf = await sign_in(desk.client, "admin")
    page = await _compose(desk, csrf, "service", "double-click-form-1")
    assert await _compose(desk, csrf, "service", "double-click-form-1") == page, "the same form: the same notice"
    preview = await (await desk.client.get(page)).text()
    assert 'data-count="3"' in preview

    desk.standin.fail_next("sendMessage", "403", when=lambda params: params.get("chat_id") == BLOCKED)
    assert await _send(desk, csrf, page) == 303
    assert await _send(desk, csrf, page) == 409, "the second click is refused"
    await _deliver(desk)

    assert sum("Ночью плановые работы" in text for text in desk.sent(RU)) == 1
    assert sum("Planned works tonight" in text for text in desk.sent(EN)) == 1, "in the customer's language"
    assert not any("плановые работы" in text for text in desk.sent(BLOCKED))
    assert await _counts(desk, page) == {"pending": 0, "delivered": 2, "failed": 1, "opted_out": 0, "total": 3}

    calls = [c for c in desk.standin.calls_to("sendMessage") if c.params.get("chat_id") == BLOCKED]
    before = len(calls)
    await _deliver(desk)  # another pass of the outbox: the refused notice is not tried again
    calls = [c for c in desk.standin.calls_to("sendMessage") if c.params.get("chat_id") == BLOCKED]
    assert len(calls) == before
    async with desk.app[SESSIONS]() as session:
        failed = (
            await session.execute(
                select(Message)
                .join(NoticeRecipient, NoticeRecipient.message_id == Message.id)
                .where(Message.delivery_state == DeliveryState.FAILED)
            )
        ).scalar_one()
    assert failed.attempts == 1
    assert "blocked" in (failed.last_error or "")


async def test_opt_out_by_button_and_command_is_honoured_and_incident_notices_still_arrive(desk: Stack) -> None:
    csrf = await sign_in(desk.client, "admin")
    page = await _compose(desk, csrf, "service", "opt-out-form-1")
    assert await _send(desk, csrf, page) == 303
    await _deliver(desk)
    pressed = await desk.press(RU, "Не присылать")
    assert any("больше не буду" in text for text in pressed), pressed
    typed = await desk.say(EN, "/notices_off", language="en")
    assert any("won't send" in text for text in typed), typed

    before_ru, before_en = len(desk.sent(RU)), len(desk.sent(EN))
    page = await _compose(desk, csrf, "service", "opt-out-form-2")
    assert await _send(desk, csrf, page) == 303
    await _deliver(desk)
    assert len(desk.sent(RU)) == before_ru, "opted out by the button: nothing"
    assert len(desk.sent(EN)) == before_en, "opted out by the command: nothing"
    counts = await _counts(desk, page)
    assert counts["opted_out"] == 2

    page = await _compose(desk, csrf, "incident", "incident-form-1")
    assert await _send(desk, csrf, page) == 303
    await _deliver(desk)
    assert len(desk.sent(RU)) == before_ru + 1, "an incident notice reaches an opted-out customer"
    last = [c for c in desk.standin.calls_to("sendMessage") if c.ok and c.params.get("chat_id") == RU][-1]
    assert "reply_markup" not in last.params, "an incident notice offers no opt-out"

    resumed = await desk.say(RU, "/notices_on")
    assert any("снова буду присылать" in text.lower() for text in resumed), resumed
    page = await _compose(desk, csrf, "service", "opt-out-form-3")
    assert await _send(desk, csrf, page) == 303
    await _deliver(desk)
    assert len(desk.sent(RU)) == before_ru + 3, "after /notices_on (and its answer) notices come again"


async def test_typed_words_stop_notices_too(desk: Stack) -> None:
    stopped = await desk.say(BLOCKED, "не присылайте уведомления, пожалуйста")
    assert any("больше не буду" in text for text in stopped), stopped
    again = await desk.say(BLOCKED, "отписаться от уведомлений")
    assert any("уже отключены" in text for text in again), again
    resumed = await desk.say(BLOCKED, "присылайте уведомления")
    assert any("снова буду присылать" in text.lower() for text in resumed), resumed


async def test_an_empty_audience_sends_nothing_and_says_so(desk: Stack) -> None:
    csrf = await sign_in(desk.client, "admin")
    page = await _compose(desk, csrf, "service", "empty-form-1", plan="nobody-has-this-plan")
    html = await (await desk.client.get(page)).text()
    assert "data-zero" in html
    assert 'id="send"' not in html
    assert await _send(desk, csrf, page) == 422
    assert await _counts(desk, page) == {}, "still a draft: nothing was sent"


async def test_a_bad_notice_form_is_shown_back_with_the_reason_and_nothing_is_stored(desk: Stack) -> None:
    csrf = await sign_in(desk.client, "admin")
    base = {"csrf_token": csrf, "kind": "service", "audience": "all", "text_ru": "Текст", "text_en": "Text"}
    cases = [
        ({"key": "bad-form-empty-1", "text_ru": "   "}, "text_ru"),
        ({"key": "bad-form-huge-1", "text_en": "x" * 3600}, "text_en"),
        ({"key": "bad-form-plan-1", "audience": "plan", "value": ""}, "needs a value"),
        ({"key": "bad-form-days-1", "audience": "check_due", "days": "abc"}, "days"),
        ({"key": "bad-form-kind-1", "kind": "reminder"}, "composed"),
        ({"key": "bad-form-incident-1", "audience": "incident", "value": "424242"}, "no incident 424242"),
        ({"key": "x"}, "key"),
    ]
    for change, reason in cases:
        response = await desk.client.post("/notices", data={**base, **change}, allow_redirects=False)
        page = await response.text()
        assert response.status == 422, (change, response.status)
        assert reason in page, (reason, change)
        assert 'role="alert"' in page
    response = await desk.client.post(
        "/notices",
        data={**base, "key": "bad-form-html-1", "text_ru": "<script>alert(1)</script>"},
        allow_redirects=False,
    )
    notice = await (await desk.client.get(response.headers["Location"])).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in notice
    assert "<script>alert(1)</script>" not in notice
