"""Finding the customer a record belongs to from what an admin has: a customer id or a channel identity.

``1042`` is customer 1042; ``telegram:12345`` is whoever writes from Telegram user 12345 (``web:<visitor id>``
likewise). The identity form is what an operator sees on the customer card.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Channel, Customer, Identity

__all__ = ["customer_reference", "resolve_customer"]

_MAX_ID = 2**31 - 1  # customer ids are 32-bit integers on PostgreSQL


async def resolve_customer(session: AsyncSession, reference: str) -> int | None:
    """The id of the customer ``reference`` names, or None when it names no one."""
    reference = reference.strip()
    if reference.isdigit():
        if int(reference) > _MAX_ID:
            return None
        return await session.scalar(select(Customer.id).where(Customer.id == int(reference)))
    channel, _, external_id = reference.partition(":")
    if channel.strip().lower() not in {c.value for c in Channel} or not external_id.strip():
        return None
    return await session.scalar(
        select(Identity.customer_id).where(
            Identity.channel == Channel(channel.strip().lower()), Identity.external_id == external_id.strip()
        )
    )


def customer_reference(customer_id: int) -> str:
    """How the form shows a record's customer back: by id, which always resolves to the same customer."""
    return str(customer_id)
