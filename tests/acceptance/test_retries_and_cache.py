"""Retries with backoff for `retry` exit codes, and result caching that spawns no process."""

from __future__ import annotations

import time

CONFIG = """
version: 1
backends: [{{name: local, type: local}}]
tasks:
  - name: flaky
    backend: local
    executable: "python3 -c 'import sys; exec(sys.argv.pop(1))' $P1"
    in_globs: [".txt"]
    out_globs: [".out"]
    exit_codes: {{75: retry}}
    retries: {retries}
    environment: {{LOG: "{log}"}}
    parameters: [{{name: code, switchless: true, default: "{flaky}"}}]
  - name: counted
    backend: local
    executable: "python3 -c 'import sys; exec(sys.argv.pop(1))' $P1 $I1"
    in_globs: [".txt"]
    out_globs: [".out"]
    cache: true
    environment: {{LOG: "{log}"}}
    parameters:
      - {{name: code, switchless: true, default: "{counted}"}}
      - {{name: factor, type: int, default: 1}}
jobs:
  - {{name: flaky, steps: [{{task: flaky}}]}}
  - {{name: counted, steps: [{{task: counted}}]}}
"""
# Fails with 75 (retry) until it has run three times.
FLAKY = ("import os, sys; open(os.environ['LOG'], 'a').write('x'); n = len(open(os.environ['LOG']).read()); "
         "open(f'run{n}.out', 'w').write(str(n)); sys.exit(0 if n >= 3 else 75)")
COUNTED = ("import os, sys; open(os.environ['LOG'], 'a').write('x'); "
           "open('a.out', 'w').write(open(sys.argv[1]).read().upper())")


def configure(api, tmp_path, retries=5):
    log = tmp_path / "runs.log"
    api.put_config(CONFIG.format(retries=retries, log=log, flaky=FLAKY, counted=COUNTED))
    return log


def test_retry_exit_code_retries_with_backoff(api, workers, tmp_path):
    log = configure(api, tmp_path)
    workers(1, env={"AA_RETRY_BACKOFF_SECONDS": "0.3"})
    started = time.monotonic()
    body = api.wait_done(api.submit("flaky", files={"input_data": ("a.txt", "x")})["id"])
    assert body["state"] == "Complete"
    assert body["steps"][0]["attempts"] == 3
    assert time.monotonic() - started >= 0.3 + 0.6  # waited 0.3 s, then 0.6 s
    assert [r["name"] for r in body["results"]] == ["flaky.run3.out"]  # only the successful attempt's files
    logs = [api.get(f"/api/submissions/{body['id']}/steps/flaky/log?attempt={n}").json() for n in (1, 2, 3)]
    assert [entry["exit_status"] for entry in logs] == [75, 75, 0]
    assert len(log.read_text()) == 3


def test_retries_exhausted_is_an_error(api, workers, tmp_path):
    configure(api, tmp_path, retries=1)
    workers(1, env={"AA_RETRY_BACKOFF_SECONDS": "0.1"})
    body = api.wait_done(api.submit("flaky", files={"input_data": ("a.txt", "x")})["id"])
    assert body["state"] == "Error" and body["steps"][0]["attempts"] == 2
    assert "75" in body["message"]


def test_cached_step_spawns_no_process(api, workers, tmp_path):
    log = configure(api, tmp_path)
    workers(1)
    first = api.wait_done(api.submit("counted", files={"input_data": ("a.txt", "same")})["id"])
    second = api.wait_done(api.submit("counted", files={"input_data": ("other-name.txt", "same")})["id"])
    assert (first["state"], second["state"]) == ("Complete", "Complete")
    assert (first["steps"][0]["cached"], second["steps"][0]["cached"]) == (False, True)
    assert second["steps"][0]["attempts"] == 0
    assert len(log.read_text()) == 1  # the second run spawned nothing
    assert api.get(second["results"][0]["url"]).text == "SAME"
    changed = api.wait_done(api.submit("counted", files={"input_data": ("a.txt", "same")},
                                       data={"counted_factor": "2"})["id"])
    refused = api.wait_done(api.submit("counted", files={"input_data": ("a.txt", "same")},
                                       data={"cache": "false"})["id"])
    other_input = api.wait_done(api.submit("counted", files={"input_data": ("a.txt", "different")})["id"])
    assert [b["steps"][0]["cached"] for b in (changed, refused, other_input)] == [False, False, False]
    assert len(log.read_text()) == 4
