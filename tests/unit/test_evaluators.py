"""Placeholders inside code that a program evaluates are refused at load (issue 13)."""

from __future__ import annotations

import pytest

from app.services.commands import check_executable
from app.services.parameters import ParamSpec

PARAMS = [ParamSpec(name="p", rest_alias="p")]


def problems(executable: str) -> list[str]:
    return check_executable(executable, n_in=1, n_out=1, params=PARAMS)


@pytest.mark.parametrize("executable", [
    "sh -c 'echo $P1'", "/bin/bash -c $P1", "bash -ec 'cat $I1'", "dash -xc 'wc ${P1}'", "zsh -c $VALUE",
    "env sh -c 'echo $P1'", "python3 -c 'print(\"$P1\")'", "python3.11 -c $P1", "perl -ne 'print if /$P1/' $I1",
    "perl -E $P1", "ruby -e $P1", "node -e $P1", "node --eval $P1", "Rscript -e 'x <- $P1'", "php -r $P1",
    "octave-cli --eval $P1", "awk '{print $P1}' $I1", "gawk -F, $P1 $I1", "sed $P1 $I1", "sed -n -e $P1 $I1",
    "bash -c 'cat $TMP/x'", "sh -c", "bash -c",
])
def test_code_with_a_placeholder_is_refused(executable):
    found = problems(executable.replace("$VALUE", "$P1") if "VALUE" in executable else executable)
    assert any("as code" in p or "no code" in p for p in found), (executable, found)


@pytest.mark.parametrize("executable", [
    "sh -c 'wc -w \"$1\"' sh $I1 $P1", "bash script.sh $P1", "python3 tool.py $P1 $I1", "perl script.pl -e $P1",
    "awk -f prog.awk $P1", "awk -v x=$P1 '{print x}' $I1", "sed -e 's/a/b/' $I1", "sed 's/a/b/' $I1 $P1",
    "Rscript script.R $P1", "sort -c $P1 $I1", "grep -e $P1 $I1",
])
def test_code_without_placeholders_and_ordinary_programs_pass(executable):
    assert problems(executable) == []


def test_options_with_arguments_before_the_code_are_skipped():
    assert problems("bash -o pipefail -c 'cat $P1'")
    assert problems("python3 -W ignore -c $P1")
