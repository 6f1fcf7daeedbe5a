"""In-memory hybrid search over articles: dense similarities + BM25, fused, with calibrated confidence bands.

One :class:`SearchIndex` per worker. Articles are added, replaced and removed one at a time without rebuilding
the rest (see :mod:`kb.search.dense` and :mod:`kb.search.lexical`). A query is embedded once; every article is
scored (past ``max_candidates`` articles, only a candidate set chosen by one product with a per-article probe
vector and by BM25); the features are fused (:mod:`kb.search.fusion`); translations (articles with the same
``key``) fold into one hit in the customer's language when the article has it; hits are banded with the
thresholds calibrated by :func:`kb.search.calibration.calibrate`.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from kb.search.dense import DenseStore
from kb.search.fusion import (
    DEFAULT_CONFIDENCE,
    DEFAULT_WEIGHTS,
    combined,
    confidence,
    confidence_features,
    feature_names,
    fuse,
)
from kb.search.lexical import LexicalIndex
from kb.search.query import Analysed, Lexicon, QueryAnalyser, Vocabulary, words_of
from kb.search.text import MAX_QUERY_CHARS, has_words, markdown_to_text, split_chunks, tokenize
from nlu.embedding import Embedder

__all__ = ["Band", "Document", "Hit", "SearchIndex", "Thresholds", "threshold_key"]

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Document:
    """What the index needs of an article."""

    article_id: int
    language: str  # "ru" | "en"
    title: str
    questions: tuple[str, ...]  # question variants written by editors
    body: str  # answer, Markdown
    key: str = ""  # slug shared by translations


class Band(StrEnum):
    ANSWER = "answer"
    SUGGEST = "suggest"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Hit:
    article_id: int
    score: float  # fused score used for ranking (a sum of weighted z-scores)
    confidence: float  # calibrated probability that this article answers the question
    band: Band  # only the top hit can be ANSWER
    dense: float  # best cosine of the query to the article's title, variants or answer chunks
    lexical: float  # BM25 of the query against the article


# Calibrated on the demo knowledge base with the default embedder, like fusion.DEFAULT_CONFIDENCE.
DEFAULT_ANSWER = 0.5
DEFAULT_SUGGEST = 0.45

# Embedder names (``Embedder.name``) of the built-in specs: the thresholds file is keyed by spec, and either
# form finds the entry.
SPEC_OF_NAME = {
    "use-multilingual": "use",
    "e5-small-q4": "e5",
    "use-multilingual+e5-small-q4": "use+e5",
    "minilm-l6-v2": "minilm",
}


def threshold_key(embedder: str) -> str:
    """The key of an embedder's entry in the thresholds file: its spec (``use``, ``e5``, ``st:...``)."""
    return SPEC_OF_NAME.get(embedder, embedder)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Confidence thresholds plus the fusion weights and confidence model they were calibrated with.

    Stored in a YAML file keyed by embedder spec (``data/kb/thresholds.yml``), written by ``calibrate``.
    """

    answer: float = DEFAULT_ANSWER
    suggest: float = DEFAULT_SUGGEST
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    confidence: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_CONFIDENCE))
    info: Mapping[str, Any] = field(default_factory=dict)  # how they were calibrated (counts, precision)

    def band(self, conf: float) -> Band:
        if conf >= self.answer:
            return Band.ANSWER
        if conf >= self.suggest:
            return Band.SUGGEST
        return Band.UNKNOWN

    @classmethod
    def load(cls, path: Path, embedder_name: str) -> Thresholds:
        """Thresholds for ``embedder_name`` (spec or ``Embedder.name``) from ``path``; defaults when absent."""
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            return cls()
        entry = data.get(threshold_key(embedder_name)) if isinstance(data, dict) else None
        if not isinstance(entry, dict):
            return cls()
        return cls(
            answer=float(entry["answer"]),
            suggest=float(entry["suggest"]),
            weights={str(k): float(v) for k, v in (entry.get("weights") or DEFAULT_WEIGHTS).items()},
            confidence={str(k): float(v) for k, v in (entry.get("confidence") or DEFAULT_CONFIDENCE).items()},
            info=dict(entry.get("info") or {}),
        )

    def save(self, path: Path, embedder_name: str) -> None:
        """Write (or replace) the entry for ``embedder_name``, keeping the other embedders' entries."""
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            data = {}
        data[threshold_key(embedder_name)] = {
            "answer": round(float(self.answer), 4),
            "suggest": round(float(self.suggest), 4),
            "weights": {k: round(float(v), 4) for k, v in self.weights.items()},
            "confidence": {k: round(float(v), 4) for k, v in self.confidence.items()},
            "info": dict(self.info),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        header = "# Written by `frontline kb calibrate` (kb.search.calibration); keyed by embedder spec.\n"
        tmp.write_text(header + yaml.safe_dump(data, allow_unicode=True, sort_keys=True), encoding="utf-8")
        tmp.replace(path)


@dataclass(slots=True)
class Scored:
    """One query's candidates with raw features and fused scores (used by search, calibration, benchmarks)."""

    slots: I64
    raw: npt.NDArray[np.float64]  # (n_candidates, len(index.features))
    z: npt.NDArray[np.float64]
    scores: npt.NDArray[np.float64]
    foreign: tuple[tuple[tuple[str, ...], ...], ...] = ()  # the off-topic terms the query names (aliases, lemmas)


@dataclass(slots=True)
class _Entry:
    doc: Document
    slot: int
    key_id: int


class SearchIndex:
    """Hybrid search over articles, in memory; all methods are safe to call from several threads."""

    def __init__(
        self,
        embedder: Embedder,
        thresholds: Thresholds | None = None,
        *,
        max_candidates: int = 256,
        shrinkage: float = 1.0,
        chunk_chars: int = 400,
        lexicon: Lexicon | None = None,
    ) -> None:
        self.embedder = embedder
        self.thresholds = thresholds if thresholds is not None else Thresholds()
        self.max_candidates = max_candidates
        self.chunk_chars = chunk_chars
        self._lock = threading.RLock()
        # A multi-part embedder (ConcatEmbedder: ``parts`` of known ``dim``) is scored part by part.
        parts = getattr(embedder, "parts", None)
        dims = [int(p.dim) for p in parts] if parts else [embedder.dim]
        if sum(dims) != embedder.dim:
            dims = [embedder.dim]
        bounds = np.cumsum([0, *dims]).tolist()
        self._blocks: list[tuple[int, int]] = list(itertools.pairwise(bounds))
        self._dense = [DenseStore(d, shrinkage=shrinkage) for d in dims]
        self.features: tuple[str, ...] = feature_names(len(dims))
        """Names of the raw features (columns of ``Scored.raw``), dense per embedder part, then ``bm25``."""
        self._lexical = LexicalIndex()
        self._entries: dict[int, _Entry] = {}  # article_id -> entry
        self._slot_entry: dict[int, _Entry] = {}
        self._free: list[int] = []
        self._n_slots = 0
        self._active = np.zeros(64, dtype=bool)
        self._key_of_slot = np.zeros(64, dtype=np.int64)
        self._key_ids: dict[str, int] = {}
        self._versions: dict[int, dict[str, int]] = {}  # key id -> language -> article id
        self._token_sets: dict[int, frozenset[str]] = {}  # slot -> the article's lemmas
        self.vocabulary = Vocabulary()  # words of every article: what misspellings are corrected towards
        self._latin_ru = Vocabulary()  # Latin words of the Russian articles: kept when Latin text is Russian
        self.analyser = QueryAnalyser(lexicon or Lexicon(), self.vocabulary, self._latin_ru)

    # ------------------------------------------------------------------ content
    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._entries

    def documents(self) -> list[Document]:
        with self._lock:
            return [e.doc for e in self._entries.values()]

    def _layout(self, doc: Document) -> tuple[list[str], list[str]]:
        variants = [t for t in (doc.title, *doc.questions) if t.strip()]
        chunks = split_chunks(markdown_to_text(doc.body), self.chunk_chars)
        return variants, chunks

    def passages(self, doc: Document) -> list[str]:
        """The texts to embed for ``doc``: title, each question variant, then answer chunks (in that order)."""
        variants, chunks = self._layout(doc)
        return variants + chunks

    def upsert(self, doc: Document, vectors: npt.NDArray[np.float32] | None = None) -> None:
        """Add or replace an article; ``vectors`` = ``embed_passages(passages(doc))`` when already computed."""
        self.upsert_many([doc], None if vectors is None else [vectors])

    def upsert_many(self, docs: Sequence[Document], vectors: Sequence[npt.NDArray[np.float32]] | None = None) -> None:
        """Add or replace many articles (one embedding call for those without ``vectors``)."""
        if vectors is not None and len(vectors) != len(docs):
            raise ValueError("vectors must match docs")
        last = {d.article_id: i for i, d in enumerate(docs)}
        if len(last) < len(docs):  # the same article twice: the later one wins
            keep = sorted(last.values())
            docs = [docs[i] for i in keep]
            vectors = None if vectors is None else [vectors[i] for i in keep]
        layouts = [self._layout(d) for d in docs]
        texts = [v + c for v, c in layouts]
        if vectors is None:
            flat = [t for ts in texts for t in ts]
            embedded = self.embedder.embed_passages(flat) if flat else np.zeros((0, self.embedder.dim), np.float32)
            bounds = np.cumsum([0] + [len(ts) for ts in texts])
            vecs = [embedded[bounds[i] : bounds[i + 1]] for i in range(len(docs))]
        else:
            vecs = [np.asarray(v, dtype=np.float32).reshape(-1, self.embedder.dim) for v in vectors]
        for doc, ts, v in zip(docs, texts, vecs, strict=True):
            if len(v) != len(ts):
                raise ValueError(f"article {doc.article_id}: {len(v)} vectors for {len(ts)} passages")
        tokens = [tokenize(" ".join([d.title, *d.questions, markdown_to_text(d.body)])) for d in docs]
        batch: list[tuple[int, F32, int]] = []
        with self._lock:
            for doc, (variants, _), v, toks in zip(docs, layouts, vecs, tokens, strict=True):
                self._remove(doc.article_id)
                slot = self._take_slot()
                key = doc.key or f"#{doc.article_id}"
                key_id = self._key_ids.setdefault(key, len(self._key_ids))
                entry = _Entry(doc, slot, key_id)
                self._entries[doc.article_id] = entry
                self._slot_entry[slot] = entry
                # an article with no text at all (no title, questions or answer) cannot match anything
                self._active[slot] = bool(len(v)) or bool(toks)
                self._key_of_slot[slot] = key_id
                self._versions.setdefault(key_id, {}).setdefault(doc.language, doc.article_id)
                batch.append((slot, v, len(variants)))
                self._lexical.set(slot, toks)
                self._token_sets[slot] = frozenset(toks)
                self._add_words(doc)
            for (a, b), store in zip(self._blocks, self._dense, strict=True):
                parts = [(slot, self._part(v, a, b), n_var) for slot, v, n_var in batch]
                store.set_many([(slot, part[:n_var], part[n_var:]) for slot, part, n_var in parts])
                store.maybe_relearn()
            # BM25 is brought up to date here, so the edit pays for it rather than the next query
            self._lexical.refresh()

    def _part(self, v: F32, a: int, b: int) -> F32:
        """Rows of one embedder part, normalised again (a concatenation scales each part)."""
        if (a, b) == (0, self.embedder.dim):
            return v
        x = v[:, a:b]
        out: F32 = (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)
        return out

    def remove(self, article_id: int) -> None:
        with self._lock:
            self._remove(article_id)
            for store in self._dense:
                store.maybe_relearn()
            self._lexical.refresh()

    @staticmethod
    def _words(doc: Document) -> list[str]:
        return words_of(" ".join([doc.title, *doc.questions, markdown_to_text(doc.body)]))

    def _add_words(self, doc: Document) -> None:
        words = self._words(doc)
        self.vocabulary.add(words)
        if doc.language == "ru":
            self._latin_ru.add(w for w in words if w.isascii())

    def _remove(self, article_id: int) -> None:
        entry = self._entries.pop(article_id, None)
        if entry is None:
            return
        slot = entry.slot
        self._token_sets.pop(slot, None)
        words = self._words(entry.doc)
        self.vocabulary.remove(words)
        if entry.doc.language == "ru":
            self._latin_ru.remove(w for w in words if w.isascii())
        del self._slot_entry[slot]
        self._active[slot] = False
        for store in self._dense:
            store.remove(slot)
        self._lexical.remove(slot)
        versions = self._versions.get(entry.key_id, {})
        if versions.get(entry.doc.language) == article_id:
            del versions[entry.doc.language]
            # another article with the same key and language (unusual) takes its place
            for other in self._entries.values():
                if other.key_id == entry.key_id and other.doc.language == entry.doc.language:
                    versions[entry.doc.language] = other.doc.article_id
                    break
        self._free.append(slot)

    def _take_slot(self) -> int:
        if self._free:
            return self._free.pop()
        slot = self._n_slots
        self._n_slots += 1
        if slot >= len(self._active):
            self._active = np.concatenate([self._active, np.zeros(len(self._active), dtype=bool)])
            self._key_of_slot = np.concatenate([self._key_of_slot, np.zeros(len(self._key_of_slot), np.int64)])
        return slot

    def refresh(self) -> None:
        """Do pending index maintenance now (BM25 delta, whitening) instead of on the next query."""
        with self._lock:
            self._lexical.refresh()
            for store in self._dense:
                store.maybe_relearn()

    # ------------------------------------------------------------------ scoring
    @staticmethod
    def prepare_query(query: str) -> str | None:
        """The query cut to MAX_QUERY_CHARS, or None when it has no letters or digits."""
        query = query.strip()[:MAX_QUERY_CHARS]
        return query if has_words(query) else None

    def analyse(self, query: str) -> Analysed | None:
        """The query as searched (:mod:`kb.search.query`), or None when it has no letters or digits."""
        return self.analyser.analyse(query)

    def score_analysed(self, qvec: npt.NDArray[np.float32], analysed: Analysed) -> Scored:
        """:meth:`score` for an analysed query: its tokens and its off-topic terms."""
        scored = self.score(qvec, analysed.tokens)
        scored.foreign = analysed.foreign
        return scored

    def score(
        self, qvec: npt.NDArray[np.float32], tokens: list[str], weights: Mapping[str, float] | None = None
    ) -> Scored:
        """Candidates, raw and z-scored features and fused scores for one embedded, tokenised query."""
        with self._lock:
            return self._score(np.asarray(qvec, dtype=np.float32).reshape(-1), tokens, weights)

    def _score(self, q: F32, tokens: list[str], weights: Mapping[str, float] | None) -> Scored:
        n = self._n_slots
        active = self._active[:n]
        bm = self._lexical.scores(tokens, n)
        qs = [self._part(q[None, :], a, b)[0] for a, b in self._blocks]
        everything = int(active.sum()) <= self.max_candidates
        if everything:
            cand: I64 = np.flatnonzero(active).astype(np.int64)
        else:
            # First stage: one product with the probe rows (per part, summed), plus BM25; features only for these.
            probe = sum((store.probe[:n] @ qb for store, qb in zip(self._dense, qs, strict=True)), np.zeros(n))
            picks = []
            for values, mask, k in (
                (probe, active, self.max_candidates * 3 // 4),
                (bm, active & (bm > 0), self.max_candidates // 2),
            ):
                idx = np.flatnonzero(mask)
                if len(idx) > k:
                    idx = idx[np.argpartition(-values[idx], k)[:k]]
                picks.append(idx)
            cand = np.unique(np.concatenate(picks)).astype(np.int64)
        raw = np.empty((len(cand), len(self.features)), dtype=np.float64)
        for i, (store, qb) in enumerate(zip(self._dense, qs, strict=True)):
            has_var = store.has_variants[cand]
            col = 4 * i
            raw[:, col] = np.where(has_var, store.cent[cand] @ qb, np.nan)
            raw[:, col + 1] = store.best(qb, cand, "variants", everything)
            raw[:, col + 2] = np.where(has_var, store.wcent[cand] @ store.whiten(qb), np.nan)
            raw[:, col + 3] = store.best(qb, cand, "chunks", everything)
        raw[:, -1] = bm[cand]
        scores, z = fuse(raw, self.thresholds.weights if weights is None else weights, self.features)
        return Scored(cand, raw, z, scores)

    def slot_of(self, article_id: int) -> int | None:
        entry = self._entries.get(article_id)
        return entry.slot if entry is not None else None

    def article_of_slot(self, slot: int) -> Document:
        return self._slot_entry[slot].doc

    def rank(self, scored: Scored, language: str | None, k: int) -> list[Hit]:
        """Hits from a scored query: translations folded, the customer's language preferred, banded."""
        return self.rank_with(scored, language, k, self.thresholds)

    def rank_with(self, scored: Scored, language: str | None, k: int, thresholds: Thresholds) -> list[Hit]:
        with self._lock:
            return self._rank(scored, language, k, thresholds)

    def _rank(self, scored: Scored, language: str | None, k: int, th: Thresholds) -> list[Hit]:
        if k <= 0 or len(scored.slots) == 0:
            return []
        order = np.argsort(-scored.scores, kind="stable")
        keys = self._key_of_slot[scored.slots]
        picked: list[int] = []  # candidate positions, one per key
        seen: set[int] = set()
        for i in order.tolist():
            kid = int(keys[i])
            if kid in seen:
                continue
            seen.add(kid)
            picked.append(i)
            if len(picked) > k:  # one more than needed: the margin of the last hit
                break
        hits: list[Hit] = []
        top = float(scored.scores[picked[0]])
        second = float(scored.scores[picked[1]]) if len(picked) > 1 else top - 1.0
        for rank, i in enumerate(picked[:k]):
            s = float(scored.scores[i])
            margin = s - (second if rank == 0 else top)
            raw = combined(dict(zip(self.features, scored.raw[i].tolist(), strict=True)))
            foreign = self.foreign_terms(scored, int(scored.slots[i]))
            conf = confidence(confidence_features(s, margin, raw, foreign), th.confidence)
            band = th.band(conf)
            if rank > 0:
                # The runners-up of a question we can answer or suggest for are the suggestions (their own
                # confidence is low by construction: it counts their margin below the top hit).
                band = Band.SUGGEST if hits[0].band is not Band.UNKNOWN else Band.UNKNOWN
            entry = self._slot_entry[int(scored.slots[i])]
            article_id = entry.doc.article_id
            if language is not None and entry.doc.language != language:
                article_id = self._versions.get(entry.key_id, {}).get(language, article_id)
            sims = [v for v in (raw["cent"], raw["qmax"], raw["body"]) if math.isfinite(v)]
            hits.append(Hit(article_id, s, conf, band, max(sims) if sims else 0.0, raw["bm25"]))
        return hits

    def foreign_terms(self, scored: Scored, slot: int) -> int:
        """How many off-topic terms of the query the article in ``slot`` does not mention."""
        if not scored.foreign:
            return 0
        have = self._token_sets.get(slot, frozenset())
        return sum(1 for term in scored.foreign if not any(all(t in have for t in alias) for alias in term))

    def search(self, query: str, language: str | None = None, k: int = 5) -> list[Hit]:
        """Best ``k`` articles for a customer's question; [] for an empty or letterless query."""
        if k <= 0 or not self._entries:
            return []
        analysed = self.analyse(query)
        if analysed is None:
            return []
        qvec = self.embedder.embed_queries([analysed.text])[0]
        with self._lock:
            scored = self._score(qvec, analysed.tokens, None)
            scored.foreign = analysed.foreign
            return self._rank(scored, language, k, self.thresholds)
