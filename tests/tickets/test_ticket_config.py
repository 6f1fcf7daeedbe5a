"""Escalation policy and ticket settings: the loaders' laws, bad files refused with file and key; templates."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.demo import DEMO_TEAMS
from core.datafiles import DataFileError
from core.settings import ROOT
from core.templates import Templates
from sla.escalation import EscalationPolicy, raise_priority
from sla.policy import Priority, SlaPolicy
from tests.support.sla import write_desk_data
from tickets.config import DeskConfig

DATA = ROOT / "data"


def test_the_loaders_read_what_the_files_say(tmp_path: Path) -> None:
    (tmp_path / "sla").mkdir()
    (tmp_path / "sla" / "escalation.yml").write_text(
        "at_risk_percent: 65\n"
        "levels:\n  - {after: 0m, raise_priority: 2}\n  - {after: 1h30m, team: night-shift}\n"
        "watch: {interval_seconds: 5, batch: 50}\n",
        encoding="utf-8",
    )
    (tmp_path / "tickets.yml").write_text(
        "routing: {default_team: desk, categories: {tv: video}}\n"
        "incidents: {auto_link: 0.9, suggest: 0.4, match_window: 2h, forming: {similar: 0.8, count: 5, window: 1h}}\n",
        encoding="utf-8",
    )
    policy = EscalationPolicy.load(tmp_path)
    assert policy.at_risk_percent == 65
    assert [(level.after, level.raise_priority, level.team) for level in policy.levels] == [
        (0, 2, None),
        (90, 0, "night-shift"),
    ]
    assert (policy.watch.interval_seconds, policy.watch.batch) == (5, 50)
    config = DeskConfig.load(tmp_path)
    assert (config.routing.team_for("tv"), config.routing.team_for("billing"), config.routing.team_for(None)) == (
        "video",
        "desk",
        "desk",
    )
    incidents = config.incidents
    assert (incidents.auto_link, incidents.suggest, incidents.match_window) == (0.9, 0.4, 120)
    assert (incidents.forming.similar, incidents.forming.count, incidents.forming.window) == (0.8, 5, 60)


@given(st.integers(1, 100), st.integers(1, 100_000))
def test_at_risk_comes_before_the_due_time(percent: int, target: int) -> None:
    if percent == 100:
        with pytest.raises(ValidationError):
            EscalationPolicy(at_risk_percent=percent)
        return
    at_risk = EscalationPolicy(at_risk_percent=percent).at_risk_minutes(target)
    assert 1 <= at_risk <= target
    assert at_risk < target or target == 1, "at risk strictly before the breach whenever there is room"
    assert at_risk >= target * percent / 100 or at_risk == target - 1


def test_the_shipped_files_name_only_teams_that_exist() -> None:
    """Tickets routed or escalated to a team nobody created would wait unseen: every key names a demo team."""
    teams = {key for key, _name in DEMO_TEAMS}
    config = DeskConfig.load(DATA)
    named = {config.routing.default_team, *config.routing.categories.values()}
    named |= {level.team for level in EscalationPolicy.load(DATA).levels}
    assert named - {None} <= teams


def test_raise_priority_stops_at_p1() -> None:
    assert raise_priority(Priority.P4, 1) is Priority.P3
    assert raise_priority(Priority.P2, 3) is Priority.P1


def copy(tmp_path: Path) -> Path:
    return write_desk_data(tmp_path)


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
