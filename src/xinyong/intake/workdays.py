"""Working days on the official Chinese calendar (double publicity timeliness).

Precedence for a given year:

1. an operator-supplied holiday file (``XINYONG_HOLIDAY_FILE``) that mentions the year;
2. the ``chinese-calendar`` package (public holidays and the adjusted weekend workdays, 调休);
3. Monday–Friday, with one warning per year, for a year neither knows (intake must not stop
   because next year's holiday notice is not out yet).

Holiday file format, one date per line (``#`` starts a comment)::

    2027-01-01,holiday
    2027-02-07,workday
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar

from xinyong.config import get_settings
from xinyong.errors import ConfigurationError

log = logging.getLogger("xinyong.intake.workdays")

#: Double publicity rule: published within 7 working days of the decision.
DEADLINE_WORKDAYS = 7
HOLIDAY_FILE_ENV = "XINYONG_HOLIDAY_FILE"


def load_holiday_file(path: Path) -> dict[date, bool]:
    """``{date: is_workday}`` from an operator's holiday file."""
    days: dict[date, bool] = {}
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigurationError(f"无法读取节假日文件 {path}：{exc.strerror}。") from None
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = [p.strip() for p in line.replace("，", ",").split(",")]
        try:
            day = date.fromisoformat(parts[0])
            kind = parts[1].lower() if len(parts) > 1 else "holiday"
            if kind not in ("holiday", "workday", "休", "班"):
                raise ValueError(kind)
        except (ValueError, IndexError):
            raise ConfigurationError(
                f"节假日文件 {path} 第{n}行格式错误：应为“2027-01-01,holiday”或“2027-02-07,workday”。") from None
        days[day] = kind in ("workday", "班")
    return days


class WorkdayCalendar:
    def __init__(self, holiday_file: Path | str | None = None) -> None:
        if holiday_file is None:
            holiday_file = get_settings().holiday_file
        self.file_days = load_holiday_file(Path(holiday_file)) if holiday_file else {}
        self.file_years = {d.year for d in self.file_days}
        self._warned: set[int] = set()
        # Per year: running count of working days from 1 January through each day.
        self._years: dict[int, list[int]] = {}

    def _year(self, year: int) -> list[int]:
        running = self._years.get(year)
        if running is None:
            running, n, day = [], 0, date(year, 1, 1)
            while day.year == year:
                n += self._is_workday(day)
                running.append(n)
                day += timedelta(days=1)
            self._years[year] = running
        return running

    def _through(self, day: date) -> int:
        return self._year(day.year)[day.timetuple().tm_yday - 1]

    def is_workday(self, day: date) -> bool:
        running = self._year(day.year)
        i = day.timetuple().tm_yday - 1
        return bool(running[i] - (running[i - 1] if i else 0))

    def _is_workday(self, day: date) -> bool:
        if day.year in self.file_years:
            return self.file_days.get(day, day.weekday() < 5)
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
            if day.year not in self._warned:
                self._warned.add(day.year)
                log.warning("no holiday data for year %s: counting Monday-Friday as working days "
                            "(set %s to supply the official calendar)", day.year, HOLIDAY_FILE_ENV)
            return day.weekday() < 5

    def workdays_between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end`` (0 when end <= start)."""
        if end <= start:
            return 0
        if start.year == end.year:
            return self._through(end) - self._through(start)
        n = self._year(start.year)[-1] - self._through(start) + self._through(end)
        return n + sum(self._year(y)[-1] for y in range(start.year + 1, end.year))


_shared: dict[tuple[str, float], WorkdayCalendar] = {}


def default_calendar() -> WorkdayCalendar:
    """The configured calendar, built once per process (and again when the holiday file is
    changed): each year's table costs ~4 ms to compute, more than a small API batch itself."""
    configured = get_settings().holiday_file
    try:
        key = (str(configured or ""), Path(configured).stat().st_mtime if configured else 0.0)
    except OSError:
        key = (str(configured), -1.0)  # unreadable: WorkdayCalendar raises the Chinese message
    cal = _shared.get(key)
    if cal is None:
        cal = WorkdayCalendar(configured)
        _shared.clear()
        _shared[key] = cal
    return cal


class DelayCounter:
    """Working days from each decision date to one submission date, memoised: a batch has one
    submission date and a few hundred distinct decision dates."""

    def __init__(self, calendar: WorkdayCalendar, submitted: date) -> None:
        self.calendar = calendar
        self.submitted = submitted
        self._cache: dict[date, int] = {}

    def __call__(self, decided: date) -> int:
        hit = self._cache.get(decided)
        if hit is None:
            hit = self._cache[decided] = self.calendar.workdays_between(decided, self.submitted)
        return hit
