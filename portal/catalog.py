"""The service catalog: plans with what they include and their targets in words, and services one can request.

Everything comes from ``data/``: the plans, their targets and calendars from ``data/sla/*.yml`` through
:class:`sla.SlaPolicy` — the very files the bot's ETA and ``frontline sla due`` read, so the page cannot tell
other numbers — and the services from ``data/catalog.yml``. A bad file, or a key without its text in the
ru/en templates, fails at start-up naming the file and the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field

from core.datafiles import DataFileError, Strict, read_yaml, validate
from core.errors import NotFound
from core.templates import LANGUAGES, Templates
from portal.wording import calendar_hours, duration
from sla.policy import Plan, Priority, SlaPolicy, Urgency

__all__ = ["CATALOG_FILE", "Catalog", "PlanOffer", "Service", "ServiceOffer", "TargetLine"]

CATALOG_FILE = "catalog.yml"

Text = Annotated[str, Field(min_length=1, max_length=500)]
Key = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]


class Texts(Strict):
    """One text in every language the product speaks."""

    ru: Text
    en: Text

    def get(self, language: str) -> str:
        return self.en if language == "en" else self.ru


class Service(Strict):
    """A request a customer can make from the catalog: it opens a ticket of ``category``."""

    names: Texts
    descriptions: Texts
    category: Key
    urgency: Urgency = Urgency.LOW
    plans: tuple[str, ...] = ()  # the plans that may request it; empty: every plan


class _CatalogFile(Strict):
    services: dict[Key, Service] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class TargetLine:
    priority: Priority
    label: str  # "critical"
    first_response_minutes: int
    first_response: str  # "15 minutes"
    resolution_minutes: int
    resolution: str  # "4 hours"


@dataclass(frozen=True, slots=True)
class PlanOffer:
    key: str
    name: str
    hours: str  # "Mon–Fri 09:00–18:00 (MSK), except public holidays" / "24/7"
    always_open: bool
    channels: tuple[str, ...]
    limits: tuple[str, ...]
    extras: tuple[str, ...]
    targets: tuple[TargetLine, ...]


@dataclass(frozen=True, slots=True)
class ServiceOffer:
    key: str
    name: str
    description: str
    category: str
    plans: tuple[str, ...]  # plan names (in the page's language) that may request it; empty: all


@dataclass(frozen=True)
class Catalog:
    sla: SlaPolicy
    services: Mapping[str, Service]
    templates: Templates

    @classmethod
    def load(cls, data_dir: Path, templates: Templates, sla: SlaPolicy | None = None) -> Catalog:
        """Read ``data/catalog.yml`` (and ``data/sla``); check every reference and every text."""
        sla = sla or SlaPolicy.load(data_dir)
        path = data_dir / CATALOG_FILE
        parsed = validate(path, _CatalogFile, read_yaml(path))
        for key, service in parsed.services.items():
            for plan_name in service.plans:
                if plan_name not in sla.plans:
                    raise DataFileError(path, f"services.{key}.plans", f"unknown plan {plan_name!r}")
        plans_file = data_dir / "sla" / "plans.yml"
        for name, plan in sla.plans.items():
            _check_texts(plans_file, name, plan, templates)
        for priority in Priority:
            _require_text(templates, plans_file, f"catalog.priority.{priority.value}", f"plans.*.targets.{priority}")
        return cls(sla=sla, services=dict(parsed.services), templates=templates)

    def service(self, key: str) -> Service:
        try:
            return self.services[key]
        except KeyError:
            raise NotFound("no such service", service=key[:64]) from None

    def may_request(self, key: str, plan: str) -> bool:
        service = self.services.get(key)
        return service is not None and (not service.plans or plan in service.plans)

    def plan_name(self, plan: str, language: str) -> str:
        names = self.sla.plan(plan).names
        return names.get(language) or names.get(self.sla.default_plan) or plan

    def offers(self, language: str) -> list[PlanOffer]:
        """Every plan as the catalog shows it, in ``language``."""
        return [self._offer(name, plan, language) for name, plan in self.sla.plans.items()]

    def service_offers(self, language: str, plan: str | None = None) -> list[ServiceOffer]:
        """The services in ``language``; only those ``plan`` may request when a plan is given."""
        return [
            ServiceOffer(
                key=key,
                name=service.names.get(language),
                description=service.descriptions.get(language),
                category=service.category,
                plans=tuple(self.plan_name(p, language) for p in service.plans),
            )
            for key, service in self.services.items()
            if plan is None or not service.plans or plan in service.plans
        ]

    def _offer(self, key: str, plan: Plan, language: str) -> PlanOffer:
        t = self.templates
        calendar = self.sla.calendars[plan.calendar]
        includes = plan.includes
        limits: list[str] = []
        if includes is not None:
            for name, value in includes.limits.items():
                limits.append(t.render(f"catalog.limit.{name}", language, count=value, unlimited=value == "unlimited"))
        targets = tuple(
            TargetLine(
                priority=priority,
                label=t.render(f"catalog.priority.{priority.value}", language),
                first_response_minutes=target.first_response,
                first_response=duration(t, target.first_response, language),
                resolution_minutes=target.resolution,
                resolution=duration(t, target.resolution, language),
            )
            for priority, target in sorted(plan.targets.items(), key=lambda item: item[0].value)
        )
        return PlanOffer(
            key=key,
            name=plan.names.get(language) or key,
            hours=calendar_hours(t, calendar, language),
            always_open=calendar.always_open,
            channels=tuple(t.render(f"catalog.channel.{c}", language) for c in includes.channels) if includes else (),
            limits=tuple(limits),
            extras=tuple(t.render(f"catalog.extra.{e}", language) for e in includes.extras) if includes else (),
            targets=targets,
        )


def _require_text(templates: Templates, path: Path, key: str, where: str) -> None:
    for language in LANGUAGES:
        if key not in templates.keys(language):
            raise DataFileError(path, where, f"no text {key!r} in data/templates/{language}")


def _check_texts(path: Path, name: str, plan: Plan, templates: Templates) -> None:
    for language in LANGUAGES:
        if not plan.names.get(language):
            raise DataFileError(path, f"plans.{name}.names.{language}", "the plan needs a name in every language")
    if plan.includes is None:
        return
    for channel in plan.includes.channels:
        _require_text(templates, path, f"catalog.channel.{channel}", f"plans.{name}.includes.channels")
    for limit in plan.includes.limits:
        _require_text(templates, path, f"catalog.limit.{limit}", f"plans.{name}.includes.limits.{limit}")
    for extra in plan.includes.extras:
        _require_text(templates, path, f"catalog.extra.{extra}", f"plans.{name}.includes.extras")
