"""Tickets, incidents, teams and CSAT tables."""
