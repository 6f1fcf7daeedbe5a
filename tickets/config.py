"""Ticket routing and incident matching settings (``data/tickets.yml``), refused at load with file and key."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from core.datafiles import Strict, read_yaml, validate
from sla.policy import Minutes

__all__ = ["TICKETS_FILE", "DeskConfig", "FormingSettings", "IncidentSettings", "Routing"]

TICKETS_FILE = "tickets.yml"


class Routing(Strict):
    default_team: str | None = "first-line"
    categories: dict[str, str] = Field(default_factory=dict)

    def team_for(self, category: str | None) -> str | None:
        if category is not None and category in self.categories:
            return self.categories[category]
        return self.default_team


class FormingSettings(Strict):
    similar: float = Field(default=0.65, gt=0, le=1)
    count: int = Field(default=3, ge=2)
    window: Minutes = 30


class IncidentSettings(Strict):
    auto_link: float = Field(default=0.70, gt=0, le=1)
    suggest: float = Field(default=0.55, gt=0, le=1)
    category_mismatch_penalty: float = Field(default=0.10, ge=0, le=1)
    match_window: Minutes = 24 * 60
    forming: FormingSettings = FormingSettings()

    @model_validator(mode="after")
    def _band(self) -> IncidentSettings:
        if self.suggest > self.auto_link:
            raise ValueError("suggest must not be above auto_link")
        return self


class DeskConfig(Strict):
    routing: Routing = Routing()
    incidents: IncidentSettings = IncidentSettings()

    @classmethod
    def load(cls, data_dir: Path) -> DeskConfig:
        path = data_dir / TICKETS_FILE
        return validate(path, cls, read_yaml(path))
