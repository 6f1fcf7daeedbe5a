"""Tickets: opening, the SLA clock, status transitions, replies and notes, incidents, operators' queries.

Modules: ``desk`` (:class:`~tickets.desk.TicketDesk`, the façade the bot uses: "the desk"), ``service``
(ticket operations), ``incidents`` (incident operations), ``breach`` (the breach watch), ``clock`` (SLA
arithmetic of a ticket), ``status`` (transition table),
``notify`` (customer notices through the outbox), ``queries`` (lists and filters), ``history`` (the event log),
``numbers`` (T-000123), ``config`` (routing and incident matching settings), ``events`` (names),
``schemas`` (operators' JSON shapes).
"""
