"""The YAML configuration format (SPEC §3): parsing and validation into a normalised form.

Marshmallow schemas check the shape of every item (unknown keys refused); their nested errors are
flattened into document paths such as `tasks[2].parameters[0].type`; then the semantic checks of
`app.services.catalog_checks` run. Every error is collected before one ConfigError is raised.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar, NoReturn

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from app.errors import ConfigError
from app.services import validator_sandbox
from app.services.catalog_checks import (
    IDENT,
    Errors,
    add_error,
    check_catalog,
    check_cron,
    check_regex,
    check_suffix,
    check_timezone,
    environment_mapping,
    exit_code_mapping,
    finite_number,
    free_mapping,
)
from app.services.parameters import TYPES

KINDS = ("backends", "tasks", "jobs")
BACKEND_TYPES = ("local", "python", "slurm", "gridengine")
INCOMPLETE_ACTIONS = ("fail", "continue", "terminate")
MAX_NAME = 64  # the catalog tables' name columns
MAX_INT = 2**31 - 1
_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
_FUNCTION = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*\Z", re.ASCII)
_MODULE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*\Z", re.ASCII)
_SUMMARY_COUNT = 3
_PLAIN = {  # marshmallow's messages, said our way
    "Missing data for required field.": "is required",
    "Field may not be null.": "must not be null",
    "Not a valid string.": "must be a string",
    "Not a valid list.": "must be a list",
    "Not a valid mapping type.": "must be a mapping",
    "Invalid input type.": "must be a mapping",
    "Unknown field.": "unknown key",
    "Not a valid utf-8 string.": "must be valid UTF-8 text",
}


# --- YAML ---------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """Safe YAML where dates stay strings and a key given twice in a mapping is an error."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Any:
    seen: set[tuple[str, str]] = set()
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
            key = (key_node.tag, key_node.value)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key {key_node.value!r}", key_node.start_mark,
                )
            seen.add(key)
    yield from loader.construct_yaml_map(node)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)


def _documents(source: str | bytes | dict | list) -> list[Any]:
    if isinstance(source, dict):
        return [source]
    if isinstance(source, list):
        return [doc for doc in source if doc is not None]
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            _fail_whole(f"the configuration is not valid UTF-8 (byte {exc.start})")
    if not isinstance(source, str):
        _fail_whole("the configuration must be YAML text or a mapping")
    try:
        return [doc for doc in yaml.load_all(source, Loader=_Loader) if doc is not None]
    except ValueError:  # PyYAML's int() of a number too long to convert
        _fail_whole("invalid YAML: a number is too long")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        _fail_whole(f"invalid YAML{where}: {problem}")


def _fail_whole(message: str) -> NoReturn:
    raise ConfigError(message, errors={"": [message]})


# --- Structure ----------------------------------------------------------------------------------


class _Str(fields.String):
    default_error_messages: ClassVar[dict[str, str]] = {"nul": "must not contain NUL characters"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise self.make_error("nul")
        return text


class _Field(fields.Field):
    """A field whose value is checked and converted by one function that raises ValidationError."""

    def __init__(self, convert: Callable[[Any], Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.convert = convert

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return self.convert(value)


def _accept(test: Callable[[Any], bool], message: str) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if not test(value):
            raise ValidationError(message)
        return value

    return convert


_bool = _accept(lambda v: isinstance(v, bool), "must be true or false")
_int = _accept(lambda v: isinstance(v, int) and not isinstance(v, bool), "must be an integer")
_number = _accept(finite_number, "must be a finite number")
_scalar = _accept(  # a parameter value as written in YAML
    lambda v: isinstance(v, bool) or finite_number(v) or isinstance(v, str) and "\x00" not in v,
    "must be a string, a number or a boolean",
)


def _matching(rx: re.Pattern[str], shown: str, limit: int = MAX_NAME) -> Any:
    def check(value: str) -> None:
        if not rx.match(value):
            raise ValidationError(f"must match {shown}")
        if len(value) > limit:
            raise ValidationError(f"must be at most {limit} characters long")

    return check


_name_check = _matching(_NAME, "[a-z][a-z0-9_]*")
_ident_check = _matching(IDENT, "[A-Za-z_][A-Za-z0-9_]*")
_alias_check = _matching(IDENT, "[A-Za-z_][A-Za-z0-9_]*", 2 * MAX_NAME + 1)
_nonempty = validate.Length(min=1, error="must not be empty")


def _one_of(choices: tuple[str, ...]) -> validate.OneOf:
    return validate.OneOf(choices, error="must be one of {choices}")


class _Schema(Schema):
    class Meta:
        unknown = RAISE


class BackendSchema(_Schema):
    name = _Str(required=True, validate=_name_check)
    type = _Str(required=True, validate=_one_of(BACKEND_TYPES))
    root_path = _Str(load_default=None, allow_none=True, validate=_nonempty)
    options = _Field(free_mapping, load_default=dict)


class ParameterSchema(_Schema):
    name = _Str(required=True, validate=_ident_check)
    type = _Str(load_default="string", validate=_one_of(TYPES))
    flag = _Str(load_default="")
    default = _Field(_scalar, load_default=None, allow_none=True)
    required = _Field(_bool, load_default=False)
    description = _Str(load_default="")
    rest_alias = _Str(load_default=None, validate=_alias_check)  # None: filled by the checks
    spacing = _Field(_bool, load_default=True)
    switchless = _Field(_bool, load_default=False)
    choices = fields.List(_Field(_scalar), load_default=list)
    min = _Field(_number, load_default=None, allow_none=True)
    max = _Field(_number, load_default=None, allow_none=True)
    pattern = _Str(load_default=None, allow_none=True, validate=check_regex)
    allow_leading_dash = _Field(_bool, load_default=False)


def _range(low: int) -> validate.Range:
    return validate.Range(low, MAX_INT, error="must be from {min} to {max}")


class TaskSchema(_Schema):
    name = _Str(required=True, validate=_name_check)
    description = _Str(load_default="")
    backend = _Str(required=True, validate=_name_check)
    executable = _Str(load_default=None, allow_none=True, validate=_nonempty)
    function = _Str(load_default=None, allow_none=True, validate=_matching(_FUNCTION, "module.path:callable", 1000))
    in_globs = fields.List(_Str(validate=[_nonempty, check_suffix]), load_default=list)
    out_globs = fields.List(_Str(validate=[_nonempty, check_suffix]), load_default=list)
    stdout_glob = _Str(load_default=None, allow_none=True, validate=[_nonempty, check_suffix])
    parameters = fields.List(fields.Nested(ParameterSchema), load_default=list)
    environment = _Field(environment_mapping, load_default=dict)
    exit_codes = _Field(exit_code_mapping, load_default=dict)
    incomplete_outputs = _Str(load_default="fail", validate=_one_of(INCOMPLETE_ACTIONS))
    timeout = _Field(_int, load_default=None, allow_none=True, validate=_range(1))
    retries = _Field(_int, load_default=0, validate=_range(0))
    cache = _Field(_bool, load_default=False)
    resources = _Field(free_mapping, load_default=dict)


class InputSchema(_Schema):
    name = _Str(required=True, validate=_ident_check)
    glob = _Str(load_default="", validate=check_suffix)
    validators = fields.List(_Str(validate=_nonempty), load_default=None)  # None: the job's
    required = _Field(_bool, load_default=True)


class StepSchema(_Schema):
    name = _Str(load_default=None, validate=_name_check)  # None: the task's name
    task = _Str(required=True, validate=_name_check)
    after = fields.List(_Str(validate=_name_check), load_default=None)  # None: the step before
    inputs_from = fields.List(_Str(validate=_ident_check))  # absent: the job's inputs and every ancestor


class ScheduleSchema(_Schema):
    cron = _Str(required=True, validate=check_cron)
    timezone = _Str(load_default="UTC", validate=check_timezone)
    params = _Field(free_mapping, load_default=dict)


class JobSchema(_Schema):
    name = _Str(required=True, validate=_name_check)
    description = _Str(load_default="")
    runnable = _Field(_bool, load_default=True)
    inputs = fields.List(fields.Nested(InputSchema), load_default=None)  # None: one default input
    validators = fields.List(_Str(validate=_nonempty), load_default=list)
    steps = fields.List(
        fields.Nested(StepSchema), required=True, validate=validate.Length(min=1, error="must have at least one step")
    )
    schedule = fields.Nested(ScheduleSchema, load_default=None, allow_none=True)


class DocumentSchema(_Schema):
    version = _Field(_int, load_default=1, validate=validate.Equal(1, error="must be 1"))
    # The only modules whose `module:function` validators may be used (app.services.validator_sandbox).
    validator_modules = fields.List(_Str(validate=_matching(_MODULE, "a dotted module name", 1000)), load_default=list)
    backends = fields.List(fields.Raw(), load_default=list, allow_none=True)
    tasks = fields.List(fields.Raw(), load_default=list, allow_none=True)
    jobs = fields.List(fields.Raw(), load_default=list, allow_none=True)


_DOCUMENT = DocumentSchema()
_ITEMS: dict[str, Schema] = {"backends": BackendSchema(), "tasks": TaskSchema(), "jobs": JobSchema()}


def flatten_errors(messages: Any, path: str = "") -> Errors:
    """Marshmallow's nested error messages as {document path: [message, ...]}."""
    flat: Errors = {}

    def walk(node: Any, at: str) -> None:
        if isinstance(node, dict):
            for key, sub in node.items():
                if key == "_schema":
                    walk(sub, at)
                elif isinstance(key, int):
                    walk(sub, f"{at}[{key}]")
                else:
                    walk(sub, f"{at}.{key}" if at else str(key))
        elif isinstance(node, list):
            for sub in node:
                walk(sub, at)
        else:
            add_error(flat, at, _PLAIN.get(str(node), str(node)))

    walk(messages, path)
    return flat


# --- Public -------------------------------------------------------------------------------------


def parse_config(text_or_data: str | bytes | dict | list) -> dict:
    """Parse (YAML text, or parsed documents) and validate a configuration; return its normalised form."""
    try:
        documents = _documents(text_or_data)
        return _validate(documents)
    except RecursionError:
        _fail_whole("the configuration is nested too deeply")


def _validate(documents: list[Any]) -> dict:
    errors: Errors = {}
    catalog: dict[str, list[dict | None]] = {kind: [] for kind in KINDS}
    failed: dict[str, set[str]] = {kind: set() for kind in KINDS}
    modules: list[str] = []
    raw: dict[str, list[Any]] = {kind: [] for kind in KINDS}  # as written, to name items in messages
    for n, document in enumerate(documents):
        prefix = f"documents[{n}]" if len(documents) > 1 else ""
        try:
            top = _DOCUMENT.load(document)
        except ValidationError as exc:
            _merge(errors, flatten_errors(exc.messages, prefix))
            top = exc.valid_data if isinstance(exc.valid_data, dict) else {}
        modules += top.get("validator_modules") or []
        for kind in KINDS:
            for item in top.get(kind) or []:
                at = f"{kind}[{len(catalog[kind])}]"
                raw[kind].append(item)
                try:
                    catalog[kind].append(_ITEMS[kind].load(item))
                except ValidationError as exc:
                    _merge(errors, flatten_errors(exc.messages, at))
                    catalog[kind].append(None)
                    if isinstance(item, dict) and isinstance(item.get("name"), str):
                        failed[kind].add(item["name"])
    check_catalog(catalog, failed, errors)
    if not errors:  # imports nothing unless all else is valid; and only declared modules, in a child
        _merge(errors, validator_sandbox.catalog_problems(catalog["jobs"], modules))
    if errors:
        raise config_error(errors, raw)
    return {"version": 1, **catalog}


def config_error(errors: Errors, items: dict[str, list[Any]]) -> ConfigError:
    """The error for a refused configuration: `errors` keyed by plain document paths (for programs),
    and `labels` naming each item too (for people), e.g. `tasks[0] (wordcount).parameters[0] (lines).type`."""
    labels = {path: _label(path, items) for path in errors}
    error = ConfigError(_summary(errors, labels), errors=errors)
    error.labels = labels
    return error


_SEGMENT = re.compile(r"(\w+)\[(\d+)\]")


def _label(path: str, items: dict[str, list[Any]]) -> str:
    """A document path with each listed item's name after its position."""
    node: Any = items
    parts = []
    for part in path.split("."):
        match = _SEGMENT.fullmatch(part)
        if match is None or not isinstance(node, dict):
            parts.append(part)
            node = None
            continue
        listed = node.get(match[1])
        index = int(match[2])
        node = listed[index] if isinstance(listed, list) and index < len(listed) else None
        name = node.get("name") or node.get("task") if isinstance(node, dict) else None
        parts.append(f"{part} ({_shown(name)})" if isinstance(name, str) and name else part)
    return ".".join(parts)


def _merge(errors: Errors, more: Errors) -> None:
    for path, messages in more.items():
        errors.setdefault(path, []).extend(messages)


def _summary(errors: Errors, labels: dict[str, str]) -> str:
    lines = [f"{labels[path]}: {message}" if path else message
             for path, messages in errors.items() for message in messages]
    text = "; ".join(lines[:_SUMMARY_COUNT])
    more = len(lines) - _SUMMARY_COUNT
    return f"Invalid configuration: {text}" + (f" (and {more} more)" if more > 0 else "")


def _shown(name: str) -> str:
    """A name as written, with what is not printable text (a lone surrogate, a newline) escaped."""
    text = name.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
