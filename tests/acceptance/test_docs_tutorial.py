"""The tutorial (docs/tutorial.md) as a new user follows it: every shell block of the page, in
order, run by bash in a copy of its folder, against waitress and real `aa worker` processes (R and
Python steps), ending with downloaded results. Only `aa up` is left out: this test starts the
service itself."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"


def tutorial_script(base: str) -> str:
    """The page's shell blocks as one script, talking to `base` instead of aa up's default address."""
    blocks = re.findall(r"^```sh\n(.*?)^```", TUTORIAL.read_text(), re.S | re.M)
    lines = [line for block in blocks for line in block.splitlines() if not line.startswith("aa up")]
    return "\n".join(lines).replace("http://127.0.0.1:8000", base) + "\n"


@pytest.mark.slow
def test_the_tutorial_runs_from_nothing_to_downloaded_results(service, workers, database_url, tmp_path):
    if shutil.which("Rscript") is None:
        if os.environ.get("AA_REQUIRE_R_OCTAVE"):
            pytest.fail("Rscript is required here (AA_REQUIRE_R_OCTAVE) but missing")
        pytest.skip("the tutorial's R step needs Rscript (.ci/run installs r-base-core)")
    shutil.copytree(ROOT / "docs" / "tutorial", tmp_path / "docs" / "tutorial")
    workers(1, concurrency=2)
    env = {**os.environ, "DATABASE_URL": database_url,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", tutorial_script(service)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    folder = tmp_path / "docs" / "tutorial"

    # 2. check (and a broken copy refused with suggestions), then load
    assert "configuration is valid; its programs, scripts and Python functions are present here" in output
    assert "tasks[0] (r_summary).executable: program Rscirpt is not on the workers' PATH" in output
    assert "did you mean Rscript?" in output and "mystats has no zscore; did you mean zscores?" in output
    assert "dry run: nothing loaded" in output and "loaded version 1: 2 backends, 3 tasks, 3 jobs" in output
    # 3. the R script's result, downloaded under its own name
    [summary] = folder.glob("*.r_summary.summary.csv")
    assert summary.read_text().splitlines()[:2] == ['"column","n","mean","sd"', '"score",5,74.4,15.1426549851735']
    # 4. the Python function: its results, a suggestion, an exception pointing to its log
    assert re.search(r"\['[0-9a-f-]{36}\.zscores\.json', 'zscores\.standardised\.csv'\]", output), output
    assert "unknown parameter; did you mean zscores_column?" in output
    assert re.search(r"Step zscores raised ValueError: there is no column 'height'; its log: "
                     r"/api/submissions/[0-9a-f-]{36}/steps/zscores/log", output), output
    # 5. the pipeline: every result in one zip; R saw only the cleaned rows
    with zipfile.ZipFile(folder / "report.zip") as archive:
        names = archive.namelist()
        complete = archive.read("clean.complete.csv").decode()
    assert len(names) == 5 and "zscores.standardised.csv" in names and any(n.endswith(".r_summary.summary.csv") for n in names)
    assert "NA" not in complete and len(complete.splitlines()) == 5
    assert '"stdout":"summarised 4 rows\\n"' in output
