"""Command-line building: an executable template becomes an argv list run without a shell.

The template is split like POSIX shell words, then placeholders are replaced token-wise:
`$I<n>` inputs, `$O<n>` outputs, `$P<n>` / `$P` parameters, `$VALUE`, `$ID` and `$TMP`.
A placeholder may also be written `${ID}` to separate it from following letters.
"""

from __future__ import annotations

import functools
import re
import shlex

from app.errors import ConfigError
from app.services.evaluators import check_evaluators
from app.services.parameters import ParamSpec

# `$I3`, `$P`, `${TMP}`...; a name followed by a word character (`$PATH`, `$ID_x`) is literal.
_PLACEHOLDER = re.compile(
    r"\$(?:\{(?:([IOP])(\d+)|(VALUE|ID|TMP|P))\}|(?:([IOP])(\d+)|(VALUE|ID|TMP|P))(?![A-Za-z0-9_]))"
)
_NO_SHELL = "`{}` is not allowed: commands are run without a shell"
_OPERATORS = {
    ">": "use stdout_glob to save standard output",
    ">>": "use stdout_glob to save standard output",
    "|": "use stdout_glob to save standard output and a later step to process it",
    "||": "split the work into separate steps",
    "&&": "split the work into separate steps",
    ";": "split the work into separate steps",
    "&": "split the work into separate steps",
    "<": "pass input files with $I<n>",
    "<<": "pass input files with $I<n>",
}
_REDIRECT = re.compile(r"^(?:[0-9]|&)?>")  # `2>`, `1>>`, `&>`, `>out.txt`, `2>&1`...

# ("I", 2) for `$I2`; ("P", None) for a bare `$P`; ("ID", None)...
Placeholder = tuple[str, int | None]


def _placeholders(token: str) -> list[tuple[re.Match[str], Placeholder]]:
    found = []
    for match in _PLACEHOLDER.finditer(token):
        kind = match.group(1) or match.group(3) or match.group(4) or match.group(6)
        number = match.group(2) or match.group(5)
        found.append((match, (kind, int(number) if number else None)))
    return found


def _value_index(params: list[ParamSpec]) -> int | None:
    """Index of the first parameter whose flag contains VALUE (the one `$VALUE` refers to)."""
    return next((i for i, spec in enumerate(params) if "VALUE" in spec.flag), None)


def _may_render_several(spec: ParamSpec) -> bool:
    simple = spec.type == "bool" or not spec.flag or "VALUE" in spec.flag
    return not simple and spec.spacing and not spec.switchless


@functools.lru_cache(maxsize=1024)
def _split(executable: str) -> tuple[str, ...]:
    """The template's words (parsed once per template and process: every step of a task uses it)."""
    return tuple(shlex.split(executable, posix=True))


def check_executable(
    executable: str, *, n_in: int, n_out: int, params: list[ParamSpec]
) -> list[str]:
    """Load-time problems with an executable template; [] when fine."""
    try:
        tokens = _split(executable)
    except ValueError as exc:
        return [f"The executable has unbalanced quotes or a trailing escape ({exc})"]
    if not tokens or not tokens[0]:
        return ["The executable is empty"]
    problems: list[str] = []
    limits = {"I": (n_in, "in_glob"), "O": (n_out, "out_glob"), "P": (len(params), "parameter")}
    value_at = _value_index(params)
    uses_value = any(ph == ("VALUE", None) for tok in tokens for _, ph in _placeholders(tok))
    for token in tokens:
        if token in _OPERATORS:
            problems.append(f"{_NO_SHELL.format(token)}; {_OPERATORS[token]}")
        elif _REDIRECT.match(token):
            problems.append(f"{_NO_SHELL.format(token)}; use stdout_glob to save standard output")
        found = _placeholders(token)
        alone = len(found) == 1 and found[0][0].group(0) == token
        for match, (kind, n) in found:
            text = match.group(0)
            if n is not None:
                limit, what = limits[kind]
                if n < 1:
                    problems.append(f"`{text}`: numbering starts at 1")
                    continue
                if n > limit:
                    problems.append(f"`{text}` refers to {what} {n} but only {limit} are declared")
                    continue
            if kind == "VALUE" and value_at is None:
                problems.append(f"`{text}` is used but no parameter's flag contains VALUE")
            if kind == "P" and n is not None and uses_value and n - 1 == value_at:
                problems.append(f"`{text}` refers to the parameter already consumed by `$VALUE`")
            several = kind == "P" and (n is None or _may_render_several(params[n - 1]))
            if several and not alone:
                problems.append(f"`{text}` may give several words so must stand alone, not in `{token}`")
    problems += check_evaluators(tokens, lambda word: bool(_placeholders(word)))
    return problems


def alone_parameters(executable: str | None, params: list[ParamSpec]) -> frozenset[str]:
    """Names of the parameters whose value may become a whole argv word by itself (placed without
    a flag before it: no flag, switchless, a flag that is just `VALUE`, or `$VALUE` standing alone)."""
    if executable is None:
        return frozenset()
    alone = {spec.name for spec in params if spec.type != "bool" and (
        spec.switchless or not spec.flag or spec.flag == "VALUE")}
    value_at = _value_index(params)
    try:
        tokens = _split(executable)
    except ValueError:
        return frozenset(alone)
    for token in tokens:
        found = _placeholders(token)
        whole = len(found) == 1 and found[0][0].group(0) == token
        if value_at is not None and whole and found[0][1] == ("VALUE", None):
            alone.add(params[value_at].name)
    return frozenset(alone)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)  # int -> "12", float -> shortest repr ("0.001", "1e-05"), string as is


def render_param(spec: ParamSpec, value: object) -> list[str]:
    """Tokens for one parameter value by its flag/spacing/switchless/bool rules."""
    if value is None:
        return []
    if spec.type == "bool" or isinstance(value, bool):
        return [spec.flag] if value and spec.flag else []
    text = _text(value)
    if "VALUE" in spec.flag:
        return [spec.flag.replace("VALUE", text)]
    if spec.switchless or not spec.flag:
        return [text]
    return [spec.flag, text] if spec.spacing else [spec.flag + text]


def build_argv(
    executable: str,
    *,
    inputs: list[list[str]],
    out_globs: list[str],
    params: list[tuple[ParamSpec, object]],
    stem: str,
    workdir: str,
) -> list[str]:
    """The argv list for one step; raises ConfigError if the template is not valid."""
    specs = [spec for spec, _ in params]
    problems = check_executable(executable, n_in=len(inputs), n_out=len(out_globs), params=specs)
    if problems:
        raise ConfigError("The executable is not valid: " + "; ".join(problems))
    tokens = _split(executable)
    found = [_placeholders(token) for token in tokens]
    kinds = {ph for per_token in found for _, ph in per_token}
    value_at = _value_index(specs)
    consumed = value_at if ("VALUE", None) in kinds else None
    placed = {n - 1 for kind, n in kinds if kind == "P" and n is not None} | {consumed}
    unplaced = [i for i in range(len(params)) if i not in placed]

    def expand(kind: str, n: int | None) -> list[str]:
        if kind == "I" and n is not None:
            return list(inputs[n - 1])
        if kind == "O" and n is not None:
            return [stem + out_globs[n - 1]]
        if kind == "P":
            indices = unplaced if n is None else [n - 1]
            return [tok for i in indices for tok in render_param(*params[i])]
        if kind == "VALUE":
            value = params[value_at][1] if value_at is not None else None
            return [] if value is None else [_text(value)]
        return [stem] if kind == "ID" else [workdir]

    argv: list[str] = []
    for token, per_token in zip(tokens, found, strict=True):
        if len(per_token) == 1 and per_token[0][0].group(0) == token:
            argv.extend(expand(*per_token[0][1]))
            continue
        pieces, last, dropped = [], 0, False
        for match, ph in per_token:
            words = expand(*ph)
            if len(words) > 1:
                name = match.group(0)
                raise ConfigError(f"`{name}` gives several words so must stand alone, not in `{token}`")
            dropped = dropped or not words  # rendering nothing drops the whole word
            pieces += [token[last : match.start()], *words]
            last = match.end()
        if not dropped:
            argv.append("".join(pieces) + token[last:])
    if ("P", None) not in kinds:
        argv += [tok for i in unplaced for tok in render_param(*params[i])]
    return argv
