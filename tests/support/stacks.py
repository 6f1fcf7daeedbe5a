"""The whole stack on the database of the running backend parameter: the fixture most conversation tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from core.db import create_engine
from standin.botapi import BotApiStandIn
from standin.stack import Stack, stack_settings, start_stack
from tests.support.databases import empty_tables


def backend_url(request: pytest.FixtureRequest) -> str:
    """The migrated database of a fixture parametrized with ``sqlite`` / ``postgresql``."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url"))


@asynccontextmanager
async def running_stack(db_url: str, var_dir: Path, **overrides: Any) -> AsyncIterator[Stack]:
    """An emptied database, the Bot API stand-in and the application serving on loopback with demo data."""
    engine = create_engine(db_url)
    await empty_tables(engine)
    await engine.dispose()
    async with BotApiStandIn() as standin:
        running = await start_stack(stack_settings(db_url, var_dir, standin, **overrides), standin)
        try:
            yield running
        finally:
            await running.client.close()
