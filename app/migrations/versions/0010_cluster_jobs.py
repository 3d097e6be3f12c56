"""attempts.cluster_*: the cluster job that runs an attempt of a slurm or gridengine step

An attempt on a cluster is submitted to the scheduler and waited for by its worker's poller,
holding no runner thread and no connection. Its row says where it is: the working directory on the
backend's shared root (written before the job is submitted: a worker that dies in between leaves
the name by which its successor finds the job, so it is never submitted twice), the scheduler's
job id, and what the scheduler last said (state, node, submission and start times).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("attempts", sa.Column("cluster_workdir", sa.Text(), nullable=True))
    op.add_column("attempts", sa.Column("cluster_job_id", sa.String(length=64), nullable=True))
    op.add_column("attempts", sa.Column("cluster_state", sa.String(length=32), nullable=True))
    op.add_column("attempts", sa.Column("cluster_node", sa.String(length=255), nullable=True))
    op.add_column("attempts", sa.Column("cluster_submitted", sa.DateTime(timezone=True), nullable=True))
    op.add_column("attempts", sa.Column("cluster_started", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for column in ("cluster_started", "cluster_submitted", "cluster_node", "cluster_state", "cluster_job_id",
                   "cluster_workdir"):
        op.drop_column("attempts", column)
