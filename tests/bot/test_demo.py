"""`frontline demo load` gives the demo inbox its team members and canned responses, once."""

from __future__ import annotations

from sqlalchemy import select

from bot.demo import DEMO_ACCOUNTS, load_demo_inbox, load_demo_teams
from core.db import SessionFactory, transaction
from core.models import Team
from core.operators import add_operator, get_operator
from core.settings import Settings
from handoff import canned
from handoff.models import CannedResponse, TeamMember


async def test_the_demo_inbox_has_members_and_canned_responses_in_both_languages_once(
    sessions: SessionFactory, settings: Settings
) -> None:
    async with transaction(sessions) as session:
        for account in DEMO_ACCOUNTS:
            await add_operator(session, account.login, account.password, account.role, account.name)
    await load_demo_teams(sessions)
    assert await load_demo_inbox(sessions, settings) == ["canned responses: 4 in ru and en"]
    assert await load_demo_inbox(sessions, settings) == []  # idempotent
    async with sessions() as session:
        operator = await get_operator(session, "operator")
        teams = (
            await session.execute(
                select(Team.key)
                .join(TeamMember, TeamMember.team_id == Team.id)
                .where(TeamMember.operator_id == operator.id)
            )
        ).scalars()
        assert list(teams) == ["first-line"]
        hello = {row.language: row for row in await canned.search(session, "hello", "ru")}
        rows = (await session.execute(select(CannedResponse))).scalars().all()
    assert sorted((r.shortcut, r.language) for r in rows if r.shortcut == "hello") == [("hello", "en"), ("hello", "ru")]
    greeting = canned.render(hello["ru"], {"name": "Иван", "operator": "Анна", "ticket": "", "eta": ""})
    assert "Иван" in greeting.text
    assert "Анна" in greeting.text


async def test_demo_customers_get_service_records_some_due_soon_once(
    sessions: SessionFactory, settings: Settings
) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from bot.demo import load_demo_service_records
    from core.models import Customer
    from records.queries import customers_with_check_due, customers_with_period_ending, records_of

    async with transaction(sessions) as session:
        session.add_all(
            Customer(
                name=f"Клиент {i}",
                language="ru",
                timezone="Europe/Moscow",
                plan="standard",
                account_number=f"DEMO-{i:05d}",
            )
            for i in range(1, 41)
        )
        session.add(Customer(name="Не из демо", language="ru", timezone="Europe/Moscow", plan="standard"))
    [loaded] = await load_demo_service_records(sessions, settings)
    assert loaded.startswith("service records: ")
    assert await load_demo_service_records(sessions, settings) == []  # idempotent
    today = datetime.now(ZoneInfo(settings.default_timezone)).date()
    async with transaction(sessions) as session:
        demo = list(await session.scalars(select(Customer).order_by(Customer.id)))
        for customer in demo[:-1]:
            assert await records_of(session, customer.id), customer.name
        assert await records_of(session, demo[-1].id) == []
        assert await customers_with_check_due(session, 30, today), "some checks are due within a month"
        assert await customers_with_period_ending(session, 60, today), "some service periods end soon"
