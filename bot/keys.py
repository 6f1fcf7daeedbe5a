"""Application keys owned by the composition root."""

from __future__ import annotations

from aiohttp import web

from core.models import Channel
from core.outbox import Deliverer, DeliveryWorker

DELIVERERS = web.AppKey("deliverers", dict[Channel, Deliverer])
DELIVERY = web.AppKey("delivery", DeliveryWorker)
