"""Group commit: outcomes that finish close together are recorded in one transaction.

The first runner to bring an outcome records it at once (a lone outcome waits for nobody); the
outcomes brought while that transaction runs wait, and the first of them then records them all
together, and so on. Each runner gets back its own outcome's result (or error).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(eq=False)
class _Entry(Generic[Item, Result]):
    item: Item
    wake: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    value: Result | None = None
    error: BaseException | None = None

    def result(self) -> Result | None:
        if self.error is not None:
            raise self.error
        return self.value


class GroupCommit(Generic[Item, Result]):
    """Leader and followers: one group in its transaction at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[_Entry[Item, Result]] = []
        self._leading = False

    def submit(self, item: Item, commit: Callable[[list[Item]], list[Result]]) -> Result | None:
        """Have `item` committed with whatever else is waiting (`commit` takes the group, in order,
        and returns a result per item); its result."""
        entry: _Entry[Item, Result] = _Entry(item)
        with self._lock:
            self._pending.append(entry)
            lead, self._leading = not self._leading, True
        if not lead:
            entry.wake.wait()  # until a leader has committed it, or made this runner the leader
            if entry.done:
                return entry.result()
        with self._lock:
            group, self._pending = self._pending, []
        try:
            results, error = commit([e.item for e in group]), None
        except BaseException as exc:  # every runner of the group learns it
            results, error = None, exc
        with self._lock:
            for i, waiting in enumerate(group):
                waiting.done, waiting.error = True, error
                waiting.value = results[i] if results is not None else None
                if waiting is not entry:
                    waiting.wake.set()
            if self._pending:
                self._pending[0].wake.set()  # not done: it leads the next group
            else:
                self._leading = False
        return entry.result()
