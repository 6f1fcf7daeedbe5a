"""What became of a notice, read from its recipients and the outbox: pending, delivered, failed, opted out."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Customer, DeliveryState, Message
from notices.models import NoticeRecipient, RecipientState

__all__ = ["OUTCOMES", "Failure", "NoticeStatus", "failures", "notice_status", "outcome"]

FAILED = (DeliveryState.FAILED, DeliveryState.UNKNOWN)
OUTCOMES = ("pending", "delivered", "failed", "opted_out")


def outcome(state: RecipientState, delivery: DeliveryState | None) -> str:
    """One recipient's outcome: ``opted_out``, ``delivered``, ``failed`` (the channel refused, gave up, or the send
    was cut and not repeated) or ``pending``."""
    if state is RecipientState.OPTED_OUT:
        return "opted_out"
    if delivery is DeliveryState.SENT:
        return "delivered"
    if delivery in FAILED:
        return "failed"
    return "pending"


@dataclass
class NoticeStatus:
    pending: int = 0
    delivered: int = 0
    failed: int = 0
    opted_out: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.pending + self.delivered + self.failed + self.opted_out


@dataclass(frozen=True, slots=True)
class Failure:
    customer: str
    channel: str
    reason: str


async def notice_status(session: AsyncSession, notice_id: int) -> NoticeStatus:
    rows = await session.execute(
        select(NoticeRecipient.state, Message.delivery_state, NoticeRecipient.channel, func.count())
        .outerjoin(Message, Message.id == NoticeRecipient.message_id)
        .where(NoticeRecipient.notice_id == notice_id)
        .group_by(NoticeRecipient.state, Message.delivery_state, NoticeRecipient.channel)
    )
    status = NoticeStatus()
    for state, delivery, channel, count in rows.all():
        name = outcome(state, delivery)
        setattr(status, name, getattr(status, name) + count)
        if channel is not None and name != "opted_out":
            status.by_channel[channel.value] = status.by_channel.get(channel.value, 0) + count
    return status


async def failures(session: AsyncSession, notice_id: int, limit: int = 20) -> list[Failure]:
    """The first few customers the notice could not reach, with the channel's reason."""
    rows = await session.execute(
        select(Customer.name, Message.channel, Message.last_error)
        .join(NoticeRecipient, NoticeRecipient.message_id == Message.id)
        .join(Customer, Customer.id == NoticeRecipient.customer_id)
        .where(NoticeRecipient.notice_id == notice_id, Message.delivery_state.in_(FAILED))
        .order_by(NoticeRecipient.id)
        .limit(limit)
    )
    return [Failure(name or "—", channel.value, (error or "")[:300]) for name, channel, error in rows.all()]
