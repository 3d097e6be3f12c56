"""The pages, server-side, through Flask's test client on a real database (no browser, no workers)."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import text

from app.runtime import example_config


@pytest.fixture
def examples(load_config):
    load_config(example_config())


def test_index_lists_and_searches_jobs(client, examples):
    response = client.get("/")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    page = response.get_data(as_text=True)
    assert "count_words" in page and "text_report" in page and "typical run time" in page
    found = client.get("/?q=diamond").get_data(as_text=True)
    assert "text_report" in found and 'href="/jobs/count_words"' not in found


def test_form_fields_follow_the_declared_types(client, examples):
    page = client.get("/jobs/first_lines").get_data(as_text=True)
    assert re.search(r'<input type="file" id="f-input_data" name="input_data" accept=".txt" required', page)
    assert re.search(r'<input type="number" id="f-head_lines_lines" name="head_lines_lines" value="10" '
                     r'min="1" max="100000" step="1"', page)
    assert 'for="f-head_lines_lines"' in page and "How many lines to keep" in page
    report = client.get("/jobs/text_report").get_data(as_text=True)
    assert re.search(r'<input type="checkbox" id="f-sort_lines_reverse" name="sort_lines_reverse" value="true" ', report)
    assert client.get("/jobs/nope").status_code == 404


def test_a_plain_post_submits_and_redirects(client, examples):
    response = client.post("/jobs/first_lines", data={
        "input_data": (io.BytesIO(b"a\nb\nc\n"), "abc.txt"), "head_lines_lines": "2", "cache": "true"},
        content_type="multipart/form-data")
    assert response.status_code == 303
    location = response.headers["Location"]
    submission_id = location.rsplit("/", 1)[1]
    assert submission_id in response.headers["Set-Cookie"]
    page = client.get(location).get_data(as_text=True)
    assert 'class="node state-Queued" data-step="head_lines"' in page and "abc.txt" in page
    status = client.get(f"{location}/status.json").get_json()
    assert status["state"] == "Submitted" and status["progress"] == {"done": 0, "total": 1}
    assert submission_id in client.get("/submissions").get_data(as_text=True)
    # the parameter went in typed, by its alias
    again = client.get(f"/jobs/first_lines?from={submission_id}").get_data(as_text=True)
    assert 'value="2"' in again and f'name="from" value="{submission_id}"' in again


def test_errors_are_shown_next_to_their_fields(client, examples):
    response = client.post("/jobs/first_lines", data={"head_lines_lines": "0", "input_data": (io.BytesIO(b"a"), "a.txt")},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="e-head_lines_lines">must be at least 1</p>' in page and 'aria-invalid="true"' in page
    assert 'value="0"' in page  # what was typed is kept
    missing = client.post("/jobs/first_lines", data={"head_lines_lines": "3"}, content_type="multipart/form-data")
    assert missing.status_code == 400 and 'id="e-input_data">is required</p>' in missing.get_data(as_text=True)
    # nothing was stored
    assert "None yet" in client.get("/submissions").get_data(as_text=True)


def test_cancel_and_run_again(client, examples):
    created = client.post("/jobs/count_words", data={"input_data": (io.BytesIO(b"one two"), "t.txt")},
                          content_type="multipart/form-data").headers["Location"]
    again = client.post(f"{created}/again")
    assert again.status_code == 303 and again.headers["Location"] != created
    assert client.post(f"{created}/cancel").status_code == 303
    assert "Cancelled" in client.get(created).get_data(as_text=True)
    assert client.post(f"{created}/cancel").status_code == 303  # finished already: nothing changes
    copy = client.get(again.headers["Location"]).get_data(as_text=True)
    assert "t.txt" in copy and "Submitted" in copy


def test_unknown_submission_is_a_404_page(client, examples):
    response = client.get("/submissions/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404 and "<h1>" in response.get_data(as_text=True)
    assert client.get("/submissions/not-a-uuid").status_code == 404


def test_ops_needs_an_admin_token(client, examples, admin_token):
    response = client.get("/ops")
    assert response.status_code == 403 and 'name="token"' in response.get_data(as_text=True)
    assert client.post("/token", data={"token": "wrong"}).status_code == 400
    kept = client.post("/token", data={"token": admin_token, "next": "/ops"})
    assert kept.status_code == 303 and kept.headers["Location"] == "/ops"
    page = client.get("/ops").get_data(as_text=True)
    assert "Queues" in page and "No live worker" in page and "No failure recorded" in page
    assert "0 steps completed" in page and "highest bar" not in page  # no bar to label in an idle hour


@pytest.fixture
def mailing(database_url, sessions, examples):
    """A browser on the app with email notifications configured (nothing is sent: no worker runs)."""
    from app import create_app

    return create_app({"database_url": database_url, "smtp_url": "smtp://127.0.0.1:1"}).test_client()


def _stored(sessions) -> tuple[int, list[str]]:
    with sessions() as session:
        count = session.execute(text("SELECT count(*) FROM submissions")).scalar_one()
        emails = list(session.execute(text("SELECT email FROM submission_contacts ORDER BY email")).scalars())
    return count, emails


def test_the_email_field_is_offered_only_where_mail_is_configured(client, mailing, examples):
    assert 'name="email"' not in client.get("/jobs/first_lines").get_data(as_text=True)
    page = mailing.get("/jobs/first_lines").get_data(as_text=True)
    assert re.search(r'<label for="f-email">Email me when it ends</label>\s*<input type="email" id="f-email" '
                     r'name="email" value="" autocomplete="email" maxlength="254" aria-describedby="h-email"', page)


def test_a_form_with_an_email_registers_it_and_a_bad_one_stores_nothing(mailing, sessions):
    bad = mailing.post("/jobs/first_lines", data={"input_data": (io.BytesIO(b"a\n"), "a.txt"),
                                                  "email": "someone@localhost"}, content_type="multipart/form-data")
    assert bad.status_code == 400
    page = bad.get_data(as_text=True)
    assert '<p class="field-error" id="e-email">must be an email address</p>' in page
    assert re.search(r'id="f-email" name="email" value="someone@localhost"[^>]*aria-describedby="h-email e-email" '
                     r'aria-invalid="true"', page)
    assert '<a href="#f-email">Email me when it ends</a>' in page  # the summary leads to the field
    assert _stored(sessions) == (0, [])

    good = mailing.post("/jobs/first_lines", data={"input_data": (io.BytesIO(b"a\n"), "a.txt"),
                                                   "email": "someone@example.org"}, content_type="multipart/form-data")
    assert good.status_code == 303
    assert _stored(sessions) == (1, ["someone@example.org"])


def test_an_email_posted_where_mail_is_not_configured_is_refused(client, examples, sessions):
    refused = client.post("/jobs/first_lines", data={"input_data": (io.BytesIO(b"a\n"), "a.txt"),
                                                     "email": "someone@example.org"}, content_type="multipart/form-data")
    assert refused.status_code == 400 and "email notifications are not configured" in refused.get_data(as_text=True)
    assert _stored(sessions) == (0, [])


CHANGED = """
version: 1
backends: [{name: local, type: local}]
tasks:
  - {name: count, backend: local, executable: "wc -w $I1", in_globs: [.txt], stdout_glob: .count}
jobs:
  - {name: count_words, description: Count the words, steps: [{task: count}]}
"""


def test_ops_lists_the_configuration_versions_and_shows_each_diff(client, examples, admin_token):
    auth = {"Authorization": f"Bearer {admin_token}"}
    assert client.put("/api/config", data=CHANGED, headers=auth).headers["X-Config-Version"] == "2"
    assert client.get("/ops/config/2").status_code == 403  # admin only, as /ops
    client.post("/token", data={"token": admin_token})

    page = client.get("/ops").get_data(as_text=True)
    versions = page[page.index('id="versions"'):]
    assert versions.index('href="/ops/config/2">Version 2</a>') < versions.index('href="/ops/config/1">Version 1</a>')
    assert "token:1 test" in versions and "- job first_lines" in versions and "~ job count_words" in versions

    diff = client.get("/ops/config/2")
    assert diff.status_code == 200
    shown = diff.get_data(as_text=True)
    assert "The YAML against version 1" in shown and "--- version 1" in shown and "+++ version 2" in shown
    assert '<span class="add">+  description: Count the words\n</span>' in shown
    assert '<span class="del">-- name: first_lines\n</span>' in shown and '<span class="ctx"> jobs:\n</span>' in shown
    assert 'href="/ops/config/1">← Version 1</a>' in shown and "Version 3" not in shown

    first = client.get("/ops/config/1").get_data(as_text=True)
    assert "The first version: all of it" in first and "+++ version 1" in first and 'href="/ops/config/2"' in first
    assert client.get("/ops/config/3").status_code == 404
