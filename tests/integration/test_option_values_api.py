"""Over HTTP: an option-like value for a value placed alone is a 400 naming the field, unless the
parameter allows it; a step never receives it (the `sort -o/elsewhere` audit case)."""

from __future__ import annotations

import pytest

from app.services.parameters import STRING_MAX

CONFIG = """
version: 1
backends: [{name: local, type: local}]
tasks:
  - name: sort
    backend: local
    executable: "sort $P1 $I1"
    in_globs: [".txt"]
    stdout_glob: ".out"
    parameters:
      - {name: key, type: string, default: "-f"}
  - name: grep
    backend: local
    executable: "grep $P1 $I1"
    in_globs: [".txt"]
    stdout_glob: ".out"
    parameters:
      - {name: pattern, type: string, allow_leading_dash: true, flag: "-e"}
      - {name: word, type: string, default: "x", allow_leading_dash: true}
jobs:
  - {name: sort, steps: [{task: sort}]}
  - {name: grep, steps: [{task: grep}]}
"""


@pytest.fixture
def configured(load_config):
    load_config(CONFIG)


def submit(client, job: str, **fields):
    data = {"job": job, "input_data": (__import__("io").BytesIO(b"b\na\n"), "in.txt"), **fields}
    return client.post("/api/submissions", data=data, content_type="multipart/form-data")


def test_an_option_like_value_standing_alone_is_refused(client, configured):
    response = submit(client, "sort", sort_key="-o/tmp/elsewhere")
    assert response.status_code == 400
    assert "sort_key" in response.json["errors"]
    assert "option" in response.json["errors"]["sort_key"][0]
    assert submit(client, "sort", sort_key="plain").status_code == 201


def test_a_parameter_may_allow_leading_dashes(client, configured):
    assert submit(client, "grep", grep_pattern="-v", grep_word="--x").status_code == 201


def test_the_key_is_kept_by_dump_and_load(client, configured, admin_token):
    dumped = client.get("/api/config", headers={"Authorization": f"Bearer {admin_token}"}).get_data(as_text=True)
    assert dumped.count("allow_leading_dash: true") == 2


def test_long_strings_are_refused_by_default(client, configured):
    response = submit(client, "sort", sort_key="k" * (STRING_MAX + 1))
    assert response.status_code == 400
    assert response.json["errors"]["sort_key"] == [f"must be at most {STRING_MAX} characters long"]
