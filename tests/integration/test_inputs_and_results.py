"""What a step reads (inputs_from), what it leaves (result names, the zip), what admins see of it
(argv), where a failure points (its log), and what the worker logs, with a worker in this process
running real subprocesses."""

from __future__ import annotations

import io
import logging
import zipfile

from tests.integration.test_worker import wait_state

# `cat` prints each file it is given: what a step received is its output.
CONFIG = """
version: 1
backends: [{name: local, type: local}]
tasks:
  - {name: clean, backend: local, executable: "echo CLEAN", stdout_glob: .csv}
  - {name: show, backend: local, executable: "cat $I1", in_globs: [.csv], stdout_glob: .csv}
  - {name: fail, backend: local, executable: "sh $I1", in_globs: [.csv]}
  - {name: stamp, backend: local, executable: "echo stamped", stdout_glob: .txt}
jobs:
  - name: pick
    steps:
      - {task: clean}
      - {name: default_rule, task: show, after: [clean]}
      - {name: only_clean, task: show, after: [clean], inputs_from: [clean]}
      - {name: only_input, task: show, after: [clean], inputs_from: [input_data]}
    inputs: [{name: input_data, glob: .csv}]
  - name: broken
    steps: [{task: fail}]
  - name: no_input
    steps: [{task: stamp}]
"""


def test_inputs_from_names_the_files_a_step_gets(client, load_config, worker):
    load_config(CONFIG)
    worker(concurrency=2)
    created = client.post("/api/submissions", json={"job": "pick", "inputs": {"input_data": "a,b\n"}})
    assert created.status_code == 201, created.json
    body = wait_state(client, created.json["id"], timeout=60)
    assert body["state"] == "Complete", body
    results = {r["step"]: r for r in body["results"]}
    sid = body["id"]

    def text(step):
        return client.get(results[step]["url"]).data.decode()

    assert text("default_rule") == "a,b\nCLEAN\n"  # by default: the job's input, then every ancestor's
    assert text("only_input") == "a,b\n"
    assert text("only_clean") == "CLEAN\n"
    # Results are named after their steps: none share a name, so `curl -O -J` can fetch them all.
    names = [r["name"] for r in body["results"]]
    assert len(set(names)) == len(names) == 4
    assert sorted(names) == sorted(f"{sid}.{step}.csv" for step in ("clean", "default_rule", "only_clean",
                                                                    "only_input"))

    archive = client.get(f"/api/submissions/{sid}/results.zip")
    assert archive.status_code == 200 and archive.mimetype == "application/zip"
    assert f'filename={sid}.zip' in archive.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(archive.data)) as zipped:
        assert sorted(zipped.namelist()) == sorted(names)
        assert zipped.read(f"{sid}.only_input.csv") == b"a,b\n"
    assert client.get("/api/submissions/00000000-0000-0000-0000-000000000000/results.zip").status_code == 404


def test_argv_is_shown_to_admins_only_and_a_failure_points_to_its_log(client, load_config, worker, admin_token,
                                                                      caplog):
    load_config(CONFIG)
    worker(concurrency=1)
    caplog.set_level(logging.INFO, logger="app.queue.worker")
    created = client.post("/api/submissions", json={"job": "broken", "inputs": {"input_data": "exit 3\n"}})
    body = wait_state(client, created.json["id"], timeout=60)
    log_url = f"/api/submissions/{body['id']}/steps/fail/log"
    assert body["state"] == "Error"
    assert body["message"] == f"Step fail failed with exit status 3; its log: {log_url}"
    assert body["steps"][0]["message"] == body["message"]
    owner_view = client.get(log_url).json
    assert "argv" not in owner_view and owner_view["exit_status"] == 3
    admin_view = client.get(log_url, headers={"Authorization": f"Bearer {admin_token}"}).json
    assert admin_view["argv"][0] == "sh" and admin_view["argv"][1].endswith(".csv")
    # The worker tells the story at INFO: the step's end and the submission's, with ids and durations.
    lines = [r.getMessage() for r in caplog.records if r.name == "app.queue.worker"]
    assert any(line.startswith("step fail (id ") and f"of submission {body['id']}: Error after " in line
               and "exit status 3" in line for line in lines), lines
    assert any(line.startswith(f"submission {body['id']} (job broken) ended Error after ") for line in lines), lines


def test_a_job_whose_steps_read_no_file_needs_no_input(client, load_config, worker):
    load_config(CONFIG)
    assert client.get("/api/jobs/no_input").json["inputs"] == []
    worker(concurrency=1)
    created = client.post("/api/submissions?wait=30", json={"job": "no_input"})
    assert created.status_code == 201, created.json
    assert created.json["state"] == "Complete"
