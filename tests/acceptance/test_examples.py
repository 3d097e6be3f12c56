"""The shipped example jobs work over HTTP, as a user would run them right after `aa up`."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from app.runtime import example_config

CSV = "height,weight\n150,50\n160,56\n170,66\n180,72\n190,86\n"


def load_examples(api):
    api.put_config(example_config())


def result_json(api, body, step):
    result = next(r for r in body["results"] if r["step"] == step and r["name"].endswith(".json"))
    return json.loads(api.get(result["url"]).content)


def test_analytics_examples(api, workers):
    load_examples(api)
    workers(1, concurrency=4)
    submitted = {
        job: api.submit(job, files={"input_data": ("data.csv", CSV)}, data=params)["id"]
        for job, params in [("describe_csv", {}), ("linear_regression_csv", {}),
                            ("histogram_csv", {"histogram_bins": "2", "histogram_column": "weight"})]
    }
    done = {job: api.wait_done(sid) for job, sid in submitted.items()}
    assert {job: b["state"] for job, b in done.items()} == dict.fromkeys(submitted, "Complete"), done
    describe = result_json(api, done["describe_csv"], "describe")
    assert describe["columns"][0]["name"] == "height" and describe["columns"][0]["mean"] == 170
    regression = result_json(api, done["linear_regression_csv"], "linear_regression")
    assert abs(regression["slope"] - 0.88) < 1e-9
    histogram = result_json(api, done["histogram_csv"], "histogram")
    assert histogram["counts"] == [3, 2]
    assert any(r["name"] == "histogram.histogram.csv" for r in done["histogram_csv"]["results"])


def test_text_examples(api, workers):
    load_examples(api)
    workers(1)
    body = api.wait_done(api.submit("first_lines", files={"input_data": ("t.txt", "a\nb\nc\n")},
                                    data={"head_lines_lines": "2"})["id"])
    assert body["state"] == "Complete"
    assert api.get(body["results"][0]["url"]).text == "a\nb\n"


def test_bad_csv_is_refused_before_anything_runs(api):
    load_examples(api)
    import requests

    response = requests.post(api.url("/api/submissions"), data={"job": "describe_csv"},
                             files={"input_data": ("d.csv", "a,b\n1,x\n")}, timeout=10)
    assert response.status_code == 400
    assert "input_data" in response.json()["errors"]


def _need(program: str) -> None:
    """.ci/run installs R and Octave and then requires them (AA_REQUIRE_R_OCTAVE=1); on a machine
    where they could not be installed the test says so instead of failing."""
    if shutil.which(program) is None:
        if os.environ.get("AA_REQUIRE_R_OCTAVE") == "1":
            pytest.fail(f"{program} is not installed although .ci/run installed R and Octave")
        pytest.skip(f"{program} is not installed on this machine (Debian packages r-base-core, octave)")


@pytest.mark.parametrize(("job", "program", "expected"), [
    ("column_means_r", "Rscript", '"column","mean"\n"height",170\n"weight",66\n'),
    ("column_sums_octave", "octave-cli", "column,sum\n1,850\n2,330\n"),
])
def test_r_and_octave_examples(api, workers, job, program, expected):
    _need(program)
    load_examples(api)
    workers(1)
    body = api.wait_done(api.submit(job, files={"input_data": ("data.csv", CSV)})["id"])
    assert body["state"] == "Complete", body
    assert api.get(body["results"][0]["url"]).text == expected
