"""Proactive notices: compose, choose an audience, fan out through the outbox, follow delivery; opt-out; reminders."""
