"""Editors' pages: answers served and votes with their time, counted per article over a period.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kb_article_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("served", "helpful", "not_helpful", name="articleeventkind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["kb_articles.id"],
            name=op.f("fk_kb_article_events_article_id_kb_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_article_events")),
    )
    with op.batch_alter_table("kb_article_events", schema=None) as batch_op:
        batch_op.create_index("ix_kb_article_events_created_at_article_id", ["created_at", "article_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("kb_article_events", schema=None) as batch_op:
        batch_op.drop_index("ix_kb_article_events_created_at_article_id")
    op.drop_table("kb_article_events")
