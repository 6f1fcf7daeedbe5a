"""Application keys owned by tickets: the shared desk and the breach watch (typed, not imported at run time)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from tickets.breach import BreachWatch
    from tickets.desk import TicketDesk

TICKET_DESK: web.AppKey[TicketDesk] = web.AppKey("ticket_desk")
BREACH_WATCH: web.AppKey[BreachWatch] = web.AppKey("breach_watch")
