"""Ticket tests read the real data files."""

from __future__ import annotations

from core.settings import ROOT

DATA = ROOT / "data"
