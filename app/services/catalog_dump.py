"""Writing a normalised catalog back as YAML, leaving out every value that is the default."""

from __future__ import annotations

from typing import Any

import yaml

from app.services.catalog_checks import default_after, default_inputs

_BACKEND_DEFAULTS: dict[str, Any] = {"root_path": None, "options": {}}
_TASK_DEFAULTS: dict[str, Any] = {
    "description": "", "executable": None, "function": None, "in_globs": [], "out_globs": [],
    "stdout_glob": None, "parameters": [], "environment": {}, "exit_codes": {},
    "incomplete_outputs": "fail", "timeout": None, "retries": 0, "cache": False, "resources": {},
}
_PARAMETER_DEFAULTS: dict[str, Any] = {
    "type": "string", "flag": "", "default": None, "required": False, "description": "",
    "spacing": True, "switchless": False, "choices": [], "min": None, "max": None, "pattern": None,
    "allow_leading_dash": False,
}
_JOB_DEFAULTS: dict[str, Any] = {"description": "", "runnable": True, "validators": [], "schedule": None}


def _compact(item: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key not in defaults or not _same(value, defaults[key])}


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def dump_config(catalog: dict) -> str:
    """YAML text of a normalised catalog, defaults left out, so that parse_config(dump_config(c)) == c."""
    tasks = {task["name"]: task for task in catalog["tasks"]}
    document = {
        "version": 1,
        **_validator_modules(catalog["jobs"]),
        "backends": [_dump_backend(backend) for backend in catalog["backends"]],
        "tasks": [_dump_task(task) for task in catalog["tasks"]],
        "jobs": [_dump_job(job, tasks) for job in catalog["jobs"]],
    }
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


def _validator_modules(jobs: list[dict[str, Any]]) -> dict[str, list[str]]:
    """`validator_modules`: the modules of the `module:function` validators in use (the ones a load
    declared but no job used are not kept: the catalog stores what runs)."""
    names = [name for job in jobs for name in job["validators"]]
    names += [name for job in jobs for item in job["inputs"] for name in item["validators"]]
    modules = sorted({name.partition(":")[0] for name in names if ":" in name})
    return {"validator_modules": modules} if modules else {}


def _dump_backend(backend: dict[str, Any]) -> dict[str, Any]:
    out = _compact(backend, _BACKEND_DEFAULTS)
    if "options" in out:
        out["options"] = _sorted(out["options"])
    return out


def _dump_task(task: dict[str, Any]) -> dict[str, Any]:
    out = _compact(task, _TASK_DEFAULTS)
    if "parameters" in out:
        out["parameters"] = [
            _compact(p, _PARAMETER_DEFAULTS | {"rest_alias": f"{task['name']}_{p['name']}"}) for p in task["parameters"]
        ]
    if "exit_codes" in out:
        out["exit_codes"] = {int(code): out["exit_codes"][code] for code in sorted(out["exit_codes"], key=int)}
    for key in ("environment", "resources"):
        if key in out:
            out[key] = _sorted(out[key])
    return out


def _dump_job(job: dict[str, Any], tasks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out = _compact(job, _JOB_DEFAULTS)
    if job["inputs"] == default_inputs(job, tasks):
        del out["inputs"]
    else:
        defaults = {"validators": job["validators"], "required": True}
        out["inputs"] = [_compact(item, defaults) for item in job["inputs"]]
    steps = job["steps"]
    out["steps"] = [
        _compact(step, {"name": step["task"], "after": default_after(steps, j), "inputs_from": None})
        for j, step in enumerate(steps)
    ]
    if job["schedule"] is not None:
        out["schedule"] = _sorted(_compact(job["schedule"], {"params": {}, "timezone": "UTC"}))
    return out
