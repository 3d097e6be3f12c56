"""aa_lock_submission_v1: lock a submission and read its steps in one round trip

Every change to a submission's steps starts by locking the submission row and then reading its
steps. The steps must be read by a statement that starts after the lock is granted (a statement
sees the database as of its own start), so these were two statements; in a PL/pgSQL function,
each statement takes a fresh snapshot, and one call does both.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION aa_lock_submission_v1(submission uuid)
            RETURNS TABLE (submission_state varchar, priority varchar, use_cache boolean, finished boolean,
                           id bigint, name varchar, after varchar[], state varchar, attempts integer,
                           waiting_for integer, task jsonb, params jsonb)
            LANGUAGE plpgsql
        AS $$
        DECLARE
            locked submissions%ROWTYPE;
        BEGIN
            SELECT * INTO locked FROM submissions WHERE submissions.id = submission FOR UPDATE;
            IF NOT FOUND THEN
                RETURN;
            END IF;
            RETURN QUERY
                SELECT locked.state, locked.priority, locked.use_cache, locked.finished IS NOT NULL,
                       s.id, s.name, s.after, s.state, s.attempts, s.waiting_for, s.task, s.params
                FROM steps s WHERE s.submission_id = submission ORDER BY s.position;
        END;
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION aa_lock_submission_v1(uuid)")
