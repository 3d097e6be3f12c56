"""The service's HTTP API as the client uses it; every failure becomes one ClientError line."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import requests

DEFAULT_URL = "http://127.0.0.1:8000"
TIMEOUT = 90  # seconds: a POST of a large file to a busy service takes a while


class ClientError(Exception):
    """A request failed; the message is what the user needs to see."""


class Service:
    """One service at `url`, called with `token` when given."""

    def __init__(self, url: str | None = None, token: str | None = None) -> None:
        self.url = (url or os.environ.get("AA_URL") or DEFAULT_URL).rstrip("/")
        self.http = requests.Session()
        token = token if token is not None else os.environ.get("AA_TOKEN")
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def jobs(self) -> list[dict[str, Any]]:
        return self._call("GET", "/api/jobs").json()

    def job(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/api/jobs/{_safe(name)}").json()

    def submit(self, job: str, *, files: dict[str, Path], params: dict[str, str]) -> dict[str, Any]:
        """POST a multipart submission: each input file streamed from disk, parameters by alias."""
        handles = {}
        try:
            for name, path in files.items():
                handles[name] = (path.name, path.open("rb"))
            return self._call("POST", "/api/submissions", data={"job": job, **params}, files=handles).json()
        finally:
            for _, handle in handles.values():
                handle.close()

    def status(self, submission_id: str, *, wait: float = 0) -> dict[str, Any]:
        query = {"wait": wait} if wait else None
        return self._call("GET", f"/api/submissions/{_safe(submission_id)}", params=query).json()

    def cancel(self, submission_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/api/submissions/{_safe(submission_id)}").json()

    def log(self, submission_id: str, step: str, *, attempt: int | None = None) -> dict[str, Any]:
        query = {"attempt": attempt} if attempt else None
        return self._call("GET", f"/api/submissions/{_safe(submission_id)}/steps/{_safe(step)}/log",
                          params=query).json()

    def download(self, path: str, target: Path) -> int:
        """Stream a result to `target`; its size."""
        response = self._call("GET", path, stream=True)
        size = 0
        with target.open("wb") as out:
            for chunk in response.iter_content(1 << 16):
                out.write(chunk)
                size += len(chunk)
        return size

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.http.request(method, self.url + path, timeout=TIMEOUT, **kwargs)
        except requests.ConnectionError:
            raise ClientError(f"cannot reach the service at {self.url} (is it running? see --url / AA_URL)") from None
        except requests.RequestException as exc:
            raise ClientError(f"request to {self.url} failed: {exc}") from None
        if response.status_code >= 400:
            raise ClientError(_explain(response))
        return response


def _explain(response: requests.Response) -> str:
    """The API's error body ({message, errors}) as one line."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code} from {response.url}"
    message = body.get("message") or f"HTTP {response.status_code}"
    errors = body.get("errors") or {}
    details = "; ".join(f"{field}: {', '.join(map(str, msgs)) if isinstance(msgs, list) else msgs}"
                        for field, msgs in errors.items())
    return f"{message} ({details})" if details else message


def _safe(part: str) -> str:
    """A path segment as given, refused if it could change the path (a client's typo is not a traversal)."""
    if not part or not re.fullmatch(r"[A-Za-z0-9_.-]+", part) or part in (".", ".."):
        raise ClientError(f"{part!r} is not a valid id or step name")
    return part
