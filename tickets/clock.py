"""The SLA clock of a ticket: due times, at-risk and breach instants, escalation levels, the next instant to look.

All escalation arithmetic lives here (as Zammad keeps it in lib/escalation.rb, out of the model): the ticket
service calls :meth:`SlaClock.replan` after every change, the breach watch calls :meth:`SlaClock.advance`.
Both leave ``ticket.next_escalation_at`` at the earliest instant something can happen next (an at-risk mark,
a breach, the next escalation level) or ``None`` while the clock is stopped, so the watch only ever reads
the tickets whose instant has come.

Instants of changes are the instants they really happened (the due time), not when a watcher noticed: a
watch that was down for a day records what happened in that day, in order, and escalates each level once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sla.calendar import Calendar, Pause, due_with_pauses
from sla.escalation import EscalationPolicy
from sla.policy import SlaPolicy
from tickets.durations import record_durations
from tickets.models import SlaState, Ticket
from tickets.status import CLOCK_RUNNING

__all__ = ["TARGETS", "Change", "SlaClock", "Target", "close_pause", "open_pause", "read_pauses"]

log = logging.getLogger(__name__)

Target = Literal["first_response", "next_response", "resolution"]
TARGETS: tuple[Target, ...] = ("first_response", "next_response", "resolution")
_RANK = {SlaState.OK: 0, SlaState.AT_RISK: 1, SlaState.BREACHED: 2}


@dataclass(frozen=True, slots=True)
class Change:
    """Something the clock noticed: a target at risk or breached, or an escalation level reached."""

    kind: Literal["at_risk", "breached", "escalated"]
    at: datetime
    target: Target | None = None
    level: int | None = None


def read_pauses(ticket: Ticket) -> list[Pause]:
    pauses: list[Pause] = []
    for since, until in ticket.pauses or []:
        pauses.append((datetime.fromisoformat(since), None if until is None else datetime.fromisoformat(until)))
    return pauses


def open_pause(ticket: Ticket, now: datetime) -> None:
    """Stop the clock (the ticket waits for the customer); a pause already open stays as it is."""
    pauses = [list(p) for p in ticket.pauses or []]
    if pauses and pauses[-1][1] is None:
        return
    pauses.append([now.astimezone(UTC).isoformat(), None])
    ticket.pauses = pauses  # a new list: JSON columns notice assignment, not in-place edits


def close_pause(ticket: Ticket, now: datetime) -> None:
    pauses = [list(p) for p in ticket.pauses or []]
    if pauses and pauses[-1][1] is None:
        pauses[-1][1] = max(now.astimezone(UTC), datetime.fromisoformat(pauses[-1][0])).isoformat()
        ticket.pauses = pauses


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


class SlaClock:
    def __init__(self, sla: SlaPolicy, policy: EscalationPolicy) -> None:
        self.sla = sla
        self.policy = policy

    # --- what the ticket's plan says ------------------------------------------------------------------

    def plan_of(self, ticket: Ticket) -> str:
        """The ticket's plan; a plan since removed from the YAML falls back to the default one."""
        if ticket.plan in self.sla.plans:
            return ticket.plan
        log.warning("ticket plan no longer configured", extra={"ticket_id": ticket.id, "plan": ticket.plan})
        return self.sla.default_plan

    def calendar(self, ticket: Ticket) -> Calendar:
        return self.sla.calendar_for(self.plan_of(ticket))

    def minutes(self, ticket: Ticket, target: Target) -> int:
        return int(getattr(self.sla.targets(self.plan_of(ticket), ticket.sla_priority), target))

    def start(self, ticket: Ticket, target: Target) -> datetime | None:
        """Where the target's clock starts, or None when the target is not running (met, or nothing waits)."""
        if target == "first_response":
            return None if ticket.first_responded_at is not None else ticket.sla_started_at
        if target == "next_response":
            return ticket.next_response_since
        return None if ticket.resolved_at is not None else ticket.sla_started_at

    def due(self, ticket: Ticket, target: Target, pauses: Sequence[Pause] | None = None) -> datetime | None:
        start = self.start(ticket, target)
        if start is None:
            return None
        pauses = read_pauses(ticket) if pauses is None else pauses
        return _utc(due_with_pauses(self.calendar(ticket), start, self.minutes(ticket, target), pauses))

    def at_risk_at(self, ticket: Ticket, target: Target, pauses: Sequence[Pause]) -> datetime | None:
        start = self.start(ticket, target)
        if start is None:
            return None
        minutes = self.policy.at_risk_minutes(self.minutes(ticket, target))
        return _utc(due_with_pauses(self.calendar(ticket), start, minutes, pauses))

    def level_at(self, ticket: Ticket, level: int, pauses: Sequence[Pause]) -> datetime | None:
        """When escalation ``level`` (1-based) is due: its delay in business time after the first breach."""
        if ticket.breached_at is None or not 1 <= level <= len(self.policy.levels):
            return None
        after = self.policy.levels[level - 1].after
        if after == 0:
            return _utc(ticket.breached_at)
        return _utc(due_with_pauses(self.calendar(ticket), ticket.breached_at, after, pauses))

    # --- keeping the ticket's columns right ------------------------------------------------------------

    def replan(self, ticket: Ticket, now: datetime) -> None:
        """Recompute due times after a change (priority, status, a reply, a pause) and the next instant to look.

        Targets already met keep their due time for the record. An at-risk mark that no longer holds (the
        priority went down) is lifted; a breach stays: it happened.
        """
        pauses = read_pauses(ticket)
        for target in TARGETS:
            start = self.start(ticket, target)
            if start is None:
                if target == "next_response":
                    ticket.next_response_due = None
                continue
            due = self.due(ticket, target, pauses)
            setattr(ticket, f"{target}_due", due)
            if getattr(ticket, f"{target}_state") is SlaState.AT_RISK:
                at_risk = self.at_risk_at(ticket, target, pauses)
                if at_risk is None or at_risk > now:
                    setattr(ticket, f"{target}_state", SlaState.OK)
        self._summarise(ticket)
        ticket.next_escalation_at = self.next_check(ticket)
        record_durations(ticket, self.calendar(ticket))

    @staticmethod
    def met(ticket: Ticket, target: Target) -> None:
        """A target reached (first reply, a reply to the waiting message, resolution): lift an at-risk mark."""
        if getattr(ticket, f"{target}_state") is SlaState.AT_RISK:
            setattr(ticket, f"{target}_state", SlaState.OK)

    def next_check(self, ticket: Ticket) -> datetime | None:
        if ticket.status not in CLOCK_RUNNING:
            return None
        pauses = read_pauses(ticket)
        candidates: list[datetime] = []
        for target in TARGETS:
            if self.start(ticket, target) is None:
                continue
            state = getattr(ticket, f"{target}_state")
            instant: datetime | None = None
            if state is SlaState.OK:
                instant = self.at_risk_at(ticket, target, pauses)
            elif state is SlaState.AT_RISK:
                instant = _utc(getattr(ticket, f"{target}_due")) or self.due(ticket, target, pauses)
            if instant is not None:
                candidates.append(instant)
        level = self.level_at(ticket, ticket.escalation_level + 1, pauses)
        if level is not None:
            candidates.append(level)
        return min(candidates) if candidates else None

    def advance(self, ticket: Ticket, now: datetime) -> list[Change]:
        """Everything that has become true by ``now``, in order, applied to the ticket's SLA columns.

        Escalation levels are only counted here; their actions (priority, team) are the caller's.
        """
        if ticket.status not in CLOCK_RUNNING:
            ticket.next_escalation_at = None
            return []
        pauses = read_pauses(ticket)
        changes: list[Change] = []
        for target in TARGETS:
            if self.start(ticket, target) is None:
                continue
            state = getattr(ticket, f"{target}_state")
            due = self.due(ticket, target, pauses)
            setattr(ticket, f"{target}_due", due)
            if state is SlaState.OK:
                at_risk = self.at_risk_at(ticket, target, pauses)
                if at_risk is not None and at_risk <= now:
                    state = SlaState.AT_RISK
                    changes.append(Change("at_risk", at_risk, target))
            if state is SlaState.AT_RISK and due is not None and due <= now:
                state = SlaState.BREACHED
                changes.append(Change("breached", due, target))
                if ticket.breached_at is None or due < ticket.breached_at:
                    ticket.breached_at = due
            setattr(ticket, f"{target}_state", state)
        while ticket.escalation_level < len(self.policy.levels):
            at = self.level_at(ticket, ticket.escalation_level + 1, pauses)
            if at is None or at > now:
                break
            ticket.escalation_level += 1
            changes.append(Change("escalated", at, level=ticket.escalation_level))
        self._summarise(ticket)
        upcoming = self.next_check(ticket)
        # Everything up to now has been applied, so the next instant lies ahead; guard against a config
        # that would make the watch spin on one ticket.
        ticket.next_escalation_at = upcoming if upcoming is None or upcoming > now else None
        changes.sort(key=lambda change: change.at)
        return changes

    @staticmethod
    def _summarise(ticket: Ticket) -> None:
        """``sla_state``: breached once any target breached (it stays so), else at risk if one is."""
        worst = max((getattr(ticket, f"{t}_state") for t in TARGETS), key=_RANK.__getitem__)
        if ticket.sla_state is SlaState.BREACHED:
            return
        ticket.sla_state = worst
