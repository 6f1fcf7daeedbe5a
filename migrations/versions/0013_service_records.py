"""Service records: a customer's equipment and services.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "service_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("equipment", "service", name="recordkind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("serial_number", sa.String(length=100), nullable=False),
        sa.Column("installed_on", sa.Date(), nullable=True),
        sa.Column("interval_months", sa.Integer(), nullable=True),
        sa.Column("last_check_on", sa.Date(), nullable=True),
        sa.Column("next_check_on", sa.Date(), nullable=True),
        sa.Column("warranty_end", sa.Date(), nullable=True),
        sa.Column("service_period_end", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "interval_months IS NULL OR interval_months > 0",
            name=op.f("ck_service_records_interval_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_service_records_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_records")),
        sa.UniqueConstraint("serial_number", name=op.f("uq_service_records_serial_number")),
    )
    op.create_index(op.f("ix_service_records_customer_id"), "service_records", ["customer_id"], unique=False)
    op.create_index("ix_service_records_service_period_end", "service_records", ["service_period_end"], unique=False)
    op.create_index("ix_service_records_next_check_on", "service_records", ["next_check_on"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_service_records_next_check_on", table_name="service_records")
    op.drop_index("ix_service_records_service_period_end", table_name="service_records")
    op.drop_index(op.f("ix_service_records_customer_id"), table_name="service_records")
    op.drop_table("service_records")
