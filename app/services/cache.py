"""Result caching (SPEC §4.9): a step identical to an earlier successful one reuses its results."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from psycopg import Connection

from app.db import run

_FIND = (
    "SELECT id, submission_id, exit_status FROM steps WHERE cache_key = %(key)s AND state = 'Complete' "
    "ORDER BY finished DESC LIMIT 1"
)
_COPY_RESULTS = """
    INSERT INTO results (submission_id, step_id, step_name, name, sha256, size, media_type)
    SELECT %(submission_id)s, %(step_id)s, %(step_name)s,
           CASE WHEN starts_with(name, %(old_stem)s) THEN %(new_stem)s || substr(name, length(%(old_stem)s) + 1)
                ELSE name END,
           sha256, size, media_type
    FROM results WHERE step_id = %(source)s ORDER BY id
"""


def key(task: dict[str, Any], params: dict[str, Any], files: list[tuple[str, str]], stem: str) -> str | None:
    """The cache key of a cacheable step: its task definition, parameter values and input hashes."""
    if not task.get("cache"):
        return None
    definition = {k: v for k, v in task.items() if k != "description"}
    inputs = [(name.replace(stem, "", 1), sha) for name, sha in files]
    payload = json.dumps({"task": definition, "params": params, "inputs": inputs}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def find(connection: Connection, cache_key: str):
    """The latest successful step with this key (id, submission_id, exit_status), if any."""
    return run(connection, _FIND, {"key": cache_key}).fetchone()


def copy_results(connection: Connection, *, submission_id: str, step_id: int, step_name: str, source) -> None:
    """Give a step the results of `source` (an earlier step with its cache key), named under the new
    submission's stem; the caller marks the step Complete."""
    connection.execute(_COPY_RESULTS, {
        "submission_id": submission_id, "step_id": step_id, "step_name": step_name, "source": source.id,
        "old_stem": str(source.submission_id), "new_stem": submission_id,
    })
