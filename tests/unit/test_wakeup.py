"""Waking runner threads: one per notification, all on request, none lost while busy."""

from __future__ import annotations

import threading
import time

from app.queue.wakeup import Wakeup


def _waiters(wakeup: Wakeup, count: int, timeout: float) -> tuple[list[threading.Thread], list[float]]:
    woken: list[float] = []
    seen = wakeup.generation
    start = time.monotonic()

    def wait() -> None:
        wakeup.wait(seen, timeout)
        woken.append(time.monotonic() - start)

    threads = [threading.Thread(target=wait) for _ in range(count)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)  # both are waiting
    return threads, woken


def test_a_notification_wakes_one_waiting_thread():
    wakeup = Wakeup()
    threads, woken = _waiters(wakeup, 2, timeout=3.0)
    wakeup.notify()
    time.sleep(0.5)
    assert len(woken) == 1  # the other sleeps on until its poll timeout
    for thread in threads:
        thread.join()
    assert len(woken) == 2 and woken[1] >= 2.5


def test_everyone_wakes_all_waiting_threads():
    wakeup = Wakeup()
    threads, woken = _waiters(wakeup, 2, timeout=3.0)
    wakeup.notify(everyone=True)
    for thread in threads:
        thread.join()
    assert len(woken) == 2 and max(woken) < 2.0


def test_a_notification_while_nobody_waits_is_not_lost():
    wakeup = Wakeup()
    seen = wakeup.generation  # a runner looks for work...
    wakeup.notify()  # ...a job arrives meanwhile...
    start = time.monotonic()
    wakeup.wait(seen, 3.0)  # ...and it does not go to sleep
    assert time.monotonic() - start < 0.5
