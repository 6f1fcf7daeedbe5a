"""Start-up and shutdown of the conversation engine and the Telegram channel (aiohttp cleanup contexts)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import yaml
from aiohttp import web

from bot.channels.telegram import ALLOWED_UPDATES, TelegramChannel
from bot.channels.webhook import StoringRequestHandler
from bot.engine.engine import ConversationEngine
from bot.keys import CONVERSATION_ENGINE, DELIVERERS, TELEGRAM, TELEGRAM_WEBHOOK
from core.models import Channel
from core.periodic import PeriodicTask
from core.web.keys import BUS, METRICS, SESSIONS, SETTINGS, TEMPLATES
from core.web.routes import Access, Routes
from kb.keys import KNOWLEDGE_BASE
from nlu.keys import NLU_ENGINE
from sla import SlaPolicy
from tickets.keys import TICKET_DESK

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/telegram/webhook"
RECOVERY_INTERVAL = timedelta(seconds=15)
RECOVERY_AGE = timedelta(seconds=30)  # younger unhandled messages are most likely in a live worker's turn


def _account_categories(data_dir: Path) -> frozenset[str]:
    """Ticket categories whose intake asks for the contract number (data/intake.yml)."""
    path = data_dir / "intake.yml"
    if not path.exists():
        return frozenset()
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return frozenset(str(c) for c in data.get("account_required_categories", []))


async def engine_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = ConversationEngine(
        sessions=app[SESSIONS],
        bus=app[BUS],
        templates=app[TEMPLATES],
        nlu=app[NLU_ENGINE],
        kb=app[KNOWLEDGE_BASE],
        desk=app[TICKET_DESK],
        sla=SlaPolicy.load(settings.data_dir),
        settings=settings,
        account_categories=_account_categories(settings.data_dir),
        metrics=app[METRICS],
    )
    app[CONVERSATION_ENGINE] = engine
    # Turns left behind — by a dead worker, or by a turn that failed while the database was away — are taken
    # at start and then every RECOVERY_INTERVAL: a stored message never waits for the next restart.
    started = False

    async def recover() -> bool:
        nonlocal started
        handled = await engine.recover(older_than=RECOVERY_AGE if started else timedelta(0))
        started = True
        return handled > 0

    recovery = PeriodicTask("turn-recovery", recover, RECOVERY_INTERVAL.total_seconds())
    recovery.start()
    yield
    await recovery.stop()


def webhook_secret(token: str, configured: str | None) -> str:
    """Telegram allows A-Z, a-z, 0-9, _ and -; derived from the token when not configured."""
    return configured or hashlib.sha256(b"webhook:" + token.encode()).hexdigest()[:48]


async def telegram_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.telegram_token is None:
        yield
        return
    token = settings.telegram_token.get_secret_value()
    channel = TelegramChannel.create(token, app[CONVERSATION_ENGINE], api_url=settings.telegram_api_url)
    app[TELEGRAM] = channel
    app[DELIVERERS][Channel.TELEGRAM] = channel
    await channel.register_commands()
    if settings.telegram_webhook_url:
        secret = webhook_secret(
            token, settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else None
        )
        app[TELEGRAM_WEBHOOK] = StoringRequestHandler(
            dispatcher=channel.dispatcher,
            bot=channel.bot,
            handle_in_background=False,
            secret_token=secret,
            channel=channel,
        )
        await channel.bot.set_webhook(
            settings.telegram_webhook_url, secret_token=secret, allowed_updates=ALLOWED_UPDATES
        )
        log.info("telegram webhook set", extra={"url": settings.telegram_webhook_url})
    else:
        await channel.start_polling()
        log.info("telegram polling started")
    yield
    await channel.stop()


routes = Routes("telegram")


@routes.post(WEBHOOK_PATH, access=Access.PUBLIC)
async def telegram_webhook(request: web.Request) -> web.Response:
    """Telegram's webhook; authenticated by the secret token Telegram echoes back."""
    handler = request.config_dict.get(TELEGRAM_WEBHOOK)
    if handler is None:
        raise web.HTTPNotFound()
    return await handler.handle(request)
