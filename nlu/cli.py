"""``frontline nlu``: train the builtin model, parse a text, cross-validate on the training data."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from pathlib import Path
from typing import Any

from core.cli import command, print_json
from core.settings import Settings

__all__ = ["register"]


def register(subparsers: Any) -> None:
    nlu = subparsers.add_parser("nlu", help="intents and entities (NLU)").add_subparsers(dest="action", required=True)

    train = nlu.add_parser("train", help="train the builtin model from data/nlu (skipped when the data is unchanged)")
    train.add_argument("--force", action="store_true", help="train even when a model for this data is cached")
    train.add_argument("--data", type=Path, default=None, help="training data file or folder (default data/nlu)")
    command(train, cmd_train)

    parse = nlu.add_parser("parse", help="print the parse of a text as JSON")
    parse.add_argument("text")
    parse.add_argument("--lang", choices=["ru", "en"], default=None, help="the channel's language hint")
    parse.add_argument(
        "--engine", choices=["builtin", "rasa"], default=None, help="override FRONTLINE_NLU_ENGINE for this call"
    )
    command(parse, cmd_parse)

    test = nlu.add_parser("test", help="cross-validation report per intent on the training data")
    test.add_argument("--folds", type=int, default=5)
    test.add_argument("--data", type=Path, default=None, help="training data file or folder (default data/nlu)")
    test.add_argument("--json", action="store_true", help="print JSON instead of a table")
    command(test, cmd_test)


def _embedder(settings: Settings) -> Any:
    from nlu.embedding import load_embedder

    return load_embedder(settings.embedding_model, settings.embedding_threads)


async def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from nlu.engines import classifier_config
    from nlu.engines.builtin import BuiltinEngine

    embedder = await asyncio.to_thread(_embedder, settings)
    engine = BuiltinEngine(
        embedder,
        args.data or settings.data_dir / "nlu",
        settings.var_dir / "nlu",
        default_language=settings.default_language,
        config=classifier_config(settings),
    )
    try:
        report = await engine.reload(force=args.force)
    finally:
        await engine.close()
    print_json(dataclasses.asdict(report))
    return 0


async def cmd_parse(args: argparse.Namespace, settings: Settings) -> int:
    from nlu.engines import create_nlu_engine

    if args.engine is not None:
        settings = settings.model_copy(update={"nlu_engine": args.engine})
    embedder = await asyncio.to_thread(_embedder, settings)
    engine = await create_nlu_engine(settings, embedder)
    try:
        parse = await engine.parse(args.text, args.lang)
    finally:
        await engine.close()
    print_json(parse.model_dump())
    return 0


async def cmd_test(args: argparse.Namespace, settings: Settings) -> int:
    from nlu.engines import classifier_config
    from nlu.engines.builtin import EmbeddingCache, safe_name
    from nlu.evaluation import cross_validate
    from nlu.training_data import load_training_data

    data = load_training_data(args.data or settings.data_dir / "nlu")
    embedder = await asyncio.to_thread(_embedder, settings)
    cache_path = settings.var_dir / "nlu" / f"embeddings-{safe_name(embedder.name)}.npz"
    cache = EmbeddingCache(embedder, cache_path)
    report = await asyncio.to_thread(cross_validate, data, cache, args.folds, classifier_config(settings))
    cache.save(keep=[e.text for e in data.examples])
    if args.json:
        print_json(report.as_dict())
        return 0
    print(f"{report.folds}-fold cross-validation on {report.examples} examples")
    print(f"accuracy {report.accuracy:.3f}   macro-F1 {report.macro_f1:.3f}\n")
    print(f"{'intent':<18}{'precision':>10}{'recall':>10}{'F1':>8}{'support':>9}")
    for s in report.intents:
        print(f"{s.intent:<18}{s.precision:>10.3f}{s.recall:>10.3f}{s.f1:>8.3f}{s.support:>9}")
    if report.confusions:
        print("\nmost frequent confusions (expected -> predicted):")
        for expected, predicted, n, examples in report.confusions:
            print(f"  {n:>3}  {expected} -> {predicted}   e.g. {examples[0]!r}")
    return 0
