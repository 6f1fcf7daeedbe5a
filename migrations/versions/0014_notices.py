"""Proactive notices: notices, their recipients, customers' opt-outs, reminders sent per record and due date.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0014'
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('notice_opt_outs',
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_notice_opt_outs_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_notice_opt_outs'))
    )
    op.create_table('notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('incident', 'service', 'reminder', name='noticekind', native_enum=False, length=32), nullable=False),
    sa.Column('state', sa.Enum('draft', 'sending', 'sent', name='noticestate', native_enum=False, length=32), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('text_ru', sa.Text(), nullable=False),
    sa.Column('text_en', sa.Text(), nullable=False),
    sa.Column('audience', sa.JSON(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_by', sa.Integer(), nullable=True),
    sa.Column('sending_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cursor', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['operators.id'], name=op.f('fk_notices_created_by_operators'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['sent_by'], ['operators.id'], name=op.f('fk_notices_sent_by_operators'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notices')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_notices_idempotency_key'))
    )
    op.create_table('notice_reminders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_notice_reminders_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], name=op.f('fk_notice_reminders_notice_id_notices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notice_reminders')),
    sa.UniqueConstraint('reason', 'record_id', 'due_on', name=op.f('uq_notice_reminders_reason_record_id_due_on'))
    )
    with op.batch_alter_table('notice_reminders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_reminders_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notice_reminders_notice_id'), ['notice_id'], unique=False)

    op.create_table('notice_recipients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.Enum('telegram', 'web', name='channel', native_enum=False, length=32), nullable=True),
    sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('state', sa.Enum('queued', 'opted_out', name='recipientstate', native_enum=False, length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_notice_recipients_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_notice_recipients_message_id_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], name=op.f('fk_notice_recipients_notice_id_notices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notice_recipients')),
    sa.UniqueConstraint('notice_id', 'customer_id', name=op.f('uq_notice_recipients_notice_id_customer_id'))
    )
    with op.batch_alter_table('notice_recipients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_recipients_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_notice_recipients_message_id', ['message_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('notice_recipients', schema=None) as batch_op:
        batch_op.drop_index('ix_notice_recipients_message_id')
        batch_op.drop_index(batch_op.f('ix_notice_recipients_customer_id'))

    op.drop_table('notice_recipients')
    with op.batch_alter_table('notice_reminders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_reminders_notice_id'))
        batch_op.drop_index(batch_op.f('ix_notice_reminders_customer_id'))

    op.drop_table('notice_reminders')
    op.drop_table('notices')
    op.drop_table('notice_opt_outs')
