"""A job's form: its fields from the job's inputs and typed parameters, and a posted form read back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import FileStorage, ImmutableMultiDict

from app.services.submissions import Upload


@dataclass
class Field:
    """One control of the form: an input file or a parameter, named as the API names it."""

    name: str
    label: str
    kind: str  # file | checkbox | number | select | text | email
    help: str = ""
    required: bool = False
    value: Any = None
    attrs: dict[str, Any] = field(default_factory=dict)
    choices: list[Any] = field(default_factory=list)


def fields(job: dict[str, Any], values: dict[str, Any] | None = None) -> list[Field]:
    """The form's fields for a job as app.services.jobinfo describes it; `values` (by alias) fill them."""
    values = values or {}
    made = [Field(name=i["name"], label=_label(i["name"]), kind="file", required=i["required"],
                  help=_accepts(i), attrs={"accept": i["glob"]} if i["glob"] else {})
            for i in job["inputs"]]
    for p in job["parameters"]:
        value = values.get(p["alias"], p["default"])
        made.append(_parameter(p, value))
    return made


def email_field(value: str | None = None) -> Field:
    """The optional address told once when the submission ends (offered where AA_SMTP_URL is set)."""
    return Field(name="email", label="Email me when it ends", kind="email", value=value or "",
                 help="Optional: one message to this address when the submission ends; the address is not "
                      "shown again.", attrs={"autocomplete": "email", "maxlength": "254"})


def _parameter(p: dict[str, Any], value: Any) -> Field:
    label = f"{_label(p['name'])} ({p['step']})"
    common = {"name": p["alias"], "label": label, "help": _sentence(p["description"]), "required": p["required"],
              "value": value}
    if p["type"] == "bool":
        return Field(kind="checkbox", **{**common, "required": False, "value": _true(value)})
    if p["type"] == "choice":
        return Field(kind="select", choices=p["choices"] or [], **common)
    attrs: dict[str, Any] = {}
    if p["type"] in ("int", "float"):
        attrs = {"min": _num(p["min"]), "max": _num(p["max"]), "step": "1" if p["type"] == "int" else "any"}
        return Field(kind="number", attrs={k: v for k, v in attrs.items() if v is not None}, **common)
    if p["pattern"]:
        attrs["pattern"] = p["pattern"]
        common["help"] = " ".join(x for x in (common["help"], f"Must match {p['pattern']}.") if x)
    if p["min"] is not None:
        attrs["minlength"] = _num(p["min"])
    if p["max"] is not None:
        attrs["maxlength"] = _num(p["max"])
    return Field(kind="text", attrs=attrs, **common)


def read(job: dict[str, Any], form: ImmutableMultiDict, files: ImmutableMultiDict
         ) -> tuple[dict[str, Any], dict[str, Upload]]:
    """The parameters (by alias) and input files of a posted form. An empty field is an absent one, so
    its default applies; an unticked checkbox is an explicit false."""
    params: dict[str, Any] = {}
    for p in job["parameters"]:
        alias = p["alias"]
        if p["type"] == "bool":
            params[alias] = "true" if form.get(alias) else "false"
        elif form.get(alias, "") != "":
            params[alias] = form[alias]
    inputs: dict[str, Upload] = {}
    for declared in job["inputs"]:
        upload: FileStorage | None = files.get(declared["name"])
        if upload is not None and upload.filename:
            inputs[declared["name"]] = Upload(data=upload.read(), filename=upload.filename)
    return params, inputs


def _sentence(text: str | None) -> str:
    text = (text or "").strip()
    return text if not text or text.endswith((".", "!", "?")) else text + "."


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _accepts(declared: dict[str, Any]) -> str:
    kinds = ", ".join(declared.get("validators") or [])
    text = f"A {declared['glob']} file" if declared["glob"] else "A file"
    return f"{text} ({kinds})." if kinds and kinds != "none" else f"{text}."


def _true(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "yes", "on")


def _num(value: float | None) -> str | None:
    if value is None:
        return None
    return str(int(value)) if float(value).is_integer() else str(value)
