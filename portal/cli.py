"""``frontline portal link CUSTOMER`` (a one-time portal link made by hand) and ``frontline portal demo``."""

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
    demo = portal.add_parser("demo", help="a demo customer with a ticket (idempotent) and a portal link to see it")
    command(demo, cmd_portal_demo)


DEMO_IDENTITY = "100000001"  # the demo customer's Telegram user id


async def cmd_portal_demo(args: argparse.Namespace, settings: Settings) -> int:
    """What `make run` needs to show the portal: a customer with a ticket, and a link into their requests."""
    from core.store import CustomerDefaults, InboundMessage, record_inbound
    from core.templates import Templates
    from tickets.desk import TicketDesk

    templates = Templates.load(settings.data_dir / "templates", settings.default_language)
    desk = TicketDesk.from_settings(settings, templates)

    async def work(factory: SessionFactory) -> int:
        async with UnitOfWork(factory, InProcessBus()) as uow:
            stored = await record_inbound(
                uow,
                InboundMessage(
                    channel="telegram",
                    external_user_id=DEMO_IDENTITY,
                    chat_id=DEMO_IDENTITY,
                    channel_message_id="portal-demo",
                    text="Здравствуйте! Второй день нет интернета, роутер мигает красным.",
                    display_name="Ирина",
                ),
                CustomerDefaults(settings.default_language, settings.default_timezone, settings.default_plan),
            )
            if not stored.duplicate:
                stored.message.handled_at = stored.message.created_at
                await desk.open_ticket(
                    uow,
                    stored.customer,
                    stored.conversation,
                    description=stored.message.text,
                    category="connection",
                    urgency="high",
                )
            url = await links.issue(uow, stored.customer, settings, channel="cli")
        print(f"demo customer: {stored.customer.name} (telegram:{DEMO_IDENTITY})")
        print(url)
        return 0

    return await with_sessions(settings, work)


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
