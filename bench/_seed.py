"""Bulk seeding shared by the benches: scratch PostgreSQL databases, staff, and fast row loading.

Rows go in with COPY on PostgreSQL (asyncpg) and with ``executemany`` inside one transaction on SQLite
(``sqlite3``), with the loaded tables' secondary indexes dropped during the load and rebuilt after it (one
sort per index instead of a B-tree insert per row), and their triggers off until the end: the rows carry the
columns the triggers keep (a ticket's channel) themselves, and a trigger planned on a table still without
statistics would scan it once per row. Values are plain Python: instants aware (stored as
SQLAlchemy stores them: UTC, on SQLite as ``YYYY-MM-DD HH:MM:SS.ffffff`` text), dicts and lists as JSON.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg

from core.db import execute_autocommit

PG_ADMIN = os.environ.get("FRONTLINE_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
TEAMS = ("first-line", "second-line", "billing")
BATCH = 50_000


async def scratch_pg(work: Callable[[str], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """Run ``work`` on a PostgreSQL database created for it and dropped afterwards."""
    name = f"frontline_bench_{uuid.uuid4().hex[:10]}"
    await execute_autocommit(PG_ADMIN, f'CREATE DATABASE "{name}"')
    try:
        return dict(await work(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"))
    finally:
        await execute_autocommit(PG_ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


def _pg_value(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict | list) else value


class Loader:
    """Bulk rows into one database; :meth:`finish` rebuilds the dropped indexes and refreshes statistics."""

    dialect: str
    finish_seconds: float = 0.0  # rebuilding the indexes and refreshing statistics

    async def copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        raise NotImplementedError

    async def finish(self) -> None:
        raise NotImplementedError


class PgLoader(Loader):
    dialect = "postgresql"

    def __init__(self, conn: asyncpg.Connection, tables: Sequence[str]) -> None:
        self.conn = conn
        self.tables = list(tables)
        self.dropped: list[str] = []
        self.ids: set[str] = set()

    async def start(self) -> None:
        rows = await self.conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY($1::text[])"
            " AND indexname NOT IN (SELECT conname FROM pg_constraint)",
            self.tables,
        )
        for row in rows:
            await self.conn.execute(f'DROP INDEX "{row["indexname"]}"')
            self.dropped.append(row["indexdef"])
        for table in self.tables:
            await self.conn.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER USER')

    async def copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        count, batch = 0, []
        for row in rows:
            batch.append(tuple(_pg_value(v) for v in row))
            if len(batch) >= BATCH:
                await self.conn.copy_records_to_table(table, records=batch, columns=list(columns))
                count, batch = count + len(batch), []
        if batch:
            await self.conn.copy_records_to_table(table, records=batch, columns=list(columns))
            count += len(batch)
        if "id" in columns:
            self.ids.add(table)
        return count

    async def finish(self) -> None:
        began = time.perf_counter()
        for definition in self.dropped:
            await self.conn.execute(definition)
        for table in self.tables:
            await self.conn.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER USER')
        for table in sorted(self.ids):
            await self.conn.execute(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")
        await self.conn.execute("ANALYZE")
        self.finish_seconds = time.perf_counter() - began


class SqliteLoader(Loader):
    dialect = "sqlite"

    def __init__(self, path: str, tables: Sequence[str]) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.tables = list(tables)
        self.dropped: list[str] = []

    async def start(self) -> None:
        marks = ",".join("?" * len(self.tables))
        rows = self.db.execute(
            f"SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND sql IS NOT NULL "
            f"AND tbl_name IN ({marks})",
            self.tables,
        ).fetchall()
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("BEGIN")
        for kind, name, sql in rows:
            self.db.execute(f'DROP {kind.upper()} "{name}"')
            self.dropped.append(sql)

    async def copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        cursor = self.db.executemany(sql, ([_sqlite_value(v) for v in row] for row in rows))
        return cursor.rowcount

    async def finish(self) -> None:
        began = time.perf_counter()
        for sql in self.dropped:
            self.db.execute(sql)
        self.db.execute("COMMIT")
        self.db.execute("ANALYZE")
        self.db.close()
        self.finish_seconds = time.perf_counter() - began


@asynccontextmanager
async def bulk_loader(url: str, tables: Sequence[str]) -> AsyncIterator[Loader]:
    """A loader for the database at ``url`` (already migrated), the ``tables``' indexes dropped until the end."""
    loader: PgLoader | SqliteLoader
    if url.startswith("sqlite"):
        loader = SqliteLoader(url.split(":///", 1)[1], tables)
        await loader.start()
        yield loader
        await loader.finish()
        return
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        loader = PgLoader(conn, tables)
        await loader.start()
        yield loader
        await loader.finish()
    finally:
        await conn.close()


async def seed_staff(loader: Loader, now: datetime, operators: int = 50) -> tuple[list[int], list[int]]:
    """The teams (first line, second line, billing) and ``operators`` operator accounts; their ids."""
    team_ids = list(range(1, len(TEAMS) + 1))
    await loader.copy(
        "teams",
        ["id", "key", "name", "created_at"],
        [(i, key, key, now) for i, key in zip(team_ids, TEAMS, strict=True)],
    )
    operator_ids = list(range(1, operators + 1))
    await loader.copy(
        "operators",
        ["id", "login", "name", "password_hash", "role", "active", "language", "failed_logins", "created_at"],
        [(i, f"op{i}", f"Operator {i}", "!", "operator", True, "ru", 0, now) for i in operator_ids],
    )
    return team_ids, operator_ids
