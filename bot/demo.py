"""Demo data for ``make run``: staff accounts (and, as packages add them, knowledge base and plans)."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import RootModel
from sqlalchemy import func, select

from core.datafiles import Strict, read_yaml, validate
from core.db import SessionFactory, transaction
from core.errors import NotFound
from core.events import InProcessBus
from core.models import Customer, Team
from core.operators import add_operator, get_operator
from core.settings import Settings
from core.uow import UnitOfWork
from handoff import canned, teams
from handoff.models import CannedResponse
from kb.articles import import_articles
from kb.importer import parse_path
from kb.models import Article
from kb.schemas import ArticleContent
from kb.service import ensure_vectors
from nlu.embedding import shared_embedder
from nlu.vectors import FloatArray
from records.demo import load_demo_records
from reports.history import MARK as HISTORY_MARK
from reports.history import load_demo_history as generate_history
from sla.policy import SlaPolicy


@dataclass(frozen=True, slots=True)
class DemoAccount:
    login: str
    password: str
    role: str
    name: str


DEMO_ACCOUNTS = (
    DemoAccount("admin", "frontline-admin", "admin", "Администратор"),
    DemoAccount("editor", "frontline-editor", "editor", "Редактор базы знаний"),
    DemoAccount("operator", "frontline-operator", "operator", "Анна Смирнова"),
    DemoAccount("manager", "frontline-manager", "manager", "Руководитель поддержки"),
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
    done.extend(await load_demo_teams(factory))
    done.extend(await load_demo_knowledge_base(factory, settings))
    return done


DEMO_TEAMS = (
    ("first-line", "Первая линия"),
    ("second-line", "Вторая линия"),
    ("billing", "Биллинг"),
)


async def load_demo_teams(factory: SessionFactory) -> list[str]:
    """The teams data/tickets.yml routes to and data/sla/escalation.yml escalates to."""
    done: list[str] = []
    async with transaction(factory) as session:
        existing = set((await session.execute(select(Team.key))).scalars())
        for key, name in DEMO_TEAMS:
            if key not in existing:
                session.add(Team(key=key, name=name))
                done.append(f"team {key}")
    return done


async def load_demo_knowledge_base(factory: SessionFactory, settings: Settings) -> list[str]:
    """Import data/kb when the knowledge base is empty, with its vectors: the server starts fully searchable."""
    async with UnitOfWork(factory, InProcessBus()) as uow:
        if await uow.session.scalar(select(func.count()).select_from(Article)):
            return []
        contents = await asyncio.to_thread(_demo_articles, settings.data_dir / "kb")
        imported = await import_articles(uow, contents, None, note="demo")
    embedder = await asyncio.to_thread(shared_embedder, settings.embedding_model, settings.embedding_threads)
    cache = _DEMO_VECTORS.setdefault(embedder.name, {})
    await ensure_vectors(factory, embedder, cache=cache)
    return [f"knowledge base: {len(imported)} articles"]


@functools.cache
def _demo_articles(folder: Path) -> list[ArticleContent]:
    return parse_path(folder)


# Demo passages embedded once per process: the tests load the demo into a fresh database many times.
_DEMO_VECTORS: dict[str, dict[str, FloatArray]] = {}


DEMO_MEMBERS = (("operator", "first-line"), ("admin", "first-line"), ("admin", "second-line"))


class _CannedText(Strict):
    title: str
    body: str


class _Canned(Strict):
    shortcut: str
    ru: _CannedText
    en: _CannedText


class _CannedFile(RootModel[list[_Canned]]):
    pass


def _demo_canned(path: Path) -> list[_Canned]:
    return validate(path, _CannedFile, read_yaml(path)).root


async def load_demo_inbox(factory: SessionFactory, settings: Settings) -> list[str]:
    """Team members and the canned responses of data/demo/canned.yml (``frontline demo load`` only: the inbox
    tests start from an inbox without them)."""
    rows = await asyncio.to_thread(_demo_canned, settings.data_dir / "demo" / "canned.yml")
    done: list[str] = []
    async with transaction(factory) as session:
        for login, team in DEMO_MEMBERS:
            operator = await get_operator(session, login)
            await teams.add_member(session, team, operator.id)
        if not await session.scalar(select(func.count()).select_from(CannedResponse)):
            for row in rows:
                for language, text in (("ru", row.ru), ("en", row.en)):
                    await canned.save(
                        session, shortcut=row.shortcut, language=language, title=text.title, body=text.body
                    )
            done.append(f"canned responses: {len(rows)} in ru and en")
    return done


async def load_demo_history(factory: SessionFactory, settings: Settings) -> list[str]:
    """Weeks of generated conversations, tickets and ratings for the reports (``frontline demo load`` only: the
    tests that load the demo staff and knowledge base want an otherwise empty desk)."""
    sla = await asyncio.to_thread(SlaPolicy.load, settings.data_dir)
    loaded = await generate_history(factory, sla, ZoneInfo(settings.default_timezone))
    if loaded is None:
        return []
    return [f"history: {loaded.conversations} conversations, {loaded.tickets} tickets, {loaded.ratings} ratings"]


async def load_demo_service_records(factory: SessionFactory, settings: Settings) -> list[str]:
    """A few service records for each generated demo customer (after :func:`load_demo_history`)."""
    today = datetime.now(ZoneInfo(settings.default_timezone)).date()
    async with transaction(factory) as session:
        customers = list(
            await session.scalars(
                select(Customer.id).where(Customer.account_number.like(f"{HISTORY_MARK}%")).order_by(Customer.id)
            )
        )
        added = await load_demo_records(session, customers, today)
    return [f"service records: {added}"] if added else []
