"""Tickets: opening, the SLA clock, status transitions, replies and notes, operators' queries.

Modules: ``service`` (the operations), ``clock`` (SLA arithmetic of a ticket), ``status`` (transition table),
``notify`` (customer notices through the outbox), ``queries`` (lists and filters), ``history`` (the event log),
``numbers`` (T-000123), ``config`` (routing and incident matching settings), ``events`` (names),
``schemas`` (operators' JSON shapes).
"""
