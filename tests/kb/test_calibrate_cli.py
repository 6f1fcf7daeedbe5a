"""``frontline kb calibrate``: thresholds from question sets, and customers' picks as extra evidence."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from core.db import SessionFactory, transaction
from core.events import InProcessBus
from core.uow import UnitOfWork
from kb import articles, picks
from kb.models import ArticleStatus
from kb.schemas import ArticleContent
from kb.search.index import Thresholds

QUESTIONS = {
    "internet-not-working": ["инет пропал совсем", "no internet since morning", "не грузит ничего, сети нет"],
    "reset-password": ["забыл пароль от лк", "forgot my account password", "не помню пароль кабинета"],
    "pay-by-card": ["как заплатить картой", "can i pay by card", "оплата визой возможна?"],
    "return-equipment": ["куда сдать роутер после расторжения", "how to return the router", "вернуть приставку"],
    "support-hours": ["до скольки работает поддержка", "support opening hours", "поддержка в выходные есть?"],
}
OFF_TOPIC = [
    ("рецепт борща", "ru"),
    ("погода завтра", "ru"),
    ("who won the cup final", "en"),
    ("how to bake bread", "en"),
    ("как пополнить тройку", "ru"),
    ("cancel my spotify", "en"),
]


@pytest.fixture
async def published(sessions: SessionFactory, sample_articles: list[ArticleContent]) -> dict[tuple[str, str], int]:
    contents = [a.model_copy(update={"status": ArticleStatus.PUBLISHED}) for a in sample_articles]
    bus = InProcessBus()
    async with UnitOfWork(sessions, bus) as uow:
        done = await articles.import_articles(uow, contents, None)
    return {(d.slug, d.language): d.article_id for d in done}


async def test_calibrate_writes_thresholds_and_counts_picks(
    db_url: str,
    sessions: SessionFactory,
    published: dict[tuple[str, str], int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    questions = [
        {"text": q, "language": "en" if q.isascii() else "ru", "article": slug}
        for slug, texts in QUESTIONS.items()
        for q in texts
    ] + [{"text": q, "language": lang, "article": None} for q, lang in OFF_TOPIC]
    set_path = tmp_path / "set.yml"
    set_path.write_text(yaml.safe_dump({"questions": questions}, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "thresholds.yml"
    async with transaction(sessions) as session:
        await picks.record_pick(session, "инет отвалился", "ru", published[("internet-not-working", "ru")], "web", None)
        dismissed = await picks.record_pick(session, "ерунда", "ru", published[("support-hours", "ru")], "web", None)
        assert dismissed is not None
        await picks.dismiss_picks(session, published[("support-hours", "ru")], [dismissed.id])
    monkeypatch.setenv("FRONTLINE_DATABASE_URL", db_url)
    monkeypatch.setenv("FRONTLINE_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("FRONTLINE_EMBEDDING_THREADS", "1")

    assert await _cli(["kb", "calibrate", "--set", str(set_path), "--out", str(out)]) == 0
    plain = Thresholds.load(out, "use")
    assert plain.suggest <= plain.answer
    assert plain.info["in_scope"] == 15
    assert plain.info["off_topic"] == len(OFF_TOPIC)

    assert await _cli(["kb", "calibrate", "--set", str(set_path), "--out", str(out), "--with-picks"]) == 0
    assert "1 customers' picks added" in capsys.readouterr().out
    assert Thresholds.load(out, "use").info["in_scope"] == 16, "the dismissed pick is no evidence"


async def _cli(argv: list[str]) -> int:
    # The CLI runs its own event loop: give it a thread, as a shell would give it a process.
    return await asyncio.to_thread(main, argv)
