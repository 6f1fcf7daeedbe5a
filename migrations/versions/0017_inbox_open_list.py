"""The inbox's All open list: a partial index of open conversations in list order.

``status IN ('waiting', 'assigned') ORDER BY updated_at DESC, id DESC LIMIT 50`` cannot walk
``ix_conversations_status_updated_at`` in order for two statuses at once, so PostgreSQL read and sorted every
open conversation (and ran the unread sub-query for each) before keeping 50. This index holds only the open
conversations, in list order: the list reads its 50 rows and stops.

Revision ID: 0017
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('waiting', 'assigned')"


def upgrade() -> None:
    op.create_index(
        "ix_conversations_open_updated_at",
        "conversations",
        ["updated_at", "id"],
        unique=False,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_open_updated_at", table_name="conversations")
