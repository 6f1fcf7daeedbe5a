"""Alembic environment (async): the URL comes from the caller or from FRONTLINE_DATABASE_URL."""

from __future__ import annotations

import asyncio
import concurrent.futures
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

import handoff.models  # noqa: F401  (each import registers its tables on Base.metadata)
import kb.models  # noqa: F401
import notices.models  # noqa: F401
import portal.models  # noqa: F401
import records.models  # noqa: F401
import tickets.models  # noqa: F401
from core.db import create_engine
from core.models import Base
from core.settings import Settings

config = context.config
if config.config_file_name is not None and not config.attributes.get("database_url"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("database_url")
    return str(url) if url else Settings().database_url


def _sqlite_pragma(connection: Connection, statement: str) -> list[tuple[object, ...]]:
    """A PRAGMA on the driver's connection, outside any transaction (where some pragmas are ignored)."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(statement)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # SQLite alters a table by rebuilding it (copy, drop the old one, rename). With foreign keys enforced,
        # dropping the old table first deletes its rows, cascading into the tables that reference it; the
        # pragma is ignored inside a transaction, so it is switched off before the migrations' one begins.
        _sqlite_pragma(connection, "PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite rewrites tables for ALTER
        compare_type=True,
    )
    try:
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if sqlite:
            _sqlite_pragma(connection, "PRAGMA foreign_keys=ON")
    if sqlite and (broken := _sqlite_pragma(connection, "PRAGMA foreign_key_check")):
        raise RuntimeError(f"the migrations left rows that reference missing rows: {broken[:10]}")


async def _online() -> None:
    engine = create_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_online())
    else:
        # Called from code that already runs an event loop (a test fixture, the server): use a thread.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, _online()).result()
