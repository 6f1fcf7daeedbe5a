"""Managers' reports: metric definitions (one module), the /reports page, CSV export and demo history."""
