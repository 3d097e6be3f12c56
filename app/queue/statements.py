"""Every statement of a step's life cycle in the queue, each whole and named for what it does.

Claim, start, record, chain: the hot path of every step, plain SQL run on the caller's psycopg
connection, in the caller's transaction (see app.queue.steps and app.queue.dag). A statement that
does several things does them in data-modifying CTEs, a round trip saved; each is written out in
full here, even where two share some lines, so that it reads as PostgreSQL runs it.

Queue jobs are rows of Procrastinate's `procrastinate_jobs`, changed as its own functions change
them, so that its triggers NOTIFY the queue's workers. A submission's end is announced on the
channel `aa_submission_finished` (app.services.finished.FINISHED_CHANNEL, which listens on it),
its payload the submission id, sent on commit.
"""

from __future__ import annotations

# -- Claim ---------------------------------------------------------------------------------------

# Up to `limit` queue jobs taken for a worker in one statement, as procrastinate_fetch_job_v2 takes
# one (the same order, the same rule for jobs sharing a lock, its triggers fired by the same UPDATE).
CLAIM_QUEUE_JOBS = """
    WITH candidates AS (
        SELECT jobs.id FROM procrastinate_jobs AS jobs
        WHERE jobs.status = 'todo'
          AND (CAST(%(queues)s AS varchar[]) IS NULL OR jobs.queue_name = ANY(CAST(%(queues)s AS varchar[])))
          AND (jobs.scheduled_at IS NULL OR jobs.scheduled_at <= now())
          AND NOT EXISTS (
              SELECT 1 FROM procrastinate_jobs AS other
              WHERE jobs.lock IS NOT NULL AND other.lock = jobs.lock
                AND (other.status = 'doing'
                     OR (other.status = 'todo' AND (other.priority > jobs.priority
                                                    OR (other.priority = jobs.priority AND other.id < jobs.id))))
          )
        ORDER BY jobs.priority DESC, jobs.id ASC LIMIT %(limit)s
        FOR UPDATE OF jobs SKIP LOCKED
    )
    UPDATE procrastinate_jobs SET status = 'doing', worker_id = %(worker_id)s
    FROM candidates WHERE procrastinate_jobs.id = candidates.id
    RETURNING procrastinate_jobs.id, procrastinate_jobs.args, procrastinate_jobs.priority
"""

# The submission locked, then its steps read by a statement that starts after the lock is granted
# (migration 0007): each row is the submission's state, priority, use_cache, finished, then a step.
LOCK_SUBMISSION = "SELECT * FROM aa_lock_submission_v1(%(id)s)"

# The files a claimed step reads: the submission's inputs, then its ancestors' results (in job
# order), matching the step's in_globs.
STEP_FILES = """
    SELECT f.name, f.sha256, b.data FROM (
        SELECT 0 AS part, i.position, i.id AS seq, i.filename AS name, i.sha256
        FROM submission_inputs i WHERE i.submission_id = %(submission_id)s
            AND (CAST(%(inputs)s AS text[]) IS NULL OR i.name = ANY(CAST(%(inputs)s AS text[])))
        UNION ALL
        SELECT 1, s.position, r.id, r.name, r.sha256
        FROM results r JOIN steps s ON s.id = r.step_id
        WHERE r.submission_id = %(submission_id)s AND r.step_id = ANY(%(ancestors)s)
    ) f JOIN blobs b ON b.sha256 = f.sha256
    WHERE EXISTS (SELECT 1 FROM unnest(CAST(%(globs)s AS text[])) g WHERE right(f.name, length(g)) = g)
    ORDER BY f.part, f.position, f.seq
"""

# -- Start ---------------------------------------------------------------------------------------

# An attempt starts: its step Running, its attempts row, and its submission Running if this is the
# submission's first step to start. (A handed-over step starts in RECORD_AND_HAND_OVER.)
START_ATTEMPT = """
    WITH started_step AS (
        UPDATE steps SET state = 'Running', attempts = attempts + 1, started = coalesce(started, %(now)s),
                         cache_key = %(cache_key)s
        WHERE id = %(id)s RETURNING attempts
    ), running_submission AS (
        UPDATE submissions SET state = 'Running', started = %(now)s
        WHERE id = %(submission_id)s AND state = 'Submitted'
    )
    INSERT INTO attempts (step_id, number, worker, outcome, stdout, stderr, started)
    SELECT %(id)s, attempts, %(worker)s, '', '', '', %(now)s FROM started_step
"""

# A submission's first step starts without an attempt (its results are taken from the cache).
MARK_SUBMISSION_RUNNING = (
    "UPDATE submissions SET state = 'Running', started = %(now)s "
    "WHERE id = %(submission_id)s AND state = 'Submitted'"
)

# A step completed from the cache, with an earlier run's exit status (its results copied by
# app.services.cache).
COMPLETE_FROM_CACHE = (
    "UPDATE steps SET state = 'Complete', finished = %(now)s, cached = true, exit_status = %(exit_status)s, "
    "message = %(message)s WHERE id = %(id)s"
)

# -- Record --------------------------------------------------------------------------------------

# The end of an attempt, when its worker does not go on with a next step under its queue job: the
# attempt and its step, the queue job finished, and the submission Complete (announced) when this
# was its last step to end (`ends`), with its job's name and run time for the worker's log line.
RECORD_OUTCOME = """
    WITH closed_attempt AS (
        UPDATE attempts SET exit_status = %(exit_status)s, outcome = %(outcome)s, stdout = %(stdout)s,
                            stderr = %(stderr)s, argv = %(argv)s, finished = %(now)s
        WHERE step_id = %(id)s AND number = %(number)s
    ), closed_step AS (
        UPDATE steps SET state = %(state)s, exit_status = %(exit_status)s, message = %(message)s,
                         finished = %(finished)s, cache_key = CASE WHEN %(keep_cache_key)s THEN cache_key END
        WHERE id = %(id)s
    ), ended AS (
        UPDATE submissions SET state = 'Complete', message = '', finished = %(now)s
        WHERE id = %(submission_id)s AND %(ends)s
        RETURNING job_name, extract(epoch FROM finished - created)::float AS seconds
    )
    SELECT (SELECT procrastinate_finish_job_v1(%(job_id)s, 'succeeded', true)),
           (SELECT pg_notify('aa_submission_finished', CAST(%(submission_id)s AS text)) WHERE %(ends)s),
           (SELECT job_name FROM ended), (SELECT seconds FROM ended)
"""

# A step's results: their contents (once each), then the rows naming them.
PUT_BLOBS = (
    "INSERT INTO blobs (sha256, size, data) "
    "SELECT * FROM unnest(CAST(%(shas)s AS varchar[]), CAST(%(sizes)s AS bigint[]), CAST(%(datas)s AS bytea[])) "
    "ON CONFLICT DO NOTHING"
)
ADD_RESULTS = (
    "INSERT INTO results (submission_id, step_id, step_name, name, sha256, size, media_type) "
    "SELECT %(submission_id)s, %(step_id)s, %(step_name)s, name, sha, size, media_type "
    "FROM unnest(CAST(%(names)s AS varchar[]), CAST(%(shas)s AS varchar[]), CAST(%(sizes)s AS bigint[]), "
    "CAST(%(types)s AS varchar[])) WITH ORDINALITY AS t(name, sha, size, media_type, ord) ORDER BY ord"
)

# Remove the queue job of a step that is done with it (our steps table keeps the history): only
# while the job still names the step, for it may have been handed over to the next one, or be gone.
FINISH_QUEUE_JOB = (
    "SELECT procrastinate_finish_job_v1(id, 'succeeded', true) FROM procrastinate_jobs "
    "WHERE id = %(job_id)s AND args->>'step_id' = CAST(%(step_id)s AS text) AND status IN ('todo', 'doing')"
)

# -- Chain ---------------------------------------------------------------------------------------

# Children whose last parent has not completed yet wait for one parent less.
COUNT_DOWN_PARENTS = "UPDATE steps SET waiting_for = waiting_for - 1 WHERE id = ANY(%(ids)s)"

# Queue the steps and mark them Queued, in one statement. The steps come as one JSON document
# (an array of text-format JSON strings would cost an escaped quote per character of JSON).
DEFER_STEPS = """
    WITH input AS (
        SELECT CAST(step->>'step_id' AS bigint) AS step_id, step->>'queue' AS queue,
               jsonb_build_object('step_id', CAST(step->>'step_id' AS bigint),
                                  'submission_id', step->>'submission_id') AS args, ord
        FROM jsonb_array_elements(%(steps)s) WITH ORDINALITY AS t(step, ord)
    ), jobs AS (
        INSERT INTO procrastinate_jobs (queue_name, task_name, priority, args, scheduled_at, status)
        SELECT queue, %(task_name)s, %(priority)s, args, CAST(%(scheduled_at)s AS timestamptz), 'todo'
        FROM input ORDER BY ord
        RETURNING id, CAST(args->>'step_id' AS bigint) AS step_id
    )
    UPDATE steps SET state = 'Queued', queue_job_id = jobs.id, queued = %(now)s, waiting_for = 0
    FROM jobs
    -- The ids again as an array: the planner cannot see how few rows `jobs` holds, and would
    -- otherwise scan the whole steps table for them.
    WHERE steps.id = jobs.step_id AND steps.id = ANY(CAST(%(step_ids)s AS bigint[]))
    RETURNING steps.id, steps.queue_job_id
"""

# The end of an attempt whose worker goes on at once with a step it made runnable (the handover
# step, one of `steps`): the attempt and its step closed as in RECORD_OUTCOME; the worker's queue
# job, still 'doing' for it, now names the handover step, whose attempt starts here (Running, its
# attempts row, as START_ATTEMPT starts a claimed step); the other steps queued as DEFER_STEPS
# queues them. Nobody is woken for the handover step, and it costs no insert and no delete in the
# queue table. Should the job no longer be the worker's (requeued by a recovery that took the
# worker for dead), the handover step gets a new job, 'doing' for the worker as a claim leaves it;
# the old job, naming a finished step, is finished by whoever claims it.
RECORD_AND_HAND_OVER = """
    WITH closed_attempt AS (
        UPDATE attempts SET exit_status = %(exit_status)s, outcome = %(outcome)s, stdout = %(stdout)s,
                            stderr = %(stderr)s, argv = %(argv)s, finished = %(now)s
        WHERE step_id = %(id)s AND number = %(number)s
    ), closed_step AS (
        UPDATE steps SET state = %(state)s, exit_status = %(exit_status)s, message = %(message)s,
                         finished = %(finished)s, cache_key = CASE WHEN %(keep_cache_key)s THEN cache_key END
        WHERE id = %(id)s
    ), input AS (
        SELECT CAST(step->>'step_id' AS bigint) AS step_id, step->>'queue' AS queue,
               jsonb_build_object('step_id', CAST(step->>'step_id' AS bigint),
                                  'submission_id', step->>'submission_id') AS args, ord
        FROM jsonb_array_elements(%(steps)s) WITH ORDINALITY AS t(step, ord)
    ), handed_over AS (
        UPDATE procrastinate_jobs SET args = input.args, queue_name = input.queue, priority = %(priority)s
        FROM input WHERE input.step_id = CAST(%(handover_step)s AS bigint)
                     AND procrastinate_jobs.id = CAST(%(handover_job)s AS bigint)
                     AND procrastinate_jobs.status = 'doing'
                     AND procrastinate_jobs.worker_id = CAST(%(worker_id)s AS bigint)
        RETURNING procrastinate_jobs.id, input.step_id
    ), inserted AS (
        INSERT INTO procrastinate_jobs (queue_name, task_name, priority, args, scheduled_at, status, worker_id)
        SELECT queue, %(task_name)s, %(priority)s, args, NULL,
               CAST(CASE WHEN is_handover THEN 'doing' ELSE 'todo' END AS procrastinate_job_status),
               CASE WHEN is_handover THEN CAST(%(worker_id)s AS bigint) END
        FROM (SELECT *, (step_id = CAST(%(handover_step)s AS bigint)) IS TRUE AS is_handover FROM input) AS i
        WHERE step_id NOT IN (SELECT step_id FROM handed_over) ORDER BY ord
        RETURNING id, CAST(args->>'step_id' AS bigint) AS step_id
    ), jobs AS (
        SELECT * FROM handed_over UNION ALL SELECT * FROM inserted
    ), queued AS (
        UPDATE steps SET state = CASE WHEN starts THEN 'Running' ELSE 'Queued' END,
                         attempts = steps.attempts + CASE WHEN starts THEN 1 ELSE 0 END,
                         started = CASE WHEN starts THEN coalesce(steps.started, %(now)s) ELSE steps.started END,
                         queue_job_id = jobs.id, queued = %(now)s, waiting_for = 0
        FROM (SELECT *, (step_id = CAST(%(handover_step)s AS bigint)) IS TRUE AS starts FROM jobs) AS jobs
        -- The ids again as an array, as in DEFER_STEPS.
        WHERE steps.id = jobs.step_id AND steps.id = ANY(CAST(%(step_ids)s AS bigint[]))
        RETURNING steps.id, steps.queue_job_id, steps.attempts, jobs.starts
    ), attempt AS (
        INSERT INTO attempts (step_id, number, worker, outcome, stdout, stderr, started)
        SELECT id, attempts, %(worker)s, '', '', '', %(now)s FROM queued WHERE starts
    )
    SELECT id, queue_job_id FROM queued
"""

# -- End -----------------------------------------------------------------------------------------

# Steps not started yet will not run (a step failed, or the submission crashed).
SKIP_STEPS = "UPDATE steps SET state = 'Skipped' WHERE id = ANY(%(ids)s)"

# A submission ends: its final state, and the announcement (sent on commit) for those waiting on it.
END_SUBMISSION = """
    WITH ended AS (
        UPDATE submissions SET state = %(end_state)s, message = %(end_message)s, finished = %(now)s
        WHERE id = %(submission_id)s
    )
    SELECT pg_notify('aa_submission_finished', CAST(%(submission_id)s AS text))
"""

# The announcement alone, for a submission ended otherwise (cancelled: app.queue.cancel).
ANNOUNCE_END = "SELECT pg_notify('aa_submission_finished', CAST(%(submission_id)s AS text))"

# -- Lost attempts -------------------------------------------------------------------------------

# A claim lost before its attempt ran (app.queue.recovery): the attempt is undone, its step queued
# again.
FORGET_ATTEMPT = """
    WITH forgotten AS (
        DELETE FROM attempts WHERE step_id = %(id)s AND number = %(number)s
    )
    UPDATE steps SET attempts = attempts - 1, state = 'Queued' WHERE id = %(id)s
"""

# A step's worker stopped responding: its attempt is a crash.
CRASH_ATTEMPT = (
    "UPDATE attempts SET outcome = 'crash', finished = now(), "
    "stderr = stderr || E'\\n[the worker running this attempt stopped responding]' "
    "WHERE step_id = %(id)s AND number = %(number)s AND finished IS NULL"
)

# A cluster scheduler lost the job of an attempt (node failure, preemption, deleted by hand…).
LOSE_CLUSTER_ATTEMPT = (
    "UPDATE attempts SET outcome = 'crash', finished = %(now)s, stderr = stderr || %(note)s "
    "WHERE step_id = %(step_id)s AND number = %(number)s AND finished IS NULL"
)

# A cluster attempt whose step was cancelled, and its job killed, ends.
CLOSE_CANCELLED_CLUSTER_ATTEMPT = (
    "UPDATE attempts SET finished = %(now)s, outcome = 'cancelled', cluster_state = 'cancelled' "
    "WHERE step_id = %(step_id)s AND number = %(number)s"
)

# A lost step with retries left: its queue job runs again after `delay` seconds.
RETRY_QUEUE_JOB = (
    "SELECT procrastinate_retry_job_v2(%(job_id)s, now() + make_interval(secs => %(delay)s), NULL, NULL, NULL)"
)

# A retried queue job that is due at once, announced as Procrastinate's trigger announces an inserted
# one (its retry function announces nothing): an idle runner takes it now, not at its next poll.
ANNOUNCE_QUEUE_JOB = """
    SELECT pg_notify(channel, json_build_object('type', 'job_inserted', 'job_id', jobs.id)::text)
    FROM procrastinate_jobs AS jobs,
         LATERAL (VALUES ('procrastinate_queue_v1#' || jobs.queue_name), ('procrastinate_any_queue_v1')) AS c(channel)
    WHERE jobs.id = %(job_id)s
"""

# A lost step with no retries left: it Crashed (its submission ends with END_SUBMISSION).
CRASH_STEP = "UPDATE steps SET state = 'Crash', message = %(message)s, finished = %(now)s WHERE id = %(id)s"
