"""Programs that evaluate one of their arguments as code: shells' `-c`, interpreters' `-e`/`-c`, awk's
and sed's programs. A placeholder inside that argument would hand a client's value to the
interpreter, so such templates are refused when they are loaded (issue 13); values may still be
passed as ordinary arguments after the script (`sh -c 'wc -w "$1"' sh $I1`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

# program name (a full match of its basename) -> the options whose next word is code
_EVAL_OPTIONS: tuple[tuple[re.Pattern[str], frozenset[str]], ...] = (
    (re.compile(r"(ba|da|z|k|mk|a|c|tc|fi|ya|po)?sh"), frozenset({"-c", "--command"})),
    (re.compile(r"(python|pypy)[0-9.]*"), frozenset({"-c"})),
    (re.compile(r"perl[0-9.]*"), frozenset({"-e", "-E"})),
    (re.compile(r"ruby[0-9.]*|lua[0-9.]*|luajit|Rscript|R|osascript|jrunscript|groovy"), frozenset({"-e"})),
    (re.compile(r"node(js)?|deno|bun"), frozenset({"-e", "--eval", "-p", "--print"})),
    (re.compile(r"octave(-cli)?|julia"), frozenset({"--eval", "-e"})),
    (re.compile(r"php[0-9.]*"), frozenset({"-r"})),
    (re.compile(r"tclsh[0-9.]*|wish[0-9.]*|expect"), frozenset({"-c"})),
)
# Options of shells and interpreters whose next word is their argument (`bash -o pipefail -c ...`).
_INTERPRETER_OPTIONS_WITH_ARGUMENT = {"-o", "+o", "-O", "+O", "--rcfile", "--init-file", "-W", "-X", "-I", "-r",
                                      "--require", "-M", "--import", "--default-packages"}
# Clusters of single-letter options ending in the evaluating one: `-ec`, `-xc`, `-ne`, `-lpe`.
_CLUSTER = re.compile(r"-[A-Za-z]*([ceErp])\Z")
# awk and sed take their program as the first operand unless given with -f (or sed's -e).
_PROGRAM_OPERAND = re.compile(r"[gmn]?awk|g?sed")
_OPTIONS_WITH_ARGUMENT = {"awk": {"-F", "-v", "-f"}, "sed": {"-f", "-l", "--file"}}


def check_evaluators(tokens: tuple[str, ...], has_placeholder: Callable[[str], bool]) -> list[str]:
    """Problems with the template's words: a placeholder inside code that a program evaluates."""
    problems = []
    for index, token in enumerate(tokens):
        name = os.path.basename(token)
        code = _code_positions(name, tokens[index + 1:])
        for position in code:
            word = tokens[index + 1 + position] if position < len(tokens) - index - 1 else None
            if word is None:
                problems.append(f"`{name}` is given no code after its option: a parameter placed after it "
                                f"would become code")
            elif has_placeholder(word):
                problems.append(f"`{name}` evaluates `{word}` as code: a placeholder inside it would hand a "
                                f"client's value to the interpreter; pass values as arguments after the code "
                                f"instead (`sh -c 'wc -w \"$1\"' sh $I1`)")
    return problems


def _code_positions(name: str, rest: tuple[str, ...]) -> list[int]:
    """Indices in `rest` (the words after program `name`) of the words it runs as code."""
    for program, options in _EVAL_OPTIONS:
        if program.fullmatch(name):
            return _option_code(rest, options)
    if _PROGRAM_OPERAND.fullmatch(name):
        return _operand_program(name, rest)
    return []


def _option_code(rest: tuple[str, ...], options: frozenset[str]) -> list[int]:
    """The words after an evaluating option, up to the first operand (a script file, whose own
    arguments these are not)."""
    code: list[int] = []
    skip = False
    for i, word in enumerate(rest):
        if skip:
            skip = False
        elif _evaluates(word, options):
            code.append(i + 1)
            skip = True
        elif word in _INTERPRETER_OPTIONS_WITH_ARGUMENT:
            skip = True
        elif word == "--" or not word.startswith(("-", "+")):
            break
    return code


def _evaluates(word: str, options: frozenset[str]) -> bool:
    if word in options:
        return True
    cluster = _CLUSTER.match(word)
    return cluster is not None and not word.startswith("--") and f"-{cluster.group(1)}" in options


def _operand_program(name: str, rest: tuple[str, ...]) -> list[int]:
    family = "awk" if name.endswith("awk") else "sed"
    takes_argument = _OPTIONS_WITH_ARGUMENT[family]
    code: list[int] = []
    skip = False
    for i, word in enumerate(rest):
        if skip:
            skip = False
            continue
        if family == "sed" and word in ("-e", "--expression"):
            code.append(i + 1)
            skip = True
        elif word in ("-f", "--file"):
            return code  # the program comes from a file
        elif word in takes_argument:
            skip = True
        elif word == "--":
            return code or ([i + 1] if i + 1 < len(rest) else [])
        elif not word.startswith("-") or word == "-":
            return code or [i]
    return code
