"""Group commit: a lone outcome is committed at once; those arriving meanwhile go together next."""

from __future__ import annotations

import threading

import pytest

from app.queue.group import GroupCommit


def test_a_lone_item_is_committed_at_once_alone():
    groups = []
    group: GroupCommit[int, str] = GroupCommit()
    assert group.submit(7, lambda items: groups.append(list(items)) or [f"r{i}" for i in items]) == "r7"
    assert group.submit(8, lambda items: groups.append(list(items)) or [f"r{i}" for i in items]) == "r8"
    assert groups == [[7], [8]]


def test_items_arriving_during_a_commit_are_committed_together_next_each_getting_its_result():
    group: GroupCommit[int, str] = GroupCommit()
    groups: list[list[int]] = []
    first_started, release = threading.Event(), threading.Event()
    arrived = threading.Semaphore(0)

    def commit(items):
        groups.append(list(items))
        if len(groups) == 1:
            first_started.set()
            release.wait(30)
        return [f"r{i}" for i in items]

    results: dict[int, str] = {}

    def runner(i):
        if i:
            arrived.release()
        results[i] = group.submit(i, commit)

    threads = [threading.Thread(target=runner, args=(0,))]
    threads[0].start()
    assert first_started.wait(30)
    for i in (1, 2, 3):
        threads.append(threading.Thread(target=runner, args=(i,)))
        threads[-1].start()
    for _ in range(3):
        arrived.acquire(timeout=30)
    # They are about to wait (or waiting) for the first commit; let them all queue up first.
    while len(group._pending) < 3:
        threading.Event().wait(0.01)
    release.set()
    for thread in threads:
        thread.join(30)
    assert results == {0: "r0", 1: "r1", 2: "r2", 3: "r3"}
    assert groups[0] == [0] and sorted(groups[1]) == [1, 2, 3] and len(groups) == 2


def test_an_error_reaches_every_item_of_its_group_and_the_next_group_still_commits():
    group: GroupCommit[int, int] = GroupCommit()

    def fails(items):
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError, match="went away"):
        group.submit(1, fails)
    assert group.submit(2, lambda items: [i * 10 for i in items]) == 20
