"""The knowledge base as a turn uses it: searches timed, and the turn's likely search made before the turn.

A turn's decisions run inside its transaction, which holds the conversation's lock (on SQLite, the database's
write lock): nothing slow belongs there, and embedding must not run there at all. So the engine makes the
search the dialogs are likely to make (the customer's text, in the turn's language) before it opens the
transaction (:meth:`TurnKnowledge.prepare`), and a search of that turn for the same query and language is
answered from it (:meth:`TurnKnowledge.using`); any other search runs as before. A search made ahead counts
its article's view only when the turn uses it.

The prepared hits travel in a context variable: the dialogs' signatures stay as they are, and concurrent
turns (each its own task) never see each other's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from bot.engine.ports import Hit, SearchAhead
from bot.engine.timing import PhaseClock


@dataclass(frozen=True, slots=True)
class Prepared:
    """One search made ahead: its query, language and ``k`` best hits."""

    query: str
    language: str | None
    k: int
    hits: Sequence[Any]

    def answers(self, query: str, language: str | None, k: int) -> bool:
        # The best k of a deeper search are the same hits, with the same bands: a hit's confidence is measured
        # against the one below it, which a search for k hits also ranks.
        return query == self.query and language == self.language and k <= self.k


_PREPARED: ContextVar[Prepared | None] = ContextVar("turn_prepared_search", default=None)


class TurnKnowledge:
    def __init__(self, kb: SearchAhead, clock: PhaseClock) -> None:
        self.inner = kb
        self._clock = clock

    async def prepare(self, query: str, language: str | None, k: int) -> Prepared:
        """Search now, with no transaction open; views are counted when the turn uses the hits."""
        with self._clock.phase("prepare"):
            return Prepared(query, language, k, await self.inner.search(query, language, k, count_view=False))

    @contextmanager
    def using(self, prepared: Prepared | None) -> Iterator[None]:
        """Searches in this block (in this task) are answered from ``prepared`` when they ask the same."""
        token = _PREPARED.set(prepared)
        try:
            yield
        finally:
            _PREPARED.reset(token)

    async def search(self, query: str, language: str | None, k: int = 3) -> Sequence[Hit]:
        with self._clock.phase("search"):
            prepared = _PREPARED.get()
            if prepared is not None and prepared.answers(query, language, k):
                hits = prepared.hits[:k]
                self.inner.served(hits)
                return hits
            return await self.inner.search(query, language, k)

    def published(self, article_id: int) -> Any | None:
        return self.inner.published(article_id)

    async def record_gap(self, text: str, language: str, channel: str, conversation_id: int | None) -> None:
        await self.inner.record_gap(text, language, channel, conversation_id)

    async def record_pick(
        self, text: str, language: str, article_id: int, channel: str, conversation_id: int | None
    ) -> None:
        await self.inner.record_pick(text, language, article_id, channel, conversation_id)

    async def feedback(
        self,
        article_id: int,
        helpful: bool,
        text: str | None = None,
        language: str | None = None,
        channel: str | None = None,
        conversation_id: int | None = None,
    ) -> None:
        await self.inner.feedback(article_id, helpful, text, language, channel, conversation_id)
