"""Reports at size: each ticket's first-response and resolution durations, stored; operator replies indexed.

The durations are filled for existing tickets by ``frontline ticket backfill-durations`` (``make migrate`` runs
it): business time needs the plans' calendars from the data files, which a migration does not read.

Revision ID: 0015
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPERATOR_REPLIES = "author = 'operator' AND NOT private"


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_response_minutes", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("first_response_business_minutes", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("resolution_minutes", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("resolution_business_minutes", sa.Integer(), nullable=True))
    op.create_index(
        "ix_messages_operator_replies",
        "messages",
        ["conversation_id", "created_at"],
        unique=False,
        postgresql_where=sa.text(OPERATOR_REPLIES),
        sqlite_where=sa.text(OPERATOR_REPLIES),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_operator_replies", table_name="messages")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_column("resolution_business_minutes")
        batch_op.drop_column("resolution_minutes")
        batch_op.drop_column("first_response_business_minutes")
        batch_op.drop_column("first_response_minutes")
