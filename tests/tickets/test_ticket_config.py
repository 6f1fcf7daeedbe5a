"""Escalation policy and ticket settings: defaults as shipped, bad files refused with file and key; templates."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from core.datafiles import DataFileError
from core.settings import ROOT
from core.templates import Templates
from sla.escalation import EscalationPolicy, raise_priority
from sla.policy import Priority, SlaPolicy
from tickets.config import DeskConfig

DATA = ROOT / "data"


def test_shipped_policy_and_settings() -> None:
    policy = EscalationPolicy.load(DATA)
    assert policy.at_risk_percent == 80
    assert [(level.after, level.raise_priority, level.team) for level in policy.levels] == [
        (0, 1, None),
        (120, 0, "second-line"),
    ]
    assert policy.at_risk_minutes(240) == 192
    assert policy.at_risk_minutes(15) == 12
    config = DeskConfig.load(DATA)
    assert config.routing.team_for("payments") == "billing"
    assert config.routing.team_for("connection") == "first-line"
    assert config.routing.team_for(None) == "first-line"
    assert (config.incidents.auto_link, config.incidents.suggest) == (0.70, 0.55)
    assert (config.incidents.forming.count, config.incidents.forming.window) == (3, 30)


def test_raise_priority_stops_at_p1() -> None:
    assert raise_priority(Priority.P4, 1) is Priority.P3
    assert raise_priority(Priority.P2, 3) is Priority.P1


def copy(tmp_path: Path) -> Path:
    shutil.copytree(DATA / "sla", tmp_path / "sla")
    shutil.copy(DATA / "tickets.yml", tmp_path / "tickets.yml")
    return tmp_path


def rewrite(path: Path, change: dict[str, object]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.update(change)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"levels": [{"after": "0m"}]}, "levels.0"),
        ({"levels": [{"after": "2h", "team": "x"}, {"after": "0m", "team": "y"}]}, "levels"),
        ({"at_risk_percent": 100}, "at_risk_percent"),
        ({"levels": [{"after": "1d", "team": "x"}]}, "levels.0.after"),
        ({"escalate_to": "boss"}, "escalate_to"),
    ],
)
def test_a_bad_escalation_file_names_file_and_key(tmp_path: Path, change: dict[str, object], key: str) -> None:
    data_dir = copy(tmp_path)
    rewrite(data_dir / "sla" / "escalation.yml", change)
    with pytest.raises(DataFileError) as caught:
        EscalationPolicy.load(data_dir)
    assert caught.value.file.name == "escalation.yml"
    assert caught.value.key == key


def test_a_bad_tickets_file_names_file_and_key(tmp_path: Path) -> None:
    data_dir = copy(tmp_path)
    rewrite(data_dir / "tickets.yml", {"incidents": {"auto_link": 0.5, "suggest": 0.6}})
    with pytest.raises(DataFileError) as caught:
        DeskConfig.load(data_dir)
    assert caught.value.file.name == "tickets.yml"
    assert caught.value.key == "incidents"


def test_plan_names_in_templates_match_the_plans(templates: Templates) -> None:
    sla = SlaPolicy.load(DATA)
    for name, plan in sla.plans.items():
        for language, title in plan.names.items():
            assert templates.render(f"tickets.plan.{name}", language) == title
    for status in ("new", "open", "pending", "resolved", "closed"):
        assert templates.render(f"tickets.status.{status}", "en")
