"""The service catalog's data: strict files, targets read from the SLA files, words for numbers and hours."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from core.datafiles import DataFileError
from core.settings import ROOT
from core.templates import Templates
from portal.catalog import Catalog
from portal.wording import calendar_hours, duration, plural_index
from sla.calendar import Calendar, WorkInterval
from sla.policy import Priority, SlaPolicy
from tickets.cli import due_times

DATA = ROOT / "data"


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A writable copy of the data files a catalog reads."""
    target = tmp_path / "data"
    shutil.copytree(DATA / "sla", target / "sla")
    shutil.copy(DATA / "catalog.yml", target / "catalog.yml")
    return target


def _edit(path: Path, change: object) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.mark.parametrize(
    ("count", "ru", "en"),
    [(0, 2, 1), (1, 0, 0), (2, 1, 1), (4, 1, 1), (5, 2, 1), (11, 2, 1), (12, 2, 1), (14, 2, 1), (21, 0, 1), (22, 1, 1),
     (25, 2, 1), (101, 0, 1), (111, 2, 1), (1000, 2, 1)],
)  # fmt: skip
def test_plural_forms_follow_each_languages_rule(count: int, ru: int, en: int) -> None:
    assert plural_index(count, "ru") == ru
    assert plural_index(count, "en") == en


@pytest.mark.parametrize(
    ("minutes", "ru", "en"),
    [
        (15, "15 минут", "15 minutes"),
        (1, "1 минуту", "1 minute"),
        (60, "1 час", "1 hour"),
        (120, "2 часа", "2 hours"),
        (90, "1 час 30 минут", "1 hour 30 minutes"),
        (21 * 60, "21 час", "21 hours"),
        (72 * 60, "72 часа", "72 hours"),
        (40 * 60, "40 часов", "40 hours"),
    ],
)
def test_durations_in_words(templates: Templates, minutes: int, ru: str, en: str) -> None:
    assert duration(templates, minutes, "ru") == ru
    assert duration(templates, minutes, "en") == en


def test_hours_of_a_calendar_in_words(templates: Templates) -> None:
    sla = SlaPolicy.load(DATA)
    assert calendar_hours(templates, sla.calendars["moscow-business"], "ru") == (
        "Пн–Пт 09:00–18:00 (МСК), кроме праздничных дней"
    )
    assert calendar_hours(templates, sla.calendars["moscow-business"], "en") == (
        "Mon–Fri 09:00–18:00 (MSK), except public holidays"
    )
    assert calendar_hours(templates, sla.calendars["24x7"], "en").startswith("24/7")
    nine, lunch, after = WorkInterval.parse("09:00-13:00"), WorkInterval.parse("14:00-18:00"), WorkInterval(600, 960)
    split = Calendar(
        name="split",
        tz=ZoneInfo("Asia/Yekaterinburg"),
        weekly=((nine, lunch), (nine, lunch), (nine, lunch), (nine, lunch), (after,), (after,), ()),
    )
    assert calendar_hours(templates, split, "en") == "Mon–Thu 09:00–13:00, 14:00–18:00; Fri–Sat 10:00–16:00 (UTC+5)"


def test_the_catalog_tells_the_targets_frontline_sla_due_computes(templates: Templates) -> None:
    catalog = Catalog.load(DATA, templates)
    sla = SlaPolicy.load(DATA)
    start = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    offers = catalog.offers("en")
    assert {offer.key for offer in offers} == set(sla.plans)
    for offer in offers:
        assert [line.priority for line in offer.targets] == list(Priority)
        for line in offer.targets:
            computed = due_times(sla, offer.key, line.priority.value, start)["targets_minutes"]
            assert line.first_response_minutes == computed["first_response"]
            assert line.resolution_minutes == computed["resolution"]
    premium = next(o for o in offers if o.key == "premium")
    critical = premium.targets[0]
    assert (critical.label, critical.first_response, critical.resolution) == ("Critical", "15 minutes", "4 hours")
    assert premium.always_open
    assert "a dedicated line without a queue" in premium.channels
    assert "unlimited consultations with a specialist" in premium.limits
    standard = next(o for o in catalog.offers("ru") if o.key == "standard")
    assert "консультаций специалиста в месяц: 10" in standard.limits


def test_services_name_their_category_and_who_may_request_them(templates: Templates) -> None:
    catalog = Catalog.load(DATA, templates)
    assert catalog.service("equipment_check").category == "equipment"
    assert catalog.may_request("premium_support", "standard")
    assert not catalog.may_request("premium_support", "premium")
    assert "premium_support" not in {s.key for s in catalog.service_offers("ru", "premium")}
    assert all(s.name and s.description for s in catalog.service_offers("en"))


@pytest.mark.parametrize(
    ("file", "change", "key"),
    [
        ("catalog.yml", lambda d: d["services"]["moving"].update(price=10), "services.moving.price"),
        ("catalog.yml", lambda d: d["services"]["moving"]["names"].pop("en"), "services.moving.names.en"),
        ("catalog.yml", lambda d: d["services"]["moving"].update(urgency="asap"), "services.moving.urgency"),
        ("catalog.yml", lambda d: d["services"]["moving"].update(plans=["gold"]), "services.moving.plans"),
        ("catalog.yml", lambda d: d["services"].update({"Bad Key": d["services"]["moving"]}), "services.Bad Key"),
        ("sla/plans.yml", lambda d: d["plans"]["standard"]["includes"].update(pets=1), "includes.pets"),
        ("sla/plans.yml", lambda d: d["plans"]["standard"]["includes"]["channels"].append("pigeon"), "channels"),
        ("sla/plans.yml", lambda d: d["plans"]["standard"]["includes"]["limits"].update(calls=0), "limits.calls"),
        ("sla/plans.yml", lambda d: d["plans"]["standard"]["includes"]["limits"].update(calls=5), "limits.calls"),
        ("sla/plans.yml", lambda d: d["plans"]["standard"]["includes"].update(channels=[]), "includes.channels"),
    ],
)
def test_a_bad_catalog_or_plan_fails_at_load_naming_the_key(
    templates: Templates, data_copy: Path, file: str, change: object, key: str
) -> None:
    _edit(data_copy / file, change)
    with pytest.raises(DataFileError) as failure:
        Catalog.load(data_copy, templates)
    assert failure.value.file.name == Path(file).name
    assert key in failure.value.key


def test_plans_without_includes_still_load(templates: Templates, data_copy: Path) -> None:
    _edit(data_copy / "sla" / "plans.yml", lambda d: [p.pop("includes") for p in d["plans"].values()])
    offers = Catalog.load(data_copy, templates).offers("ru")
    assert all(o.channels == () and o.limits == () and len(o.targets) == 4 for o in offers)
