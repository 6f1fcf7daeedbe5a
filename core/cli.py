"""Helpers for package subcommands: each package's ``cli.register(subparsers)`` adds its own.

A command is ``async def cmd(args, settings) -> int`` set with ``parser.set_defaults(handler=cmd)``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from core.db import SessionFactory, create_engine, session_factory
from core.settings import Settings

Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]
T = TypeVar("T")


def command(parser: argparse.ArgumentParser, func: Command) -> None:
    parser.set_defaults(handler=func)


async def with_sessions(settings: Settings, work: Callable[[SessionFactory], Awaitable[T]]) -> T:
    """Run ``work`` with a session factory on a fresh engine, disposed afterwards."""
    engine = create_engine(settings.database_url)
    try:
        return await work(session_factory(engine))
    finally:
        await engine.dispose()


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
