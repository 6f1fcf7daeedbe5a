"""Magic links on both databases: single use (also when two clicks race), expiry, nothing stored in the clear."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from core.db import SessionFactory, transaction
from core.events import InProcessBus
from core.models import Customer, utcnow
from core.settings import Settings
from core.uow import UnitOfWork
from portal import links
from portal.forms import Spent, spend_vote_token, vote_token
from portal.models import PortalLink
from tests.support.people import person


async def _issue(sessions: SessionFactory, settings: Settings, customer_id: int) -> str:
    async with UnitOfWork(sessions, InProcessBus()) as uow:
        customer = await uow.session.get_one(Customer, customer_id)
        url = await links.issue(uow, customer, settings, channel="telegram")
    return url.rsplit("/", 1)[1]


async def test_a_link_is_spent_once_and_stored_only_as_a_hash(sessions: SessionFactory, settings: Settings) -> None:
    anna = await person(sessions, "Анна")
    settings.public_url = "https://help.example/"
    async with UnitOfWork(sessions, InProcessBus()) as uow:
        customer = await uow.session.get_one(Customer, anna.customer.id)
        url = await links.issue(uow, customer, settings)
    assert url.startswith("https://help.example/portal/enter/")
    token = url.rsplit("/", 1)[1]
    assert len(token) >= 43
    async with transaction(sessions) as session:
        stored = (await session.execute(select(PortalLink))).scalar_one()
        assert token not in stored.token_hash
        assert (await links.check(session, token)).state is links.LinkState.VALID
        first = await links.redeem(session, token)
        second = await links.redeem(session, token)
    assert (first.state, first.customer_id) == (links.LinkState.VALID, anna.customer.id)
    assert second.state is links.LinkState.USED


async def test_two_clicks_at_once_open_one_session(sessions: SessionFactory, settings: Settings) -> None:
    anna = await person(sessions, "Анна")
    token = await _issue(sessions, settings, anna.customer.id)

    async def click() -> links.LinkState:
        async with transaction(sessions) as session:
            return (await links.redeem(session, token)).state

    results = await asyncio.gather(*(click() for _ in range(4)))
    assert sorted(results) == sorted([links.LinkState.VALID] + [links.LinkState.USED] * 3)


async def test_expired_unknown_and_pruned_links(sessions: SessionFactory, settings: Settings) -> None:
    anna = await person(sessions, "Анна")
    settings.portal_link_ttl = 60
    token = await _issue(sessions, settings, anna.customer.id)
    async with transaction(sessions) as session:
        later = utcnow() + timedelta(seconds=61)
        assert (await links.check(session, token, later)).state is links.LinkState.EXPIRED
        assert (await links.redeem(session, token, later)).state is links.LinkState.EXPIRED
        for forged in ("", "abc", token[:-1], "я" * 43, "x" * 10_000):
            assert (await links.redeem(session, forged)).state is links.LinkState.UNKNOWN
        assert await links.prune(session, utcnow() + timedelta(days=2)) == 1
        assert await session.scalar(select(func.count()).select_from(PortalLink)) == 0
        assert (await links.check(session, token)).state is links.LinkState.UNKNOWN


async def test_a_vote_token_counts_once_and_only_for_its_article(sessions: SessionFactory, settings: Settings) -> None:
    token = vote_token(settings.secret, 7)
    async with transaction(sessions) as session:
        assert await spend_vote_token(session, settings.secret, token, 8) is Spent.INVALID
        assert await spend_vote_token(session, b"another key", token, 7) is Spent.INVALID
        assert await spend_vote_token(session, settings.secret, token, 7) is Spent.OK
        assert await spend_vote_token(session, settings.secret, token, 7) is Spent.AGAIN
        assert await spend_vote_token(session, settings.secret, vote_token(settings.secret, 7), 7) is Spent.OK
