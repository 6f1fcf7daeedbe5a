"""``frontline portal link CUSTOMER``: a one-time portal link made by hand (support staff, the demo)."""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy import select

from core.cli import command, with_sessions
from core.db import SessionFactory
from core.errors import InvalidInput, NotFound
from core.events import InProcessBus
from core.models import Customer, Identity
from core.settings import Settings
from core.store import parse_channel
from core.uow import UnitOfWork
from portal import links

__all__ = ["register"]


def register(subparsers: Any) -> None:
    portal = subparsers.add_parser("portal", help="the customer portal").add_subparsers(dest="action", required=True)
    link = portal.add_parser("link", help="print a single-use portal link for a customer")
    link.add_argument("customer", help="a customer id, or CHANNEL:ID of one of their identities (telegram:12345)")
    command(link, cmd_portal_link)


async def cmd_portal_link(args: argparse.Namespace, settings: Settings) -> int:
    async def work(factory: SessionFactory) -> int:
        async with UnitOfWork(factory, InProcessBus()) as uow:
            customer = await _find(uow, str(args.customer))
            url = await links.issue(uow, customer, settings, channel="cli")
        print(url)
        return 0

    return await with_sessions(settings, work)


async def _find(uow: UnitOfWork, ref: str) -> Customer:
    if ref.isdigit():
        customer = await uow.session.get(Customer, int(ref))
    elif ":" in ref:
        channel, external_id = ref.split(":", 1)
        stmt = (
            select(Customer)
            .join(Identity, Identity.customer_id == Customer.id)
            .where(Identity.channel == parse_channel(channel), Identity.external_id == external_id)
        )
        customer = (await uow.session.execute(stmt)).scalar_one_or_none()
    else:
        raise InvalidInput(f"{ref!r} is neither a customer id nor CHANNEL:ID")
    if customer is None:
        raise NotFound(f"no customer {ref}")
    return customer
