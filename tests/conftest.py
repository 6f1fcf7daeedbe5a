"""Shared fixtures: a real database (SQLite and PostgreSQL), real Redis, the application.

Every database test runs twice, once per backend (the ``db_url`` fixture is parametrized). Each backend
gets one migrated database per test session; tables are emptied before every test.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import SessionFactory, create_engine, execute_autocommit, session_factory, transaction
from core.events import InProcessBus
from core.migrate import upgrade
from core.models import Team
from core.operators import add_operator
from core.settings import ROOT, Settings
from core.templates import Templates
from nlu.embedding import Embedder, shared_embedder
from tests.support.databases import BACKENDS, PG_ADMIN_URL, REDIS_URL, empty_tables, run_sync
from tests.support.sla import write_desk_data
from tickets.desk import TicketDesk

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# Tests that reach these fixtures need the server behind them: marked so that
# ``pytest -m "not postgres and not redis"`` runs on a machine without PostgreSQL or Redis.
SERVER_FIXTURES = {"postgres_url": pytest.mark.postgres, "redis_url": pytest.mark.redis}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for name, mark in SERVER_FIXTURES.items():
            if name in getattr(item, "fixturenames", ()):
                item.add_marker(mark)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("db") / "frontline.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    name = f"frontline_test_{uuid.uuid4().hex[:10]}"
    run_sync(execute_autocommit(PG_ADMIN_URL, f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    run_sync(execute_autocommit(PG_ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> str:
    """The URL of a migrated, empty database; the test runs once per backend."""
    return str(request.getfixturevalue(f"{request.param}_url" if request.param == "sqlite" else "postgres_url"))


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    await empty_tables(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> SessionFactory:
    return session_factory(engine)


@pytest.fixture
async def bus() -> AsyncIterator[InProcessBus]:
    bus = InProcessBus()
    await bus.start()
    yield bus
    await bus.stop()


@pytest.fixture(scope="session")
def templates() -> Templates:
    return Templates.load(ROOT / "data" / "templates")


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        var_dir=tmp_path,
        secret_key="test-secret-key-not-for-production",  # type: ignore[arg-type]
        redis_url=None,
        telegram_token=None,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def redis_url() -> str:
    return REDIS_URL


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real default embedder, loaded once per test session through the same loader the app uses."""
    return shared_embedder("use", 1)


TEAMS = (("first-line", "Первая линия"), ("second-line", "Вторая линия"), ("billing", "Биллинг"))


@pytest.fixture(scope="session")
def desk_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The desk's data files of the tests' own (see tests.support.sla), not the editable ones in data/."""
    return write_desk_data(tmp_path_factory.mktemp("desk-data"))


@pytest.fixture
def desk(desk_data: Path, templates: Templates, embedder: Embedder) -> TicketDesk:
    return TicketDesk.load(desk_data, templates, lambda: embedder)


@pytest.fixture
async def teams(sessions: SessionFactory) -> dict[str, int]:
    async with transaction(sessions) as session:
        rows = [Team(key=key, name=name) for key, name in TEAMS]
        session.add_all(rows)
        await session.flush()
        return {row.key: row.id for row in rows}


@pytest.fixture
async def operator_id(sessions: SessionFactory) -> int:
    async with transaction(sessions) as session:
        return (await add_operator(session, "olga", "operator-password-1", "operator", "Ольга")).id


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium for a module's page tests (imported here only when a page test asks for it)."""
    from tests.support.browser import chromium

    with chromium() as launched:
        yield launched
