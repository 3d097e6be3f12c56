"""The queue: the whole of a step's life cycle, and the workers that drive it.

- intake.py: a submission stored and its root steps queued (`submit`), in the caller's transaction.
- steps.py: claim queue jobs and start their steps' attempts; record outcomes (one, or a group in
  one transaction) and go on with the next step; lost attempts.
- dag.py: a submission's steps as one locked snapshot, and the moves of its DAG.
- chain.py: the one place that queues steps (`defer`), a next step handed over included.
- statements.py: every statement of the above, whole and named.
- cancel.py; worker.py, group.py, cluster.py, recovery.py, watchdog.py, wakeup.py, housekeeping.py.

The services below (app.services) never import the queue: a service that submits is handed
`intake.submit` by its caller.
"""
