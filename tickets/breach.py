"""The breach watch: marks tickets at risk and breached, tells the team, escalates per ``data/sla/escalation.yml``.

Each pass claims the tickets whose ``next_escalation_at`` has come, in batches, with ``FOR UPDATE SKIP LOCKED``
on PostgreSQL: several watchers share the work and never hold the same ticket. Operators' changes lock the
row too (without skipping), so a watcher and an operator never overwrite each other. Escalation levels are
counted on the ticket under that lock, and a unique index on (ticket, level) of the ``escalated`` events makes
"one escalation per ticket per level" a database fact rather than a hope. SQLite has one writer at a time
(``BEGIN IMMEDIATE``), so there the claims simply queue: run a single watcher.

After downtime a pass at ``now`` applies everything that became true meanwhile, each with its real instant.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import SessionFactory, for_update
from core.events import Event, EventBus
from core.models import Team, utcnow
from core.periodic import PeriodicTask
from core.uow import UnitOfWork
from sla.escalation import raise_priority
from tickets.clock import Change
from tickets.events import TICKET_BREACH, Kind
from tickets.history import changed_event, record
from tickets.models import Actor, Ticket
from tickets.service import TicketService

__all__ = ["BreachWatch", "WatchPass", "claim_due"]

log = logging.getLogger(__name__)
RETRY_AFTER_FAILURE = timedelta(minutes=5)


@dataclass(slots=True)
class WatchPass:
    """What one pass did."""

    tickets: int = 0
    at_risk: int = 0
    breached: int = 0
    escalated: int = 0
    failed: int = 0
    batches: int = 0
    changes: list[tuple[int, Change]] = field(default_factory=list)


def claim_due(
    target: AsyncSession | SessionFactory, limit: int, now: datetime, ticket_id: int | None = None
) -> Select[Ticket]:
    """The watch's claim: up to ``limit`` tickets whose next look is due at ``now``, soonest first, locked for the
    transaction and skipped by other watchers (PostgreSQL); one indexed range scan (``ix_tickets_next_escalation_at``).
    """
    stmt = select(Ticket).where(Ticket.next_escalation_at.is_not(None), Ticket.next_escalation_at <= now)
    if ticket_id is not None:
        stmt = stmt.where(Ticket.id == ticket_id)
    stmt = stmt.order_by(Ticket.next_escalation_at).limit(limit)
    return for_update(stmt, target, skip_locked=True)


class BreachWatch:
    def __init__(
        self,
        factory: SessionFactory,
        bus: EventBus,
        tickets: TicketService,
        *,
        language: str = "ru",
        timezone: str = "Europe/Moscow",
        batch: int | None = None,
        interval: float | None = None,
    ) -> None:
        self._factory = factory
        self._bus = bus
        self.tickets = tickets
        self.clock = tickets.clock
        self.language = language
        self.timezone = timezone
        watch = self.clock.policy.watch
        self.batch = batch or watch.batch
        self.interval = interval or watch.interval_seconds
        self._loop = PeriodicTask("breach-watch", self._step, self.interval)

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _step(self) -> bool:
        await self.run_once()
        return False  # run_once drains everything due; the next look is an interval away

    async def run_once(self, now: datetime | None = None) -> WatchPass:
        """Claim and process due tickets in batches until none is left for ``now``."""
        now = now or utcnow()
        result = WatchPass()
        while True:
            claimed = await self._batch(now, result)
            result.batches += 1
            if claimed < self.batch:
                return result

    def _claim(self, limit: int, now: datetime, ticket_id: int | None = None) -> Select[Ticket]:
        return claim_due(self._factory, limit, now, ticket_id)

    async def _batch(self, now: datetime, result: WatchPass) -> int:
        """Claim a batch and apply it in one transaction (one flush); if anything fails, go one by one."""
        ids: list[int] = []
        try:
            async with UnitOfWork(self._factory, self._bus) as uow:
                claimed = list((await uow.session.execute(self._claim(self.batch, now))).scalars())
                ids = [ticket.id for ticket in claimed]
                teams = await self._teams(uow)
                outcome = [(ticket.id, await self._advance(uow, ticket, now, teams)) for ticket in claimed]
                await uow.session.flush()
        except Exception:
            if not ids:
                raise
            log.exception("breach watch batch failed; retrying its tickets one by one")
            for ticket_id in ids:
                await self._one(ticket_id, now, result)
            return len(ids)
        for ticket_id, changes in outcome:
            self._tally(result, ticket_id, changes)
        return len(ids)

    async def _one(self, ticket_id: int, now: datetime, result: WatchPass) -> None:
        """A ticket on its own: when it fails again, it is looked at later instead of blocking the watch."""
        try:
            async with UnitOfWork(self._factory, self._bus) as uow:
                ticket = (await uow.session.execute(self._claim(1, now, ticket_id))).scalar_one_or_none()
                if ticket is None:
                    return  # another watcher took it, or it is no longer due
                changes = await self._advance(uow, ticket, now, await self._teams(uow))
                await uow.session.flush()
        except Exception:
            log.exception("breach watch failed on a ticket", extra={"ticket_id": ticket_id})
            result.failed += 1
            async with UnitOfWork(self._factory, self._bus) as uow:
                await uow.session.execute(
                    update(Ticket).where(Ticket.id == ticket_id).values(next_escalation_at=now + RETRY_AFTER_FAILURE)
                )
            return
        self._tally(result, ticket_id, changes)

    @staticmethod
    async def _teams(uow: UnitOfWork) -> dict[str, Team]:
        return {team.key: team for team in (await uow.session.execute(select(Team))).scalars()}

    @staticmethod
    def _tally(result: WatchPass, ticket_id: int, changes: list[Change]) -> None:
        result.tickets += 1
        for change in changes:
            result.changes.append((ticket_id, change))
            if change.kind == "at_risk":
                result.at_risk += 1
            elif change.kind == "breached":
                result.breached += 1
            else:
                result.escalated += 1

    async def _advance(self, uow: UnitOfWork, ticket: Ticket, now: datetime, teams: dict[str, Team]) -> list[Change]:
        session = uow.session
        changes = self.clock.advance(ticket, now)
        breached_targets = {c.target for c in changes if c.kind == "breached"}
        for change in changes:
            if change.kind == "escalated":
                await self._escalate(uow, ticket, change, now, teams)
                continue
            target = change.target or ""
            due = getattr(ticket, f"{target}_due")
            kind = Kind.SLA_AT_RISK if change.kind == "at_risk" else Kind.SLA_BREACHED
            record(
                session,
                ticket,
                kind,
                after=target,
                at=change.at,
                data={"target": target, "due": due.isoformat() if due else None, "noticed_at": now.isoformat()},
            )
            # After downtime a target may go from ok to breached in one pass: tell the team the breach only.
            if change.kind == "at_risk" and target in breached_targets:
                continue
            notice = self.tickets.notifier.render(
                f"tickets.notice.{change.kind}",
                self.language,
                number=ticket.number,
                target=self.tickets.notifier.render(f"tickets.target.{target}", self.language),
                due=self.tickets.notifier.eta(due, self.language, self.timezone) or "",
            )
            uow.emit(self._event(ticket, change.kind, target=target, text=notice, at=change.at))
        if changes:
            ticket.updated_at = max(ticket.updated_at, now)
            uow.emit(changed_event(ticket, "sla", sla_state=ticket.sla_state.value))
        return changes

    async def _escalate(
        self, uow: UnitOfWork, ticket: Ticket, change: Change, now: datetime, teams: dict[str, Team]
    ) -> None:
        """Apply one level's actions and record it; the unique index refuses a second record of the level."""
        session = uow.session
        level_number = change.level or 0
        level = self.clock.policy.levels[level_number - 1]
        done: dict[str, str] = {}
        if level.raise_priority:
            higher = raise_priority(ticket.priority, level.raise_priority)
            if higher is not ticket.priority:
                await self.tickets.set_priority(
                    uow,
                    ticket,
                    higher,
                    actor=Actor.SYSTEM,
                    operator_id=None,
                    now=now,
                    replan=False,
                    reason=f"escalation level {level_number}",
                )
                done["priority"] = higher.value
        team: Team | None = None
        if level.team:
            team = self.tickets.move_to_team(
                session, ticket, level.team, teams, now=now, reason=f"escalation level {level_number}"
            )
            if team is not None:
                done["team"] = team.key
        record(
            session,
            ticket,
            Kind.ESCALATED,
            before=str(level_number - 1),
            after=str(level_number),
            at=change.at,
            data={"level": level_number, **done, "noticed_at": now.isoformat()},
        )
        notice = self.tickets.notifier.render(
            "tickets.notice.escalated",
            self.language,
            number=ticket.number,
            level=level_number,
            priority=done.get("priority"),
            team=team.name if team else None,
        )
        uow.emit(self._event(ticket, "escalated", level=level_number, text=notice, at=change.at, **done))

    @staticmethod
    def _event(ticket: Ticket, kind: str, *, text: str, at: datetime, **extra: object) -> Event:
        return Event(
            name=TICKET_BREACH,
            data={
                "ticket_id": ticket.id,
                "number": ticket.number,
                "kind": kind,
                "at": at.isoformat(),
                "team_id": ticket.team_id,
                "assignee_id": ticket.assignee_id,
                "priority": ticket.priority.value,
                "escalation_level": ticket.escalation_level,
                "text": text,
                **extra,
            },
        )
