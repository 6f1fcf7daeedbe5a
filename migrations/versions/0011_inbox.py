"""Inbox: unread state, team membership, presence, team routing, a conversation's team, canned responses.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
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
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name=op.f("fk_team_members_operator_id_operators"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_team_members_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("team_id", "operator_id", name=op.f("pk_team_members")),
    )
    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_team_members_operator_id"), ["operator_id"], unique=False)
    op.create_table(
        "operator_presence",
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('online', 'away', 'offline')", name=op.f("ck_operator_presence_status_known")),
        sa.CheckConstraint("capacity >= 0", name=op.f("ck_operator_presence_capacity_positive")),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_operator_presence_operator_id_operators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("operator_id", name=op.f("pk_operator_presence")),
    )
    op.create_table(
        "team_routing",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("auto_assign", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_team_routing_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_team_routing")),
    )
    op.create_table(
        "canned_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shortcut", sa.String(length=40), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_responses")),
        sa.UniqueConstraint("shortcut", "language", name=op.f("uq_canned_responses_shortcut_language")),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("team_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_conversations_team_id_teams"), "teams", ["team_id"], ["id"], ondelete="SET NULL"
        )
        # The Mine / All open / Closed views read the newest first by these.
        batch_op.create_index("ix_conversations_status_updated_at", ["status", "updated_at"], unique=False)
        batch_op.create_index("ix_conversations_assignee_id_status", ["assignee_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_assignee_id_status")
        batch_op.drop_index("ix_conversations_status_updated_at")
        batch_op.drop_constraint(batch_op.f("fk_conversations_team_id_teams"), type_="foreignkey")
        batch_op.drop_column("team_id")
    op.drop_table("canned_responses")
    op.drop_table("team_routing")
    op.drop_table("operator_presence")
    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_team_members_operator_id"))
    op.drop_table("team_members")
    op.drop_table("inbox_reads")
