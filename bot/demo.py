"""Demo data for ``make run``: staff accounts (and, as packages add them, knowledge base and plans)."""

from __future__ import annotations

from dataclasses import dataclass

from core.db import SessionFactory, transaction
from core.errors import NotFound
from core.operators import add_operator, get_operator
from core.settings import Settings


@dataclass(frozen=True, slots=True)
class DemoAccount:
    login: str
    password: str
    role: str
    name: str


DEMO_ACCOUNTS = (
    DemoAccount("admin", "frontline-admin", "admin", "Администратор"),
    DemoAccount("editor", "frontline-editor", "editor", "Редактор базы знаний"),
    DemoAccount("operator", "frontline-operator", "operator", "Оператор первой линии"),
)


async def load_demo(factory: SessionFactory, settings: Settings) -> list[str]:
    """Idempotent: creates what is missing and leaves the rest alone. Returns what it did."""
    done: list[str] = []
    async with transaction(factory) as session:
        for account in DEMO_ACCOUNTS:
            try:
                await get_operator(session, account.login)
            except NotFound:
                await add_operator(session, account.login, account.password, account.role, account.name)
                done.append(f"operator {account.login} ({account.role})")
    return done
