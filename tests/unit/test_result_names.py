"""Result names hold their step's name, so no two results of a submission can share one."""

from __future__ import annotations

import itertools

from app.services.workspace import result_name

STEM = "3f0c9a6e-1b2c-4d5e-8f90-123456789abc"


def test_the_step_name_goes_after_the_stem_or_before_any_other_name():
    assert result_name(STEM, "describe", f"{STEM}.json") == f"{STEM}.describe.json"
    assert result_name(STEM, "align", f"{STEM}.hs-pred.out") == f"{STEM}.align.hs-pred.out"
    assert result_name(STEM, "histogram", "plot.png") == "histogram.plot.png"


def test_the_step_name_is_inserted_even_when_the_name_holds_it_already():
    # Else a step writing both `<stem>.txt` and `<stem>.report.txt` would make two results of one name.
    assert result_name(STEM, "report", f"{STEM}.report.txt") == f"{STEM}.report.report.txt"
    assert result_name(STEM, "report", f"{STEM}.txt") == f"{STEM}.report.txt"
    assert result_name(STEM, "histogram", "histogram.csv") == "histogram.histogram.csv"


def test_the_same_file_from_different_steps_never_collides():
    files = [f"{STEM}.json", f"{STEM}.count", "out.csv", f"{STEM}.report", f"{STEM}.report.json", "report.csv",
             "a.b", "b", STEM]
    steps = ["report", "count", "a", "b", "describe"]
    names = [result_name(STEM, step, name) for step, name in itertools.product(steps, files)]
    assert len(set(names)) == len(names)
