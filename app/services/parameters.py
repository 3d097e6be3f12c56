"""Typed task parameters: their declaration and the conversion of values sent by clients."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from app.errors import ParameterError

TYPES = ("bool", "int", "float", "string", "choice")
# A string parameter without `max` is at most this many characters: one argv word is limited to
# 128 KiB by Linux (MAX_ARG_STRLEN), and a longer value would fail the step, not the request.
STRING_MAX = 4096
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a task, as declared in the YAML configuration."""

    name: str
    type: str = "string"
    flag: str = ""
    default: Any = None
    required: bool = False
    description: str = ""
    rest_alias: str = ""
    spacing: bool = True
    switchless: bool = False
    choices: list[Any] = field(default_factory=list)
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    allow_leading_dash: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParamSpec:
        """Build from the normalised configuration dict (unknown keys ignored)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if known.get("choices") is None:
            known.pop("choices", None)
        return cls(**known)

    @property
    def has_default(self) -> bool:
        return self.default is not None


def coerce(spec: ParamSpec, raw: Any) -> Any:
    """Convert a client's value to the parameter's type and check its limits.

    Raises ParameterError with a message fit for the client.
    """
    value = _convert(spec, raw)
    _check_limits(spec, value)
    return value


def _convert(spec: ParamSpec, raw: Any) -> Any:
    if spec.type == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ParameterError(f"must be a boolean (true/false), not {_show(raw)}")
    if spec.type == "int":
        if isinstance(raw, bool) or isinstance(raw, float) and not raw.is_integer():
            raise ParameterError(f"must be an integer, not {_show(raw)}")
        try:
            return int(raw) if not isinstance(raw, str) else int(raw.strip(), 10)
        except (TypeError, ValueError):
            raise ParameterError(f"must be an integer, not {_show(raw)}") from None
    if spec.type == "float":
        if isinstance(raw, bool):
            raise ParameterError(f"must be a number, not {_show(raw)}")
        try:
            value = float(raw)
        except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond any double
            raise ParameterError(f"must be a number, not {_show(raw)}") from None
        if not math.isfinite(value):
            raise ParameterError("must be a finite number")
        return value
    if isinstance(raw, (dict, list)) or raw is None:
        raise ParameterError(f"must be a string, not {_show(raw)}")
    if isinstance(raw, bool):
        raw = "true" if raw else "false"
    text = str(raw)
    if "\x00" in text:
        raise ParameterError("must not contain NUL characters")
    if spec.type == "choice":
        for choice in spec.choices:
            if _choice_text(choice) == _choice_text(raw):
                return choice
        allowed = ", ".join(str(c) for c in spec.choices)
        raise ParameterError(f"must be one of {allowed}, not {_show(raw)}")
    return text


def _check_limits(spec: ParamSpec, value: Any) -> None:
    if spec.type in ("int", "float"):
        if spec.min is not None and value < spec.min:
            raise ParameterError(f"must be at least {_num(spec.min)}")
        if spec.max is not None and value > spec.max:
            raise ParameterError(f"must be at most {_num(spec.max)}")
    if spec.type == "string":
        if spec.pattern is not None and re.fullmatch(spec.pattern, value) is None:
            raise ParameterError(f"must match the pattern {spec.pattern}")
        if spec.min is not None and len(value) < spec.min:
            raise ParameterError(f"must be at least {_num(spec.min)} characters long")
        limit = STRING_MAX if spec.max is None else spec.max
        if len(value) > limit:
            raise ParameterError(f"must be at most {_num(limit)} characters long")


def check_not_option(spec: ParamSpec, value: Any) -> None:
    """Refuse a client's string beginning with `-` for a parameter whose value stands alone on the
    command line (a program would read it as an option, as `sort` reads `-o/elsewhere`), unless the
    parameter declares `allow_leading_dash: true`."""
    if isinstance(value, str) and value.startswith("-") and not spec.allow_leading_dash:
        raise ParameterError("must not begin with '-': it stands alone on the command line, where the program "
                             "would read it as an option")


def resolve_values(
    specs: list[ParamSpec], given: dict[str, Any], *, alone: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Typed values for every parameter, by name: given by alias, else the default. Given strings
    for the parameters named in `alone` (placed alone on the command line) must not look like options.

    Raises ParameterError whose `errors` maps each offending alias to its message.
    """
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for spec in specs:
        alias = spec.rest_alias
        if alias in given and given[alias] is not None:
            try:
                values[spec.name] = coerce(spec, given[alias])
                if spec.name in alone and spec.type == "string":
                    check_not_option(spec, values[spec.name])
            except ParameterError as exc:
                errors[alias] = [exc.message]
        elif spec.has_default:
            values[spec.name] = spec.default
        else:
            errors[alias] = ["is required"]
    if errors:
        raise ParameterError("Some parameters are missing or invalid", errors=errors)
    return values


def _choice_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _show(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
