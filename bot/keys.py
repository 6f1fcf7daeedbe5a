"""Application keys owned by the composition root (typed, not imported at run time)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from bot.channels.telegram import TelegramChannel
    from bot.channels.webhook import StoringRequestHandler
    from bot.engine.engine import ConversationEngine
    from core.models import Channel
    from core.outbox import Deliverer, DeliveryWorker

DELIVERERS: web.AppKey[dict[Channel, Deliverer]] = web.AppKey("deliverers")
DELIVERY: web.AppKey[DeliveryWorker] = web.AppKey("delivery")
CONVERSATION_ENGINE: web.AppKey[ConversationEngine] = web.AppKey("conversation_engine")
TELEGRAM: web.AppKey[TelegramChannel] = web.AppKey("telegram")
TELEGRAM_WEBHOOK: web.AppKey[StoringRequestHandler] = web.AppKey("telegram_webhook")
