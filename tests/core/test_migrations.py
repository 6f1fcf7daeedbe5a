"""Migrations: the chain builds the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import kb.models  # noqa: F401
import portal.models  # noqa: F401
import tickets.models  # noqa: F401
from core.migrate import head_revisions
from core.models import Base


def _diff(conn: Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == [], "models changed without a migration: run alembic revision --autogenerate"


def test_one_head() -> None:
    assert len(head_revisions()) == 1
