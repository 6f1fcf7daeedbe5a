"""Handoff: teams, tickets, ticket events, incidents, CSAT.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Trigram indexes for operators' text search. pg_trgm is a trusted extension (PostgreSQL 13+): the
        # database owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table('teams',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teams')),
    sa.UniqueConstraint('key', name=op.f('uq_teams_key'))
    )
    op.create_table('incidents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('service', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('open', 'resolved', name='incidentstatus', native_enum=False, length=32), nullable=False),
    sa.Column('restoration_eta', sa.DateTime(timezone=True), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('embedding', sa.LargeBinary(), nullable=True),
    sa.Column('embedding_model', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['operators.id'], name=op.f('fk_incidents_created_by_operators'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_incidents_team_id_teams'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents'))
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index('ix_incidents_status_created_at', ['status', 'created_at'], unique=False)

    op.create_table('tickets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=True),
    sa.Column('account_number', sa.String(length=64), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('urgency', sa.Enum('low', 'medium', 'high', name='urgency', native_enum=False, length=32), nullable=False),
    sa.Column('impact', sa.Enum('one', 'several', 'many', name='impact', native_enum=False, length=32), nullable=False),
    sa.Column('priority', sa.Enum('P1', 'P2', 'P3', 'P4', name='priority', native_enum=False, length=32), nullable=False),
    sa.Column('sla_priority', sa.Enum('P1', 'P2', 'P3', 'P4', name='priority', native_enum=False, length=32), nullable=False),
    sa.Column('status', sa.Enum('new', 'open', 'pending', 'resolved', 'closed', name='ticketstatus', native_enum=False, length=32), nullable=False),
    sa.Column('plan', sa.String(length=32), nullable=False),
    sa.Column('sla_started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_response_due', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_responded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_response_state', sa.Enum('ok', 'at_risk', 'breached', name='slastate', native_enum=False, length=32), nullable=False),
    sa.Column('next_response_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_response_due', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_response_state', sa.Enum('ok', 'at_risk', 'breached', name='slastate', native_enum=False, length=32), nullable=False),
    sa.Column('resolution_due', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolution_state', sa.Enum('ok', 'at_risk', 'breached', name='slastate', native_enum=False, length=32), nullable=False),
    sa.Column('sla_state', sa.Enum('ok', 'at_risk', 'breached', name='slastate', native_enum=False, length=32), nullable=False),
    sa.Column('pauses', sa.JSON(), nullable=False),
    sa.Column('breached_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('next_escalation_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assignee_id'], ['operators.id'], name=op.f('fk_tickets_assignee_id_operators'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_tickets_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_tickets_team_id_teams'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tickets')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_assignee_status_id', ['assignee_id', 'status', 'id'], unique=False)
        batch_op.create_index('ix_tickets_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_tickets_customer_id_id', ['customer_id', 'id'], unique=False)
        batch_op.create_index('ix_tickets_next_escalation_at', ['next_escalation_at'], unique=False, postgresql_where=sa.text('next_escalation_at IS NOT NULL'), sqlite_where=sa.text('next_escalation_at IS NOT NULL'))
        batch_op.create_index('ix_tickets_priority_status_id', ['priority', 'status', 'id'], unique=False)
        batch_op.create_index('ix_tickets_sla_state_status_id', ['sla_state', 'status', 'id'], unique=False)
        batch_op.create_index('ix_tickets_status_id', ['status', 'id'], unique=False)
        batch_op.create_index('ix_tickets_subject_trgm', ['subject'], unique=False, postgresql_using='gin', postgresql_ops={'subject': 'gin_trgm_ops'})
        batch_op.create_index('ix_tickets_description_trgm', ['description'], unique=False, postgresql_using='gin', postgresql_ops={'description': 'gin_trgm_ops'})
        batch_op.create_index('ix_tickets_open_resolution_due', ['resolution_due', 'id'], unique=False, postgresql_where=sa.text("status IN ('new', 'open', 'pending')"), sqlite_where=sa.text("status IN ('new', 'open', 'pending')"))
        batch_op.create_index('ix_tickets_team_status_id', ['team_id', 'status', 'id'], unique=False)

    op.create_table('csat',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rating', sa.SmallInteger(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('conversation_id', sa.Integer(), nullable=True),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('conversation_id IS NOT NULL OR ticket_id IS NOT NULL', name=op.f('ck_csat_has_subject')),
    sa.CheckConstraint('rating BETWEEN 1 AND 5', name=op.f('ck_csat_rating_range')),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_csat_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_csat_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_csat')),
    sa.UniqueConstraint('conversation_id', name=op.f('uq_csat_conversation_id')),
    sa.UniqueConstraint('ticket_id', name=op.f('uq_csat_ticket_id'))
    )
    op.create_table('ticket_conversations',
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_ticket_conversations_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_conversations_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('ticket_id', 'conversation_id', name=op.f('pk_ticket_conversations'))
    )
    with op.batch_alter_table('ticket_conversations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_conversations_conversation_id'), ['conversation_id'], unique=False)

    op.create_table('ticket_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('actor', sa.Enum('operator', 'customer', 'system', name='actor', native_enum=False, length=32), nullable=False),
    sa.Column('operator_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('from_value', sa.String(length=64), nullable=True),
    sa.Column('to_value', sa.String(length=64), nullable=True),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['operator_id'], ['operators.id'], name=op.f('fk_ticket_events_operator_id_operators'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_events_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_events'))
    )
    with op.batch_alter_table('ticket_events', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_events_ticket_id_id', ['ticket_id', 'id'], unique=False)
        batch_op.create_index('uq_ticket_events_escalation', ['ticket_id', 'to_value'], unique=True, postgresql_where=sa.text("kind = 'escalated'"), sqlite_where=sa.text("kind = 'escalated'"))

    op.create_table('ticket_incidents',
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('linked', 'suggested', name='linkstate', native_enum=False, length=32), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('linked_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_ticket_incidents_incident_id_incidents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['linked_by'], ['operators.id'], name=op.f('fk_ticket_incidents_linked_by_operators'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_incidents_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('ticket_id', 'incident_id', name=op.f('pk_ticket_incidents'))
    )
    with op.batch_alter_table('ticket_incidents', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_incidents_incident_id_state', ['incident_id', 'state'], unique=False)
        batch_op.create_index('uq_ticket_incidents_linked', ['ticket_id'], unique=True, postgresql_where=sa.text("state = 'linked'"), sqlite_where=sa.text("state = 'linked'"))

    op.create_table('ticket_vectors',
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('model', sa.String(length=64), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_vectors_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('ticket_id', name=op.f('pk_ticket_vectors'))
    )


def downgrade() -> None:
    op.drop_table('ticket_vectors')
    with op.batch_alter_table('ticket_incidents', schema=None) as batch_op:
        batch_op.drop_index('uq_ticket_incidents_linked', postgresql_where=sa.text("state = 'linked'"), sqlite_where=sa.text("state = 'linked'"))
        batch_op.drop_index('ix_ticket_incidents_incident_id_state')

    op.drop_table('ticket_incidents')
    with op.batch_alter_table('ticket_events', schema=None) as batch_op:
        batch_op.drop_index('uq_ticket_events_escalation', postgresql_where=sa.text("kind = 'escalated'"), sqlite_where=sa.text("kind = 'escalated'"))
        batch_op.drop_index('ix_ticket_events_ticket_id_id')

    op.drop_table('ticket_events')
    with op.batch_alter_table('ticket_conversations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_conversations_conversation_id'))

    op.drop_table('ticket_conversations')
    op.drop_table('csat')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_team_status_id')
        batch_op.drop_index('ix_tickets_open_resolution_due', postgresql_where=sa.text("status IN ('new', 'open', 'pending')"), sqlite_where=sa.text("status IN ('new', 'open', 'pending')"))
        batch_op.drop_index('ix_tickets_status_id')
        batch_op.drop_index('ix_tickets_subject_trgm', postgresql_using='gin', postgresql_ops={'subject': 'gin_trgm_ops'})
        batch_op.drop_index('ix_tickets_description_trgm', postgresql_using='gin', postgresql_ops={'description': 'gin_trgm_ops'})
        batch_op.drop_index('ix_tickets_sla_state_status_id')
        batch_op.drop_index('ix_tickets_priority_status_id')
        batch_op.drop_index('ix_tickets_next_escalation_at', postgresql_where=sa.text('next_escalation_at IS NOT NULL'), sqlite_where=sa.text('next_escalation_at IS NOT NULL'))
        batch_op.drop_index('ix_tickets_customer_id_id')
        batch_op.drop_index('ix_tickets_created_at')
        batch_op.drop_index('ix_tickets_assignee_status_id')

    op.drop_table('tickets')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_incidents_status_created_at')

    op.drop_table('incidents')
    op.drop_table('teams')
