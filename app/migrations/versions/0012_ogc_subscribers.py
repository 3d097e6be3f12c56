"""ogc_subscribers: OGC API – Processes `subscriber` callbacks through the notification outbox

A job executed through /ogc with a `subscriber` keeps its URIs in its face request (0011) and has
its `notify` flag set, so the outbox trigger (0009) runs for it. The trigger's function becomes
v2: besides moving the native contacts into the outbox when a submission ends, it queues one `ogc`
notification for the subscriber URI that the change calls for (inProgressUri when the submission
goes Running; successUri when it ends Complete, failedUri when it ends otherwise), at most once per
URI, in the transaction that changes the state. Its payload is a snapshot of the status at that
moment (an inProgressUri call says `running` even if the job has ended by the time it is sent);
the body is made from it when it is sent (app.services.ogc_callbacks). v1 is kept for downgrade.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_DONE = "('Complete', 'Error', 'Crash', 'Cancelled')"


# 0009 named its CHECK on `kind` through the naming convention (so its name is not the model's):
# it is found by what it checks.
_DROP_KIND_CHECK = """
    DO $$
    DECLARE
        found text;
    BEGIN
        FOR found IN SELECT conname FROM pg_constraint
                     WHERE conrelid = 'notifications'::regclass AND contype = 'c'
                       AND pg_get_constraintdef(oid) LIKE '%kind%'
        LOOP
            EXECUTE format('ALTER TABLE notifications DROP CONSTRAINT %I', found);
        END LOOP;
    END;
    $$
"""


def upgrade() -> None:
    op.execute(_DROP_KIND_CHECK)
    op.execute("ALTER TABLE notifications ADD CONSTRAINT ck_notifications_kind "
               "CHECK (kind IN ('email', 'callback', 'ogc'))")
    op.execute(f"""
        CREATE FUNCTION aa_queue_notifications_v2() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            contact submission_contacts%ROWTYPE;
            asked jsonb;
            uri text;
            queued boolean := false;
        BEGIN
            IF OLD.state IN {_DONE} OR NEW.state IS NOT DISTINCT FROM OLD.state THEN
                RETURN NULL;
            END IF;
            IF NEW.state IN {_DONE} THEN
                DELETE FROM submission_contacts WHERE submission_id = NEW.id RETURNING * INTO contact;
                IF FOUND THEN
                    INSERT INTO notifications (submission_id, kind, target, payload)
                    SELECT NEW.id, k.kind, k.target,
                           jsonb_build_object('id', NEW.id, 'job', NEW.job_name, 'name', NEW.name,
                                              'state', NEW.state, 'message', NEW.message, 'created', NEW.created,
                                              'finished', NEW.finished)
                    FROM (VALUES ('email', contact.email), ('callback', contact.callback_url)) AS k(kind, target)
                    WHERE k.target IS NOT NULL;
                    queued := true;
                END IF;
                uri := CASE WHEN NEW.state = 'Complete' THEN 'successUri' ELSE 'failedUri' END;
            ELSIF NEW.state = 'Running' THEN
                uri := 'inProgressUri';
            ELSE
                RETURN NULL;
            END IF;
            SELECT request INTO asked FROM face_requests WHERE submission_id = NEW.id AND face = 'ogc';
            IF coalesce(asked->'subscriber' ? uri, false) AND NOT EXISTS (
                    SELECT 1 FROM notifications n
                    WHERE n.submission_id = NEW.id AND n.kind = 'ogc' AND n.payload->>'uri' = uri) THEN
                INSERT INTO notifications (submission_id, kind, target, payload)
                SELECT NEW.id, 'ogc', asked->'subscriber'->>uri,
                       jsonb_build_object(
                           'uri', uri, 'root', asked->'root', 'outputs', asked->'outputs',
                           'status', jsonb_build_object(
                               'id', NEW.id, 'job_name', NEW.job_name, 'state', NEW.state, 'message', NEW.message,
                               'created', NEW.created, 'started', NEW.started, 'finished', NEW.finished,
                               'done', count(*) FILTER (WHERE st.finished IS NOT NULL), 'total', count(*)))
                FROM steps st WHERE st.submission_id = NEW.id;
                queued := true;
            END IF;
            IF queued THEN
                PERFORM pg_notify('aa_outbox', NEW.id::text);
            END IF;
            RETURN NULL;
        END;
        $$;
        DROP TRIGGER aa_queue_notifications ON submissions;
        CREATE TRIGGER aa_queue_notifications AFTER UPDATE OF state ON submissions
            FOR EACH ROW WHEN (NEW.notify)
            EXECUTE FUNCTION aa_queue_notifications_v2();
    """)


def downgrade() -> None:
    op.execute("""
        DROP TRIGGER aa_queue_notifications ON submissions;
        CREATE TRIGGER aa_queue_notifications AFTER UPDATE OF state ON submissions
            FOR EACH ROW WHEN (NEW.notify)
            EXECUTE FUNCTION aa_queue_notifications_v1();
        DROP FUNCTION aa_queue_notifications_v2();
        DELETE FROM notifications WHERE kind = 'ogc';
    """)
    op.execute(_DROP_KIND_CHECK)
    op.execute("""
        ALTER TABLE notifications ADD CONSTRAINT ck_notifications_kind CHECK (kind IN ('email', 'callback'));
    """)
