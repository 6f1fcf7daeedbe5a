"""``frontline sla due`` (weekends, New Year holidays, after-hours vs 24/7), bad input, ``ticket list|show``."""

from __future__ import annotations

import argparse
import json

import pytest

from bot.cli import main
from core.db import SessionFactory
from core.errors import NotFound
from core.settings import Settings
from tests.support.people import person, uow
from tickets.cli import cmd_ticket_list, cmd_ticket_show
from tickets.desk import TicketDesk


def due(capsys: pytest.CaptureFixture[str], plan: str, priority: str, start: str) -> dict[str, str]:
    assert main(["sla", "due", "--plan", plan, "--priority", priority, "--from", start]) == 0
    out: dict[str, str] = json.loads(capsys.readouterr().out)
    return out


def test_standard_skips_the_weekend(capsys: pytest.CaptureFixture[str]) -> None:
    out = due(capsys, "standard", "P3", "2026-11-27T17:30:00+03:00")  # Friday, 30 minutes before closing
    assert out["first_response_due"] == "2026-11-30T12:30:00+03:00"
    assert out["resolution_due"] == "2026-12-02T14:30:00+03:00"
    assert out["plan_names"] == {"ru": "Стандарт", "en": "Standard"}


def test_standard_skips_the_new_year_holidays(capsys: pytest.CaptureFixture[str]) -> None:
    out = due(capsys, "standard", "P1", "2026-12-30T17:30:00+03:00")
    # 30 minutes on 30 December; 31 December and 1-8 January are days off, 9-10 January a weekend.
    assert out["first_response_due"] == "2027-01-11T09:30:00+03:00"
    assert out["resolution_due"] == "2027-01-11T16:30:00+03:00"


def test_standard_waits_for_opening_hours(capsys: pytest.CaptureFixture[str]) -> None:
    out = due(capsys, "standard", "P1", "2026-11-30T20:00:00+03:00")
    assert out["first_response_due"] == "2026-12-01T10:00:00+03:00"
    assert out["resolution_due"] == "2026-12-01T17:00:00+03:00"


def test_premium_runs_around_the_clock(capsys: pytest.CaptureFixture[str]) -> None:
    out = due(capsys, "premium", "P1", "2027-01-02T03:00:00+03:00")  # a holiday Saturday at night
    assert out["first_response_due"] == "2027-01-02T03:15:00+03:00"
    assert out["resolution_due"] == "2027-01-02T07:00:00+03:00"
    other_zone = due(capsys, "premium", "P4", "2026-12-31T19:00:00+00:00")
    assert other_zone["resolution_due"] == "2027-01-03T22:00:00+03:00", "shown in the plan's zone, with its offset"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--plan", "standard", "--priority", "P3", "--from", "2026-11-27T17:30:00"], "no timezone"),
        (["--plan", "standard", "--priority", "P3", "--from", "next friday"], "not an ISO 8601"),
        (["--plan", "gold", "--priority", "P3", "--from", "2026-11-27T17:30:00+03:00"], "unknown plan 'gold'"),
        (["--plan", "premium", "--priority", "P9", "--from", "2026-11-27T17:30:00+03:00"], "unknown priority 'P9'"),
    ],
)
def test_bad_input_is_a_clear_error_with_exit_code_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["sla", "due", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err


async def test_ticket_list_and_show(
    sessions: SessionFactory, desk: TicketDesk, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    who = await person(sessions)
    async with uow(sessions) as work:
        opened = await desk.open_ticket(work, who.customer, who.conversation, description="Нет сигнала на приставке")
    number = opened.ticket.number
    assert (
        await cmd_ticket_list(
            argparse.Namespace(status=["new"], priority=[], breached=False, search=None, limit=10, json=False), settings
        )
        == 0
    )
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{number}\tnew\tP3\tok\t")
    assert line.endswith("Нет сигнала на приставке")
    assert await cmd_ticket_show(argparse.Namespace(number=number.lower()), settings) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["number"], shown["events"][0]["kind"]) == (number, "created")
    with pytest.raises(NotFound):
        await cmd_ticket_show(argparse.Namespace(number="T-999999"), settings)
