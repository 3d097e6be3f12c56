"""Configuration versions: every load kept and described, dry runs, diffs, job names kept, and
the version each submission ran under."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import text

from app.cli import main

FIRST = """
version: 1
backends: [{name: local, type: local}]
tasks:
  - {name: count, backend: local, executable: "wc -w $I1", in_globs: [.txt], stdout_glob: .count}
  - {name: lines, backend: local, executable: "wc -l $I1", in_globs: [.txt], stdout_glob: .lines}
jobs:
  - {name: count_words, steps: [{task: count}]}
  - {name: count_lines, steps: [{task: lines}]}
"""
# count_lines removed, count_words changed, first_word added
SECOND = """
version: 1
backends: [{name: local, type: local}]
tasks:
  - {name: count, backend: local, executable: "wc -w $I1", in_globs: [.txt], stdout_glob: .count}
jobs:
  - {name: count_words, description: Count the words, steps: [{task: count}]}
  - {name: first_word, steps: [{task: count}]}
"""


def test_every_load_is_a_version_with_its_changes_and_a_diff(client, admin_token, sessions):
    auth = {"Authorization": f"Bearer {admin_token}"}
    first = client.put("/api/config", data=FIRST, headers=auth)
    assert first.status_code == 200 and first.headers["X-Config-Version"] == "1"
    assert "+ job count_words" in first.headers["X-Config-Changes"]
    submitted = client.post("/api/submissions", json={"job": "count_lines", "inputs": {"input_data": "a\nb"}})
    assert submitted.status_code == 201

    dry = client.put("/api/config?dry_run=true", data=SECOND, headers=auth)
    assert dry.status_code == 200 and "X-Config-Version" not in dry.headers
    assert dry.headers["X-Config-Changes"] == (
        "+ job first_word; ~ job count_words; - task lines; - job count_lines")
    assert client.get("/api/jobs/count_lines").status_code == 200  # nothing was loaded

    second = client.put("/api/config", data=SECOND, headers=auth)
    assert second.headers["X-Config-Version"] == "2"
    versions = client.get("/api/config/versions", headers=auth).json
    assert [v["number"] for v in versions] == [2, 1]
    assert versions[0]["changes"]["removed"] == {"tasks": ["lines"], "jobs": ["count_lines"]}
    assert len(versions[0]["sha256"]) == 64 and versions[0]["author"].startswith("token:")
    assert client.get("/api/config/versions/1", headers=auth).json["text"] == FIRST
    diff = client.get("/api/config/versions/2/diff", headers=auth).json
    assert diff["old"] == 1 and "-- name: count_lines" in diff["diff"] and "+  description: Count the words" in (
        diff["diff"])
    first = client.get("/api/config/versions/1/diff", headers=auth).json  # against nothing, as its page shows
    assert first["old"] is None and "+- name: count_lines" in first["diff"] and not any(
        line.startswith("-") and not line.startswith("---") for line in first["diff"].splitlines())
    assert client.get("/api/config/versions/9/diff", headers=auth).status_code == 404
    assert client.get("/api/config/versions").status_code == 401

    # The removed job's submission keeps its job's name, and the version it ran under.
    old = client.get(f"/api/submissions/{submitted.json['id']}").json
    assert old["job"] == "count_lines" and old["config_version"] == 1
    with sessions() as session:
        assert session.execute(text("SELECT config_version FROM submissions")).scalar() == 1


def test_put_warns_of_what_would_fail_here_and_refuses_it_when_asked(client, admin_token):
    auth = {"Authorization": f"Bearer {admin_token}"}
    missing = FIRST.replace("wc -l $I1", "wcl -l $I1")
    warned = client.put("/api/config", data=missing, headers=auth)
    assert warned.status_code == 200  # the web server is often not where the workers run
    assert warned.headers["X-Config-Warnings"].startswith(
        "tasks[1] (lines).executable: program wcl is not on the workers' PATH (")
    refused = client.put("/api/config?verify=true", data=missing, headers=auth)
    assert refused.status_code == 400 and list(refused.json["errors"]) == ["tasks[1].executable"]
    assert "tasks[1] (lines).executable: program wcl" in refused.json["message"]
    quiet = client.put("/api/config?verify=false", data=missing, headers=auth)
    assert quiet.status_code == 200 and "X-Config-Warnings" not in quiet.headers


def test_cli_load_prints_changes_and_dry_run_loads_nothing(database_url, sessions, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    runner = CliRunner()
    (tmp_path / "first.yaml").write_text(FIRST)
    (tmp_path / "second.yaml").write_text(SECOND)
    loaded = runner.invoke(main, ["config", "load", str(tmp_path / "first.yaml")])
    assert loaded.exit_code == 0, loaded.output
    assert "+ job count_words" in loaded.output and "loaded version 1" in loaded.output
    dry = runner.invoke(main, ["config", "load", "--dry-run", str(tmp_path / "second.yaml")])
    assert dry.exit_code == 0 and "- job count_lines" in dry.output and "dry run: nothing loaded" in dry.output
    with sessions() as session:
        assert session.execute(text("SELECT count(*) FROM config_versions")).scalar() == 1
        assert session.execute(text("SELECT count(*) FROM jobs WHERE name = 'count_lines'")).scalar() == 1
    assert runner.invoke(main, ["config", "load", str(tmp_path / "second.yaml")]).exit_code == 0
    listed = runner.invoke(main, ["config", "versions"])
    assert listed.output.startswith("2\t") and "cli:" in listed.output
    diff = runner.invoke(main, ["config", "diff", "1", "2"])
    assert diff.exit_code == 0 and "+- name: first_word" in diff.output
    (tmp_path / "empty.yaml").write_text("version: 1\n")
    empty = runner.invoke(main, ["config", "load", str(tmp_path / "empty.yaml")])
    assert empty.exit_code == 1 and "--clear" in empty.output
    cleared = runner.invoke(main, ["config", "load", "--clear", str(tmp_path / "empty.yaml")])
    assert cleared.exit_code == 0 and "- job first_word" in cleared.output
