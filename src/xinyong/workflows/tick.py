"""The daily tick: everything that happens because a day has passed. Safe to run any number of
times a day: each step acts only on what has not been done yet, so a second run changes nothing.

1. Close disclosure windows that ended (the records already left the public surfaces that day,
   by date; the tick records the closure per record and audits it per resource).
2. Escalate objections and repair applications past their deadline (to the credit office, red).
3. Take expired list entries off their lists.
4. Send e-mail waiting in the outbox (retries).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select, true, update
from sqlalchemy.orm import Session

from xinyong.audit.service import record_event
from xinyong.intake.models import Record

from . import clock, determinations, objections, repair

log = logging.getLogger("xinyong.workflows.tick")
#: Record ids listed in one audit event (the count is always complete).
AUDIT_IDS = 200


def close_windows(session: Session, today: date) -> dict[str, int]:
    """Records whose last day of publication is before ``today``: mark the window closed."""
    # Only records that were public until then: not withdrawn, repaired or never published.
    cond = (Record.public_until < today, Record.window_closed_on.is_(None), Record.status == "active",
            Record.published == true(), Record.repaired_at.is_(None))
    counts = dict(session.execute(select(Record.resource, func.count()).where(*cond)
                                  .group_by(Record.resource)).all())
    for resource in sorted(counts):
        ids = session.scalars(select(Record.id).where(Record.resource == resource, *cond)
                              .order_by(Record.id).limit(AUDIT_IDS)).all()
        session.execute(update(Record).where(Record.resource == resource, *cond)
                        .values(window_closed_on=today).execution_options(synchronize_session=False))
        record_event(session, "disclosure.window_closed", actor=None, resources=[resource],
                     details={"today": today.isoformat(), "records": counts[resource], "record_ids": list(ids)})
    return counts


def run_tick(session: Session, today: date | None = None) -> dict[str, Any]:
    """One tick in the caller's transaction; returns what it did."""
    today = clock.today(today)
    closed = close_windows(session, today)
    out = {"today": today.isoformat(), "windows_closed": closed,
           "windows_closed_total": sum(closed.values()),
           "objections_escalated": objections.escalate_overdue(session, today),
           "repairs_escalated": repair.escalate_overdue(session, today),
           "list_entries_expired": determinations.expire_due(session, today)}
    from xinyong.measures.service import remind_overdue_feedback  # joint measures (#7)

    out["measure_feedback_reminders"] = remind_overdue_feedback(session, today)
    return out


def tick(url: str | None = None, today: date | None = None) -> dict[str, Any]:
    """``run_tick`` in its own transaction, then the e-mail outbox (after the commit)."""
    from xinyong.db.engine import session_scope
    from xinyong.notifications.service import deliver_pending

    with session_scope(url) as session:
        out = run_tick(session, today)
    with session_scope(url) as session:
        out["email"] = deliver_pending(session)
    log.info("tick %s: %d windows closed, %d objections and %d repairs escalated, %d list entries expired",
             out["today"], out["windows_closed_total"], out["objections_escalated"], out["repairs_escalated"],
             out["list_entries_expired"])
    return out


# --- the built-in daily scheduler -------------------------------------------------------------------


class DailyScheduler:
    """Runs ``job`` once a day at ``at`` (local time of ``now``), and once at start when the
    day's run is already due. Missed runs are not replayed: the tick catches up by itself."""

    def __init__(self, job: Callable[[], Any], at: time = time(1, 30),
                 now: Callable[[], datetime] = datetime.now) -> None:
        self.job = job
        self.at = at
        self.now = now
        self.last_run: date | None = None
        self.runs = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def next_run(self) -> datetime:
        now = self.now()
        today_at = datetime.combine(now.date(), self.at, tzinfo=now.tzinfo)
        if self.last_run != now.date() and now >= today_at:
            return now
        return today_at if now < today_at else today_at + timedelta(days=1)

    def run_pending(self) -> bool:
        """Run the job if due now; True when it ran."""
        now = self.now()
        if self.last_run == now.date() or now < datetime.combine(now.date(), self.at, tzinfo=now.tzinfo):
            return False
        self.last_run = now.date()
        try:
            self.job()
            self.runs += 1
        except Exception:
            self.errors += 1
            log.exception("scheduled tick failed")
        return True

    def run_forever(self, poll_seconds: float = 30.0) -> None:
        while not self._stop.is_set():
            self.run_pending()
            wait = max(0.0, min(poll_seconds, (self.next_run() - self.now()).total_seconds()))
            self._stop.wait(wait if wait > 0 else poll_seconds)

    def start(self, poll_seconds: float = 30.0) -> threading.Thread:
        self._thread = threading.Thread(target=self.run_forever, args=(poll_seconds,), name="xinyong-scheduler",
                                        daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def parse_at(value: str) -> time:
    try:
        hh, mm = value.strip().split(":")
        return time(int(hh), int(mm))
    except (ValueError, TypeError):
        from xinyong.errors import InvalidInput

        raise InvalidInput(f"时间格式应为 HH:MM（如 01:30），而不是 {value!r}。", code="invalid_time") from None


__all__ = ["DailyScheduler", "close_windows", "parse_at", "run_tick", "tick"]
