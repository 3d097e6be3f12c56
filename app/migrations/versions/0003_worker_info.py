"""worker_info: the queues each live worker serves

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_info",
        sa.Column("worker_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("queues", postgresql.ARRAY(sa.String(length=128)), nullable=True, comment="NULL: every queue"),
        sa.Column("concurrency", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("started", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("worker_id", name=op.f("pk_worker_info")),
        sa.ForeignKeyConstraint(["worker_id"], ["procrastinate_workers.id"], ondelete="CASCADE",
                                name="fk_worker_info_worker_id_procrastinate_workers"),
    )


def downgrade() -> None:
    op.drop_table("worker_info")
