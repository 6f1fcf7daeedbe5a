"""Application keys owned by the composition root."""

from __future__ import annotations

from aiohttp import web

from bot.channels.telegram import TelegramChannel
from bot.channels.webhook import StoringRequestHandler
from bot.engine.engine import ConversationEngine
from core.models import Channel
from core.outbox import Deliverer, DeliveryWorker

DELIVERERS = web.AppKey("deliverers", dict[Channel, Deliverer])
DELIVERY = web.AppKey("delivery", DeliveryWorker)

CONVERSATION_ENGINE = web.AppKey("conversation_engine", ConversationEngine)
TELEGRAM = web.AppKey("telegram", TelegramChannel)
TELEGRAM_WEBHOOK = web.AppKey("telegram_webhook", StoringRequestHandler)
