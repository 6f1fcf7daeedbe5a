"""Reports: indexes for "opened / written / rated in a period" scans.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.create_index('ix_conversations_created_at', ['created_at'], unique=False)
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_direction_created_at', ['direction', 'created_at'], unique=False)
    with op.batch_alter_table('csat', schema=None) as batch_op:
        batch_op.create_index('ix_csat_created_at', ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('csat', schema=None) as batch_op:
        batch_op.drop_index('ix_csat_created_at')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_direction_created_at')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index('ix_conversations_created_at')
