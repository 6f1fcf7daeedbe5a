"""Database engine and sessions: SQLite (embedded default) or PostgreSQL, both through SQLAlchemy async."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Select, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util.concurrency import await_, in_greenlet

SessionFactory = async_sessionmaker[AsyncSession]
READ_ONLY = "frontline_read_only"
"""Execution option of :func:`reading_sessions`' engine: transactions that only read."""
T = TypeVar("T")
log = logging.getLogger(__name__)
SQLITE_BUSY_TIMEOUT = 30.0
"""Seconds a SQLite writer waits for the write lock (``busy_timeout``; also the patience of :class:`WriteGate`)."""


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
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT}
        engine = create_async_engine(url, **kwargs)
        _tune_sqlite(engine)
        return engine
    kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
    return create_async_engine(url, **kwargs)


class WriteGate:
    """SQLite's one writer, queued on the event loop: this process's write transactions take turns in order.

    Without it every writer that finds the write lock taken sleeps in SQLite's busy handler, which polls with
    growing sleeps (up to 100 ms each): the lock is often free long before a sleeper looks again, and who gets it
    next is luck, not order. With 40 customers writing at once that wait was most of a turn (111 ms of "lock"
    per turn). Queued here, the next writer starts the moment the previous one commits, first come first served.

    Another process on the same file still meets the busy handler, as before. A writer that waits here longer
    than :data:`SQLITE_BUSY_TIMEOUT` (a transaction opened inside another one of the same task would wait for
    ever) goes on to ``BEGIN IMMEDIATE`` anyway and gets SQLite's own timeout and error, as without the gate.
    """

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
        self._holders: dict[int, asyncio.Lock] = {}

    def enter(self, connection: Any) -> None:
        """Wait for this process's previous writer to finish (called in SQLAlchemy's greenlet, before BEGIN)."""
        if not in_greenlet():
            return  # a synchronous caller (none in the application): SQLite's busy handler alone
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        try:
            await_(asyncio.wait_for(lock.acquire(), SQLITE_BUSY_TIMEOUT))
        except TimeoutError:
            log.warning("a SQLite writer waited %.0f s for this process's write queue", SQLITE_BUSY_TIMEOUT)
            return
        self._holders[id(connection)] = lock

    def leave(self, connection: Any) -> None:
        """The connection's transaction ended (committed, rolled back, or the connection went away)."""
        lock = self._holders.pop(id(connection), None)
        if lock is not None:
            # RuntimeError: the connection was collected after its event loop closed, and nobody waits any more.
            with contextlib.suppress(RuntimeError):
                lock.release()


def _raw(connection: Any) -> Any:
    """The DBAPI connection behind a pooled one (pool events see the former, dialect calls the latter)."""
    return getattr(connection, "dbapi_connection", connection)


def _tune_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine
    gate = WriteGate()
    dialect = sync_engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    # The gate opens once COMMIT or ROLLBACK has returned: before that, the next writer would find the lock taken.
    def do_commit(connection: Any) -> None:
        try:
            commit(connection)
        finally:
            gate.leave(_raw(connection))

    def do_rollback(connection: Any) -> None:
        try:
            rollback(connection)
        finally:
            gate.leave(_raw(connection))

    dialect.do_commit = do_commit  # type: ignore[method-assign,assignment]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign,assignment]

    @event.listens_for(sync_engine.pool, "checkin")
    def _on_checkin(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None:
            gate.leave(dbapi_connection)

    @event.listens_for(sync_engine.pool, "invalidate")
    def _on_invalidate(dbapi_connection: Any, _record: Any, _exception: Any) -> None:
        gate.leave(dbapi_connection)

    @event.listens_for(sync_engine.pool, "close")
    def _on_close(dbapi_connection: Any, _record: Any) -> None:
        gate.leave(dbapi_connection)

    @event.listens_for(sync_engine.pool, "close_detached")
    def _on_close_detached(dbapi_connection: Any) -> None:
        gate.leave(dbapi_connection)  # a connection its task dropped without returning (collected, terminated)

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT * 1000)}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            # A reader in WAL mode reads a snapshot: it need not wait for the writer, nor make writers wait.
            conn.exec_driver_sql("BEGIN")
            return
        # IMMEDIATE takes the write lock up front: two writers wait for each other instead of one
        # failing with "database is locked" when it upgrades a read transaction.
        raw = _raw(conn.connection)
        gate.enter(raw)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            gate.leave(raw)
            raise


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
