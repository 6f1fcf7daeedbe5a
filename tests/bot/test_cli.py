"""The `frontline` command as an administrator uses it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from bot.cli import main
from core.db import execute_autocommit
from tests.support.databases import PG_ADMIN_URL


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    name = f"frontline_cli_{uuid.uuid4().hex[:8]}"
    asyncio.run(execute_autocommit(PG_ADMIN_URL, f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    asyncio.run(execute_autocommit(PG_ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("serve", "db", "demo", "operator"):
        assert command in out


@pytest.mark.postgres
def test_serve_refuses_an_unmigrated_postgres(
    fresh_postgres: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FRONTLINE_DATABASE_URL", fresh_postgres)
    assert main(["db", "check"]) == 1
    assert main(["serve"]) == 2
    assert "frontline db upgrade" in capsys.readouterr().err
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "check"]) == 0


@pytest.mark.postgres
def test_operator_accounts_lifecycle(
    fresh_postgres: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FRONTLINE_DATABASE_URL", fresh_postgres)
    assert main(["db", "upgrade"]) == 0
    assert main(["operator", "add", "anna", "--role", "operator", "--password", "correct horse"]) == 0
    assert main(["operator", "add", "anna", "--password", "correct horse"]) == 2, "duplicates are refused"
    assert main(["operator", "add", "boris", "--password", "short"]) == 2, "weak passwords are refused"
    assert main(["operator", "set-role", "anna", "editor"]) == 0
    assert main(["operator", "passwd", "anna", "--password", "battery staple"]) == 0
    assert main(["operator", "disable", "anna"]) == 0
    capsys.readouterr()
    assert main(["operator", "list"]) == 0
    assert "anna\teditor\tdisabled" in capsys.readouterr().out
    assert main(["operator", "set-role", "nobody", "admin"]) == 2
