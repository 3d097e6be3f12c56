"""Inline previews of result files: images shown, CSV as a table of its first rows, JSON and text shown."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from app.services import blobs

PREVIEW_BYTES = 64 * 1024
CSV_ROWS = 20
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-yaml", "application/yaml")
# Images a browser shows safely in an <img>; anything else is only offered for download.
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml")


@dataclass
class Preview:
    kind: str  # image | table | json | text | none
    text: str = ""
    rows: list[list[str]] = field(default_factory=list)
    truncated: bool = False


def preview(session: Session, *, name: str, media_type: str, sha256: str, size: int) -> Preview:
    """What to show of one result without downloading it; only its first bytes are read."""
    if media_type in IMAGE_TYPES:
        return Preview("image")
    head = blobs.head(session, sha256, PREVIEW_BYTES)
    truncated = size > len(head)
    # Programs' outputs often have suffixes no registry knows (.count, .report): text is what decodes.
    if not media_type.startswith(TEXT_TYPES) and not _looks_like_text(head, truncated):
        return Preview("none")
    text = head.decode("utf-8", errors="replace")
    if name.endswith((".csv", ".tsv")) or media_type in ("text/csv", "text/tab-separated-values"):
        return _table(text, tab=name.endswith(".tsv") or media_type == "text/tab-separated-values",
                      truncated=truncated)
    if (media_type == "application/json" or name.endswith(".json")) and not truncated:
        try:
            return Preview("json", json.dumps(json.loads(text), indent=2, ensure_ascii=False))
        except ValueError:
            pass
    return Preview("text", text, truncated=truncated)


def _table(text: str, *, tab: bool, truncated: bool) -> Preview:
    lines = text.splitlines()
    if truncated and lines:
        lines = lines[:-1]  # the last line may be cut in the middle
    reader = csv.reader(io.StringIO("\n".join(lines[:CSV_ROWS + 1])), delimiter="\t" if tab else ",")
    try:
        rows = list(reader)
    except csv.Error:
        return Preview("text", text, truncated=truncated)
    return Preview("table", rows=rows, truncated=truncated or len(lines) > CSV_ROWS + 1)


def _looks_like_text(head: bytes, truncated: bool) -> bool:
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return truncated and exc.start >= len(head) - 3  # a character cut by the preview's limit
    return True
