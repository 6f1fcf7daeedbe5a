"""The SLA policy and desk settings of the tests' own: tests of the arithmetic, the loaders and the ticket desk
read these files, not the editable ones in data/, so an editor changing hours, targets, the matrix, escalation
or routing breaks no test. (The shipped files are checked against the rules in tests/sla and tests/tickets.)"""

from __future__ import annotations

from pathlib import Path

CALENDARS = """\
calendars:
  moscow-business:
    timezone: Europe/Moscow
    week:
      mon: ["09:00-18:00"]
      tue: ["09:00-18:00"]
      wed: ["09:00-18:00"]
      thu: ["09:00-18:00"]
      fri: ["09:00-18:00"]
    holidays:
      country: RU
      dates: []
    overrides:
      "2026-04-30": ["09:00-17:00"]
      "2027-02-20": ["09:00-18:00"]

  24x7:
    timezone: Europe/Moscow
    always_open: true
"""

PLANS = """\
default_plan: standard

plans:
  standard:
    names:
      ru: Стандарт
      en: Standard
    calendar: moscow-business
    targets:
      P1: {first_response: 1h, resolution: 8h}
      P2: {first_response: 2h, resolution: 16h}
      P3: {first_response: 4h, resolution: 24h}
      P4: {first_response: 8h, resolution: 40h}

  premium:
    names:
      ru: Люкс
      en: Premium
    calendar: 24x7
    targets:
      P1: {first_response: 15m, resolution: 4h}
      P2: {first_response: 30m, resolution: 8h}
      P3: {first_response: 1h, resolution: 24h}
      P4: {first_response: 4h, resolution: 72h}
"""

PRIORITY = """\
matrix:
  high:   {many: P1, several: P1, one: P2}
  medium: {many: P2, several: P2, one: P3}
  low:    {many: P3, several: P3, one: P4}
"""

ESCALATION = """\
at_risk_percent: 80
levels:
  - after: 0m
    raise_priority: 1
  - after: 2h
    team: second-line
watch:
  interval_seconds: 30
  batch: 200
"""

TICKETS = """\
routing:
  default_team: first-line
  categories:
    billing: billing
    payments: billing
incidents:
  auto_link: 0.70
  suggest: 0.55
  category_mismatch_penalty: 0.10
  match_window: 24h
  forming:
    similar: 0.65
    count: 3
    window: 30m
"""


def write_desk_data(data_dir: Path) -> Path:
    """Everything ``TicketDesk.load`` reads (SLA policy, escalation, routing and incidents), into ``data_dir``."""
    write_policy(data_dir)
    (data_dir / "sla" / "escalation.yml").write_text(ESCALATION, encoding="utf-8")
    (data_dir / "tickets.yml").write_text(TICKETS, encoding="utf-8")
    return data_dir


def write_policy(data_dir: Path, *, calendars: str = CALENDARS, plans: str = PLANS) -> Path:
    """Write the tests' SLA files (or a test's own calendars and plans) into ``data_dir/sla``; returns
    ``data_dir``."""
    sla = data_dir / "sla"
    sla.mkdir(parents=True, exist_ok=True)
    for name, text in (("calendars.yml", calendars), ("plans.yml", plans), ("priority.yml", PRIORITY)):
        (sla / name).write_text(text, encoding="utf-8")
    return data_dir
