"""The databases the suite talks to: where they are, emptying them, and counting the statements a call sends."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.models import Base

T = TypeVar("T")

PG_ADMIN_URL = os.environ.get("FRONTLINE_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
"""A PostgreSQL database the suite may connect to in order to create and drop its own scratch databases."""
REDIS_URL = os.environ.get("FRONTLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
"""Parameters of a fixture whose tests run once per database backend (PostgreSQL ones marked ``postgres``)."""


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even when called while a loop runs (async fixtures)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def empty_tables(engine: AsyncEngine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                await conn.execute(text(f"DELETE FROM {table}"))


@dataclass
class Statements:
    """The SQL statements an engine sent while counting (transaction control included, as the server sees it)."""

    sql: list[str] = field(default_factory=list)

    @property
    def queries(self) -> list[str]:
        """The statements that read or write rows (no BEGIN, COMMIT, SAVEPOINT or PRAGMA)."""
        control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA")
        return [s for s in self.sql if not s.lstrip().upper().startswith(control)]

    def __len__(self) -> int:
        return len(self.queries)


@contextmanager
def count_statements(engine: AsyncEngine) -> Iterator[Statements]:
    """Record every statement ``engine`` sends inside the ``with`` block (``before_cursor_execute``)."""
    seen = Statements()

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.sql.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
