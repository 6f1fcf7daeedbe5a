"""Knowledge-base retrieval benchmark: prints ONE JSON object keyed by set, then method.

Sets (see bench/_sets.py for the protocols): banking77-en, banking77-ru, banking77-ru-en (BANKING77 as FAQ),
xquad-en, xquad-ru, xquad-ru-en (question → paragraph), demo-ru, demo-en (the demo KB, with off-topic
questions). Methods: ``dense`` (dense features only), ``bm25`` (BM25 only), ``fused`` (all); each set's
weights are fitted on its tuning split and reported on its held-out split; ``centroid`` (cosine to the mean of
the variants, or to the best paragraph chunk) is the untrained reference. Demo sets also report
``unknown`` (off-topic → unknown band, precision/recall) and ``answer`` (precision and share of the answer
band) at the thresholds calibrated on kb_demo_tune.yml. Then query latency through ``SearchIndex.search``
(embedding included), demo index build time and RSS, and a 10,000-article synthetic scale run.

    .venv/bin/python bench/kb_retrieval.py [--embedder use] [--quick] [--set banking77-en=PATH ...]
        [--sets demo-ru,demo-en] [--write-thresholds]

Set paths (``--set NAME=PATH``): banking77-en (train.csv; test.csv beside it is used when present),
banking77-ru (banking77_ru.json; its "test" split when present), xquad-en, xquad-ru (SQuAD JSON), demo-kb
(folder of <slug>.<lang>.md), demo-tune (YAML question lists joined by commas), demo-test (one YAML list).
Embeddings are cached per text under /tmp/frontline-kb-emb (FRONTLINE_KB_EMB_CACHE) except for timing.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._embcache import CachedEmbedder  # noqa: E402
from bench._sets import DEFAULT_PATHS, REPO, Query, RetrievalSet, banking77, demo, demo_queries, xquad  # noqa: E402
from bench._stats import percentiles  # noqa: E402
from kb.search.calibration import calibrate  # noqa: E402
from kb.search.fusion import DEFAULT_WEIGHTS, base_name, fit_weights, weight_vector  # noqa: E402
from kb.search.index import Band, Document, Scored, SearchIndex, Thresholds  # noqa: E402
from kb.search.query import Lexicon  # noqa: E402
from nlu.embedding import load_embedder  # noqa: E402

ALL_SETS = (
    "banking77-en",
    "banking77-ru",
    "banking77-ru-en",
    "xquad-en",
    "xquad-ru",
    "xquad-ru-en",
    "demo-ru",
    "demo-en",
)


def log(*a: object) -> None:
    print(*a, file=sys.stderr, flush=True)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def load_set(name: str, paths: dict[str, Path]) -> RetrievalSet:
    if name.startswith("banking77-"):
        q, _, a = name.removeprefix("banking77-").partition("-")
        return banking77(q, a or q, paths["banking77-en"], paths["banking77-ru"])
    if name.startswith("xquad-"):
        q, _, a = name.removeprefix("xquad-").partition("-")
        return xquad(q, a or q, paths["xquad-en"], paths["xquad-ru"])
    if name.startswith("demo-"):
        return demo(name.removeprefix("demo-"), paths["demo-kb"], paths["demo-tune"], paths["demo-test"])
    raise SystemExit(f"unknown set {name}")


def metrics(ranked: list[list[str]], truth: list[str]) -> dict[str, float]:
    r1 = r3 = mrr = 0.0
    for keys, t in zip(ranked, truth, strict=True):
        if keys[:1] == [t]:
            r1 += 1
        if t in keys[:3]:
            r3 += 1
        if t in keys:
            mrr += 1 / (keys.index(t) + 1)
    n = max(len(truth), 1)
    return {"recall@1": round(r1 / n, 4), "recall@3": round(r3 / n, 4), "mrr": round(mrr / n, 4)}


class Prepared:
    """A set's index plus its queries embedded, tokenised and scored once (z-scores do not depend on weights)."""

    def __init__(
        self, s: RetrievalSet, emb: CachedEmbedder, max_candidates: int = 256, lexicon: Lexicon | None = None
    ) -> None:
        self.set = s
        self.index = SearchIndex(emb, max_candidates=max_candidates, lexicon=lexicon)
        self.index.upsert_many(s.docs)
        self.by_id = {d.article_id: d for d in s.docs}
        self.tune = self._score(s.tune, emb)
        self.test = self._score(s.test, emb)
        self.skipped = [q for q in s.test if self.index.analyse(q.text) is None]
        self.out_of_scope: set[str] = set()  # questions the NLU parses as out_of_scope (with --nlu)

    def _score(self, queries: list[Query], emb: CachedEmbedder) -> list[tuple[Query, Scored]]:
        kept = [(q, self.index.analyse(q.text)) for q in queries]
        kept2 = [(q, a) for q, a in kept if a is not None]
        vecs = emb.embed_queries([a.text for _, a in kept2])
        return [(q, self.index.score_analysed(v, a)) for (q, a), v in zip(kept2, vecs, strict=True)]

    def key(self, article_id: int) -> str:
        d = self.by_id[article_id]
        return d.key or f"#{d.article_id}"

    def fit(self, features: tuple[str, ...]) -> dict[str, float]:
        cols = [self.index.features.index(f) for f in features]
        zs, targets = [], []
        for q, sc in self.tune:
            if q.key is None:
                continue
            slots = [self.index.slot_of(d.article_id) for d in self.set.docs if (d.key or "") == q.key]
            where = [i for i, s in enumerate(sc.slots.tolist()) if s in slots]
            # the version in the query's language when there are translations
            lang = [i for i in where if self.index.article_of_slot(int(sc.slots[i])).language == q.language]
            zs.append(sc.z[:, cols])
            targets.append((lang or where or [-1])[0])
        prior = {f: DEFAULT_WEIGHTS.get(base_name(f), 0.0) for f in features}
        return fit_weights(zs, targets, prior=prior, features=features, l2=0.01)

    def evaluate(self, weights: dict[str, float], th: Thresholds | None = None) -> dict[str, Any]:
        w = weight_vector({f: weights.get(f, 0.0) for f in self.index.features}, self.index.features)
        th = th or Thresholds(weights=weights)
        ranked, truth = [], []
        outcomes: list[Outcome] = []
        for q, sc in self.test:
            sc2 = Scored(sc.slots, sc.raw, sc.z, sc.z @ w, sc.foreign)
            hits = self.index.rank_with(sc2, q.language, 10, th)
            keys = [self.key(h.article_id) for h in hits]
            if q.key is not None:
                ranked.append(keys)
                truth.append(q.key)
            outcomes.append(bot_outcome(q, hits, keys, q.text in self.out_of_scope))
        # queries without letters never reach the index: the bot says it does not know
        outcomes += [Outcome(q, "unknown", [], []) for q in self.skipped]
        out: dict[str, Any] = metrics(ranked, truth)
        out["_outcomes"] = outcomes
        return out


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the bot would do with one question: its band and the article keys it shows (and the ranking)."""

    query: Query
    band: str  # answer | suggest | unknown
    shown: list[str]  # answer: the one article; suggest: up to three titles; unknown: none
    ranked: list[str]


MAX_SUGGESTIONS = 3  # as the bot offers them (bot/engine/answer.py)


def bot_outcome(q: Query, hits: list[Any], keys: list[str], doubted: bool = False) -> Outcome:
    """The bot's reply to ``hits`` (bot/engine/answer.py): the top hit when it is in the answer band (and the NLU
    did not call the question out of scope: ``doubted``), else the answer- or suggest-band hits among the first
    four (at most three), else unknown."""
    if not hits:
        return Outcome(q, "unknown", [], keys)
    if hits[0].band is Band.ANSWER and not doubted:
        return Outcome(q, "answer", keys[:1], keys)
    offered = (Band.ANSWER, Band.SUGGEST)
    shown = [k for h, k in zip(hits[: MAX_SUGGESTIONS + 1], keys, strict=False) if h.band in offered]
    if shown:
        return Outcome(q, "suggest", shown[:MAX_SUGGESTIONS], keys)
    return Outcome(q, "unknown", [], keys)


def _share(flags: list[bool]) -> float | None:
    return round(sum(flags) / len(flags), 4) if flags else None


def outcome_report(outcomes: list[Outcome]) -> dict[str, Any]:
    """The product figures of one group of questions (the issue's targets)."""
    ins = [o for o in outcomes if o.query.key is not None]
    off = [o for o in outcomes if o.query.key is None]
    answered = [o for o in outcomes if o.band == "answer"]
    out: dict[str, Any] = {"n_in_scope": len(ins), "n_off_topic": len(off)}
    if ins:
        out["recall@1"] = _share([o.ranked[:1] == [o.query.key] for o in ins])
        out["recall@3"] = _share([o.query.key in o.ranked[:3] for o in ins])
        out["bands_in_scope"] = {b: _share([o.band == b for o in ins]) for b in ("answer", "suggest", "unknown")}
        out["answer_or_suggest_recall"] = _share([o.query.key in o.shown for o in ins])
        out["in_scope_unknown_rate"] = _share([o.band == "unknown" for o in ins])
    if answered:
        out["answer_precision"] = _share([o.shown == [o.query.key] for o in answered])
        out["answer_n"] = len(answered)
    if off:
        out["bands_off_topic"] = {b: _share([o.band == b for o in off]) for b in ("answer", "suggest", "unknown")}
        out["off_topic_answered_rate"] = _share([o.band == "answer" for o in off])
    return out


def demo_report(outcomes: list[Outcome]) -> dict[str, Any]:
    """Figures for all questions, then per kind (when the set gives the kind)."""
    out = outcome_report(outcomes)
    kinds = sorted({o.query.kind for o in outcomes if o.query.kind})
    if kinds:
        out["by_kind"] = {k: outcome_report([o for o in outcomes if o.query.kind == k]) for k in kinds}
    return out


def run_set(
    name: str,
    paths: dict[str, Path],
    emb: CachedEmbedder,
    quick: bool,
    demo_th: dict[str, Any],
    max_candidates: int = 256,
    nlu: set[str] | None = None,
) -> dict[str, Any]:
    s = load_set(name, paths)
    if quick:
        rng = np.random.default_rng(3)
        s.test = [s.test[i] for i in sorted(rng.permutation(len(s.test))[:300])]
        s.tune = [s.tune[i] for i in sorted(rng.permutation(len(s.tune))[:300])]
    t0 = time.perf_counter()
    # the demo knowledge base ships with its word lists (data/kb/variants.yml, off_topic.yml)
    p = Prepared(s, emb, max_candidates, Lexicon.load(paths["demo-kb"]) if name.startswith("demo-") else None)
    log(
        f"[{name}] {len(s.docs)} articles, tune {len(s.tune)}, test {len(s.test)} ({s.eval_split})",
        f"{time.perf_counter() - t0:.1f}s",
    )
    result: dict[str, Any] = {}
    fitted = {
        "dense": p.fit(tuple(f for f in p.index.features if f != "bm25")),
        "bm25": {"bm25": 1.0},
        "fused": p.fit(p.index.features),
        # reference: cosine to the mean of the variants (or the best answer chunk when there are none)
        "centroid": {
            f: (1.0 if base_name(f) == "cent" else 0.01) for f in p.index.features if base_name(f) in ("cent", "body")
        },
    }
    th: Thresholds | None = None
    if name.startswith("demo-"):
        if "th" not in demo_th:
            # one calibration on the whole tuning file (both languages), shared by demo-ru and demo-en
            in_scope, off_topic = [], []
            by_key = {(d.key, d.language): d.article_id for d in s.docs}
            for q in s.tune:
                if q.key is None:
                    off_topic.append((q.text, q.language))
                else:
                    in_scope.append((q.text, q.language, by_key[(q.key, q.language)]))
            demo_th["th"] = calibrate(p.index, in_scope, off_topic)
        th = demo_th["th"]
        fitted["fused"] = dict(th.weights)
    for method, weights in fitted.items():
        ev = p.evaluate(weights, th if method == "fused" else None)
        outcomes = ev.pop("_outcomes")
        result[method] = ev
        if method == "fused" and th is not None:
            # the search alone: what the help center and the operators' suggestions show
            result["product"] = demo_report(outcomes)
            if nlu is not None:
                # the bot: the NLU's out-of-scope verdict turns a confident answer into titles to choose from
                p.out_of_scope = {q.text for q in s.test if q.text in nlu}
                result["bot"] = demo_report(p.evaluate(weights, th)["_outcomes"])
                result["bot"]["nlu_out_of_scope_share"] = {
                    "in_scope": _share([q.text in nlu for q in s.test if q.key is not None]),
                    "off_topic": _share([q.text in nlu for q in s.test if q.key is None]),
                }
    result["info"] = {
        "articles": len(s.docs),
        "tune": len(s.tune),
        "reported": len(s.test),
        "split": s.eval_split,
        "weights": {m: w for m, w in fitted.items() if m in ("dense", "fused")},
    }
    log(f"[{name}] " + json.dumps({m: result[m]["recall@1"] for m in ("dense", "bm25", "fused")}))
    emb.save()
    return result


def latency(
    paths: dict[str, Path], spec: str, threads: int, th: Thresholds | None, quick: bool, stored: CachedEmbedder
) -> dict[str, Any]:
    """Query latency of ``SearchIndex.search`` with the real embedder (the query embedded for every search).

    The demo index is built from ``stored`` passage vectors, as a worker starts from the vectors in the
    database; ``index_build_s`` is that load, not embedding.
    """
    emb = load_embedder(spec, threads=threads)
    s = demo(None, paths["demo-kb"], paths["demo-tune"], paths["demo-test"])
    t0 = time.perf_counter()
    index = SearchIndex(emb, th, lexicon=Lexicon.load(paths["demo-kb"]))
    index.upsert_many(s.docs, [stored.embed_passages(index.passages(d)) for d in s.docs])
    build = time.perf_counter() - t0
    queries = [q.text for q in s.test] * (1 if quick else 3)
    index.search(queries[0], "ru")
    times = []
    for q in queries:
        t = time.perf_counter()
        index.search(q, "ru")
        times.append((time.perf_counter() - t) * 1000)
    return {
        "latency_ms": percentiles(times),
        "index_build_s": round(build, 2),
        "index_articles": len(index),
        "rss_mb": rss_mb(),
        "_emb": emb,
    }


def scale(emb: Any, n_articles: int, queries: list[str]) -> dict[str, Any]:
    """Synthetic articles with precomputed vectors (as loaded from the database), real query embedding."""
    rng = np.random.default_rng(5)
    base = demo(None, DEFAULT_PATHS["demo-kb"], DEFAULT_PATHS["demo-tune"], DEFAULT_PATHS["demo-test"]).docs
    words = sorted(
        {w for d in base for w in (d.title + " " + " ".join(d.questions) + " " + d.body).split() if w.isalpha()}
    )
    dim = emb.dim
    docs, vecs = [], []
    probe = SearchIndex(emb)
    for i in range(n_articles):
        src = base[i % len(base)]
        pick = rng.choice(len(words), 60)
        body = " ".join(words[j] for j in pick[:50])
        doc = Document(
            100_000 + i,
            src.language,
            f"{src.title} {words[pick[50]]}",
            tuple(f"{q} {words[pick[51 + j % 9]]}" for j, q in enumerate(src.questions[:6])),
            body,
            key=f"syn-{i}",
        )
        n = len(probe.passages(doc))
        v = rng.standard_normal((n, dim)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        docs.append(doc)
        vecs.append(v)
    gc.collect()
    before = rss_mb()
    t0 = time.perf_counter()
    index = SearchIndex(emb)
    index.upsert_many(docs, vecs)
    index.refresh()
    build = time.perf_counter() - t0
    index.search(queries[0], "ru")
    times = []
    for q in queries:
        t = time.perf_counter()
        index.search(q, "ru")
        times.append((time.perf_counter() - t) * 1000)
    after = rss_mb()
    # one edited article: upsert, then the first query (which pays the BM25 delta rebuild)
    edit = []
    for j in range(5):
        d = docs[j * 7]
        t = time.perf_counter()
        index.upsert(Document(d.article_id, d.language, d.title + " правка", d.questions, d.body, d.key), vecs[j * 7])
        t1 = time.perf_counter()
        index.search(queries[j], "ru")
        edit.append(((t1 - t) * 1000, (time.perf_counter() - t1) * 1000))
    t = time.perf_counter()
    index._lexical.compact()
    compact = time.perf_counter() - t
    return {
        "articles": len(index),
        "passages": int(sum(len(v) for v in vecs)),
        "query_ms": percentiles(times),
        "build_s": round(build, 2),
        "rss_mb": after,
        "index_mb": round(after - before, 1),
        "upsert_one_ms": percentiles([e[0] for e in edit], (50,))["p50"],
        "first_query_after_edit_ms": percentiles([e[1] for e in edit], (50,))["p50"],
        "bm25_full_rebuild_s": round(compact, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--embedder", default="use", help="embedder spec (use | e5 | use+e5 | minilm | st:...)")
    ap.add_argument("--threads", type=int, default=1, help="embedder threads")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=PATH", help="point a set at another file")
    ap.add_argument("--sets", default=",".join(ALL_SETS), help="comma-separated sets to run")
    ap.add_argument("--quick", action="store_true", help="small samples (smoke run)")
    ap.add_argument(
        "--max-candidates", type=int, default=256, help="articles scored in full per query (fewer: two stages)"
    )
    ap.add_argument("--scale", type=int, default=10_000, help="articles in the scale run (0 = skip)")
    ap.add_argument(
        "--write-thresholds", action="store_true", help="save the demo calibration to data/kb/thresholds.yml"
    )
    ap.add_argument(
        "--nlu", action="store_true", help="demo sets: also report the bot's replies with the builtin NLU's verdicts"
    )
    args = ap.parse_args()
    paths = dict(DEFAULT_PATHS)
    for item in args.set:
        name, _, path = item.partition("=")
        if name not in paths or not path:
            raise SystemExit(f"--set {item}: expected one of {sorted(paths)}=PATH")
        paths[name] = Path(path)
    sets = [s for s in args.sets.split(",") if s]
    out: dict[str, Any] = {"embedder": args.embedder}
    emb = CachedEmbedder(load_embedder(args.embedder, threads=args.threads))
    demo_th: dict[str, Any] = {}
    for name in sets:
        nlu = out_of_scope_texts(paths, args.embedder, args.threads) if args.nlu and name.startswith("demo-") else None
        out[name] = run_set(name, paths, emb, args.quick, demo_th, args.max_candidates, nlu)
        gc.collect()
    th: Thresholds | None = demo_th.get("th")
    if th is not None:
        out["calibration"] = {"answer": th.answer, "suggest": th.suggest, **th.info}
        if args.write_thresholds:
            th.save(REPO / "data" / "kb" / "thresholds.yml", args.embedder)
            log(f"thresholds for {args.embedder} written to data/kb/thresholds.yml")
    lat = latency(paths, args.embedder, args.threads, th, args.quick, emb)
    emb.save()
    del emb
    gc.collect()
    real = lat.pop("_emb")
    out.update(lat)
    if args.scale:
        n = 2000 if args.quick else args.scale
        qs = [q.text for q in demo_queries_all(paths)][: 100 if args.quick else 300]
        out[f"scale_{n // 1000}k"] = scale(real, n, qs)
    print(json.dumps(out, ensure_ascii=False))


def out_of_scope_texts(paths: dict[str, Path], spec: str, threads: int) -> set[str]:
    """The demo test questions the builtin NLU engine (trained from data/nlu, as shipped) parses as out of scope."""
    import asyncio
    import tempfile

    from nlu.embedding import shared_embedder
    from nlu.engines.builtin import BuiltinEngine
    from nlu.parse import OUT_OF_SCOPE

    async def run() -> set[str]:
        with tempfile.TemporaryDirectory() as cache:
            engine = await BuiltinEngine.open(
                shared_embedder(spec, threads), data_path=REPO / "data" / "nlu", cache_dir=Path(cache)
            )
            try:
                found = set()
                for q in demo_queries(paths["demo-test"]):
                    if (await engine.parse(q.text, q.language)).intent.name == OUT_OF_SCOPE:
                        found.add(q.text)
                return found
            finally:
                await engine.close()

    return asyncio.run(run())


def demo_queries_all(paths: dict[str, Path]) -> list[Query]:
    tune = [q for part in str(paths["demo-tune"]).split(",") for q in demo_queries(Path(part))]
    return demo_queries(paths["demo-test"]) + tune


if __name__ == "__main__":
    main()
