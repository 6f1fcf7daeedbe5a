"""Suggestion picks: the customer chose one of the suggested titles, so that article answers their question.

A pick is two things. For calibration it is a labelled in-scope question in the customer's own words
(``frontline kb calibrate --with-picks``). For editors it is a candidate question variant of the article:
:func:`candidates` groups an article's open picks by text; accepting one adds the text to the article's
questions (a new revision, searchable at once), dismissing it keeps it out of the list and out of calibration.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InvalidInput
from core.uow import UnitOfWork
from kb.articles import get_article, update_article
from kb.models import Article, PickStatus, SuggestionPick
from kb.schemas import MAX_QUESTION_CHARS, MAX_QUESTIONS, ArticleUpdate

__all__ = ["Candidate", "accept_picks", "candidates", "dismiss_picks", "labelled_picks", "record_pick"]

_WORD = re.compile(r"[^\W_]", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One question text picked for an article, with how often and when."""

    text: str
    language: str
    count: int
    pick_ids: list[int]
    last_seen: datetime


async def record_pick(
    session: AsyncSession, text: str, language: str, article_id: int, channel: str, conversation_id: int | None
) -> SuggestionPick | None:
    """Store a pick; a question without a letter or digit (or one too long to be a variant) is not evidence."""
    clean = " ".join((text or "").split())
    if not _WORD.search(clean) or len(clean) > MAX_QUESTION_CHARS:
        return None
    pick = SuggestionPick(
        text=clean,
        language=(language or "")[:8],
        article_id=article_id,
        channel=(channel or "unknown")[:32],
        conversation_id=conversation_id,
    )
    session.add(pick)
    await session.flush()
    return pick


async def candidates(session: AsyncSession, article_id: int, limit: int = 50) -> list[Candidate]:
    """The article's open picks grouped by text (case and spacing ignored), most frequent first."""
    rows = await session.execute(
        select(SuggestionPick)
        .where(SuggestionPick.article_id == article_id, SuggestionPick.status == PickStatus.OPEN)
        .order_by(SuggestionPick.id)
    )
    groups: dict[tuple[str, str], list[SuggestionPick]] = {}
    for pick in rows.scalars():
        groups.setdefault((pick.text.casefold(), pick.language), []).append(pick)
    out = [
        Candidate(
            text=picks[-1].text,
            language=picks[-1].language,
            count=len(picks),
            pick_ids=[p.id for p in picks],
            last_seen=max(p.created_at for p in picks),
        )
        for picks in groups.values()
    ]
    out.sort(key=lambda c: (-c.count, -c.last_seen.timestamp()))
    return out[:limit]


async def _open_picks(session: AsyncSession, pick_ids: Sequence[int], article_id: int) -> list[SuggestionPick]:
    rows = await session.execute(
        select(SuggestionPick).where(
            SuggestionPick.id.in_(list(pick_ids)),
            SuggestionPick.article_id == article_id,
            SuggestionPick.status == PickStatus.OPEN,
        )
    )
    picks = list(rows.scalars())
    if not picks:
        raise InvalidInput("none of these picks is an open candidate of this article")
    return picks


async def accept_picks(
    uow: UnitOfWork, article_id: int, pick_ids: Sequence[int], version: int, author_id: int | None
) -> Article:
    """Add the picked texts to the article's questions (those it does not have yet); the picks become accepted.

    ``version`` is the article version the editor read: a save over a newer one is refused like any edit.
    """
    picks = await _open_picks(uow.session, pick_ids, article_id)
    article = await get_article(uow.session, article_id)
    have = {q.casefold() for q in article.questions}
    new = []
    for pick in sorted(picks, key=lambda p: -p.id):  # the newest spelling, as the candidate list shows it
        if pick.text.casefold() not in have:
            have.add(pick.text.casefold())
            new.append(pick.text)
    if len(article.questions) + len(new) > MAX_QUESTIONS:
        raise InvalidInput(f"an article has at most {MAX_QUESTIONS} questions")
    changes = ArticleUpdate(version=version, questions=(*article.questions, *new), note="customers' words added")
    article = await update_article(uow, article_id, changes, author_id) if new else article
    await uow.session.execute(
        update(SuggestionPick).where(SuggestionPick.id.in_([p.id for p in picks])).values(status=PickStatus.ACCEPTED)
    )
    return article


async def dismiss_picks(session: AsyncSession, article_id: int, pick_ids: Sequence[int]) -> int:
    """Dismiss an article's open picks (not a variant worth keeping, or a mistaken click); returns how many."""
    picks = await _open_picks(session, pick_ids, article_id)
    await session.execute(
        update(SuggestionPick).where(SuggestionPick.id.in_([p.id for p in picks])).values(status=PickStatus.DISMISSED)
    )
    return len(picks)


async def labelled_picks(session: AsyncSession) -> list[tuple[str, str, int]]:
    """(question, language, article id) of every pick not dismissed: in-scope evidence for calibration."""
    rows = await session.execute(
        select(SuggestionPick.text, SuggestionPick.language, SuggestionPick.article_id).where(
            SuggestionPick.status != PickStatus.DISMISSED
        )
    )
    return [(str(t), str(lang), int(a)) for t, lang, a in rows]
