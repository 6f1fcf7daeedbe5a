"""Alembic from code: upgrade, and the check ``serve`` makes before starting."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from core.db import create_engine
from core.settings import ROOT


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations (blocking; call from a thread when an event loop is running)."""
    command.upgrade(alembic_config(database_url), revision)


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config("")).get_heads())


async def current_revisions(database_url: str) -> set[str]:
    engine = create_engine(database_url)

    def read(conn: Connection) -> set[str]:
        return set(MigrationContext.configure(conn).get_current_heads())

    try:
        async with engine.connect() as conn:
            return await conn.run_sync(read)
    finally:
        await engine.dispose()


async def is_up_to_date(database_url: str) -> bool:
    return await current_revisions(database_url) == head_revisions()


async def upgrade_async(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)
