"""Handoff to human operators: tickets, SLA clocks, routing."""
