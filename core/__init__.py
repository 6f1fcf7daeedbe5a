"""Frontline core: settings, database, customers, conversations, messages, events, templates, access."""
