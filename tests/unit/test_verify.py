"""Load-time checks against this machine: programs, scripts and Python functions, reported by path
(and by name), through `aa config check` as an analyst runs it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main
from app.errors import ConfigError
from app.services import catalog

MODULE = '''
def normality(inputs, params, workdir):
    return {"ok": True}

def two_args(data, options):
    return None

not_a_function = 3
'''

CONFIG = """
version: 1
backends:
  - {name: local, type: local}
  - {name: py, type: python}
  - {name: cluster, type: slurm}
tasks:
  - {name: misspelled, backend: local, executable: "wcc -w $I1", in_globs: [.txt]}
  - {name: missing_script, backend: local, executable: "sh $HERE/nowhere.sh $I1", in_globs: [.txt]}
  - {name: relative_script, backend: local, executable: "sh clean.sh $I1", in_globs: [.txt]}
  - {name: good, backend: local, executable: "sh $HERE/present.sh $I1", in_globs: [.txt]}
  - {name: typo, backend: py, function: "mystats:normalty"}
  - {name: unimportable, backend: py, function: "no_such_module_here:f"}
  - {name: signature, backend: py, function: "mystats:two_args"}
  - {name: not_callable, backend: py, function: "mystats:not_a_function"}
  - {name: fine, backend: py, function: "mystats:normality"}
  - {name: elsewhere, backend: cluster, executable: "/opt/only/on/the/cluster $I1", in_globs: [.txt]}
jobs: [{name: j, steps: [{task: good}]}]
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "mystats.py").write_text(MODULE)
    (tmp_path / "present.sh").write_text("cat \"$1\"\n")
    (tmp_path / "config.yaml").write_text(CONFIG)
    return tmp_path


def test_every_run_time_failure_that_can_be_seen_is_reported_by_path(folder: Path) -> None:
    with pytest.raises(ConfigError) as info:
        catalog.check_file(folder / "config.yaml")
    errors = {path: " | ".join(messages) for path, messages in info.value.errors.items()}
    assert set(errors) == {f"tasks[{i}].{key}" for i, key in [
        (0, "executable"), (1, "executable"), (2, "executable"), (4, "function"), (5, "function"),
        (6, "function"), (7, "function")]}
    assert errors["tasks[0].executable"].startswith("program wcc is not on the workers' PATH (")
    assert errors["tasks[0].executable"].endswith("did you mean wc?")
    assert errors["tasks[1].executable"] == f"script {folder}/nowhere.sh does not exist"
    assert "relative path" in errors["tasks[2].executable"] and "$HERE/clean.sh" in errors["tasks[2].executable"]
    assert errors["tasks[4].function"] == "mystats has no normalty; did you mean normality?"
    assert errors["tasks[5].function"].startswith(
        "module no_such_module_here cannot be imported: ModuleNotFoundError: No module named 'no_such_module_here'")
    assert f"(import path: {folder}" in errors["tasks[5].function"]  # the config's folder comes first
    assert "must accept the keyword arguments inputs, params and workdir" in errors["tasks[6].function"]
    assert "(data, options)" in errors["tasks[6].function"]
    assert errors["tasks[7].function"] == "mystats:not_a_function is not callable"
    assert info.value.labels["tasks[4].function"] == "tasks[4] (typo).function"


def test_a_module_beside_the_yaml_is_importable_and_no_verify_skips_the_machine(folder: Path) -> None:
    (folder / "config.yaml").write_text(CONFIG.split("tasks:")[0] + """tasks:
  - {name: fine, backend: py, function: "mystats:normality"}
  - {name: wc, backend: local, executable: "wc -w $I1", in_globs: [.txt]}
jobs: [{name: j, steps: [{task: fine}, {task: wc}]}]
""")
    checked = catalog.check_file(folder / "config.yaml")
    py = next(b for b in checked["backends"] if b["name"] == "py")
    assert py["options"]["python_path"] == [str(folder.resolve())]
    (folder / "config.yaml").write_text(CONFIG)
    catalog.check_file(folder / "config.yaml", verify=False)  # nothing checked against this machine


def test_cli_check_prints_each_problem_once_with_names(folder: Path) -> None:
    result = CliRunner().invoke(main, ["config", "check", str(folder / "config.yaml")])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0] == "Error: Invalid configuration (7 problems):"
    assert "  tasks[4] (typo).function: mystats has no normalty; did you mean normality?" in lines
    assert len(lines) == 8 and "Traceback" not in result.output
    skipped = CliRunner().invoke(main, ["config", "check", "--no-verify", str(folder / "config.yaml")])
    assert skipped.exit_code == 0 and "not checked against this machine" in skipped.output


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="needs Rscript (installed by .ci/run)")
def test_a_misspelled_rscript_suggests_rscript(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("version: 1\nbackends: [{name: local, type: local}]\ntasks:\n"
                                     "  - {name: r, backend: local, executable: 'Rscirpt $HERE/x.R'}\n"
                                     "jobs: [{name: j, steps: [{task: r}]}]\n")
    with pytest.raises(ConfigError) as info:
        catalog.check_file(tmp_path / "c.yaml")
    messages = info.value.errors["tasks[0].executable"]
    assert messages[0].endswith("did you mean Rscript?") and messages[1] == f"script {tmp_path}/x.R does not exist"


def test_the_packages_the_workers_import_are_found(folder: Path) -> None:
    # The child runs this Python with the workers' import path, so the built-in analyses are found.
    (folder / "config.yaml").write_text(CONFIG.split("tasks:")[0] + """tasks:
  - {name: stats, backend: py, function: "app.analytics.stats:describe"}
jobs: [{name: j, steps: [{task: stats}]}]
""")
    assert catalog.check_file(folder / "config.yaml")["tasks"][0]["function"].startswith("app.")
