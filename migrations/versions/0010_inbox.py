"""Inbox: what each operator has read of each conversation (unread counts).

Revision ID: 0010_inbox
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_inbox"
# The file is 0007_portal.py; its revision id is "0007".
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbox_reads",
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("seen_seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_inbox_reads_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name=op.f("fk_inbox_reads_operator_id_operators"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("operator_id", "conversation_id", name=op.f("pk_inbox_reads")),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        # The Mine / All open / Closed views read the newest first by these.
        batch_op.create_index("ix_conversations_status_updated_at", ["status", "updated_at"], unique=False)
        batch_op.create_index("ix_conversations_assignee_id_status", ["assignee_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_assignee_id_status")
        batch_op.drop_index("ix_conversations_status_updated_at")
    op.drop_table("inbox_reads")
