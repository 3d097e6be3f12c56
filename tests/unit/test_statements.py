"""The queue's statements are whole texts, and announce ends on the channel the listener hears."""

from __future__ import annotations

import re

from app.queue import statements
from app.queue.wakeup import channels
from app.services.finished import FINISHED_CHANNEL

STATEMENTS = {name: value for name, value in vars(statements).items() if name.isupper()}


def test_every_statement_is_a_whole_text():
    """None is a template to be filled in with fragments of other statements."""
    assert STATEMENTS
    for name, sql in STATEMENTS.items():
        assert isinstance(sql, str) and "{" not in sql and "}" not in sql, name


def test_ends_are_announced_on_the_channel_the_listener_hears():
    announcing = {name for name, sql in STATEMENTS.items() if "pg_notify" in sql} - {"ANNOUNCE_QUEUE_JOB"}
    assert announcing == {"RECORD_OUTCOME", "END_SUBMISSION", "ANNOUNCE_END"}
    for name in announcing:
        assert re.findall(r"pg_notify\('([^']*)'", STATEMENTS[name]) == [FINISHED_CHANNEL], name


def test_a_retried_job_is_announced_on_the_channels_the_workers_hear():
    sql = STATEMENTS["ANNOUNCE_QUEUE_JOB"]
    assert f"'{channels(None)[0]}'" in sql
    assert f"'{channels(['q'])[0].removesuffix('q')}' || jobs.queue_name" in sql
