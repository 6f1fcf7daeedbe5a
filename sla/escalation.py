"""Escalation policy: when a target is at risk, and what each escalation level does (``data/sla/escalation.yml``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator, model_validator

from core.datafiles import Strict, read_yaml, validate
from sla.policy import Priority, parse_minutes

__all__ = ["ESCALATION_FILE", "EscalationLevel", "EscalationPolicy", "WatchSettings", "raise_priority"]

ESCALATION_FILE = "escalation.yml"
_ORDER = [Priority.P1, Priority.P2, Priority.P3, Priority.P4]
# Like the targets' durations, but 0 is allowed: "at the breach itself".
Delay = Annotated[int, BeforeValidator(parse_minutes), Field(ge=0)]


class EscalationLevel(Strict):
    """One step up: ``after`` business minutes from the first breach; raise the priority and/or move team."""

    after: Delay = 0
    raise_priority: int = Field(default=0, ge=0, le=3)
    team: str | None = None

    @model_validator(mode="after")
    def _does_something(self) -> EscalationLevel:
        if self.raise_priority == 0 and self.team is None:
            raise ValueError("a level needs raise_priority or team")
        return self


class WatchSettings(Strict):
    interval_seconds: float = Field(default=30, gt=0)
    batch: int = Field(default=200, ge=1, le=10_000)


class EscalationPolicy(Strict):
    at_risk_percent: int = Field(default=80, gt=0, lt=100)
    levels: tuple[EscalationLevel, ...] = ()
    watch: WatchSettings = WatchSettings()

    @field_validator("levels")
    @classmethod
    def _levels_in_order(cls, levels: tuple[EscalationLevel, ...]) -> tuple[EscalationLevel, ...]:
        afters = [level.after for level in levels]
        if afters != sorted(afters):
            raise ValueError("levels must be listed in order of `after`")
        return levels

    @classmethod
    def load(cls, data_dir: Path) -> EscalationPolicy:
        path = data_dir / "sla" / ESCALATION_FILE
        return validate(path, cls, read_yaml(path))

    def at_risk_minutes(self, target_minutes: int) -> int:
        """Business minutes after which a target of ``target_minutes`` is at risk (at least one, below the target)."""
        minutes = -(-target_minutes * self.at_risk_percent // 100)  # ceiling
        return max(1, min(minutes, target_minutes - 1)) if target_minutes > 1 else target_minutes


def raise_priority(priority: Priority, steps: int) -> Priority:
    """``steps`` levels more urgent; P1 stays P1."""
    return _ORDER[max(0, _ORDER.index(priority) - steps)]
