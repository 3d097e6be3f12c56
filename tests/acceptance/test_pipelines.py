"""Real multi-step jobs submitted over HTTP and run by real worker processes."""

from __future__ import annotations

import gzip
import hashlib
import os

CONFIG = """
version: 1
backends:
  - {name: local, type: local}
tasks:
  - {name: sort_lines, backend: local, executable: "sort $I1", in_globs: [".txt"],
     out_globs: [".sorted"], stdout_glob: ".sorted"}
  - {name: count_lines, backend: local, executable: "wc -l $I1", in_globs: [".sorted"],
     out_globs: [".lines"], stdout_glob: ".lines"}
  - {name: count_words, backend: local, executable: "wc -w $I1", in_globs: [".sorted"],
     out_globs: [".words"], stdout_glob: ".words"}
  - {name: join, backend: local, executable: "cat $I1 $I2", in_globs: [".lines", ".words"],
     out_globs: [".report"], stdout_glob: ".report"}
  - name: fail_with
    backend: local
    executable: "python3 -c 'import sys; exec(sys.argv.pop(1))' $P1"
    in_globs: [".txt"]
    out_globs: [".partial"]
    exit_codes: {3: terminate}
    parameters:
      - {name: code, type: string, switchless: true,
         default: "open('x.partial','w').write('kept'); import sys; print('to stderr', file=sys.stderr); sys.exit(1)"}
  - {name: after_fail, backend: local, executable: "true", in_globs: [".txt"]}
  - {name: gzip, backend: local, executable: "gzip -c -n $I1", in_globs: [".bin"], out_globs: [".gz"],
     stdout_glob: ".gz"}
  - {name: copy, backend: local, executable: "cp $I1 $O1", in_globs: [".bin"], out_globs: [".copy.bin"]}
jobs:
  - name: diamond
    validators: [text]
    steps:
      - {task: sort_lines}
      - {task: count_lines, after: [sort_lines]}
      - {task: count_words, after: [sort_lines]}
      - {task: join, after: [count_lines, count_words]}
  - name: failing
    steps:
      - {task: fail_with}
      - {task: after_fail}
  - name: binary
    inputs: [{name: data, glob: .bin, validators: [none]}]
    steps:
      - {task: gzip}
      - {task: copy, after: []}
"""


def test_diamond_dag_runs_to_complete(api, workers):
    api.put_config(CONFIG)
    workers(2)
    text = "pear apple\nfig\nbanana kiwi lime\n"
    body = api.submit("diamond", files={"input_data": ("fruit.txt", text)}, wait=30)
    body = api.wait_done(body["id"])
    assert body["state"] == "Complete", body
    assert [s["state"] for s in body["steps"]] == ["Complete"] * 4
    assert body["progress"] == {"done": 4, "total": 4}
    report = next(r for r in body["results"] if r["step"] == "join")
    content = api.get(report["url"]).text.split()
    assert content[0] == "3" and content[2] == "6"  # lines, then words, of the sorted text
    sorted_result = next(r for r in body["results"] if r["step"] == "sort_lines")
    assert api.get(sorted_result["url"]).text == "banana kiwi lime\nfig\npear apple\n"
    started = {s["name"]: s["started"] for s in body["steps"]}
    finished = {s["name"]: s["finished"] for s in body["steps"]}
    assert started["join"] >= max(finished["count_lines"], finished["count_words"])


def test_failing_step_keeps_outputs_and_skips_the_rest(api, workers):
    api.put_config(CONFIG)
    workers(1)
    body = api.wait_done(api.submit("failing", files={"input_data": ("a.txt", "x")})["id"])
    assert body["state"] == "Error"
    assert body["message"] == (f"Step fail_with failed with exit status 1; "
                               f"its log: /api/submissions/{body['id']}/steps/fail_with/log")
    assert "python3" not in body["message"] and "sys.exit" not in body["message"]
    assert [s["state"] for s in body["steps"]] == ["Error", "Skipped"]
    assert body["steps"][0]["exit_status"] == 1
    assert [r["name"] for r in body["results"]] == ["fail_with.x.partial"]
    log = api.get(f"/api/submissions/{body['id']}/steps/fail_with/log").json()
    assert log["stderr"] == "to stderr\n" and log["exit_status"] == 1


def test_terminating_exit_code_completes_early(api, workers):
    api.put_config(CONFIG)
    workers(1)
    code = "open('t.partial','w').write('early'); raise SystemExit(3)"
    body = api.submit("failing", files={"input_data": ("a.txt", "x")}, data={"fail_with_code": code})
    body = api.wait_done(body["id"])
    assert body["state"] == "Complete"
    assert [s["state"] for s in body["steps"]] == ["Complete", "Skipped"]
    assert body["steps"][0]["exit_status"] == 3
    assert api.get(body["results"][0]["url"]).text == "early"


def test_binary_results_round_trip_exactly(api, workers):
    api.put_config(CONFIG)
    workers(2)
    data = os.urandom(50_000) + bytes(range(256))
    body = api.submit("binary", files={"data": ("../../etc/passwd", data)})
    body = api.wait_done(body["id"])
    assert body["state"] == "Complete", body
    by_step = {r["step"]: r for r in body["results"]}
    copy = api.get(by_step["copy"]["url"])
    assert copy.content == data
    assert copy.headers["ETag"].strip('"') == hashlib.sha256(data).hexdigest() == by_step["copy"]["sha256"]
    assert "attachment" in copy.headers["Content-Disposition"]
    assert gzip.decompress(api.get(by_step["gzip"]["url"]).content) == data
    partial = api.get(by_step["copy"]["url"], headers={"Range": "bytes=100-199"})
    assert partial.status_code == 206 and partial.content == data[100:200]
    cached = api.get(by_step["copy"]["url"], headers={"If-None-Match": copy.headers["ETag"]})
    assert cached.status_code == 304
