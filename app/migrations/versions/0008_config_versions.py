"""Configuration versions; the version each submission ran under; job names kept; attempts' argv

Every load of the catalog is kept as a numbered version (its text, its normalised dump, who loaded
it, when, the SHA-256 of the text and what it added, changed and removed). A submission records the
version current when it was stored, by a column default (so every path that inserts submissions
gets it, at the cost of one index probe). A submission's job name is no longer a foreign key: a job
removed from the configuration leaves its old submissions with their job's name instead of null.
An attempt keeps the argv it ran (shown to admins in the step log).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "config_versions",
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("dump", sa.Text(), nullable=False),
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_config_versions")),
    )
    op.execute(
        "CREATE FUNCTION aa_config_version_v1() RETURNS integer LANGUAGE sql STABLE "
        "AS $$ SELECT max(number) FROM config_versions $$"
    )
    op.add_column("submissions", sa.Column("config_version", sa.Integer(), nullable=True,
                                           server_default=sa.text("aa_config_version_v1()")))
    op.drop_constraint("fk_submissions_job_name_jobs", "submissions", type_="foreignkey")
    op.add_column("attempts", sa.Column("argv", postgresql.JSONB(astext_type=sa.Text()), nullable=True))


def downgrade() -> None:
    op.drop_column("attempts", "argv")
    op.execute("UPDATE submissions SET job_name = NULL WHERE job_name NOT IN (SELECT name FROM jobs)")
    op.create_foreign_key("fk_submissions_job_name_jobs", "submissions", "jobs", ["job_name"], ["name"],
                          onupdate="CASCADE", ondelete="SET NULL")
    op.drop_column("submissions", "config_version")
    op.execute("DROP FUNCTION aa_config_version_v1()")
    op.drop_table("config_versions")
