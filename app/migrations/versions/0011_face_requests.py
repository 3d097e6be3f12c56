"""face_requests: what the OGC and WES faces were asked, per submission

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "face_requests",
        sa.Column("submission_id", sa.Uuid(), nullable=False),
        sa.Column("face", sa.String(length=8), nullable=False),
        sa.Column("request", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"], ondelete="CASCADE",
                                name=op.f("fk_face_requests_submission_id_submissions")),
        sa.PrimaryKeyConstraint("submission_id", name=op.f("pk_face_requests")),
    )


def downgrade() -> None:
    op.drop_table("face_requests")
