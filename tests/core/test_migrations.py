"""Migrations: the chain builds the schema the models describe, on both databases."""

from __future__ import annotations

import asyncio
import importlib.util
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import kb.models  # noqa: F401
import notices.models  # noqa: F401
import portal.models  # noqa: F401
import records.models  # noqa: F401
import tickets.models  # noqa: F401
from core.db import create_engine, execute_autocommit
from core.migrate import alembic_config, head_revisions, upgrade
from core.models import Base
from core.settings import ROOT
from nlu.vectors import decode
from tests.support.databases import BACKENDS, PG_ADMIN_URL, run_sync


def _diff(conn: Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == [], "models changed without a migration: run alembic revision --autogenerate"


def test_one_head() -> None:
    assert len(head_revisions()) == 1


# --- 0005: one stored-vector shape -----------------------------------------------------------------------

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
VECTORS = {"a": np.array([0.6, 0.8], dtype=np.float32), "b": np.array([1.0, 0.0, -0.5], dtype=np.float32)}
A = VECTORS["a"].tolist()
OLD_ROWS = [
    "INSERT INTO customers (id, name, language, timezone, plan, created_at) "
    "VALUES (1, 'Анна', 'ru', 'Europe/Moscow', 'standard', :now)",
    "INSERT INTO teams (id, key, name, created_at) VALUES (1, 'first-line', 'Первая линия', :now)",
    "INSERT INTO kb_articles (id, slug, language, title, questions, body, category, tags, status, version, views, "
    "helpful, not_helpful, created_at, updated_at) VALUES (1, 'wifi', 'ru', 'Wi-Fi', '[]', 'текст', '', '[]', "
    "'published', 1, 0, 0, 0, :now, :now)",
    "INSERT INTO kb_article_chunks (id, article_id, embedder, position, text, vector, created_at) "
    "VALUES (1, 1, 'use-multilingual', 0, 'Wi-Fi', :a, :now)",
    "INSERT INTO kb_gaps (id, text, language, channel, reason, status, embedder, vector, created_at) "
    "VALUES (1, 'как настроить', 'ru', 'telegram', 'unknown', 'open', 'use-multilingual', :b, :now)",
    "INSERT INTO kb_gaps (id, text, language, channel, reason, status, created_at) "
    "VALUES (2, 'ещё не сгруппирован', 'ru', 'telegram', 'unknown', 'open', :now)",
    "INSERT INTO tickets (id, customer_id, subject, description, urgency, impact, priority, sla_priority, status, "
    "plan, sla_started_at, first_response_state, next_response_state, resolution_state, sla_state, pauses, "
    "escalation_level, created_at, updated_at) VALUES (1, 1, 'Нет интернета', 'Нет интернета', 'high', 'one', "
    "'P2', 'P2', 'new', 'standard', :now, 'ok', 'ok', 'ok', 'ok', '[]', 0, :now, :now)",
    "INSERT INTO ticket_vectors (ticket_id, model, vector) VALUES (1, 'use-multilingual', :a)",
    "INSERT INTO incidents (id, title, service, description, status, team_id, embedding, embedding_model, "
    "created_at, updated_at) VALUES (1, 'Авария', '', '', 'open', 1, :b, 'use-multilingual', :now, :now)",
    "INSERT INTO incidents (id, title, service, description, status, created_at, updated_at) "
    "VALUES (2, 'Без вектора', '', '', 'open', :now, :now)",
    "INSERT INTO ticket_incidents (ticket_id, incident_id, state, score, created_at) "
    "VALUES (1, 1, 'linked', 0.9, :now)",
]


@pytest.fixture(params=BACKENDS)
def scratch_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own: migrations are run up and down on it."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}"
        return
    name = f"frontline_migrate_{uuid.uuid4().hex[:8]}"
    run_sync(execute_autocommit(PG_ADMIN_URL, f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    run_sync(execute_autocommit(PG_ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in (await conn.execute(text(sql))).all()]
    finally:
        await engine.dispose()


async def _insert_old_rows(url: str, vectors: dict[str, bytes]) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in OLD_ROWS:
                await conn.execute(text(statement), {"now": NOW, **vectors})
    finally:
        await engine.dispose()


async def test_the_vectors_migration_keeps_every_stored_vector_and_link(scratch_url: str) -> None:
    await asyncio.to_thread(upgrade, scratch_url, "0003")
    # Tickets and incidents wrote the machine's own order (native float32), articles little-endian.
    await _insert_old_rows(scratch_url, {name: vector.tobytes() for name, vector in VECTORS.items()})
    await asyncio.to_thread(upgrade, scratch_url)

    chunk = (await _rows(scratch_url, "SELECT embedder, dim, vector FROM kb_article_chunks"))[0]
    gaps = await _rows(scratch_url, "SELECT id, embedder, dim, vector FROM kb_gaps ORDER BY id")
    ticket = (await _rows(scratch_url, "SELECT embedder, dim, vector FROM ticket_vectors"))[0]
    incidents = await _rows(scratch_url, "SELECT id, embedder, dim, vector FROM incidents ORDER BY id")
    assert chunk[:2] == ("use-multilingual", 2)
    assert decode(bytes(chunk[2]), 2).tolist() == A
    assert [g[:3] for g in gaps] == [(1, "use-multilingual", 3), (2, None, None)]
    assert decode(bytes(gaps[0][3]), 3).tolist() == VECTORS["b"].tolist()
    assert ticket[:2] == ("use-multilingual", 2)
    assert decode(bytes(ticket[2]), 2).tolist() == A
    assert [i[:3] for i in incidents] == [(1, "use-multilingual", 3), (2, None, None)]
    assert decode(bytes(incidents[0][3]), 3).tolist() == VECTORS["b"].tolist()
    # Rebuilding the incidents table on SQLite must not cascade into the tickets linked to it.
    assert await _rows(scratch_url, "SELECT ticket_id, incident_id, state FROM ticket_incidents") == [(1, 1, "linked")]
    assert await _rows(scratch_url, "SELECT id, team_id FROM incidents WHERE id = 1") == [(1, 1)]

    await asyncio.to_thread(command.downgrade, alembic_config(scratch_url), "0003")
    old = await _rows(scratch_url, "SELECT model, vector FROM ticket_vectors")
    assert [(model, decode(bytes(raw), 2).tolist()) for model, raw in old] == [("use-multilingual", A)]
    old_incidents = await _rows(scratch_url, "SELECT embedding_model FROM incidents ORDER BY id")
    assert old_incidents == [("use-multilingual",), (None,)]
    assert await _rows(scratch_url, "SELECT ticket_id, incident_id FROM ticket_incidents") == [(1, 1)]
    await asyncio.to_thread(upgrade, scratch_url)
    assert await _rows(scratch_url, "SELECT dim FROM ticket_vectors") == [(2,)]


def _migration(name: str) -> ModuleType:
    path = ROOT / "migrations" / "versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"migration_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_vectors_written_big_endian_are_rewritten_little_endian(scratch_url: str) -> None:
    """What 0005 does with rows that ``tobytes()`` wrote on a big-endian machine (written as such here)."""
    await asyncio.to_thread(upgrade, scratch_url)
    reorder_bytes = _migration("0005_vectors").reorder_bytes
    engine = create_engine(scratch_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(OLD_ROWS[0]), {"now": NOW})
            for ticket_id in (1, 2):
                ticket = OLD_ROWS[6].replace("VALUES (1,", f"VALUES ({ticket_id},")
                await conn.execute(text(ticket), {"now": NOW})
                await conn.execute(
                    text("INSERT INTO ticket_vectors (ticket_id, embedder, dim, vector) VALUES (:id, 'use', 2, :v)"),
                    {"id": ticket_id, "v": VECTORS["a"].astype(">f4").tobytes()},
                )
            converted = await conn.run_sync(
                lambda sync: reorder_bytes(sync, "ticket_vectors", "ticket_id", np.dtype(">f4"))
            )
            unchanged = await conn.run_sync(
                lambda sync: reorder_bytes(sync, "ticket_vectors", "ticket_id", np.dtype("<f4"))
            )
    finally:
        await engine.dispose()
    assert (converted, unchanged) == (2, 0)
    rows = await _rows(scratch_url, "SELECT vector FROM ticket_vectors ORDER BY ticket_id")
    assert [decode(bytes(raw), 2).tolist() for (raw,) in rows] == [A, A]


# --- 0018: the ticket's channel, stored ------------------------------------------------------------------

CHANNEL_ROWS = [
    "INSERT INTO customers (id, name, language, timezone, plan, created_at) "
    "VALUES (1, 'Анна', 'ru', 'Europe/Moscow', 'standard', :now)",
    *(
        "INSERT INTO conversations (id, customer_id, channel, chat_id, status, language, dialog_state, last_seq, "
        f"created_at, updated_at) VALUES ({i}, 1, '{channel}', 'c{i}', 'closed', 'ru', '{{}}', 0, :now, :now)"
        for i, channel in ((1, "telegram"), (2, "web"))
    ),
    *(
        "INSERT INTO tickets (id, customer_id, subject, description, urgency, impact, priority, sla_priority, "
        "status, plan, sla_started_at, first_response_state, next_response_state, resolution_state, sla_state, "
        f"pauses, escalation_level, created_at, updated_at) VALUES ({i}, 1, 't', 't', 'high', 'one', 'P2', 'P2', "
        "'new', 'standard', :now, 'ok', 'ok', 'ok', 'ok', '[]', 0, :now, :now)"
        for i in (1, 2, 3)
    ),
    # Ticket 1 gathered the web conversation first, then the Telegram one; ticket 2 only Telegram; 3 none.
    "INSERT INTO ticket_conversations (ticket_id, conversation_id, created_at) VALUES (1, 2, :now)",
    "INSERT INTO ticket_conversations (ticket_id, conversation_id, created_at) VALUES (1, 1, :later)",
    "INSERT INTO ticket_conversations (ticket_id, conversation_id, created_at) VALUES (2, 1, :now)",
]


async def test_the_channel_migration_fills_existing_tickets_and_keeps_new_links(scratch_url: str) -> None:
    await asyncio.to_thread(upgrade, scratch_url, "0017")
    engine = create_engine(scratch_url)
    try:
        async with engine.begin() as conn:
            for statement in CHANNEL_ROWS:
                await conn.execute(text(statement), {"now": NOW, "later": NOW.replace(hour=13)})
    finally:
        await engine.dispose()
    await asyncio.to_thread(upgrade, scratch_url)
    channels = "SELECT id, channel FROM tickets ORDER BY id"
    assert await _rows(scratch_url, channels) == [(1, "web"), (2, "telegram"), (3, None)]

    engine = create_engine(scratch_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO ticket_conversations (ticket_id, conversation_id, created_at) VALUES (3, 2, :now)"),
                {"now": NOW},
            )
    finally:
        await engine.dispose()
    assert await _rows(scratch_url, channels) == [(1, "web"), (2, "telegram"), (3, "web")]

    await asyncio.to_thread(command.downgrade, alembic_config(scratch_url), "0017")
    assert await _rows(scratch_url, "SELECT ticket_id, conversation_id FROM ticket_conversations ORDER BY 1, 2") == [
        (1, 1),
        (1, 2),
        (2, 1),
        (3, 2),
    ]
    await asyncio.to_thread(upgrade, scratch_url)
    assert await _rows(scratch_url, channels) == [(1, "web"), (2, "telegram"), (3, "web")]
