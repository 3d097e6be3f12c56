"""steps.cache_key, for reusing identical earlier results

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("steps", sa.Column("cache_key", sa.String(length=64), nullable=True))
    op.create_index("ix_steps_cache_key", "steps", ["cache_key"], postgresql_where=sa.text("cache_key IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_steps_cache_key", table_name="steps")
    op.drop_column("steps", "cache_key")
