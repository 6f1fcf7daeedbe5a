"""A worker that starts before its database waits for it and then says clearly why it gives up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.db import wait_for_database
from core.settings import ROOT
from standin.processes import FRONTLINE, free_port

REFUSED_URL = "postgresql+asyncpg://frontline:secret-password@127.0.0.1:{port}/frontline"


async def test_waiting_for_a_database_that_refuses_gives_the_reason() -> None:
    reason = await wait_for_database(REFUSED_URL.format(port=free_port()), patience=1.0)
    assert reason is not None
    assert "ConnectionRefused" in reason


@pytest.mark.postgres
async def test_waiting_for_a_reachable_database_returns_at_once(postgres_url: str) -> None:
    assert await wait_for_database(postgres_url, patience=0) is None


async def test_serve_against_a_refusing_database_exits_with_a_clear_message_not_a_traceback(tmp_path: Path) -> None:
    env = {
        "FRONTLINE_DATABASE_URL": REFUSED_URL.format(port=free_port()),
        "FRONTLINE_DATABASE_WAIT": "1",
        "FRONTLINE_VAR_DIR": str(tmp_path),
        "FRONTLINE_SECRET_KEY": "startup-test-secret-key-not-for-production",
        "PATH": "/usr/bin:/bin",
    }
    proc = await asyncio.create_subprocess_exec(
        str(FRONTLINE),
        "serve",
        "--port",
        str(free_port()),
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 240)
    stderr = err.decode()
    assert proc.returncode == 3
    assert "Traceback" not in stderr
    assert "Cannot reach the database after 1 s" in stderr
    assert "retrying" in stderr  # it did wait before giving up
    assert "secret-password" not in stderr + out.decode()
