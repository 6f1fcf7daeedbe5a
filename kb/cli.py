"""``frontline kb …``: import, export, reindex, calibrate, search."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from core.cli import command, with_sessions
from core.db import SessionFactory, transaction
from core.events import InProcessBus, create_bus
from core.settings import Settings
from core.uow import UnitOfWork
from kb import articles, importer, picks, vectors
from kb.models import ArticleStatus
from kb.schemas import ArticleContent
from kb.service import KnowledgeBase, ensure_vectors
from nlu.embedding import Embedder, load_embedder


def register(subparsers: Any) -> None:
    kb = subparsers.add_parser("kb", help="knowledge base").add_subparsers(dest="action", required=True)

    imp = kb.add_parser("import", help="import articles: a folder of .md (YAML front matter) / .csv files, a .zip")
    imp.add_argument("path", type=Path)
    imp.add_argument("--no-embed", action="store_true", help="skip computing vectors (the server does it later)")
    command(imp, cmd_import)

    exp = kb.add_parser("export", help="export articles: a folder of .md files, a .zip, or one .csv")
    exp.add_argument("path", type=Path)
    exp.add_argument("--format", choices=["md", "csv"], help="default: csv when PATH ends in .csv, else md")
    exp.add_argument("--status", choices=["draft", "published", "archived"], help="only articles in this status")
    command(exp, cmd_export)

    command(kb.add_parser("reindex", help="re-embed every published article with the current model"), cmd_reindex)

    cal = kb.add_parser("calibrate", help="set the answer/suggest thresholds from evaluation sets")
    cal.add_argument(
        "--set",
        dest="set_paths",
        type=Path,
        action="append",
        help="questions YAML, repeatable (default: data/eval/kb_demo_tune.yml and kb_colloquial_tune.yml)",
    )
    cal.add_argument(
        "--with-picks",
        action="store_true",
        help="also use customers' picks among suggested titles (not dismissed) as labelled questions",
    )
    cal.add_argument("--out", type=Path, help="thresholds file (default data/kb/thresholds.yml)")
    command(cal, cmd_calibrate)

    search = kb.add_parser("search", help="what the bot would answer: hits with title, band and scores")
    search.add_argument("text")
    search.add_argument("--lang", choices=["ru", "en"], help="only articles in this language")
    search.add_argument("-k", type=int, default=5, help="how many hits (default 5)")
    command(search, cmd_search)


def _embedder(settings: Settings) -> Embedder:
    return load_embedder(settings.embedding_model, settings.embedding_threads)


async def _knowledge_base(factory: SessionFactory, settings: Settings, embedder: Embedder) -> KnowledgeBase:
    kb = KnowledgeBase(
        factory,
        InProcessBus(),
        embedder,
        thresholds_path=settings.data_dir / "kb" / "thresholds.yml",
        progress=sys.stderr.isatty(),
    )
    await kb.start(wait=True)
    return kb


async def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    started = time.perf_counter()
    try:
        contents = importer.parse_path(args.path)
    except importer.ImportFailed as exc:
        print(f"nothing was imported: {len(exc.problems)} problem(s)", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    parsed = time.perf_counter()

    async def work(factory: SessionFactory) -> int:
        # With Redis configured, running workers pick the changes up at once; otherwise within a minute.
        bus = create_bus(settings.redis_url)
        await bus.start()
        try:
            async with UnitOfWork(factory, bus) as uow:
                done = await articles.import_articles(uow, contents, None, note=f"imported from {args.path.name}")
        finally:
            await bus.stop()
        stored = time.perf_counter()
        counts = {a: sum(d.action == a for d in done) for a in ("created", "updated", "unchanged")}
        print(
            f"{len(done)} articles: {counts['created']} created, {counts['updated']} updated, "
            f"{counts['unchanged']} unchanged (parsed in {parsed - started:.2f} s, stored in {stored - parsed:.2f} s)"
        )
        if not args.no_embed:
            embedder = _embedder(settings)
            count = await ensure_vectors(factory, embedder, progress=sys.stderr.isatty())
            seconds = time.perf_counter() - stored
            print(f"vectors of {count} published articles computed with {embedder.name} in {seconds:.1f} s")
        return 0

    return await with_sessions(settings, work)


async def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    path: Path = args.path
    fmt = args.format or ("csv" if path.suffix.lower() == ".csv" else "md")
    status = ArticleStatus(args.status) if args.status else None

    async def work(factory: SessionFactory) -> int:
        async with transaction(factory) as session:
            contents = [articles.content_of(a) for a in await articles.all_articles(session, status)]
        await asyncio.to_thread(_write_export, path, fmt, contents)
        print(f"{len(contents)} articles written to {path}")
        return 0

    return await with_sessions(settings, work)


def _write_export(path: Path, fmt: str, contents: list[ArticleContent]) -> None:
    if fmt == "csv":
        path.write_text(importer.to_csv(contents), encoding="utf-8")
    elif path.suffix.lower() == ".zip":
        path.write_bytes(importer.to_zip(contents))
    else:
        importer.write_folder(path, contents)


async def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    embedder = _embedder(settings)

    async def work(factory: SessionFactory) -> int:
        async with transaction(factory) as session:
            dropped = await vectors.delete_chunks(session)
        started = time.perf_counter()
        count = await ensure_vectors(factory, embedder, progress=True)
        print(
            f"dropped {dropped} stored vectors; embedded {count} published articles with {embedder.name} "
            f"in {time.perf_counter() - started:.1f} s"
        )
        return 0

    return await with_sessions(settings, work)


def load_questions(path: Path) -> list[tuple[str, str, str | None]]:
    """An evaluation set: ``questions: [{text, language, article: slug | null}]`` (null = off-topic)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out: list[tuple[str, str, str | None]] = []
    for item in data.get("questions", []):
        article = item.get("article")
        out.append((str(item["text"]), str(item["language"]), str(article) if article else None))
    return out


async def cmd_calibrate(args: argparse.Namespace, settings: Settings) -> int:
    from kb.search.calibration import calibrate

    set_paths: list[Path] = args.set_paths or [
        settings.data_dir / "eval" / "kb_demo_tune.yml",
        settings.data_dir / "eval" / "kb_colloquial_tune.yml",
    ]
    out_path: Path = args.out or settings.data_dir / "kb" / "thresholds.yml"
    questions = [q for path in set_paths for q in load_questions(path)]
    embedder = _embedder(settings)

    async def work(factory: SessionFactory) -> int:
        kb = await _knowledge_base(factory, settings, embedder)
        await kb.close()
        async with transaction(factory) as session:
            published = await articles.all_articles(session, ArticleStatus.PUBLISHED)
        ids = {(a.slug, a.language): a.id for a in published}
        any_language = {a.slug: a.id for a in published}
        in_scope: list[tuple[str, str, int]] = []
        off_topic: list[tuple[str, str]] = []
        unknown_slugs: set[str] = set()
        for text, language, slug in questions:
            if slug is None:
                off_topic.append((text, language))
                continue
            article_id = ids.get((slug, language), any_language.get(slug))
            if article_id is None:
                unknown_slugs.add(slug)
            else:
                in_scope.append((text, language, article_id))
        if unknown_slugs:
            print(f"skipped questions about unpublished articles: {', '.join(sorted(unknown_slugs))}", file=sys.stderr)
        if args.with_picks:
            async with transaction(factory) as session:
                chosen = await picks.labelled_picks(session)
            live = set(ids.values())
            in_scope += [(text, language, aid) for text, language, aid in chosen if aid in live]
            print(f"{sum(aid in live for _t, _l, aid in chosen)} customers' picks added as labelled questions")
        if not in_scope or not off_topic:
            print("the set needs in-scope and off-topic questions (and the articles imported)", file=sys.stderr)
            return 2
        thresholds = calibrate(kb.index, in_scope=in_scope, off_topic=off_topic)
        thresholds.save(out_path, embedder.name)
        print(
            f"answer ≥ {thresholds.answer:.4f}, suggest ≥ {thresholds.suggest:.4f} for {embedder.name} "
            f"from {len(in_scope)} in-scope and {len(off_topic)} off-topic questions → {out_path}"
        )
        return 0

    return await with_sessions(settings, work)


async def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    embedder = _embedder(settings)

    async def work(factory: SessionFactory) -> int:
        kb = await _knowledge_base(factory, settings, embedder)
        try:
            hits = await kb.search(args.text, args.lang, args.k, count_view=False)
        finally:
            await kb.close()
        if not hits:
            print("no articles found: band unknown (the bot would say it does not know)")
            return 0
        print(f"{'#':>2}  {'band':<8} {'score':>7} {'conf':>6} {'dense':>6} {'lex':>6}  title")
        for rank, hit in enumerate(hits, start=1):
            print(
                f"{rank:>2}  {hit.band.value:<8} {hit.score:7.4f} {hit.confidence:6.3f} {hit.dense:6.3f} "
                f"{hit.lexical:6.3f}  {hit.title}  [{hit.slug}.{hit.language}, #{hit.article_id}]"
            )
        return 0

    return await with_sessions(settings, work)
