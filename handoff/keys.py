"""Application keys owned by handoff's tickets: the shared desk and the breach watch."""

from __future__ import annotations

from aiohttp import web

from handoff.breach import BreachWatch
from handoff.desk import TicketDesk

TICKET_DESK = web.AppKey("ticket_desk", TicketDesk)
BREACH_WATCH = web.AppKey("breach_watch", BreachWatch)
