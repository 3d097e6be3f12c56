"""The documents of OGC API – Processes 1.0 built from jobs and submissions: process summaries and
descriptions, status info, results. Links are absolute, made from the `base` URL the view gives."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from typing import Any

from app.models import Job
from app.services.faces import OGC_STATUS, fields, group_results, is_text, outputs

PREFIX = "/ogc"  # where the face is served, under the service's root
SPEC = "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/"
CONFORMANCE = [SPEC + name for name in (
    "core", "ogc-process-description", "json", "html", "oas30", "job-list", "callback", "dismiss")]
JOB_CONTROL = ["sync-execute", "async-execute", "dismiss"]
INLINE_LIMIT = 1024 * 1024  # bytes; a larger result is given by reference unless a value is asked for


def version(job: Job) -> str:
    """A process version that changes whenever the job's definition does."""
    return hashlib.sha256(json.dumps(job.spec, sort_keys=True).encode()).hexdigest()[:12]


def summary(job: Job, base: str) -> dict[str, Any]:
    href = f"{base}/processes/{job.name}"
    return {
        "id": job.name, "title": job.name, "description": job.spec.get("description") or "",
        "version": version(job), "jobControlOptions": JOB_CONTROL, "outputTransmission": ["value", "reference"],
        "links": [{"href": href, "rel": "self", "type": "application/json", "title": "process description"},
                  {"href": f"{href}?f=html", "rel": "alternate", "type": "text/html", "title": "as HTML"},
                  {"href": f"{href}/execution", "rel": "http://www.opengis.net/def/rel/ogc/1.0/execute",
                   "type": "application/json", "title": "execute"}],
    }


def description(job: Job, tasks: dict[str, dict], base: str) -> dict[str, Any]:
    """The process description: inputs as JSON Schema (files by media type, parameters typed), outputs."""
    described = summary(job, base)
    described["inputs"] = {
        f.id: {"title": f.id, "description": f.description, "minOccurs": 1 if f.required else 0, "maxOccurs": 1,
               "schema": f.schema}
        for f in fields(job.spec, tasks)}
    described["outputs"] = {
        o.id: {"title": o.id, "description": f"The {o.glob} file of step {o.step}",
               "schema": {"type": "string", **({"contentMediaType": o.media_type} if o.media_type else {})}}
        for o in outputs(job.spec, tasks)}
    return described


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def status_info(row: Any, base: str) -> dict[str, Any]:
    """statusInfo for a submission (anything with id, job_name, state, message, created, started,
    finished and done/total steps)."""
    status = OGC_STATUS[row.state]
    href = f"{base}/jobs/{row.id}"
    links = [{"href": href, "rel": "self", "type": "application/json", "title": "status"},
             {"href": f"{href}?f=html", "rel": "alternate", "type": "text/html", "title": "status as HTML"}]
    if status == "successful":
        links.append({"href": f"{href}/results", "rel": "http://www.opengis.net/def/rel/ogc/1.0/results",
                      "type": "application/json", "title": "results"})
    info = {
        "type": "process", "jobID": str(row.id), "processID": row.job_name or "", "status": status,
        "message": row.message or "", "created": _time(row.created),
        "progress": round(100 * row.done / row.total) if row.total else 0, "links": links,
    }
    for key in ("started", "finished"):
        if getattr(row, key) is not None:
            info[key] = _time(getattr(row, key))
    info["updated"] = _time(row.finished or row.started or row.created)
    return info


def chosen(job_spec: dict | None, tasks: dict[str, dict], found: list[Any],
           wanted: dict[str, str] | None) -> dict[str, list[Any]]:
    """Results by output id, only the outputs asked for (`wanted`; None: all)."""
    grouped = group_results(outputs(job_spec, tasks) if job_spec else [], found)
    return {key: items for key, items in grouped.items() if wanted is None or key in wanted}


def results(grouped: dict[str, list[Any]], wanted: dict[str, str] | None, *, read: Any, href: Any) -> dict[str, Any]:
    """The results document: each output by value (text as a string, anything else base64) or by
    reference. `wanted` maps output ids to a transmission mode (None: by value when small);
    `read(result)` gives a result's bytes and `href(result)` its download URL."""
    document: dict[str, Any] = {}
    for output_id, items in grouped.items():
        mode = wanted.get(output_id) if wanted else None
        values = [_one(item, mode, read, href) for item in items]
        document[output_id] = values[0] if len(values) == 1 else {"value": values, "mediaType": "application/json"}
    return document


def _one(result: Any, mode: str | None, read: Any, href: Any) -> dict[str, Any]:
    if mode == "reference" or (mode is None and result.size > INLINE_LIMIT):
        return {"href": href(result), "type": result.media_type, "title": result.name}
    data = read(result)
    if is_text(result.media_type):
        try:
            return {"value": data.decode("utf-8"), "mediaType": result.media_type}
        except UnicodeDecodeError:
            pass
    return {"value": base64.b64encode(data).decode(), "encoding": "base64", "mediaType": result.media_type}
