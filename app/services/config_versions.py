"""Configuration versions: every load kept (text, dump, author, SHA-256), what it changed, diffs."""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from app.errors import NotFound
from app.models import ConfigVersion
from app.models.base import utcnow

KINDS = ("backends", "tasks", "jobs")
_WORDS = {"backends": "backend", "tasks": "task", "jobs": "job"}
_MARKS = {"added": "+", "changed": "~", "removed": "-"}

Changes = dict[str, dict[str, list[str]]]  # {"added"|"changed"|"removed": {kind: [names]}}


def changes(old: dict[str, Any], new: dict[str, Any]) -> Changes:
    """What loading `new` over `old` adds, changes and removes, by kind and name (in document order)."""
    found: Changes = {"added": {}, "changed": {}, "removed": {}}
    for kind in KINDS:
        before = {item["name"]: item for item in old.get(kind, [])}
        after = {item["name"]: item for item in new.get(kind, [])}
        sorted_out = {
            "added": [name for name in after if name not in before],
            "changed": [name for name in after if name in before and before[name] != after[name]],
            "removed": [name for name in before if name not in after],
        }
        for what, names in sorted_out.items():
            if names:
                found[what][kind] = names
    return found


def describe(found: Changes) -> list[str]:
    """One line per item added (+), changed (~) or removed (-), e.g. `- job count_words`."""
    lines = [f"{_MARKS[what]} {_WORDS[kind]} {name}"
             for what in ("added", "changed", "removed") for kind in KINDS for name in found[what].get(kind, [])]
    return lines or ["no changes"]


def record(session: Session, *, text: str, dump: str, author: str, found: Changes) -> ConfigVersion:
    """Store a new version (the caller holds the loader's lock, so numbers are taken in turn)."""
    number = (session.execute(select(func.max(ConfigVersion.number))).scalar() or 0) + 1
    version = ConfigVersion(number=number, created=utcnow(), author=author[:128],
                            sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(), text=text, dump=dump,
                            changes=found)
    session.add(version)
    session.flush()
    return version


def all_versions(session: Session) -> list[ConfigVersion]:
    """Every loaded version, newest first."""
    return list(session.execute(select(ConfigVersion).order_by(ConfigVersion.number.desc())).scalars())


def recent(session: Session, *, limit: int = 20) -> tuple[list[ConfigVersion], int]:
    """The newest `limit` versions without their texts, and how many there are in all."""
    found = session.execute(select(ConfigVersion).options(defer(ConfigVersion.text), defer(ConfigVersion.dump))
                            .order_by(ConfigVersion.number.desc()).limit(limit)).scalars()
    return list(found), session.execute(select(func.count()).select_from(ConfigVersion)).scalar_one()


def get(session: Session, number: int) -> ConfigVersion:
    """One version, or NotFound."""
    version = session.get(ConfigVersion, number)
    if version is None:
        raise NotFound(f"There is no configuration version {number}")
    return version


def diff(session: Session, old: int, new: int) -> str:
    """A unified diff between the normalised dumps of two versions."""
    return _unified(get(session, old).dump, get(session, new).dump, f"version {old}", f"version {new}")


@dataclass
class Compared:
    """A version beside the one before it: their diff, and the numbers of its neighbours."""

    version: ConfigVersion
    previous: int | None  # None: it is the first
    following: int | None  # None: it is the newest
    diff: str  # unified, from the previous version's dump (or from nothing) to this one's


def against_previous(session: Session, number: int) -> Compared:
    """A version compared with the one before it (the first is compared with nothing: every line added)."""
    version = get(session, number)
    previous, following = session.execute(select(
        select(func.max(ConfigVersion.number)).where(ConfigVersion.number < number).scalar_subquery(),
        select(func.min(ConfigVersion.number)).where(ConfigVersion.number > number).scalar_subquery(),
    )).one()
    before = get(session, previous).dump if previous is not None else ""
    diff = _unified(before, version.dump, f"version {previous}" if previous is not None else "nothing",
                    f"version {number}")
    return Compared(version=version, previous=previous, following=following, diff=diff)


def _unified(before: str, after: str, fromfile: str, tofile: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        fromfile=fromfile, tofile=tofile))
