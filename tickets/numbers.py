"""Ticket numbers as people type them: ``T-000123``, ``t-123``, ``Т-123`` (Cyrillic), ``#123``, ``№ 123``, ``123``."""

from __future__ import annotations

import re

from core.errors import NotFound
from tickets.models import format_number

__all__ = ["format_number", "parse_number", "require_number"]

# Latin T and Cyrillic Т look the same on a keyboard layout switch; customers type both.
_NUMBER = re.compile(r"^\s*(?:[#№]\s*)?(?:[TtТт]\s*[-‐–—]?\s*)?0*(\d{1,10})\s*$")


def parse_number(text: str) -> int | None:
    """The ticket id a typed number means, or None when it is not a ticket number at all."""
    match = _NUMBER.match(text)
    if match is None:
        return None
    value = int(match.group(1))
    return value if 0 < value < 2**31 else None


def require_number(text: str) -> int:
    """Like :func:`parse_number`, but an unreadable number is simply a ticket we do not have."""
    value = parse_number(text)
    if value is None:
        raise NotFound("no such ticket", number=text[:40])
    return value
