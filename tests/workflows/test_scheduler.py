"""The built-in daily scheduler, with a controllable clock."""

from __future__ import annotations

import threading
import time as _time
from datetime import datetime, time

import pytest

from xinyong.errors import InvalidInput
from xinyong.workflows.tick import DailyScheduler, parse_at


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_runs_once_a_day_at_the_set_time():
    clock = Clock(datetime(2026, 11, 1, 0, 59))
    runs = []
    s = DailyScheduler(lambda: runs.append(clock.now), at=time(1, 30), now=clock)
    assert s.next_run() == datetime(2026, 11, 1, 1, 30)
    assert s.run_pending() is False and runs == []
    clock.now = datetime(2026, 11, 1, 1, 30)
    assert s.run_pending() is True and s.run_pending() is False
    clock.now = datetime(2026, 11, 1, 23, 0)
    assert s.run_pending() is False and s.next_run() == datetime(2026, 11, 2, 1, 30)
    clock.now = datetime(2026, 11, 3, 9, 0)  # a missed day: one run, not two
    assert s.run_pending() is True and s.run_pending() is False
    assert len(runs) == 2


def test_started_after_the_time_runs_at_once_and_survives_errors():
    clock = Clock(datetime(2026, 11, 1, 8, 0))
    calls = []

    def job():
        calls.append(1)
        raise RuntimeError("database down")

    s = DailyScheduler(job, at=time(1, 30), now=clock)
    assert s.next_run() == clock.now
    assert s.run_pending() is True and s.errors == 1 and s.runs == 0


def test_background_thread_runs_and_stops():
    done = threading.Event()
    s = DailyScheduler(done.set, at=time(0, 0))
    s.start(poll_seconds=0.05)
    assert done.wait(5)
    s.stop()
    assert s._thread is not None and not s._thread.is_alive()
    _time.sleep(0)


@pytest.mark.parametrize("bad", ["25:00", "1.30", "", "noon"])
def test_time_of_day_is_checked(bad):
    with pytest.raises(InvalidInput) as err:
        parse_at(bad)
    assert "HH:MM" in err.value.message
