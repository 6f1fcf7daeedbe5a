"""A customer's choice not to get non-urgent notices (incident notices are always sent)."""

from __future__ import annotations

from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from notices.models import NoticeOptOut

__all__ = ["is_opted_out", "opt_in", "opt_out"]


async def opt_out(session: AsyncSession, customer_id: int) -> bool:
    """Stop non-urgent notices; False when the customer had already opted out."""
    if await is_opted_out(session, customer_id):
        return False
    try:
        async with session.begin_nested():
            session.add(NoticeOptOut(customer_id=customer_id))
            await session.flush()
    except IntegrityError:  # pressed twice at once: the other press stored it
        return False
    return True


async def opt_in(session: AsyncSession, customer_id: int) -> bool:
    """Get non-urgent notices again; False when the customer had not opted out."""
    result = await session.execute(delete(NoticeOptOut).where(NoticeOptOut.customer_id == customer_id))
    return bool(getattr(result, "rowcount", 0))


async def is_opted_out(session: AsyncSession, customer_id: int) -> bool:
    return bool(await session.scalar(select(exists().where(NoticeOptOut.customer_id == customer_id))))
