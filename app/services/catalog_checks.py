"""Checks of configuration values, and of a configuration whose items passed the schemas.

Value checks back the marshmallow fields of `app.services.catalog_schema`. The catalog checks
(references between items, uniqueness, the step DAG, parameter defaults) run after marshmallow
has checked the shapes, and fill the defaults that depend on other items (parameter aliases,
step names and parents, job inputs).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from marshmallow import ValidationError

from app.errors import ParameterError
from app.services.commands import check_executable
from app.services.parameters import ParamSpec, coerce
from app.services.suggest import did_you_mean
from app.services.validators import BUILTIN, unknown_validators

Errors = dict[str, list[str]]
Item = dict[str, Any]
EXIT_ACTIONS = ("continue", "terminate", "fail", "retry")
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
MAX_PLAIN_VALUES = 100_000
_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,?#-]+\Z")


def add_error(errors: Errors, path: str, message: str) -> None:
    """Record one message at a document path."""
    errors.setdefault(path, []).append(message)


# --- Values (used by the schemas' fields; they raise marshmallow's ValidationError) -------------


def finite_number(value: Any) -> bool:
    """An int or a finite float, not a bool."""
    return isinstance(value, int) and not isinstance(value, bool) or isinstance(value, float) and math.isfinite(value)


class _TooLarge(Exception):
    pass


def plain_data(value: Any) -> Any:
    """A deep copy of JSON-like data (what the catalog tables can store), else ValidationError."""
    try:
        return _plain(value, [MAX_PLAIN_VALUES])
    except _TooLarge:  # YAML aliases can make a short text expand enormously
        raise ValidationError(f"must not hold more than {MAX_PLAIN_VALUES} values") from None


def _plain(value: Any, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, str) and "\x00" in value:
        raise ValidationError("must not contain NUL characters")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError("must be a finite number")
    if isinstance(value, (str, float)):
        return value
    if not isinstance(value, (list, dict)):
        raise ValidationError(f"must be plain data (text, numbers, lists, mappings), not {type(value).__name__}")
    pairs = value.items() if isinstance(value, dict) else enumerate(value)
    copy: dict[Any, Any] = {}
    errors: dict[Any, Any] = {}
    for key, item in pairs:
        if isinstance(value, dict) and (not isinstance(key, str) or "\x00" in key):
            errors[str(key)] = ["keys must be strings"]
            continue
        try:
            copy[key] = _plain(item, budget)
        except ValidationError as exc:
            errors[key] = exc.messages
    if errors:
        raise ValidationError(errors)
    return copy if isinstance(value, dict) else list(copy.values())


def _mapping(value: Any) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise ValidationError("must be a mapping")
    return value


def free_mapping(value: Any) -> dict[str, Any]:
    """Backend options, task resources, schedule params: any plain mapping."""
    return plain_data(_mapping(value))


def environment_mapping(value: Any) -> dict[str, str]:
    """A task's environment: valid variable names to string values (numbers and booleans converted)."""
    result: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for key, item in _mapping(value).items():
        if not isinstance(key, str) or not IDENT.match(key):
            errors[str(key)] = ["is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)"]
        elif isinstance(item, bool):
            result[key] = "true" if item else "false"
        elif finite_number(item) or isinstance(item, str) and "\x00" not in item:
            result[key] = str(item)
        else:
            errors[key] = ["must be a string or a number"]
    if errors:
        raise ValidationError(errors)
    return result


def exit_code_mapping(value: Any) -> dict[str, str]:
    """A task's exit codes: "1".."255" to an action."""
    result: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for key, action in _mapping(value).items():
        text = str(key)
        if isinstance(key, bool) or not isinstance(key, (int, str)) or not re.fullmatch(r"[0-9]+", text):
            errors[text] = ["exit codes must be integers from 1 to 255"]
        elif not 1 <= int(text) <= 255:
            errors[text] = ["exit codes must be from 1 to 255 (0 is success)"]
        elif str(int(text)) in result:
            errors[text] = ["exit code is given twice"]
        elif action not in EXIT_ACTIONS:
            errors[text] = [f"must be one of {', '.join(EXIT_ACTIONS)}"]
        else:
            result[str(int(text))] = action
    if errors:
        raise ValidationError(errors)
    return result


def check_suffix(value: str) -> None:
    """A glob is a file name suffix such as `.txt`."""
    if "/" in value:
        raise ValidationError('must be a file name suffix such as ".txt", without "/"')


def check_regex(value: str) -> None:
    """A parameter pattern must compile."""
    try:
        re.compile(value)
    except re.error as exc:
        raise ValidationError(f"is not a valid regular expression ({exc})") from None


def check_cron(value: str) -> None:
    """A cron expression: 5 fields, or 6 with seconds first (as app.services.schedules reads it)."""
    from croniter import croniter  # here, so that loading the catalog code stays light

    parts = value.split()
    if len(parts) not in (5, 6):
        raise ValidationError("must have 5 fields (minute hour day-of-month month day-of-week), "
                              "or 6 with seconds first")
    for n, part in enumerate(parts, 1):
        if not _CRON_FIELD.match(part):
            raise ValidationError(f"field {n} ({part}) is not valid")
    if not croniter.is_valid(value, second_at_beginning=len(parts) == 6):
        raise ValidationError("is not a valid cron expression")


def check_timezone(value: str) -> None:
    """An IANA time zone name, such as UTC or Europe/Paris."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError("is not a known time zone (e.g. UTC, Europe/Paris)") from None


# --- The catalog as a whole ---------------------------------------------------------------------


def check_catalog(catalog: dict[str, list[Item | None]], failed: dict[str, set[str]], errors: Errors) -> None:
    """Check a merged catalog in place, filling the defaults that depend on other items.

    `catalog` holds the structurally valid items (None where an item was refused, so indices stay
    those of the document); `failed` the names of the refused items, so that references to them
    are not reported a second time as unknown.
    """
    backends = _unique(catalog["backends"], "backends", "backend", errors)
    for i, backend in enumerate(catalog["backends"]):
        if backend is not None:
            _check_backend(f"backends[{i}]", backend, errors)
    tasks = _unique(catalog["tasks"], "tasks", "task", errors)
    for i, task in enumerate(catalog["tasks"]):
        if task is not None:
            _check_task(f"tasks[{i}]", task, backends, failed["backends"], errors)
    _unique(catalog["jobs"], "jobs", "job", errors)
    for i, job in enumerate(catalog["jobs"]):
        if job is not None:
            _check_job(f"jobs[{i}]", job, tasks, failed["tasks"], errors)


def default_inputs(job: Item, tasks: dict[str, Item]) -> list[Item]:
    """The inputs of a job that declares none: one `input_data` for its first root step; none when
    no step reads a file (no task has in_globs)."""
    if all(tasks.get(step["task"]) is not None and not tasks[step["task"]]["in_globs"] for step in job["steps"]):
        return []
    root = next((step for step in job["steps"] if not step["after"]), None)
    task = tasks.get(root["task"]) if root is not None else None
    glob = task["in_globs"][0] if task is not None and task["in_globs"] else ""
    return [{"name": "input_data", "glob": glob, "validators": list(job["validators"]), "required": True}]


def default_after(steps: list[Item], j: int) -> list[str]:
    """The parents of step j when it names none: the step before it."""
    return [steps[j - 1]["name"]] if j > 0 else []


def _unique(items: list[Item | None], kind: str, word: str, errors: Errors) -> dict[str, Item]:
    seen: dict[str, int] = {}
    found: dict[str, Item] = {}
    for i, item in enumerate(items):
        if item is None:
            continue
        name = item["name"]
        if name in seen:
            add_error(errors, f"{kind}[{i}].name", f"duplicate {word} name {name} (also {kind}[{seen[name]}])")
        else:
            seen[name], found[name] = i, item
    return found


def _check_backend(path: str, backend: Item, errors: Errors) -> None:
    folders = backend["options"].get("python_path")
    if folders is None:
        return
    if backend["type"] != "python":
        add_error(errors, f"{path}.options.python_path", "is only for backends of type python")
    elif not isinstance(folders, list) or not all(isinstance(f, str) and f for f in folders):
        add_error(errors, f"{path}.options.python_path", "must be a list of folders")


def _check_task(path: str, task: Item, backends: dict[str, Item], failed: set[str], errors: Errors) -> None:
    backend = backends.get(task["backend"])
    if backend is None and task["backend"] not in failed:
        add_error(errors, f"{path}.backend", _unknown("backend", task["backend"], backends))
    kind = backend["type"] if backend is not None else None
    _check_parameters(path, task, errors)
    executable, function = task["executable"], task["function"]
    if executable is not None and function is not None:
        add_error(errors, path, "give either an executable or a function, not both")
    elif executable is None and function is None:
        wanted = "a function (module:callable)" if kind == "python" else "an executable"
        add_error(errors, path, f"needs {wanted}")
    elif function is not None and kind not in (None, "python"):
        add_error(
            errors,
            f"{path}.function",
            f"is only for backends of type python; backend {task['backend']} is of type {kind}",
        )
    elif executable is not None and kind == "python":
        add_error(errors, f"{path}.executable", "is not for backends of type python; use function: module:callable")
    if executable is not None and kind != "python":
        specs = [ParamSpec.from_dict(p) for p in task["parameters"]]
        n_in, n_out = len(task["in_globs"]), len(task["out_globs"])
        for problem in check_executable(executable, n_in=n_in, n_out=n_out, params=specs):
            add_error(errors, f"{path}.executable", problem)


def _check_parameters(path: str, task: Item, errors: Errors) -> None:
    names: set[str] = set()
    aliases: set[str] = set()
    for j, param in enumerate(task["parameters"]):
        at = f"{path}.parameters[{j}]"
        if param["name"] in names:
            add_error(errors, f"{at}.name", f"duplicate parameter name {param['name']}")
        names.add(param["name"])
        if param["rest_alias"] is None:
            param["rest_alias"] = f"{task['name']}_{param['name']}"
        if param["rest_alias"] in aliases:
            add_error(errors, f"{at}.rest_alias", f"parameter alias {param['rest_alias']} is used twice")
        aliases.add(param["rest_alias"])
        _check_parameter(at, param, errors)


def _check_parameter(at: str, param: Item, errors: Errors) -> None:
    kind, choices = param["type"], param["choices"]
    if kind == "choice":
        if not choices:
            add_error(errors, f"{at}.choices", "is required for type choice (a non-empty list)")
        counts = Counter(str(choice) for choice in choices)
        for text in sorted(t for t, n in counts.items() if n > 1):
            add_error(errors, f"{at}.choices", f"{text} is listed twice")
    elif choices:
        add_error(errors, f"{at}.choices", "is only for type choice")
    if param["pattern"] is not None and kind != "string":
        add_error(errors, f"{at}.pattern", "is only for type string")
    for key in ("min", "max"):
        value = param[key]
        if value is None:
            continue
        if kind in ("bool", "choice"):
            add_error(errors, f"{at}.{key}", "is only for types int, float and string")
        elif kind == "string" and not (isinstance(value, int) and value >= 0):
            add_error(errors, f"{at}.{key}", "must be a length (an integer, 0 or more) for type string")
    if param["min"] is not None and param["max"] is not None and param["max"] < param["min"]:
        add_error(errors, f"{at}.max", "must not be less than min")
    if param["default"] is not None and (kind != "choice" or choices):
        try:
            param["default"] = coerce(ParamSpec.from_dict(param), param["default"])
        except ParameterError as exc:
            add_error(errors, f"{at}.default", exc.message)


def _check_job(path: str, job: Item, tasks: dict[str, Item], failed: set[str], errors: Errors) -> None:
    steps: list[Item] = job["steps"]
    index: dict[str, int] = {}
    complete = True  # every step's task is known, so its parameters are
    for j, step in enumerate(steps):
        at = f"{path}.steps[{j}]"
        if step["name"] is None:
            step["name"] = step["task"]
        if step["after"] is None:
            step["after"] = default_after(steps, j)
        if step["name"] in index:
            add_error(errors, f"{at}.name", f"duplicate step name {step['name']}")
        else:
            index[step["name"]] = j
        if step["task"] not in tasks:
            complete = False
            if step["task"] not in failed:
                add_error(errors, f"{at}.task", _unknown("task", step["task"], tasks))
    for j, step in enumerate(steps):
        for k, parent in enumerate(step["after"]):
            if parent not in index:
                add_error(errors, f"{path}.steps[{j}].after", _unknown("step", parent, index))
            elif parent in step["after"][:k]:
                add_error(errors, f"{path}.steps[{j}].after", f"step {parent} is listed twice")
    cycle = _find_cycle(steps) if len(index) == len(steps) else None  # names ambiguous otherwise
    if cycle:
        add_error(errors, f"{path}.steps", "cycle " + " -> ".join(cycle))
    aliases = _job_aliases(path, steps, tasks, errors)
    for name in unknown_validators(job["validators"]):
        add_error(errors, f"{path}.validators", _unknown("validator", name, BUILTIN))
    _check_inputs(path, job, tasks, errors)
    if not cycle:
        _check_inputs_from(path, job, errors)
    if job["schedule"] is not None and complete:
        _check_schedule(f"{path}.schedule.params", job["schedule"]["params"], aliases, errors)


def _find_cycle(steps: list[Item]) -> list[str] | None:
    """A cycle of step names in running order (parent -> child), or None for a DAG."""
    children: dict[str, list[str]] = {}
    for step in steps:
        children.setdefault(step["name"], [])
    for step in steps:
        for parent in step["after"]:
            if parent in children:
                children[parent].append(step["name"])
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for root, first in children.items():
        if root in state:
            continue
        path, pending = [root], [iter(first)]
        state[root] = 1
        while pending:
            child = next(pending[-1], None)
            if child is None:
                state[path.pop()] = 2
                pending.pop()
            elif state.get(child) == 1:
                return path[path.index(child) :] + [child]
            elif child not in state:
                state[child] = 1
                path.append(child)
                pending.append(iter(children[child]))
    return None


def _job_aliases(path: str, steps: list[Item], tasks: dict[str, Item], errors: Errors) -> dict[str, ParamSpec]:
    aliases: dict[str, ParamSpec] = {}
    owner: dict[str, int] = {}
    for j, step in enumerate(steps):
        task = tasks.get(step["task"])
        for param in task["parameters"] if task is not None else []:
            alias = param["rest_alias"]
            if alias not in owner:
                owner[alias] = j
                aliases[alias] = ParamSpec.from_dict(param)
            elif owner[alias] != j:  # twice within one task is reported at the task
                add_error(errors, f"{path}.steps[{j}]", f"parameter alias {alias} is used twice")
    return aliases


def _check_inputs(path: str, job: Item, tasks: dict[str, Item], errors: Errors) -> None:
    if job["inputs"] is None:
        job["inputs"] = default_inputs(job, tasks)
        return
    names: set[str] = set()
    for k, item in enumerate(job["inputs"]):
        at = f"{path}.inputs[{k}]"
        if item["name"] in names:
            add_error(errors, f"{at}.name", f"duplicate input name {item['name']}")
        names.add(item["name"])
        if item["validators"] is None:
            item["validators"] = list(job["validators"])
        else:
            for name in unknown_validators(item["validators"]):
                add_error(errors, f"{at}.validators", _unknown("validator", name, BUILTIN))


def _unknown(kind: str, name: str, known: Iterable[str]) -> str:
    """`unknown step cleen; did you mean clean?`"""
    hint = did_you_mean(name, known, cutoff=0.6)
    return f"unknown {kind} {name}" + (f"; {hint}" if hint else "")


def _check_inputs_from(path: str, job: Item, errors: Errors) -> None:
    """`inputs_from` names job inputs, or steps this one runs after (directly or not)."""
    steps = {step["name"]: step for step in job["steps"]}
    inputs = [item["name"] for item in job["inputs"]]
    for j, step in enumerate(job["steps"]):
        for name in step.get("inputs_from", []):
            if name in inputs or name in ancestors(steps, step):
                continue
            at = f"{path}.steps[{j}].inputs_from"
            if name in steps:
                add_error(errors, at, f"step {name} does not run before step {step['name']}: add it to after")
            else:
                known = sorted(ancestors(steps, step)) + inputs
                add_error(errors, at, f"{name} is neither a job input nor a step before this one "
                                      f"(those are: {', '.join(known) or 'none'})")


def ancestors(steps: dict[str, Item], step: Item) -> set[str]:
    """The names of the steps `step` runs after, directly or not (the DAG is known to be acyclic)."""
    seen: set[str] = set()
    todo = list(step["after"])
    while todo:
        name = todo.pop()
        if name not in seen and name in steps:
            seen.add(name)
            todo.extend(steps[name]["after"])
    return seen


def _check_schedule(at: str, params: dict[str, Any], aliases: dict[str, ParamSpec], errors: Errors) -> None:
    for alias, value in params.items():
        spec = aliases.get(alias)
        if spec is None:
            add_error(errors, f"{at}.{alias}", "is not a parameter alias of this job")
            continue
        try:
            coerce(spec, value)
        except ParameterError as exc:
            add_error(errors, f"{at}.{alias}", exc.message)
    for alias, spec in aliases.items():
        if not spec.has_default and alias not in params:
            add_error(errors, at, f"parameter alias {alias} has no default so must be given")
