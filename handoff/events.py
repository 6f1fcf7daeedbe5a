"""Names of the bus events handoff publishes."""

from __future__ import annotations

__all__ = ["ROUTING_CHANGED"]

# Someone may now fit a waiting chat: an operator's presence or capacity, or a team's auto-assignment, changed.
# data: operator_id and status when an operator changed their presence; empty when an admin changed routing.
ROUTING_CHANGED = "routing.changed"
