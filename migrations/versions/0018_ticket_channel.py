"""Reports at full size: each ticket's channel stored on it; the instants the report counts by, indexed.

The report groups and filters tickets by the channel of their first conversation. Found through a correlated
subquery per ticket, that cost seconds at a million tickets; ``tickets.channel`` now holds it (NULL: opened
without a conversation, shown as ``none``). Triggers on ``ticket_conversations`` keep it right whatever writes
the link — the ticket service, a merge, a bulk load, the cascade when a conversation is erased: after every
insert, update or delete of a link the ticket's channel is read again from its earliest link (link time, then
conversation id, as the report always ordered them), and the ticket row is written only when it changed (a
second conversation gathered into a ticket usually leaves it as it was). Existing tickets are filled here, in
one statement (about a minute for a million tickets on PostgreSQL).

``ix_tickets_resolved_at`` and ``ix_conversations_closed_at``: the satisfaction response rate counts the tickets
resolved and the conversations closed in the period, which were full scans.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def first_channel(ticket: str) -> str:
    """The channel of the earliest conversation linked to the ticket whose id is the SQL expression ``ticket``."""
    return (
        "(SELECT c.channel FROM ticket_conversations tc JOIN conversations c ON c.id = tc.conversation_id "
        f"WHERE tc.ticket_id = {ticket} ORDER BY tc.created_at, c.id LIMIT 1)"
    )


BACKFILL = f"UPDATE tickets SET channel = {first_channel('tickets.id')} WHERE channel IS NULL"

PG_FUNCTION = f"""
CREATE FUNCTION tickets_follow_first_channel() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE tickets SET channel = {first_channel("OLD.ticket_id")}
        WHERE id = OLD.ticket_id AND channel IS DISTINCT FROM {first_channel("OLD.ticket_id")};
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE tickets SET channel = {first_channel("NEW.ticket_id")}
        WHERE id = NEW.ticket_id AND channel IS DISTINCT FROM {first_channel("NEW.ticket_id")};
    END IF;
    RETURN NULL;
END
$$
"""
PG_TRIGGER = (
    "CREATE TRIGGER tr_ticket_conversations_channel AFTER INSERT OR UPDATE OR DELETE ON ticket_conversations "
    "FOR EACH ROW EXECUTE FUNCTION tickets_follow_first_channel()"
)


def _sqlite_trigger(event: str, rows: tuple[str, ...]) -> str:
    updates = " ".join(
        f"UPDATE tickets SET channel = {first_channel(f'{r}.ticket_id')} "
        f"WHERE id = {r}.ticket_id AND channel IS NOT {first_channel(f'{r}.ticket_id')};"
        for r in rows
    )
    return (
        f"CREATE TRIGGER tr_ticket_conversations_channel_{event.lower()} AFTER {event} ON ticket_conversations "
        f"FOR EACH ROW BEGIN {updates} END"
    )


SQLITE_TRIGGERS = {
    "insert": _sqlite_trigger("INSERT", ("NEW",)),
    "update": _sqlite_trigger("UPDATE", ("OLD", "NEW")),
    "delete": _sqlite_trigger("DELETE", ("OLD",)),
}


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=32), nullable=True))
    op.execute(BACKFILL)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
    else:
        for sql in SQLITE_TRIGGERS.values():
            op.execute(sql)
    op.create_index("ix_tickets_created_at_channel_plan", "tickets", ["created_at", "channel", "plan"], unique=False)
    op.create_index(
        "ix_tickets_resolved_at",
        "tickets",
        ["resolved_at"],
        unique=False,
        postgresql_where=sa.text("resolved_at IS NOT NULL"),
        sqlite_where=sa.text("resolved_at IS NOT NULL"),
    )
    op.create_index(
        "ix_conversations_closed_at",
        "conversations",
        ["closed_at"],
        unique=False,
        postgresql_where=sa.text("closed_at IS NOT NULL"),
        sqlite_where=sa.text("closed_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_closed_at", table_name="conversations")
    op.drop_index("ix_tickets_resolved_at", table_name="tickets")
    op.drop_index("ix_tickets_created_at_channel_plan", table_name="tickets")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER tr_ticket_conversations_channel ON ticket_conversations")
        op.execute("DROP FUNCTION tickets_follow_first_channel()")
    else:
        for event in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER tr_ticket_conversations_channel_{event}")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_column("channel")
