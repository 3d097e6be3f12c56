"""The command-line client: `aa submit/status/results/logs/jobs/cancel` against a running service, over
HTTP only (it never opens the database)."""
