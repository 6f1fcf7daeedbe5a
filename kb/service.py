"""The knowledge base the bot and the editors' API use: search over published articles, gaps, feedback.

One :class:`KnowledgeBase` per worker holds the in-memory search index. It loads published articles with
their stored vectors at start (embedding only what is missing or was made by another model, in the
background), and follows ``ARTICLE_CHANGED`` on the event bus: the handler queues the article, and a single
drain task reloads queued articles from the database in batches, so an edit saved on any worker is
searchable on every worker within a second. A periodic :meth:`KnowledgeBase.resync` compares versions with
the database and catches whatever a worker missed (a Redis reconnect, a CLI import without Redis).

The index is used by one thread at a time (``_lock``) and the embedder by one call at a time (its own lock,
see :mod:`nlu.embedding`); searches and embedding run in worker threads so the event loop never waits for numpy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import select, update
from tqdm import tqdm

from core.db import SessionFactory, transaction
from core.events import ARTICLE_CHANGED, Event, EventBus
from kb import gaps, picks, vectors
from kb.articles import get_article
from kb.models import Article, ArticleEvent, ArticleEventKind, ArticleStatus, GapReason
from kb.search.index import Band, Document, Hit, SearchIndex, Thresholds
from kb.search.query import Lexicon
from nlu.embedding import Embedder, embed_passages, locked
from nlu.vectors import FloatArray

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_QUERY_CHARS = 2000
"""Queries are cut to this length before searching: nobody asks a 20,000-character question."""
REFRESH_BATCH = 256
"""Articles reloaded (and embedded) per step of the drain task."""
PROGRESS_MIN_ARTICLES = 20
"""A progress bar is shown (when enabled) only for work at least this large: a start, a model change."""
PROGRESS_STEP = 256
"""Passages embedded between two updates of :func:`ensure_vectors`' progress bar."""


@dataclass(frozen=True, slots=True)
class ArticleHit:
    article_id: int
    slug: str
    language: str
    title: str
    answer_markdown: str
    band: Band
    score: float
    confidence: float
    dense: float = 0.0
    lexical: float = 0.0


@dataclass(frozen=True, slots=True)
class PublishedArticle:
    article_id: int
    slug: str
    language: str
    title: str
    answer_markdown: str
    category: str


@dataclass(frozen=True, slots=True)
class ArticleView:
    id: int
    slug: str
    language: str
    title: str
    questions: tuple[str, ...]
    body: str
    category: str
    tags: tuple[str, ...]
    status: ArticleStatus
    version: int
    views: int
    helpful: int
    not_helpful: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class _Entry:
    """What a hit needs from its article without a database round trip."""

    slug: str
    language: str
    title: str
    body: str
    version: int
    category: str = ""


def document_of(article: Article) -> Document:
    return Document(
        article_id=article.id,
        language=article.language,
        title=article.title,
        questions=tuple(article.questions),
        body=article.body,
        key=article.slug,
    )


def view_of(article: Article) -> ArticleView:
    return ArticleView(
        id=article.id,
        slug=article.slug,
        language=article.language,
        title=article.title,
        questions=tuple(article.questions),
        body=article.body,
        category=article.category,
        tags=tuple(article.tags),
        status=article.status,
        version=article.version,
        views=article.views,
        helpful=article.helpful,
        not_helpful=article.not_helpful,
        updated_at=article.updated_at,
    )


class KnowledgeBase:
    def __init__(
        self,
        sessions: SessionFactory,
        bus: EventBus,
        embedder: Embedder,
        *,
        thresholds: Thresholds | None = None,
        thresholds_path: Path | None = None,
        lexicon: Lexicon | None = None,
        progress: bool = False,
    ) -> None:
        """``lexicon``: the customers' variants and off-topic terms; by default the ``variants.yml`` and
        ``off_topic.yml`` beside ``thresholds_path`` (``data/kb``)."""
        self.sessions = sessions
        self.bus = bus
        self.embedder = locked(embedder)
        self.progress = progress
        if thresholds is None and thresholds_path is not None and thresholds_path.exists():
            thresholds = Thresholds.load(thresholds_path, embedder.name)
        if lexicon is None and thresholds_path is not None:
            lexicon = Lexicon.load(thresholds_path.parent)
        self.index = SearchIndex(self.embedder, thresholds, lexicon=lexicon)
        self.ready = asyncio.Event()
        self._entries: dict[int, _Entry] = {}
        self._lock = threading.Lock()
        self._sync = asyncio.Lock()
        self._applied: dict[int, int] = {}  # article id -> the version last applied to the index (or removed)
        self._pending: set[int] = set()
        self._drainer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._views: list[int] = []  # articles served as answers, not counted yet
        self._view_writer: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False

    # --- life cycle ----------------------------------------------------------------------------------

    async def start(self, *, wait: bool = True) -> None:
        """Load the published articles in the background, embedding those without usable stored vectors.

        ``wait``: return only when every published article is searchable (tests, CLI); a server starts at
        once and answers from what is loaded so far.
        """
        if self._started:
            raise RuntimeError("the knowledge base is already started")
        self._started = True
        self.bus.subscribe(self._on_article_changed, ARTICLE_CHANGED)
        async with transaction(self.sessions) as session:
            rows = await session.execute(select(Article.id).where(Article.status == ArticleStatus.PUBLISHED))
            published = list(rows.scalars())
        if published:
            self._queue(published)  # loaded (and embedded where needed) by the drain task, in batches
        else:
            self.ready.set()
        if wait:
            await self.ready.wait()

    async def close(self) -> None:
        self._closed = True
        tasks = [t for t in [self._drainer, *self._tasks] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def size(self) -> int:
        """How many published articles are searchable now."""
        return len(self._entries)

    @property
    def thresholds(self) -> Thresholds:
        return self.index.thresholds

    # --- for the bot ---------------------------------------------------------------------------------

    async def search(
        self, query: str, language: str | None, k: int = 3, *, count_view: bool = True
    ) -> list[ArticleHit]:
        """The best published articles for a customer's question, best first, with their confidence band.

        An answer-band top hit counts as a view of the article (``count_view=False`` for previews).
        """
        text = (query or "").strip()[:MAX_QUERY_CHARS]
        if not text:
            return []
        raw: list[Hit] = await self._run(self.index.search, text, language, k)
        hits: list[ArticleHit] = []
        for hit in raw:
            entry = self._entries.get(hit.article_id)
            if entry is None:  # removed between the search and now
                continue
            hits.append(_article_hit(hit, entry))
        if count_view:
            self.served(hits)
        return hits

    def served(self, hits: Sequence[ArticleHit]) -> None:
        """Count the top hit as a view of its article when it is an answer (a search made ahead of its use)."""
        if hits and hits[0].band is Band.ANSWER:
            self._views.append(hits[0].article_id)
            if self._view_writer is None or self._view_writer.done():
                self._view_writer = self._spawn(self._count_views())

    def published(self, article_id: int) -> PublishedArticle | None:
        """A published article from memory, without a database round trip.

        The conversation engine calls this inside its turn's transaction, where a second transaction
        (``get``) would wait for the first on SQLite.
        """
        entry = self._entries.get(article_id)
        if entry is None:
            return None
        return PublishedArticle(article_id, entry.slug, entry.language, entry.title, entry.body, entry.category)

    async def get(self, article_id: int) -> ArticleView:
        async with transaction(self.sessions) as session:
            return view_of(await get_article(session, article_id))

    async def record_gap(self, text: str, language: str, channel: str, conversation_id: int | None) -> None:
        """A question the bot could not answer confidently; editors see it grouped with similar ones."""
        async with transaction(self.sessions) as session:
            await gaps.record_gap(session, text, language, channel, conversation_id)

    async def feedback(
        self,
        article_id: int,
        helpful: bool,
        text: str | None = None,
        language: str | None = None,
        channel: str | None = None,
        conversation_id: int | None = None,
    ) -> None:
        """Count a helpful / not helpful vote; a "not helpful" with the question is also recorded as a gap."""
        column = Article.helpful if helpful else Article.not_helpful
        async with transaction(self.sessions) as session:
            article = await get_article(session, article_id)
            await session.execute(update(Article).where(Article.id == article_id).values({column: column + 1}))
            kind = ArticleEventKind.HELPFUL if helpful else ArticleEventKind.NOT_HELPFUL
            session.add(ArticleEvent(article_id=article_id, kind=kind))
            if not helpful and text and text.strip():
                await gaps.record_gap(
                    session,
                    text,
                    language or article.language,
                    channel or "unknown",
                    conversation_id,
                    reason=GapReason.NOT_HELPFUL,
                    answered_article_id=article_id,
                )

    async def record_pick(
        self, text: str, language: str, article_id: int, channel: str, conversation_id: int | None
    ) -> None:
        """The customer picked this article among the suggested titles for ``text``: calibration evidence and a
        candidate question variant for editors (:mod:`kb.picks`)."""
        async with transaction(self.sessions) as session:
            await picks.record_pick(session, text, language, article_id, channel, conversation_id)

    # --- for the editors -----------------------------------------------------------------------------

    async def candidates(self, article_id: int, limit: int = 50) -> list[picks.Candidate]:
        """Questions customers asked before picking this article: candidate variants, most frequent first."""
        async with transaction(self.sessions) as session:
            await get_article(session, article_id)  # 404 for an unknown article
            return await picks.candidates(session, article_id, limit)

    async def search_with_draft(
        self, query: str, language: str | None, draft: Document, k: int = 5
    ) -> list[ArticleHit]:
        """What :meth:`search` would return if ``draft`` were published (replacing the article of its id).

        The draft is put into the live index and taken out again inside one hold of the index lock, so no
        other search sees it; the article's published version (if any) is put back with its stored vectors.
        Nothing is counted as a view.
        """
        text = (query or "").strip()[:MAX_QUERY_CHARS]
        if not text:
            return []
        async with transaction(self.sessions) as session:
            stored = await vectors.load_chunks(session, self.embedder, [draft.article_id])
        draft_passages = self.index.passages(draft)
        draft_vectors = await embed_passages(self.embedder, draft_passages) if draft_passages else self._empty()
        own = stored.get(draft.article_id)
        async with self._sync:  # no reload applies to the index while it holds the draft

            def swap_search() -> list[Hit]:
                with self._lock:
                    before = next((d for d in self.index.documents() if d.article_id == draft.article_id), None)
                    self.index.upsert(draft, draft_vectors)
                    try:
                        return self.index.search(text, language, k)
                    finally:
                        if before is None:
                            self.index.remove(draft.article_id)
                        else:
                            restored = self.index.passages(before)
                            have = own.vectors if own is not None else {}
                            ready = bool(restored) and all(p in have for p in restored)
                            self.index.upsert(before, np.stack([have[p] for p in restored]) if ready else None)

            raw = await asyncio.to_thread(swap_search)
        hits: list[ArticleHit] = []
        for hit in raw:
            if hit.article_id == draft.article_id:
                entry = _Entry(draft.key, draft.language, draft.title, draft.body, 0)
            else:
                found = self._entries.get(hit.article_id)
                if found is None:
                    continue
                entry = found
            hits.append(_article_hit(hit, entry))
        return hits

    async def recalibrate(
        self, in_scope: Sequence[tuple[str, str, int]], off_topic: Sequence[tuple[str, str]]
    ) -> Thresholds:
        """Calibrate the bands on the live index with labelled questions and use the result from now on."""
        from kb.search.calibration import calibrate

        thresholds: Thresholds = await self._run(calibrate, self.index, in_scope, off_topic)
        self.set_thresholds(thresholds)
        return thresholds

    def set_thresholds(self, thresholds: Thresholds) -> None:
        with self._lock:
            self.index.thresholds = thresholds

    async def refresh(self, article_ids: Sequence[int]) -> None:
        """Reload these articles from the database into the index now (published in, anything else out)."""
        ids = sorted(set(article_ids))
        for start in range(0, len(ids), REFRESH_BATCH):
            await self._refresh_batch(ids[start : start + REFRESH_BATCH], None)

    async def resync(self) -> int:
        """Reload every article whose published version differs from the index's; returns how many."""
        async with transaction(self.sessions) as session:
            rows = await session.execute(
                select(Article.id, Article.version).where(Article.status == ArticleStatus.PUBLISHED)
            )
            current = {int(i): int(v) for i, v in rows.all()}
        stale = [i for i, v in current.items() if (e := self._entries.get(i)) is None or e.version != v]
        stale += [i for i in self._entries if i not in current]
        if stale:
            await self.refresh(stale)
        return len(stale)

    # --- loading -------------------------------------------------------------------------------------

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        def locked() -> T:
            with self._lock:
                return func(*args)

        return await asyncio.to_thread(locked)

    def _spawn(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _count_views(self) -> None:
        """Count the views served meanwhile in one transaction (a group commit: on SQLite one wait for the write
        lock for all the answers given while the last count was written, not one each)."""
        while self._views:
            batch: list[int] = []
            try:
                async with transaction(self.sessions) as session:
                    await session.connection()  # the write lock first: views served while this waited count too
                    batch, self._views = self._views, []
                    for article_id, views in sorted(Counter(batch).items()):
                        await session.execute(
                            update(Article).where(Article.id == article_id).values(views=Article.views + views)
                        )
                    session.add_all(ArticleEvent(article_id=a, kind=ArticleEventKind.SERVED) for a in batch)
            except Exception:  # a lost view count must never break a reply
                if not batch:
                    batch, self._views = self._views, []
                log.warning("could not count %d views of articles %s", len(batch), sorted(set(batch)), exc_info=True)

    def _empty(self) -> FloatArray:
        return np.zeros((0, self.embedder.dim), dtype=np.float32)

    def _queue(self, article_ids: Sequence[int]) -> None:
        if self._closed:
            return
        self._pending.update(article_ids)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())

    async def _on_article_changed(self, event: Event) -> None:
        article_id = event.data.get("article_id")
        if isinstance(article_id, int) and self._started and not self._closed:
            self._queue([article_id])

    async def _drain(self) -> None:
        bar: tqdm[Any] | None = None
        try:
            while self._pending:
                total = len(self._pending)
                if self.progress and bar is None and total >= PROGRESS_MIN_ARTICLES:
                    bar = tqdm(total=total, unit="article", desc="loading articles", leave=False)
                ids = sorted(self._pending)[:REFRESH_BATCH]
                self._pending.difference_update(ids)
                try:
                    await self._refresh_batch(ids, bar)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("could not reload articles %s; the periodic resync retries", ids)
        finally:
            if bar is not None:
                bar.close()
            if not self._pending:
                self.ready.set()

    async def _refresh_batch(self, ids: list[int], bar: tqdm[Any] | None) -> None:
        """Reload articles from the database: published ones into the index, the others out of it.

        Reading and embedding happen outside ``_sync``, so an editor's save is not held up behind a long
        background embedding; only applying to the index is serialised, and a version check there keeps an
        older read from overwriting a newer one.
        """
        async with transaction(self.sessions) as session:
            rows = await session.execute(select(Article).where(Article.id.in_(ids)))
            found = {a.id: a for a in rows.scalars()}
            published = {i: a for i, a in found.items() if a.status is ArticleStatus.PUBLISHED}
            stored = await vectors.load_chunks(session, self.embedder, list(published))
        docs = [document_of(a) for a in published.values() if self._is_new(a.id, a.version, published=True)]
        passages = [self.index.passages(d) for d in docs]
        known: dict[str, FloatArray] = {}
        for chunks in stored.values():
            known.update(chunks.vectors)
        todo = sorted({p for ps in passages for p in ps if p not in known})
        if todo:
            known.update(zip(todo, await embed_passages(self.embedder, todo), strict=True))
        arrays = [np.stack([known[p] for p in ps]) if ps else self._empty() for ps in passages]
        await self._store(docs, passages, arrays, stored)
        async with self._sync:
            apply = [
                (doc, array)
                for doc, array in zip(docs, arrays, strict=True)
                if self._is_new(doc.article_id, published[doc.article_id].version, published=True)
            ]
            gone = [
                i
                for i in ids
                if i not in published and self._is_new(i, found[i].version if i in found else None, published=False)
            ]
            for article_id in gone:
                await self._run(self.index.remove, article_id)
                self._entries.pop(article_id, None)
                self._applied[article_id] = found[article_id].version if article_id in found else _DELETED
            if apply:
                await self._run(self.index.upsert_many, [d for d, _a in apply], [a for _d, a in apply])
            for doc, _array in apply:
                article = published[doc.article_id]
                self._entries[article.id] = _entry(article)
                self._applied[article.id] = article.version
        if bar is not None:
            bar.update(len(ids))

    def _is_new(self, article_id: int, version: int | None, *, published: bool) -> bool:
        """Whether a state read from the database is newer than what the index holds for that article."""
        applied = self._applied.get(article_id)
        if version is None:  # deleted: remove whatever is there
            return applied != _DELETED
        if applied is None:
            return published
        if version > applied:
            return True
        # The same version: only worth applying when the index does not already reflect it.
        return version == applied and published != (article_id in self._entries)

    async def _store(
        self,
        docs: list[Document],
        passages: list[list[str]],
        arrays: list[FloatArray],
        stored: dict[int, vectors.StoredChunks],
    ) -> None:
        """Persist vector sets that differ from what is stored, so no worker embeds them again."""
        changed = [
            (doc, ps, arr)
            for doc, ps, arr in zip(docs, passages, arrays, strict=True)
            if doc.article_id not in stored or stored[doc.article_id].texts != ps
        ]
        if not changed:
            return
        try:
            async with transaction(self.sessions) as session:
                for doc, ps, arr in changed:
                    await vectors.replace_chunks(session, doc.article_id, self.embedder, ps, arr)
        except Exception:  # the index is right either way; a failed store only costs an embedding later
            log.warning("could not store article vectors", exc_info=True)


_DELETED = 2**62
"""The applied version of an article deleted from the database: newer than any real version."""


async def ensure_vectors(
    sessions: SessionFactory,
    embedder: Embedder,
    *,
    cache: dict[str, FloatArray] | None = None,
    progress: bool = False,
) -> int:
    """Embed and store the passages of published articles that have no vectors from ``embedder`` yet.

    What the server would otherwise do in the background after starting (``kb import``, ``demo load``).
    ``cache``: passage text → vector, consulted before embedding and filled after (the demo data reuses it
    when it is loaded many times in one process, as the tests do). Returns how many articles got vectors.
    """
    index = SearchIndex(embedder)
    async with transaction(sessions) as session:
        published = list(
            (await session.execute(select(Article).where(Article.status == ArticleStatus.PUBLISHED))).scalars()
        )
        stored = await vectors.load_chunks(session, embedder, [a.id for a in published])
    work = []
    for article in published:
        passages = index.passages(document_of(article))
        have = stored.get(article.id)
        if have is None or have.texts != passages:
            work.append((article.id, passages, have.vectors if have is not None else {}))
    known: dict[str, FloatArray] = dict(cache or {})
    todo = sorted({p for _id, ps, have in work for p in ps if p not in have and p not in known})
    bar = tqdm(total=len(todo), unit="passage", desc="embedding", disable=not progress or not todo)
    for start in range(0, len(todo), PROGRESS_STEP):
        batch = todo[start : start + PROGRESS_STEP]
        known.update(zip(batch, await embed_passages(embedder, batch), strict=True))
        bar.update(len(batch))
    bar.close()
    if cache is not None:
        cache.update(known)
    async with transaction(sessions) as session:
        for article_id, passages, own in work:
            matrix = np.stack([own[p] if p in own else known[p] for p in passages]) if passages else None
            if matrix is not None:
                await vectors.replace_chunks(session, article_id, embedder, passages, matrix)
    return len(work)


def _entry(article: Article) -> _Entry:
    return _Entry(article.slug, article.language, article.title, article.body, article.version, article.category)


def _article_hit(hit: Hit, entry: _Entry) -> ArticleHit:
    return ArticleHit(
        article_id=hit.article_id,
        slug=entry.slug,
        language=entry.language,
        title=entry.title,
        answer_markdown=entry.body,
        band=hit.band,
        score=float(hit.score),
        confidence=float(hit.confidence),
        dense=float(hit.dense),
        lexical=float(hit.lexical),
    )
