"""Demo service records for ``frontline demo load``: equipment and services of the demo customers.

Dates are placed around the day the demo is loaded, so the pages and the customer card show every mark:
some checks overdue or due within days, some service periods ending soon, some warranties expired.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from records.models import RecordKind, ServiceRecord
from records.schedule import add_months

__all__ = ["DEMO_SERIAL_PREFIX", "load_demo_records"]

DEMO_SERIAL_PREFIX = "DEMO-"
_EQUIPMENT = (
    ("Роутер Keenetic Giga", "RT", 12),
    ("Оптический терминал Huawei HG8245", "ONT", 24),
    ("ТВ-приставка SmartBox", "STB", 12),
    ("IP-камера Hikvision", "CAM", 6),
)
_SERVICES = (
    ("Интернет 500 Мбит/с", "NET"),
    ("IP-телевидение", "TV"),
    ("Техническое обслуживание", "SLA"),
)


async def load_demo_records(session: AsyncSession, customer_ids: Sequence[int], today: date, seed: int = 17) -> int:
    """One to three records per customer unless demo records exist already; the number added."""
    present = await session.scalar(
        select(func.count())
        .select_from(ServiceRecord)
        .where(ServiceRecord.serial_number.like(f"{DEMO_SERIAL_PREFIX}%"))
    )
    if present:
        return 0
    rng = random.Random(seed)
    added = 0
    for customer_id in customer_ids:
        name, code, interval = rng.choice(_EQUIPMENT)
        # Installed so that the next check falls from a month ago to half a year ahead: some overdue, some soon.
        due = today + timedelta(days=rng.randint(-30, 180))
        installed = add_months(due, -interval)
        session.add(
            ServiceRecord(
                customer_id=customer_id,
                kind=RecordKind.EQUIPMENT,
                name=name,
                serial_number=f"{DEMO_SERIAL_PREFIX}{code}-{customer_id:05d}",
                installed_on=installed,
                interval_months=interval,
                warranty_end=add_months(installed, 24),
                service_period_end=None,
            )
        )
        added += 1
        for service, service_code in rng.sample(_SERVICES, rng.randint(0, 2)):
            start = today - timedelta(days=rng.randint(30, 700))
            session.add(
                ServiceRecord(
                    customer_id=customer_id,
                    kind=RecordKind.SERVICE,
                    name=service,
                    serial_number=f"{DEMO_SERIAL_PREFIX}{service_code}-{customer_id:05d}",
                    installed_on=start,
                    # Yearly contracts that renew: the current period ends within the coming year.
                    service_period_end=add_months(start, 12 * ((today - start).days // 365 + 1)),
                )
            )
            added += 1
    await session.flush()
    return added
