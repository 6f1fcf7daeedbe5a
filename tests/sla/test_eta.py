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


def test_today_and_tomorrow_on_the_customers_calendar() -> None:
    # The Monday of issue 19: a due time on that Monday is "today", not "в понедельник, 7 декабря".
    monday_10am = datetime(2026, 12, 7, 10, 0, tzinfo=MSK)
    today = datetime(2026, 12, 7, 15, 0, tzinfo=MSK)
    tomorrow = datetime(2026, 12, 8, 9, 30, tzinfo=MSK)
    later = datetime(2026, 12, 9, 9, 30, tzinfo=MSK)
    assert format_eta(today, "Europe/Moscow", "ru", names("ru"), now=monday_10am) == "сегодня в 15:00 (МСК)"
    assert format_eta(today, "Europe/Moscow", "en", names("en"), now=monday_10am) == "today at 15:00 MSK"
    assert format_eta(tomorrow, "Europe/Moscow", "ru", names("ru"), now=monday_10am) == "завтра в 09:30 (МСК)"
    assert format_eta(tomorrow, "Europe/Moscow", "en", names("en"), now=monday_10am) == "tomorrow at 09:30 MSK"
    assert format_eta(later, "Europe/Moscow", "ru", names("ru"), now=monday_10am) == "до среды, 9 декабря, 09:30 (МСК)"
    assert (
        format_eta(later, "Europe/Moscow", "en", names("en"), now=monday_10am) == "by Wednesday, 9 December, 09:30 MSK"
    )


def test_today_is_the_customers_day_not_the_servers() -> None:
    # 18:00 UTC on Monday is 21:00 in Moscow but already Tuesday 04:00 in Vladivostok.
    now = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
    due = datetime(2026, 12, 8, 5, 0, tzinfo=UTC)  # Tuesday 15:00 in Vladivostok, Tuesday 08:00 in Moscow
    assert format_eta(due, "Asia/Vladivostok", "ru", names("ru"), now=now) == "сегодня в 15:00 (UTC+10)"
    assert format_eta(due, "Europe/Moscow", "ru", names("ru"), now=now) == "завтра в 08:00 (МСК)"


def test_without_now_the_date_is_spelled_out_and_a_naive_now_is_refused() -> None:
    due = datetime(2026, 12, 7, 15, 0, tzinfo=MSK)
    assert format_eta(due, "Europe/Moscow", "en", names("en")) == "by Monday, 7 December, 15:00 MSK"
    with pytest.raises(ValueError, match="aware"):
        format_eta(due, "Europe/Moscow", "en", names("en"), now=datetime(2026, 12, 7, 10, 0))
