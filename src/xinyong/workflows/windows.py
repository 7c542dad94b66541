"""Disclosure windows (公示期): how long each record may be published.

A record's window comes from the policy's ``effective_window`` for its resource (catalogue
window, tightened by the deployment's policy), the record's severity, its start date and its
own valid-until date. Intake computes it for every new or changed row (``WindowCalculator``,
a few microseconds a row: it reads only the fields the rules name, and remembers answers);
``recompute_windows`` re-applies a changed policy to stored records.

Dates: ``public_until`` is the last day a record is published; ``repair_after`` the first day
a repair may be asked for (the minimum window has elapsed).
"""

from __future__ import annotations

import calendar
import json
import re
from datetime import date, timedelta
from typing import Any, NamedTuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from xinyong.catalogue import Resource, load_catalogue
from xinyong.catalogue.validation import parse_date

from . import clock
from .policy import Policy, load_policy


class Window(NamedTuple):
    severity: str | None
    published: bool
    public_until: date | None
    repair_after: date | None


OPEN = Window(None, True, None, None)


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return parse_date(value)


def _decode(quoted: str) -> str:
    return quoted[1:-1] if "\\" not in quoted else json.loads(quoted)


class WindowCalculator:
    """Window of one resource's records, from the stored JSON text or a dict of values."""

    _CACHE_MAX = 200_000

    def __init__(self, resource: Resource, policy: Policy | None = None) -> None:
        self.resource = resource
        self.window = (policy or load_policy()).effective_window(resource)
        self._cache: dict[tuple, Window] = {}
        if self.window is None:
            self.codes: list[str] = []
            return
        w = self.window
        self.start_field = w.start_field or resource.date_field
        codes: list[str] = []
        for rule in w.severity_rules:
            codes.extend(rule.when or {})
        codes.extend(w.ends_when or {})
        if self.start_field != resource.date_field:
            codes.append(self.start_field)
        self.codes = list(dict.fromkeys(codes))
        self.rule_codes = [c for c in self.codes if c != self.start_field]
        # Intake writes the data JSON as "code":"value" (C encoder, no spaces): find just these.
        self._patterns = [re.compile('"' + re.escape(c) + r'":("(?:[^"\\]|\\.)*")') for c in self.rule_codes]
        self._start_pattern = (re.compile('"' + re.escape(self.start_field) + r'":("(?:[^"\\]|\\.)*")')
                               if self.start_field != resource.date_field else None)
        self._raw_rules: dict[tuple, tuple] = {}

    @property
    def applies(self) -> bool:
        return self.window is not None

    def from_json(self, data_json: str | None, main_date: Any, valid_until: Any) -> Window:
        """The intake path (a few microseconds a row): the rule fields' raw JSON strings are the
        cache key, so each distinct combination is decoded and matched once."""
        if self.window is None:
            return OPEN
        text = data_json or ""
        raw = tuple(m.group(1) if (m := p.search(text)) else None for p in self._patterns)
        rule = self._raw_rules.get(raw)
        if rule is None:
            values = {c: _decode(v) for c, v in zip(self.rule_codes, raw) if v is not None}
            rule = self._rule(values)
            if len(self._raw_rules) < self._CACHE_MAX:
                self._raw_rules[raw] = rule
        start = main_date
        if self._start_pattern is not None:
            m = self._start_pattern.search(text)
            start = _decode(m.group(1)) if m else None
        return self._for(rule, start, valid_until)

    def from_data(self, data: dict[str, Any], main_date: Any = None, valid_until: Any = None) -> Window:
        if self.window is None:
            return OPEN
        if main_date is None:
            main_date = data.get(self.resource.date_field)
        if valid_until is None and self.resource.valid_until_field:
            valid_until = data.get(self.resource.valid_until_field)
        return self._window({c: data[c] for c in self.codes if data.get(c) not in (None, "")}, main_date,
                            valid_until)

    def _window(self, values: dict[str, str], main_date: Any, valid_until: Any) -> Window:
        start = values.get(self.start_field) if self.start_field != self.resource.date_field else main_date
        return self._for(self._rule({c: values[c] for c in self.rule_codes if c in values}), start, valid_until)

    def _for(self, rule: tuple, start: Any, valid_until: Any) -> Window:
        key = (rule, start, valid_until)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        result = self._dates(rule, _as_date(start), _as_date(valid_until))
        if len(self._cache) >= self._CACHE_MAX:
            self._cache.clear()
        self._cache[key] = result
        return result

    def _rule(self, values: dict[str, str]) -> tuple[str | None, bool]:
        """(severity, ended) of a record's rule fields: few distinct, remembered."""
        res, w = self.resource, self.window
        assert w is not None
        return res.severity_of(values), bool(w.ends_when and res.matches(w.ends_when, values))

    def _dates(self, rule: tuple[str | None, bool], start: date | None, valid_until: date | None) -> Window:
        severity, ended = rule
        period = self.window.periods.get(severity) if severity else None
        if period is None:
            return Window(severity, True, valid_until, None)
        if not period.published:  # e.g. minor penalties: kept, never published
            return Window(severity, False, None, None)
        until = valid_until
        repair_after = None
        if start is not None:
            if period.max_months is not None:
                end = add_months(start, period.max_months) - timedelta(days=1)
                until = end if until is None else min(until, end)
            repair_after = add_months(start, period.min_months)
        return Window(severity, not ended, until, repair_after)


def window_calculator(resource: Resource | str, policy: Policy | None = None) -> WindowCalculator:
    res = resource if isinstance(resource, Resource) else load_catalogue().get(resource)
    return WindowCalculator(res, policy)


def recompute_windows(session: Session, *, resource: str | None = None, policy: Policy | None = None,
                      batch_size: int = 5000) -> dict[str, int]:
    """Apply the policy in force to stored records (after the policy file changed, or for
    records taken in before windows existed). Returns changed counts per resource."""
    from xinyong.intake.models import Record

    catalogue = load_catalogue()
    policy = policy or load_policy()
    changed: dict[str, int] = {}
    codes = [resource] if resource else catalogue.codes
    for code in codes:
        calc = WindowCalculator(catalogue.get(code), policy)
        last_id = 0
        while True:
            rows = session.execute(
                select(Record.id, Record.data, Record.main_date, Record.valid_until, Record.severity,
                       Record.published, Record.public_until, Record.repair_after)
                .where(Record.resource == code, Record.id > last_id).order_by(Record.id).limit(batch_size)).all()
            if not rows:
                break
            last_id = rows[-1].id
            updates = []
            for r in rows:
                win = calc.from_data(r.data or {}, r.main_date, r.valid_until)
                if (r.severity, bool(r.published), r.public_until, r.repair_after) != tuple(win):
                    updates.append({"rid": r.id, "severity": win.severity, "published": win.published,
                                    "public_until": win.public_until, "repair_after": win.repair_after})
            now = clock.now()  # a changed record: incremental rating runs rescore it
            for u in updates:
                session.execute(update(Record).where(Record.id == u.pop("rid")).values(**u, updated_at=now))
            if updates:
                changed[code] = changed.get(code, 0) + len(updates)
    return changed
