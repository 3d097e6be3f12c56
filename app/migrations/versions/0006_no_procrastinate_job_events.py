"""Stop writing Procrastinate's per-job event log

Procrastinate's triggers add a row to procrastinate_events when a job is deferred, started,
scheduled or asked to abort. Every queue job here is deleted the moment its step ends (the steps
and attempts tables are the history, with more detail), and its events are deleted with it: each
step paid for three event rows that lived a few milliseconds. The triggers that NOTIFY workers,
and the one that unlinks periodic defers, stay.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# As Procrastinate 3's schema.sql creates them.
EVENT_TRIGGERS = {
    "procrastinate_trigger_status_events_update_v1":
        "AFTER UPDATE OF status ON procrastinate_jobs FOR EACH ROW "
        "EXECUTE PROCEDURE procrastinate_trigger_function_status_events_update_v1()",
    "procrastinate_trigger_status_events_insert_v1":
        "AFTER INSERT ON procrastinate_jobs FOR EACH ROW WHEN ((new.status = 'todo'::procrastinate_job_status)) "
        "EXECUTE PROCEDURE procrastinate_trigger_function_status_events_insert_v1()",
    "procrastinate_trigger_scheduled_events_v1":
        "AFTER UPDATE OR INSERT ON procrastinate_jobs FOR EACH ROW "
        "WHEN ((new.scheduled_at IS NOT NULL AND new.status = 'todo'::procrastinate_job_status)) "
        "EXECUTE PROCEDURE procrastinate_trigger_function_scheduled_events_v1()",
    "procrastinate_trigger_abort_requested_events_v1":
        "AFTER UPDATE OF abort_requested ON procrastinate_jobs FOR EACH ROW WHEN ((new.abort_requested = true)) "
        "EXECUTE PROCEDURE procrastinate_trigger_abort_requested_events_procedure_v1()",
}


def upgrade() -> None:
    for name in EVENT_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON procrastinate_jobs")


def downgrade() -> None:
    for name, definition in EVENT_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {definition}")
