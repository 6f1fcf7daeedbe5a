"""One stored-vector shape: ``embedder``, ``dim``, ``vector`` (float32 little-endian) in every table.

Before: article chunks and gaps had ``embedder`` + ``vector``; ticket vectors ``model`` + ``vector``; incidents
``embedding_model`` + ``embedding``; tickets and incidents wrote the machine's own byte order. Existing vectors
are kept: columns are renamed, ``dim`` is filled from the byte length, and bytes written in another byte
order than little-endian (a big-endian machine) are rewritten.

Revision ID: 0005
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NATIVE = np.dtype("=f4")
"""How tickets and incidents wrote their vectors before: ``ndarray.tobytes()`` in the machine's order."""
STORED = np.dtype("<f4")
BATCH = 1000


def _fill_dim(table: str) -> None:
    # length() of a BLOB (SQLite) or a bytea (PostgreSQL) is its size in bytes.
    op.execute(sa.text(f"UPDATE {table} SET dim = length(vector) / 4 WHERE vector IS NOT NULL"))


def reorder_bytes(connection: sa.Connection, table: str, key: str, source: np.dtype[np.float32]) -> int:
    """Rewrite the ``vector`` column of ``table`` from ``source`` byte order to little-endian; how many rows."""
    if source == STORED:
        return 0
    rows = sa.table(table, sa.column(key, sa.Integer), sa.column("vector", sa.LargeBinary))
    done, last = 0, None
    while True:
        query = sa.select(rows.c[key], rows.c.vector).where(rows.c.vector.is_not(None)).order_by(rows.c[key])
        if last is not None:
            query = query.where(rows.c[key] > last)
        batch = connection.execute(query.limit(BATCH)).all()
        if not batch:
            return done
        for row_key, raw in batch:
            converted = np.frombuffer(raw[: len(raw) - len(raw) % 4], dtype=source).astype(STORED).tobytes()
            connection.execute(sa.update(rows).where(rows.c[key] == row_key).values(vector=converted))
        done += len(batch)
        last = batch[-1][0]


def upgrade() -> None:
    connection = op.get_bind()
    with op.batch_alter_table("kb_article_chunks") as batch:
        batch.add_column(sa.Column("dim", sa.Integer(), nullable=True))
    _fill_dim("kb_article_chunks")
    with op.batch_alter_table("kb_article_chunks") as batch:
        batch.alter_column("dim", existing_type=sa.Integer(), nullable=False)

    with op.batch_alter_table("kb_gaps") as batch:
        batch.add_column(sa.Column("dim", sa.Integer(), nullable=True))
    _fill_dim("kb_gaps")

    with op.batch_alter_table("ticket_vectors") as batch:
        batch.alter_column(
            "model", new_column_name="embedder", existing_type=sa.String(64), type_=sa.String(200), nullable=False
        )
        batch.add_column(sa.Column("dim", sa.Integer(), nullable=True))
    reorder_bytes(connection, "ticket_vectors", "ticket_id", NATIVE)
    _fill_dim("ticket_vectors")
    with op.batch_alter_table("ticket_vectors") as batch:
        batch.alter_column("dim", existing_type=sa.Integer(), nullable=False)

    with op.batch_alter_table("incidents") as batch:
        batch.alter_column("embedding", new_column_name="vector", existing_type=sa.LargeBinary())
        batch.alter_column(
            "embedding_model", new_column_name="embedder", existing_type=sa.String(64), type_=sa.String(200)
        )
        batch.add_column(sa.Column("dim", sa.Integer(), nullable=True))
    reorder_bytes(connection, "incidents", "id", NATIVE)
    _fill_dim("incidents")


def downgrade() -> None:
    # Names longer than the old columns allowed cannot go back; such vectors are recomputed on use.
    op.execute(sa.text("UPDATE incidents SET vector = NULL, embedder = NULL, dim = NULL WHERE length(embedder) > 64"))
    op.execute(sa.text("DELETE FROM ticket_vectors WHERE length(embedder) > 64"))
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("dim")
        batch.alter_column(
            "embedder", new_column_name="embedding_model", existing_type=sa.String(200), type_=sa.String(64)
        )
        batch.alter_column("vector", new_column_name="embedding", existing_type=sa.LargeBinary())
    with op.batch_alter_table("ticket_vectors") as batch:
        batch.drop_column("dim")
        batch.alter_column(
            "embedder", new_column_name="model", existing_type=sa.String(200), type_=sa.String(64), nullable=False
        )
    with op.batch_alter_table("kb_gaps") as batch:
        batch.drop_column("dim")
    with op.batch_alter_table("kb_article_chunks") as batch:
        batch.drop_column("dim")
