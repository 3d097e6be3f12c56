"""Messages that lead to the fix: close names suggested, the limits said, nothing guessed at."""

from __future__ import annotations

CONFIG = """
version: 1
backends: [{name: local, type: local}]
tasks:
  - name: r_plot
    backend: local
    executable: "wc -l $I1"
    in_globs: [.txt]
    parameters: [{name: threshold, type: float, default: 0.5}, {name: title, default: plot}]
jobs:
  - {name: plot_scores, steps: [{task: r_plot}]}
  - {name: count_lines, steps: [{task: r_plot}]}
"""


def test_an_unknown_parameter_suggests_the_close_names(client, load_config):
    load_config(CONFIG)
    response = client.post("/api/submissions", json={
        "job": "plot_scores", "params": {"r_plot_treshold": "0.2"}, "inputs": {"input_data": "x"}})
    assert response.status_code == 400
    assert response.json["errors"] == {"r_plot_treshold": ["unknown parameter; did you mean r_plot_threshold?"]}
    far = client.post("/api/submissions", json={"job": "plot_scores", "params": {"colour": "red"},
                                                "inputs": {"input_data": "x"}})
    assert far.json["errors"]["colour"] == ["unknown parameter; the parameters are r_plot_threshold, r_plot_title"]
    wrong_input = client.post("/api/submissions", json={"job": "plot_scores", "inputs": {"input_dta": "x"}})
    assert wrong_input.json["errors"]["input_dta"] == ["unknown input; did you mean input_data?"]


def test_an_unknown_job_suggests_or_lists_the_jobs(client, load_config):
    load_config(CONFIG)
    close = client.post("/api/submissions", json={"job": "plot_score"})
    assert close.status_code == 400
    assert close.json["message"] == "There is no job named 'plot_score'; did you mean plot_scores?"
    far = client.post("/api/submissions", json={"job": "zzz"})
    assert far.json["errors"]["job"] == ["unknown job; the jobs are plot_scores, count_lines"]


def test_wait_says_its_maximum(client, load_config):
    load_config(CONFIG)
    created = client.post("/api/submissions", json={"job": "count_lines", "inputs": {"input_data": "x"}})
    response = client.get(f"/api/submissions/{created.json['id']}?wait=120")
    assert response.status_code in (400, 422)
    assert "the maximum wait is 60 s" in response.json["errors"]["wait"][0]
    assert response.json["message"].startswith("wait: must be from 0 to 60 seconds")
    post = client.post("/api/submissions?wait=61", json={"job": "count_lines", "inputs": {"input_data": "x"}})
    assert "the maximum wait is 60 s" in post.json["errors"]["wait"][0]
