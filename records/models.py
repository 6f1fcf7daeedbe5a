"""The service record table: one piece of a customer's equipment, or one service they have."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, str_enum, utcnow
from records.schedule import next_check

__all__ = ["RecordKind", "ServiceRecord"]


class RecordKind(enum.StrEnum):
    EQUIPMENT = "equipment"
    SERVICE = "service"


class ServiceRecord(Base):
    """A customer's equipment or service: serial number, installation, checks, warranty and service period.

    The serial number is unique across customers: importing a row with a known serial updates that record.
    ``next_check_on`` is derived (last check or installation + ``interval_months``) and kept on every ORM
    write, so that "check due within N days" is an indexed comparison on both databases.
    """

    __tablename__ = "service_records"
    __table_args__ = (
        CheckConstraint("interval_months IS NULL OR interval_months > 0", name="interval_positive"),
        Index("ix_service_records_service_period_end", "service_period_end"),
        Index("ix_service_records_next_check_on", "next_check_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[RecordKind] = mapped_column(str_enum(RecordKind), default=RecordKind.EQUIPMENT)
    name: Mapped[str] = mapped_column(String(200))
    serial_number: Mapped[str] = mapped_column(String(100), unique=True)
    installed_on: Mapped[date | None] = mapped_column(Date)
    interval_months: Mapped[int | None] = mapped_column(Integer)
    last_check_on: Mapped[date | None] = mapped_column(Date)
    next_check_on: Mapped[date | None] = mapped_column(Date)
    warranty_end: Mapped[date | None] = mapped_column(Date)
    service_period_end: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def schedule_next_check(self) -> None:
        self.next_check_on = next_check(self.installed_on, self.last_check_on, self.interval_months)


@event.listens_for(ServiceRecord, "before_insert")
@event.listens_for(ServiceRecord, "before_update")
def _keep_next_check(_mapper: Any, _connection: Any, record: ServiceRecord) -> None:
    record.schedule_next_check()
