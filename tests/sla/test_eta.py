"""The customer-facing ETA: structured data and both languages' templates."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import pytest
import yaml

from sla.eta import FORMAT_KEY, Language, eta_data, eta_values, format_eta

TEMPLATES = Path(__file__).resolve().parents[2] / "data" / "templates"
MSK = ZoneInfo("Europe/Moscow")
FRIDAY_2PM = datetime(2025, 11, 28, 14, 0, tzinfo=MSK)


def names(language: Language) -> dict[str, Any]:
    loaded = yaml.safe_load((TEMPLATES / language / "eta.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_moscow_in_both_languages() -> None:
    assert format_eta(FRIDAY_2PM, "Europe/Moscow", "ru", names("ru")) == "до пятницы, 28 ноября, 14:00 (МСК)"
    assert format_eta(FRIDAY_2PM, "Europe/Moscow", "en", names("en")) == "by Friday, 28 November, 14:00 MSK"


def test_structured_value() -> None:
    eta = eta_data(FRIDAY_2PM.astimezone(UTC), "Europe/Moscow", "ru")
    assert (eta.weekday, eta.day, eta.month, eta.time, eta.tz) == (4, 28, 11, "14:00", "МСК")
    assert eta.local == FRIDAY_2PM
    assert eta.local.tzinfo == MSK


def test_other_zones_show_the_offset_and_their_own_date() -> None:
    late = datetime(2025, 11, 28, 22, 30, tzinfo=MSK)
    assert format_eta(late, "Asia/Vladivostok", "ru", names("ru")) == "до субботы, 29 ноября, 05:30 (UTC+10)"
    assert format_eta(late, "Asia/Yekaterinburg", "en", names("en")) == "by Saturday, 29 November, 00:30 UTC+5"
    assert eta_data(late, "Asia/Kolkata", "en").tz == "UTC+5:30"
    assert eta_data(late, "America/St_Johns", "en").tz == "UTC-3:30"
    assert eta_data(late, "UTC", "ru").tz == "UTC"


def test_every_weekday_and_month_name_is_used() -> None:
    for language in ("ru", "en"):
        table = names(language)
        assert len(table["eta.weekdays"]) == 7
        assert len(table["eta.months"]) == 12
        seen = {
            eta_values(datetime(2026, month, 1, 12, tzinfo=MSK), "Europe/Moscow", language, table)["month"]
            for month in range(1, 13)
        }
        assert seen == set(table["eta.months"])
    assert eta_values(datetime(2026, 11, 30, 12, tzinfo=MSK), "Europe/Moscow", "ru", names("ru"))["weekday"] == (
        "понедельника"
    )


def test_values_render_with_jinja2_too() -> None:
    # The project's Templates.render is Jinja2; eta_values plugs into it and agrees with format_eta.
    for language in ("ru", "en"):
        table = names(language)
        rendered = jinja2.Template(table[FORMAT_KEY]).render(**eta_values(FRIDAY_2PM, "Europe/Moscow", language, table))
        assert rendered == format_eta(FRIDAY_2PM, "Europe/Moscow", language, table)


def test_bad_input_is_refused() -> None:
    table = names("en")
    with pytest.raises(ValueError, match="aware"):
        format_eta(datetime(2025, 11, 28, 14, 0), "Europe/Moscow", "en", table)
    with pytest.raises(ValueError, match="timezone"):
        format_eta(FRIDAY_2PM, "Mars/Olympus", "en", table)
    with pytest.raises(ValueError, match="language"):
        eta_data(FRIDAY_2PM, "Europe/Moscow", "de")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"eta\.months"):
        format_eta(FRIDAY_2PM, "Europe/Moscow", "en", {**table, "eta.months": ["Jan"]})
    with pytest.raises(ValueError, match="placeholder"):
        format_eta(FRIDAY_2PM, "Europe/Moscow", "en", {**table, FORMAT_KEY: "by {{ year }}"})
    with pytest.raises(ValueError, match=r"eta\.format"):
        format_eta(FRIDAY_2PM, "Europe/Moscow", "en", {k: v for k, v in table.items() if k != FORMAT_KEY})
