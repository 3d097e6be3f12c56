"""Retry delays: doubled per attempt, capped, and spread at random (jitter)."""

from __future__ import annotations

from app.queue.chain import backoff_delay


def test_each_delay_lies_between_its_nominal_value_and_its_double():
    for attempts, low in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0)):
        delays = [backoff_delay(attempts, 1.0) for _ in range(200)]
        assert all(low <= d < 2 * low for d in delays)


def test_steps_retried_after_one_crash_come_due_at_different_times():
    delays = [backoff_delay(1, 1.0) for _ in range(20)]
    assert len(set(delays)) == 20
    assert max(delays) - min(delays) > 0.2  # spread over the range, not a rounding difference


def test_delays_are_capped_at_five_minutes():
    assert all(backoff_delay(20, 1.0) == 300.0 for _ in range(20))
    assert all(backoff_delay(9, 1.0) <= 300.0 for _ in range(200))
