"""Unit tests for the YAML configuration format: parsing, defaults, errors and dumping (no database)."""

from __future__ import annotations

import copy
import textwrap

import pytest

from app.errors import ConfigError
from app.services.catalog_dump import dump_config
from app.services.catalog_schema import parse_config

# The example of SPEC.md §3, verbatim.
SPEC_EXAMPLE = """\
version: 1
backends:
  - name: local                 # unique, [a-z][a-z0-9_]*
    type: local                 # local | python | slurm | gridengine
    root_path: /var/tmp/aa      # optional; where working directories are made
    options: {}                 # type-specific (slurm: partition, account, extra_args; ...)
  - name: py
    type: python
tasks:
  - name: wordcount             # unique, [a-z][a-z0-9_]*
    description: Count words
    backend: local
    executable: "wc -w $I1"     # an argv template; never passed to a shell
    in_globs: [".txt"]          # files this task reads, by suffix; $I1..$In
    out_globs: [".count"]       # files it produces, by suffix; $O1..$On; collected as results
    stdout_glob: ".count"       # optional: stdout is saved to <stem><stdout_glob>
    parameters:
      - name: lines
        flag: "-l"
        type: bool              # bool | int | float | string | choice
        default: false
        required: false
        description: Count lines instead
        # optional: rest_alias, spacing (true: "-t 1", false: "-t1"), switchless (value only),
        # choices, min, max, pattern (a full-match regex for strings)
    environment: {LC_ALL: C}    # added to the worker's environment (PATH is kept)
    exit_codes: {123: continue} # code -> continue | terminate | fail | retry; 0 is success
    incomplete_outputs: fail    # fail | continue | terminate
    timeout: 3600               # seconds of wall clock; then the process group is killed
    retries: 0                  # extra attempts after a crash or a `retry` exit code
    cache: false                # reuse an identical earlier result (§4.9)
    resources: {cpus: 1, memory_mb: 1024}   # passed to cluster backends
  - name: describe
    backend: py
    function: app.analytics.stats:describe  # a Python task, instead of `executable`
    in_globs: [".csv"]
    out_globs: [".json"]
jobs:
  - name: count_words
    description: Count the words of a text
    runnable: true              # false: listed to admins, POST answers 403
    inputs:                     # optional; default: one input `input_data` with the first
      - name: input_data        #   in_glob of the first root step and the job's validators
        glob: .txt
        validators: [text]
        required: true
    validators: [text]          # built-in name or "module:function"
    steps:
      - name: count             # default: the task's name
        task: wordcount
      - name: report
        task: describe
        after: [count]          # parents; default: the step before it; [] makes a root
    schedule:                   # optional periodic run (§4.11)
      cron: "0 3 * * *"
      params: {}
"""

# Something of every kind, mostly away from the defaults.
RICH = """\
backends:
  - {name: local, type: local}
  - {name: py, type: python, root_path: /srv/aa}
  - name: cluster
    type: slurm
    options: {partition: short, extra_args: ["--exclusive"], nested: {b: 2, a: 1}}
tasks:
  - name: align
    backend: cluster
    executable: "aligner $P1 --in $I1 --out $O1 $P"
    in_globs: [".fa", ".hs-pred.out"]
    out_globs: [".aln"]
    parameters:
      - {name: gap, type: int, flag: "-g", default: 3, min: 0, max: 10, rest_alias: gap_penalty}
      - {name: mode, type: choice, choices: [fast, slow, 3], default: fast, flag: "--mode=", spacing: false}
      - {name: label, pattern: "[a-z]+", min: 1, max: 20, required: true, description: "A label"}
      - {name: weight, type: float, default: 1, switchless: true}
    environment: {THREADS: 4, DEBUG: true, NAME: x}
    exit_codes: {"2": retry, 1: fail, 99: terminate}
    incomplete_outputs: continue
    timeout: 60
    retries: 2
    cache: true
    resources: {cpus: 4}
  - {name: summarise, backend: py, function: "pkg.mod:Class.run", in_globs: [".aln"], out_globs: [".json"]}
  - {name: plain, backend: local, executable: "true"}
jobs:
  - name: pipeline
    runnable: false
    validators: [text]
    inputs:
      - {name: sequences, glob: .fa}
      - {name: Extra_1, glob: "", validators: [], required: false}
    steps:
      - {task: align}
      - {name: summary, task: summarise}
      - {name: side, task: plain, after: []}
      - {name: last, task: plain, after: [summary, side]}
    schedule: {cron: "*/5 * * * 1-5", params: {gap_penalty: 4, align_label: nightly}}
  - name: no_inputs
    inputs: []
    steps: [{task: plain}]
"""


def errors_of(source: str | dict | list) -> dict[str, list[str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(source)
    errors = info.value.errors
    assert errors and all(isinstance(m, list) and m for m in errors.values())
    return errors


def minimal(**extra: str) -> str:
    """A small valid document; `extra` adds YAML text under a section name."""
    text = textwrap.dedent(
        """\
        backends:
          - {name: local, type: local}
          - {name: py, type: python}
        tasks:
          - {name: count, backend: local, executable: "wc -l $I1", in_globs: [".txt"], out_globs: [".n"]}
          - {name: report, backend: py, function: "app.analytics.stats:describe"}
        jobs:
          - name: words
            steps: [{task: count}, {task: report}]
        """
    )
    for section, more in extra.items():
        text = text.replace(f"{section}:\n", f"{section}:\n{textwrap.indent(textwrap.dedent(more), '  ')}", 1)
    return text


# --- Parsing and defaults ---


def test_spec_example_parses() -> None:
    catalog = parse_config(SPEC_EXAMPLE)
    assert catalog["version"] == 1
    assert [b["name"] for b in catalog["backends"]] == ["local", "py"]
    wordcount, describe = catalog["tasks"]
    assert wordcount["exit_codes"] == {"123": "continue"}
    assert wordcount["environment"] == {"LC_ALL": "C"}
    assert wordcount["parameters"][0]["rest_alias"] == "wordcount_lines"
    assert wordcount["parameters"][0]["default"] is False
    assert describe["function"] == "app.analytics.stats:describe" and describe["executable"] is None
    job = catalog["jobs"][0]
    assert job["steps"] == [
        {"name": "count", "task": "wordcount", "after": []},
        {"name": "report", "task": "describe", "after": ["count"]},
    ]
    assert job["schedule"] == {"cron": "0 3 * * *", "timezone": "UTC", "params": {}}


def test_defaults_are_filled() -> None:
    catalog = parse_config(minimal())
    assert catalog["backends"][1] == {"name": "py", "type": "python", "root_path": None, "options": {}}
    assert catalog["tasks"][1] == {
        "name": "report", "description": "", "backend": "py", "executable": None,
        "function": "app.analytics.stats:describe", "in_globs": [], "out_globs": [], "stdout_glob": None,
        "parameters": [], "environment": {}, "exit_codes": {}, "incomplete_outputs": "fail",
        "timeout": None, "retries": 0, "cache": False, "resources": {},
    }  # fmt: skip
    assert catalog["jobs"][0] == {
        "name": "words", "description": "", "runnable": True,
        "inputs": [{"name": "input_data", "glob": ".txt", "validators": [], "required": True}],
        "validators": [],
        "steps": [{"name": "count", "task": "count", "after": []}, {"name": "report", "task": "report", "after": ["count"]}],
        "schedule": None,
    }  # fmt: skip


def test_parameter_defaults_are_filled() -> None:
    catalog = parse_config(minimal(tasks="- {name: t, backend: local, executable: x, parameters: [{name: p}]}\n"))
    assert catalog["tasks"][0]["parameters"] == [
        {
            "name": "p", "type": "string", "flag": "", "default": None, "required": False,
            "description": "", "rest_alias": "t_p", "spacing": True, "switchless": False,
            "choices": [], "min": None, "max": None, "pattern": None, "allow_leading_dash": False,
        }
    ]  # fmt: skip


def test_default_input_follows_the_first_root_step() -> None:
    catalog = parse_config(
        minimal(
            jobs="""\
            - name: other
              validators: [text]
              steps: [{task: report}, {task: count, after: []}]
            """
        )
    )
    job = catalog["jobs"][0]
    # `report` (the first root) has no in_globs, so the glob is empty
    assert job["inputs"] == [{"name": "input_data", "glob": "", "validators": ["text"], "required": True}]
    assert [s["after"] for s in job["steps"]] == [[], []]


def test_input_validators_default_to_the_jobs() -> None:
    job = parse_config(RICH)["jobs"][0]
    assert job["inputs"] == [
        {"name": "sequences", "glob": ".fa", "validators": ["text"], "required": True},
        {"name": "Extra_1", "glob": "", "validators": [], "required": False},
    ]


def test_values_are_normalised() -> None:
    catalog = parse_config(RICH)
    align = catalog["tasks"][0]
    assert align["environment"] == {"THREADS": "4", "DEBUG": "true", "NAME": "x"}
    assert align["exit_codes"] == {"2": "retry", "1": "fail", "99": "terminate"}
    weight = align["parameters"][3]
    assert weight["default"] == 1.0 and isinstance(weight["default"], float)
    assert align["parameters"][0]["rest_alias"] == "gap_penalty"
    assert align["parameters"][2]["rest_alias"] == "align_label"


def test_empty_text_is_an_empty_catalog() -> None:
    assert parse_config("") == {"version": 1, "backends": [], "tasks": [], "jobs": []}
    assert parse_config("backends:\ntasks:\njobs:\n") == {"version": 1, "backends": [], "tasks": [], "jobs": []}


def test_several_documents_are_merged() -> None:
    text = "backends: [{name: local, type: local}]\n---\ntasks: [{name: t, backend: local, executable: x}]\n"
    text += "---\njobs: [{name: j, steps: [{task: t}]}]\n"
    catalog = parse_config(text)
    assert [len(catalog[k]) for k in ("backends", "tasks", "jobs")] == [1, 1, 1]
    assert parse_config(text.encode()) == catalog


def test_parsed_data_is_accepted_and_not_changed() -> None:
    import yaml

    data = yaml.safe_load(SPEC_EXAMPLE)
    before = copy.deepcopy(data)
    assert parse_config(data) == parse_config(SPEC_EXAMPLE)
    assert data == before
    assert parse_config([data]) == parse_config(SPEC_EXAMPLE)


def test_dates_stay_strings() -> None:
    catalog = parse_config(minimal(tasks="- {name: t, backend: local, executable: x, description: 2024-01-31}\n"))
    assert catalog["tasks"][0]["description"] == "2024-01-31"


# --- Dumping ---


@pytest.mark.parametrize("source", [SPEC_EXAMPLE, RICH, minimal(), ""])
def test_round_trip(source: str) -> None:
    catalog = parse_config(source)
    text = dump_config(catalog)
    assert parse_config(text) == catalog
    assert dump_config(parse_config(text)) == text


def test_dump_leaves_defaults_out_and_writes_exit_codes_as_ints() -> None:
    text = dump_config(parse_config(RICH))
    assert "rest_alias: gap_penalty" in text
    assert "align_label" not in text.split("jobs:")[0]  # the default alias is not written
    assert "retries: 2" in text and "spacing: false" in text and "runnable: false" in text
    assert "incomplete_outputs: fail" not in text and "stdout_glob" not in text
    assert "\n    1: fail\n    2: retry\n    99: terminate\n" in text
    import yaml

    assert yaml.safe_load(text)["tasks"][0]["exit_codes"] == {1: "fail", 2: "retry", 99: "terminate"}


def test_dump_is_independent_of_key_order() -> None:
    catalog = parse_config(RICH)
    shuffled = copy.deepcopy(catalog)
    options = shuffled["backends"][2]["options"]
    shuffled["backends"][2]["options"] = dict(reversed(list(options.items())))
    shuffled["tasks"][0]["exit_codes"] = dict(reversed(list(catalog["tasks"][0]["exit_codes"].items())))
    assert dump_config(shuffled) == dump_config(catalog)


# --- Errors, each at its path ---


def test_bad_parameter_type() -> None:
    errors = errors_of(minimal(tasks="- {name: t, backend: local, executable: x, parameters: [{name: p, type: text}]}\n"))
    assert errors == {"tasks[0].parameters[0].type": ["must be one of bool, int, float, string, choice"]}


def test_unknown_keys_anywhere() -> None:
    errors = errors_of(
        minimal(tasks="- {name: t, backend: local, executable: x, colour: red, parameters: [{name: p, size: 1}]}\n")
        + "extra: 1\n"
    )
    assert errors == {
        "extra": ["unknown key"],
        "tasks[0].colour": ["unknown key"],
        "tasks[0].parameters[0].size": ["unknown key"],
    }
    errors = errors_of(minimal(jobs="- {name: j, steps: [{task: count, when: now}], schedule: {cron: '* * * * *', x: 1}}\n"))
    assert errors == {"jobs[0].steps[0].when": ["unknown key"], "jobs[0].schedule.x": ["unknown key"]}


def test_wrong_shapes() -> None:
    errors = errors_of(
        minimal(tasks="- {name: t, backend: local, executable: x, in_globs: .txt, timeout: 1.5, cache: 'yes'}\n")
    )
    assert errors == {
        "tasks[0].in_globs": ["must be a list"],
        "tasks[0].timeout": ["must be an integer"],
        "tasks[0].cache": ["must be true or false"],
    }
    assert errors_of("- 1\n") == {"": ["must be a mapping"]}
    assert errors_of("tasks: [3]\n") == {"tasks[0]": ["must be a mapping"]}
    assert errors_of("version: 2\n") == {"version": ["must be 1"]}


def test_required_keys_and_name_rules() -> None:
    errors = errors_of("backends: [{type: local}, {name: Big, type: local}, {name: ok, type: ftp}]\n")
    assert errors == {
        "backends[0].name": ["is required"],
        "backends[1].name": ["must match [a-z][a-z0-9_]*"],
        "backends[2].type": ["must be one of local, python, slurm, gridengine"],
    }
    assert errors_of("backends: [{name: " + "a" * 65 + ", type: local}]\n") == {
        "backends[0].name": ["must be at most 64 characters long"]
    }


def test_unknown_backend() -> None:
    errors = errors_of(minimal(tasks="- {name: t, backend: nowhere, executable: x}\n"))
    assert errors == {"tasks[0].backend": ["unknown backend nowhere"]}


def test_a_broken_item_is_not_reported_again_as_unknown() -> None:
    errors = errors_of("backends: [{name: b, type: ftp}]\ntasks: [{name: t, backend: b, executable: x}]\n")
    assert errors == {"backends[0].type": ["must be one of local, python, slurm, gridengine"]}


def test_unknown_task_and_unknown_step() -> None:
    errors = errors_of(minimal(jobs="- {name: j, steps: [{task: count}, {task: missing, after: [nothing]}]}\n"))
    assert errors == {"jobs[0].steps[1].task": ["unknown task missing"], "jobs[0].steps[1].after": ["unknown step nothing"]}


def test_a_misspelled_name_gets_the_close_ones() -> None:
    errors = errors_of(minimal(
        tasks="- {name: tally, backend: locl, executable: wc}\n",
        jobs="- {name: j, validators: [jsno], steps: [{task: count}, {task: cuont, after: [cont]}]}\n"))
    assert errors == {"tasks[0].backend": ["unknown backend locl; did you mean local?"],
                      "jobs[0].steps[1].task": ["unknown task cuont; did you mean count?"],
                      "jobs[0].steps[1].after": ["unknown step cont; did you mean cuont or count?"],
                      "jobs[0].validators": ["unknown validator jsno; did you mean json?"]}


def test_unknown_validators() -> None:
    errors = errors_of(
        minimal(jobs="- {name: j, validators: [text, no_such], inputs: [{name: a, validators: [nope:nothing]}], steps: [{task: count}]}\n")
    )
    assert errors == {"jobs[0].validators": ["unknown validator no_such"]}  # nope:nothing: checked once all else is valid


def test_duplicate_names() -> None:
    errors = errors_of(
        minimal(
            backends="- {name: local, type: slurm}\n",
            tasks="- {name: count, backend: local, executable: x, parameters: [{name: p}, {name: p, rest_alias: q}]}\n",
            jobs="""\
            - name: words
              inputs: [{name: a}, {name: a}]
              steps: [{task: count}, {task: report, name: count}]
            """,
        )
    )
    assert errors == {
        "backends[1].name": ["duplicate backend name local (also backends[0])"],
        "tasks[0].parameters[1].name": ["duplicate parameter name p"],
        "tasks[1].name": ["duplicate task name count (also tasks[0])"],
        "jobs[0].inputs[1].name": ["duplicate input name a"],
        "jobs[0].steps[1].name": ["duplicate step name count"],
        "jobs[1].name": ["duplicate job name words (also jobs[0])"],
    }


def test_duplicate_alias_in_a_job() -> None:
    errors = errors_of(
        minimal(
            tasks="""\
            - {name: a, backend: local, executable: x, parameters: [{name: n, rest_alias: size}]}
            - {name: b, backend: local, executable: y, parameters: [{name: m, rest_alias: size}]}
            """,
            jobs="- {name: j, steps: [{task: a}, {task: b}]}\n",
        )
    )
    assert errors == {"jobs[0].steps[1]": ["parameter alias size is used twice"]}


def test_cycle_is_named() -> None:
    errors = errors_of(
        minimal(
            jobs="""\
            - name: j
              steps:
                - {name: count, task: count, after: [report]}
                - {name: report, task: report, after: [count]}
            """
        )
    )
    assert errors == {"jobs[0].steps": ["cycle count -> report -> count"]}
    errors = errors_of(minimal(jobs="- {name: j, steps: [{task: count, after: [count]}]}\n"))
    assert errors == {"jobs[0].steps": ["cycle count -> count"]}


def test_redirect_in_executable() -> None:
    errors = errors_of(minimal(tasks="- {name: t, backend: local, executable: 'wc -w $I1 > out.txt', in_globs: [.txt]}\n"))
    assert list(errors) == ["tasks[0].executable"]
    assert "stdout_glob" in errors["tasks[0].executable"][0]


def test_default_out_of_range_or_of_the_wrong_type() -> None:
    errors = errors_of(
        minimal(
            tasks="""\
            - name: t
              backend: local
              executable: x
              parameters:
                - {name: a, type: int, default: 11, max: 10}
                - {name: b, type: bool, default: maybe}
                - {name: c, type: choice, choices: [x, y], default: z}
                - {name: d, pattern: "[0-9]+", default: abc}
            """
        )
    )
    assert errors == {
        "tasks[0].parameters[0].default": ["must be at most 10"],
        "tasks[0].parameters[1].default": ["must be a boolean (true/false), not 'maybe'"],
        "tasks[0].parameters[2].default": ["must be one of x, y, not 'z'"],
        "tasks[0].parameters[3].default": ["must match the pattern [0-9]+"],
    }


def test_parameter_declaration_rules() -> None:
    errors = errors_of(
        minimal(
            tasks="""\
            - name: t
              backend: local
              executable: x
              parameters:
                - {name: a, type: choice}
                - {name: b, type: int, choices: [1], min: 5, max: 1}
                - {name: c, type: bool, pattern: x, min: 0}
            - {name: u, backend: local, executable: x, parameters: [{name: d, pattern: "(", rest_alias: "not valid"}]}
            """
        )
    )
    assert errors["tasks[0].parameters[0].choices"] == ["is required for type choice (a non-empty list)"]
    assert errors["tasks[0].parameters[1].choices"] == ["is only for type choice"]
    assert errors["tasks[0].parameters[1].max"] == ["must not be less than min"]
    assert errors["tasks[0].parameters[2].pattern"] == ["is only for type string"]
    assert errors["tasks[0].parameters[2].min"] == ["is only for types int, float and string"]
    # a task with a structural error (here u) gets no semantic checks, but is reported
    assert errors["tasks[1].parameters[0].pattern"][0].startswith("is not a valid regular expression")
    assert errors["tasks[1].parameters[0].rest_alias"] == ["must match [A-Za-z_][A-Za-z0-9_]*"]


def test_function_and_executable_by_backend_type() -> None:
    errors = errors_of(
        minimal(
            tasks="""\
            - {name: a, backend: local, function: "mod:fn"}
            - {name: b, backend: py, executable: "run $I1"}
            - {name: c, backend: local}
            - {name: d, backend: local, executable: x, function: "mod:fn"}
            - {name: e, backend: py, function: "not a function"}
            """
        )
    )
    assert errors == {
        "tasks[0].function": ["is only for backends of type python; backend local is of type local"],
        "tasks[1].executable": ["is not for backends of type python; use function: module:callable"],
        "tasks[2]": ["needs an executable"],
        "tasks[3]": ["give either an executable or a function, not both"],
        "tasks[4].function": ["must match module.path:callable"],
    }


def test_environment_exit_codes_globs_and_cron() -> None:
    errors = errors_of(
        minimal(
            tasks="""\
            - name: t
              backend: local
              executable: x
              in_globs: ["", "a/b"]
              environment: {"BAD-NAME": x, OK: [1]}
              exit_codes: {0: fail, 256: fail, 3: explode}
            """,
            jobs="- {name: j, steps: [{task: t}], schedule: {cron: '0 3 * *'}}\n",
        )
    )
    assert errors == {
        "tasks[0].in_globs[0]": ["must not be empty"],
        "tasks[0].in_globs[1]": ['must be a file name suffix such as ".txt", without "/"'],
        "tasks[0].environment.BAD-NAME": ["is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)"],
        "tasks[0].environment.OK": ["must be a string or a number"],
        "tasks[0].exit_codes.0": ["exit codes must be from 1 to 255 (0 is success)"],
        "tasks[0].exit_codes.256": ["exit codes must be from 1 to 255 (0 is success)"],
        "tasks[0].exit_codes.3": ["must be one of continue, terminate, fail, retry"],
        "jobs[0].schedule.cron": ["must have 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first"],
    }


def test_schedule_params_are_checked_against_the_jobs_aliases() -> None:
    errors = errors_of(
        minimal(
            tasks="- {name: t, backend: local, executable: x, parameters: [{name: n, type: int}, {name: s, default: a}]}\n",
            jobs="- {name: j, steps: [{task: t}], schedule: {cron: '* * * * *', params: {t_s: [1], other: 1}}}\n",
        )
    )
    assert errors == {
        "jobs[0].schedule.params.t_s": ["must be a string, not [1]"],
        "jobs[0].schedule.params.other": ["is not a parameter alias of this job"],
        "jobs[0].schedule.params": ["parameter alias t_n has no default so must be given"],
    }


def test_a_job_needs_steps() -> None:
    assert errors_of(minimal(jobs="- {name: j, steps: []}\n- {name: k}\n")) == {
        "jobs[0].steps": ["must have at least one step"],
        "jobs[1].steps": ["is required"],
    }


def test_bad_yaml_syntax_gives_line_and_column() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("backends:\n  - name: local\n    type: [local\n")
    assert list(info.value.errors) == [""]
    assert "line 4, column 1" in info.value.message
    assert info.value.errors[""] == [info.value.message]


def test_duplicate_yaml_keys_and_unsafe_tags_are_refused() -> None:
    with pytest.raises(ConfigError, match="line 3, column 5: found duplicate key 'name'"):
        parse_config("backends:\n  - name: a\n    name: b\n    type: local\n")
    with pytest.raises(ConfigError, match="line 1"):
        parse_config("tasks: !!python/object:os.system {}\n")


def test_bytes_that_are_not_utf8() -> None:
    assert errors_of(b"name: caf\xe9\n") == {"": ["the configuration is not valid UTF-8 (byte 9)"]}


def test_several_errors_are_reported_together() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(
            minimal(
                backends="- {name: extra, type: local, colour: blue}\n",
                tasks="- {name: t, backend: gone, executable: 'a | b'}\n",
                jobs="- {name: j, steps: [{task: ghost}], validators: [nope]}\n",
            )
        )
    errors = info.value.errors
    assert set(errors) == {
        "backends[0].colour",
        "tasks[0].backend",
        "tasks[0].executable",
        "jobs[0].steps[0].task",
        "jobs[0].validators",
    }
    assert info.value.message.startswith("Invalid configuration: backends[0] (extra).colour: unknown key; ")
    assert info.value.labels["tasks[0].backend"] == "tasks[0] (t).backend"
    assert info.value.message.endswith("(and 2 more)")


def test_errors_in_later_documents() -> None:
    errors = errors_of("version: 2\n---\nextra: 1\nbackends: [{name: a, type: x}]\n")
    assert errors == {
        "documents[0].version": ["must be 1"],
        "documents[1].extra": ["unknown key"],
        "backends[0].type": ["must be one of local, python, slurm, gridengine"],
    }


def test_free_mappings_hold_plain_bounded_data() -> None:
    # six levels of ten aliases: a few hundred bytes of YAML, a million values
    bomb = "backends:\n- name: a\n  type: local\n  options:\n    a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
    for previous, name in zip("abcde", "bcdef", strict=True):
        bomb += f"    {name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]\n"
    assert errors_of(bomb) == {"backends[0].options": ["must not hold more than 100000 values"]}
    assert errors_of("backends: [{name: a, type: local, options: {x: .nan, y: !!binary aGk=}}]\n") == {
        "backends[0].options.x": ["must be a finite number"],
        "backends[0].options.y": ["must be plain data (text, numbers, lists, mappings), not bytes"],
    }
