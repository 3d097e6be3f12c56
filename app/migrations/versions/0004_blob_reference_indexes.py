"""Indexes on the blob references, so purging can tell which contents are still used

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_results_sha256", "results", ["sha256"])
    op.create_index("ix_submission_inputs_sha256", "submission_inputs", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_submission_inputs_sha256", table_name="submission_inputs")
    op.drop_index("ix_results_sha256", table_name="results")
