"""The knowledge base as a turn uses it: searches timed, and fed the query vectors computed before the turn.

A turn's decisions run inside its transaction, where embedding must not run (on SQLite the transaction holds
the database's write lock). So the engine asks for the vectors of the query the dialogs will search with
before it opens the transaction (:meth:`TurnKnowledge.prepare`), and the searches of that turn use them
(:meth:`TurnKnowledge.using`); a search for any other text embeds as before.

The vectors travel in a context variable: the dialogs' signatures stay as they are, and concurrent turns
(each its own task) never see each other's vectors.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from bot.engine.ports import Hit, VectorKnowledge
from bot.engine.timing import PhaseClock

_PREPARED: ContextVar[Mapping[str, Any] | None] = ContextVar("turn_query_vectors", default=None)


class TurnKnowledge:
    def __init__(self, kb: VectorKnowledge, clock: PhaseClock) -> None:
        self.inner = kb
        self._clock = clock

    async def prepare(self, queries: Sequence[str]) -> Mapping[str, Any]:
        """The vectors of ``queries``, computed off the event loop (call it with no transaction open)."""
        with self._clock.phase("prepare"):
            return await self.inner.query_vectors(queries)

    @contextmanager
    def using(self, vectors: Mapping[str, Any]) -> Iterator[None]:
        """Searches in this block (in this task) use ``vectors`` for the queries they hold."""
        token = _PREPARED.set(vectors)
        try:
            yield
        finally:
            _PREPARED.reset(token)

    async def search(self, query: str, language: str | None, k: int = 3) -> Sequence[Hit]:
        with self._clock.phase("search"):
            prepared = _PREPARED.get()
            vector = prepared.get(query) if prepared is not None else None
            return await self.inner.search(query, language, k, vector=vector)

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
