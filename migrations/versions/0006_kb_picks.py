"""Knowledge base: suggestion picks (a customer's question and the suggested article they chose).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('kb_suggestion_picks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('open', 'accepted', 'dismissed', name='pickstatus', native_enum=False, length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['kb_articles.id'], name=op.f('fk_kb_suggestion_picks_article_id_kb_articles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_kb_suggestion_picks_conversation_id_conversations'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_suggestion_picks'))
    )
    with op.batch_alter_table('kb_suggestion_picks', schema=None) as batch_op:
        batch_op.create_index('ix_kb_suggestion_picks_article_id_status', ['article_id', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('kb_suggestion_picks', schema=None) as batch_op:
        batch_op.drop_index('ix_kb_suggestion_picks_article_id_status')
    op.drop_table('kb_suggestion_picks')
