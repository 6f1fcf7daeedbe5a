"""``frontline portal link`` and ``frontline portal demo``: links made by hand open the right customer's portal."""

from __future__ import annotations

import argparse

import pytest
from sqlalchemy import select

from core.db import SessionFactory, transaction
from core.errors import InvalidInput, NotFound
from core.models import Channel, Identity
from core.settings import Settings
from portal import links
from portal.cli import cmd_portal_demo, cmd_portal_link
from tests.support.people import person
from tickets.models import Ticket


def _token(out: str) -> str:
    line = next(line for line in out.splitlines() if links.ENTER_PATH in line)
    return line.rsplit("/", 1)[1]


async def test_a_link_by_id_or_by_identity(
    sessions: SessionFactory, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    anna = await person(sessions, "Анна")
    async with transaction(sessions) as session:
        session.add(Identity(customer_id=anna.customer.id, channel=Channel.TELEGRAM, external_id="777"))
    for ref in (str(anna.customer.id), "telegram:777"):
        assert await cmd_portal_link(argparse.Namespace(customer=ref), settings) == 0
        async with transaction(sessions) as session:
            checked = await links.check(session, _token(capsys.readouterr().out))
        assert (checked.state, checked.customer_id) == (links.LinkState.VALID, anna.customer.id)
    with pytest.raises(NotFound):
        await cmd_portal_link(argparse.Namespace(customer="telegram:nobody"), settings)
    with pytest.raises(InvalidInput):
        await cmd_portal_link(argparse.Namespace(customer="Анна"), settings)


async def test_the_demo_customer_has_one_ticket_however_often_it_runs(
    sessions: SessionFactory, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(2):
        assert await cmd_portal_demo(argparse.Namespace(), settings) == 0
        token = _token(capsys.readouterr().out)
    async with transaction(sessions) as session:
        tickets = list((await session.execute(select(Ticket))).scalars())
        checked = await links.check(session, token)
    assert len(tickets) == 1
    assert checked.customer_id == tickets[0].customer_id
