"""Database engine and sessions: SQLite (embedded default) or PostgreSQL, both through SQLAlchemy async."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Select, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SessionFactory = async_sessionmaker[AsyncSession]
READ_ONLY = "frontline_read_only"
"""Execution option of :func:`reading_sessions`' engine: transactions that only read."""
T = TypeVar("T")
log = logging.getLogger(__name__)


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An engine with the SQLite fixes applied: WAL, foreign keys, and real transactions.

    pysqlite's default transaction handling begins lazily and never for SELECT; we take it over
    (``isolation_level=None`` + explicit ``BEGIN``) so SAVEPOINTs and row claims behave as on PostgreSQL.
    """
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
        engine = create_async_engine(url, **kwargs)
        _tune_sqlite(engine)
        return engine
    kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
    return create_async_engine(url, **kwargs)


def _tune_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            # A reader in WAL mode reads a snapshot: it need not wait for the writer, nor make writers wait.
            conn.exec_driver_sql("BEGIN")
            return
        # IMMEDIATE takes the write lock up front: two writers wait for each other instead of one
        # failing with "database is locked" when it upgrades a read transaction.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


def reading_sessions(factory: SessionFactory) -> SessionFactory:
    """Sessions of ``factory``'s database for reads only: on SQLite they do not take the write lock.

    Every other SQLite transaction begins IMMEDIATE (below), so a plain read would queue behind every writer and
    hold every writer up while it reads. A session from here must not write: SQLite would refuse the upgrade.
    """
    engine: AsyncEngine = factory.kw["bind"]
    return async_sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)


@asynccontextmanager
async def transaction(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A session inside one transaction: committed on success, rolled back on error."""
    async with factory() as session, session.begin():
        yield session


async def wait_for_database(url: str, patience: float) -> str | None:
    """Retry ``SELECT 1`` with backoff for up to ``patience`` seconds; the last failure's reason, or None.

    A worker that starts before its database (a compose stack, a host reboot) should wait for it, saying so
    in one line per attempt, rather than die with a traceback and be restarted in a loop.
    """
    deadline = time.monotonic() + patience
    delay = 0.5
    where = make_url(url).render_as_string(hide_password=True)
    while True:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return None
        except (OSError, TimeoutError, SQLAlchemyError) as exc:
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        finally:
            await engine.dispose()
        left = deadline - time.monotonic()
        if left <= 0:
            return reason
        log.warning("the database at %s refuses connections (%s); retrying in %.1f s", where, reason, delay)
        await asyncio.sleep(min(delay, left))
        delay = min(delay * 2, 5.0)


async def execute_autocommit(url: str, statement: str) -> None:
    """One statement outside a transaction (CREATE/DROP DATABASE cannot run inside one)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def is_postgres(target: AsyncSession | SessionFactory | AsyncEngine) -> bool:
    """Whether ``target`` talks to PostgreSQL (else SQLite): the one place the dialect is asked."""
    if isinstance(target, AsyncEngine):
        return target.dialect.name == "postgresql"
    if isinstance(target, AsyncSession):
        return target.get_bind().dialect.name == "postgresql"
    return bool(target.kw["bind"].dialect.name == "postgresql")


def for_update(stmt: Select[T], target: AsyncSession | SessionFactory, *, skip_locked: bool = False) -> Select[T]:
    """Lock the selected rows until the transaction ends.

    PostgreSQL takes row locks (``FOR UPDATE``, optionally ``SKIP LOCKED`` so workers claim different rows).
    SQLite has none and needs none: every write transaction begins with ``BEGIN IMMEDIATE``, which already
    serialises writers for the whole database.
    """
    return stmt.with_for_update(skip_locked=skip_locked) if is_postgres(target) else stmt
