"""The shapes of an ETA as the customer reads it, for tests that run at any hour of the real clock.

A due time on the customer's today or tomorrow is worded "сегодня в 15:00" / "tomorrow at 15:00", any other
as a weekday and a date — which one a test sees depends on when it runs, never on what it checks.
"""

from __future__ import annotations

ETA_RU = r"(?:до [а-я]+, \d{1,2} [а-я]+,|сегодня в|завтра в) \d{2}:\d{2}"
ETA_EN = r"(?:by \w+day, \d{1,2} \w+,|today at|tomorrow at) \d{2}:\d{2}"
