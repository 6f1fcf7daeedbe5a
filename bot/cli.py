"""The ``frontline`` command: serve, database, demo data, staff accounts — and each package's commands."""

from __future__ import annotations

import os

# One BLAS thread per worker process: the embedder sets its own threads, and numpy's extra threads
# made knowledge-base search ~3x slower under load on 2 cores. Set before numpy is first imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable, Sequence
from typing import Any

from core.cli import Command, command, with_sessions
from core.db import transaction
from core.errors import FrontlineError
from core.logs import setup_logging
from core.settings import Settings

_command = command
_with_sessions = with_sessions


# --- serve -------------------------------------------------------------------------------------------


async def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from aiohttp import web

    from bot.app import create_app
    from core.db import wait_for_database
    from core.migrate import is_up_to_date, upgrade_async

    if args.port is not None:
        settings.port = args.port
    failure = await wait_for_database(settings.database_url, settings.database_wait)
    if failure is not None:
        print(
            f"Cannot reach the database after {settings.database_wait:g} s ({failure}). Check "
            "FRONTLINE_DATABASE_URL and that the database server is running; FRONTLINE_DATABASE_WAIT sets the wait.",
            file=sys.stderr,
        )
        return 3
    if not await is_up_to_date(settings.database_url):
        if settings.is_sqlite or args.migrate:
            print("applying database migrations…", file=sys.stderr)
            await upgrade_async(settings.database_url)
        else:
            print(
                "The database is not migrated to this version. Run `frontline db upgrade` "
                "(or start with `frontline serve --migrate`).",
                file=sys.stderr,
            )
            return 2
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    base = f"http://{settings.host}:{settings.port}"
    print(f"Frontline is serving on {base}  (inbox: {base}/  health: {base}/healthz)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
    return 0


# --- db ----------------------------------------------------------------------------------------------


async def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from core.migrate import upgrade_async

    await upgrade_async(settings.database_url)
    print("database is up to date")
    return 0


async def cmd_db_check(args: argparse.Namespace, settings: Settings) -> int:
    from core.migrate import is_up_to_date

    ok = await is_up_to_date(settings.database_url)
    print("database is up to date" if ok else "database needs `frontline db upgrade`")
    return 0 if ok else 1


# --- demo --------------------------------------------------------------------------------------------


async def cmd_demo_load(args: argparse.Namespace, settings: Settings) -> int:
    from bot.demo import DEMO_ACCOUNTS, load_demo, load_demo_history, load_demo_inbox, load_demo_service_records

    async def work(factory: Any) -> int:
        done = await load_demo(factory, settings)
        done += await load_demo_inbox(factory, settings)
        if not args.without_history:
            done += await load_demo_history(factory, settings)
            done += await load_demo_service_records(factory, settings)
        for line in done or ["demo data already loaded"]:
            print(line)
        print("staff logins: " + ", ".join(f"{a.login} / {a.password}" for a in DEMO_ACCOUNTS))
        return 0

    return await _with_sessions(settings, work)


# --- operator ----------------------------------------------------------------------------------------


def _password(args: argparse.Namespace) -> str:
    if args.password:
        return str(args.password)
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    return getpass.getpass("password: ")


async def cmd_operator(args: argparse.Namespace, settings: Settings) -> int:
    from core import operators

    async def work(factory: Any) -> int:
        async with transaction(factory) as session:
            if args.action == "add":
                op = await operators.add_operator(session, args.login, _password(args), args.role, args.name or "")
                print(f"added {op.login} ({op.role.value})")
            elif args.action == "list":
                for op in await operators.list_operators(session):
                    state = "active" if op.active else "disabled"
                    print(f"{op.login}\t{op.role.value}\t{state}\t{op.name}")
            elif args.action == "set-role":
                op = await operators.set_role(session, args.login, args.role)
                print(f"{op.login} is now {op.role.value}")
            elif args.action == "passwd":
                await operators.set_password(session, args.login, _password(args))
                print(f"password of {args.login} changed")
            elif args.action in ("disable", "enable"):
                await operators.set_active(session, args.login, args.action == "enable")
                print(f"{args.login} {args.action}d")
        return 0

    return await _with_sessions(settings, work)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="frontline", description="Frontline: the first line of customer support.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="serve the web chat, the inbox and the APIs (and Telegram)")
    serve.add_argument("--port", type=int, default=None, help="override FRONTLINE_PORT")
    serve.add_argument("--migrate", action="store_true", help="apply pending migrations (PostgreSQL)")
    _command(serve, cmd_serve)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="action", required=True)
    _command(db.add_parser("upgrade", help="apply every pending migration"), cmd_db_upgrade)
    _command(db.add_parser("check", help="exit 1 when migrations are pending"), cmd_db_check)

    demo = sub.add_parser("demo", help="demo data").add_subparsers(dest="action", required=True)
    demo_load = demo.add_parser("load", help="load demo data (idempotent)")
    demo_load.add_argument(
        "--without-history", action="store_true", help="skip the generated weeks of past conversations for the reports"
    )
    _command(demo_load, cmd_demo_load)

    op = sub.add_parser("operator", help="staff accounts").add_subparsers(dest="action", required=True)
    add = op.add_parser("add", help="add a staff account (password from --password, stdin or a prompt)")
    add.add_argument("login")
    add.add_argument("--role", default="operator", choices=["operator", "editor", "manager", "admin"])
    add.add_argument("--name")
    add.add_argument("--password")
    _command(add, cmd_operator)
    _command(op.add_parser("list", help="list staff accounts"), cmd_operator)
    role = op.add_parser("set-role", help="change a role")
    role.add_argument("login")
    role.add_argument("role", choices=["operator", "editor", "manager", "admin"])
    _command(role, cmd_operator)
    pw = op.add_parser("passwd", help="set a new password")
    pw.add_argument("login")
    pw.add_argument("--password")
    _command(pw, cmd_operator)
    for action in ("disable", "enable"):
        p = op.add_parser(action, help=f"{action} an account")
        p.add_argument("login")
        _command(p, cmd_operator)

    for register in _package_commands():
        register(sub)
    return parser


def _package_commands() -> list[Callable[[Any], None]]:
    """Each package contributes its subcommands through a ``register(subparsers)`` function."""
    from kb import cli as kb_cli
    from nlu import cli as nlu_cli
    from portal import cli as portal_cli
    from tickets import cli as tickets_cli

    registers: list[Callable[[Any], None]] = [
        nlu_cli.register,
        kb_cli.register,
        tickets_cli.register,
        portal_cli.register,
    ]
    return registers


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    setup_logging(settings.log_format, settings.log_level)
    try:
        handler: Command = args.handler
        return asyncio.run(handler(args, settings))
    except FrontlineError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
