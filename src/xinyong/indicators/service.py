"""Indicators: compute a snapshot of every indicator, and read it for the dashboard and exports.

``refresh_snapshot`` is the only place figures are computed (CLI ``xinyong indicators refresh``,
the dashboard's refresh button, the demo after intake). Everything users see reads the latest
snapshot, so a page costs a handful of small queries whatever the number of records.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from xinyong.departments.models import Department
from xinyong.errors import InvalidInput, NotFound
from xinyong.identity.regions import region_name
from xinyong.intake.models import IntakeBatch, Record

from .definitions import Definitions, Indicator, MeasureRef, load_definitions
from .measures import CREDIT_OFFICE, DIMENSIONS, Context, Counts, NotConnected, compute
from .models import IndicatorSnapshot, IndicatorValue
from .settings import get_indicator_settings

log = logging.getLogger("xinyong.indicators")

STATUS_LABELS = {"green": "达标", "amber": "接近目标", "red": "未达标", "no_target": "无目标",
                 "no_data": "无数据", "unavailable": "未接入"}


def today() -> date:
    from xinyong.config import get_settings
    from xinyong.intake.service import china_today

    return getattr(get_settings(), "today", None) or china_today()


def month_window(as_of: date, n: int) -> list[str]:
    y, m = as_of.year, as_of.month
    out = []
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


# --- status ----------------------------------------------------------------------------------------


def status_of(ind: Indicator, numerator: float | None, denominator: float | None) -> str:
    """green / amber / red against the target, compared exactly (17/20 is exactly 85%)."""
    if numerator is None:
        return "unavailable"
    if ind.unit == "percent":
        if not denominator:
            return "no_data"
        value = Fraction(str(numerator)) / Fraction(str(denominator))
    else:
        value = Fraction(str(numerator))
    if ind.target is None:
        return "no_target"
    t = Fraction(str(ind.target.value))
    margin = Fraction(str(ind.target.amber_within))
    if ind.target.direction == "at_least":
        return "green" if value >= t else "amber" if value >= t - margin else "red"
    return "green" if value <= t else "amber" if value <= t + margin else "red"


def display(ind: Indicator, value: float | None) -> str:
    if value is None:
        return "—"
    if ind.unit == "percent":
        return f"{value * 100:.1f}%"
    return f"{value:,.0f}"


# --- computing a snapshot --------------------------------------------------------------------------


def _labels(session: Session) -> dict[str, dict[str, str]]:
    depts = {d.code: d.name for d in session.scalars(select(Department))}
    depts.setdefault(CREDIT_OFFICE, "信用办")  # cases about basic information, handled by the credit office
    return {"department": depts}


def _region_label(code: str) -> str:
    if not code:
        return "未知地区"
    name = region_name(code)
    if not name:
        return code
    return name.removeprefix("广东省") if len(name) > 3 else name


def _label(dim: str, key: str, labels: dict[str, dict[str, str]]) -> str:
    if dim == "department":
        return labels["department"].get(key, key)
    if dim == "region":
        return _region_label(key)
    if dim == "sector":
        return key or "其他"
    return key


def _rows_for(ind: Indicator, num: Counts, den: Counts | None, months: list[str],
              labels: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    def value(n: float, d: float | None) -> float | None:
        if ind.unit == "count":
            return float(n)
        return float(n) / float(d) if d else None

    rows = [{"dimension": "total", "key": "", "label": "全部", "numerator": num.total,
             "denominator": den.total if den else None, "value": value(num.total, den.total if den else None)}]
    for g in ind.groupings:
        ng = num.groups.get(g, {})
        if ind.unit == "count":
            dg = None
        elif den.groups.get(g) is not None and ind.denominator.spec.dims.get(g) == "split":
            dg = den.groups[g]
        else:  # a denominator that is the same for every group
            dg = dict.fromkeys(months if g == "month" else ng, den.total)
        if g == "month":
            keys = months
        else:
            keys = sorted(set(ng) | set(dg or {}))
        for k in keys:
            n = ng.get(k, 0)
            d = dg.get(k, 0) if dg is not None else None
            if g != "month" and ind.unit == "percent" and not d and not n:
                continue
            rows.append({"dimension": g, "key": k, "label": _label(g, k, labels), "numerator": n,
                         "denominator": d, "value": value(n, d)})
    return rows


@dataclass
class RefreshResult:
    snapshot_id: int
    as_of: date
    duration_ms: int
    indicators: int
    unavailable: list[str]
    records_total: int

    def to_dict(self) -> dict[str, Any]:
        return {"snapshot_id": self.snapshot_id, "as_of": self.as_of.isoformat(), "duration_ms": self.duration_ms,
                "indicators": self.indicators, "unavailable": self.unavailable, "records_total": self.records_total}


_refresh_lock = threading.Lock()


def refresh_snapshot(session: Session, *, as_of: date | None = None, definitions: Definitions | None = None,
                     progress: Callable[[str], None] | None = None) -> RefreshResult:
    """Compute every indicator and store them as a new snapshot (one transaction; re-run safe)."""
    started = time.perf_counter()
    defs = definitions or load_definitions()
    as_of = as_of or today()
    settings = get_indicator_settings()
    months = month_window(as_of, settings.indicators_trend_months)
    last_batch = session.scalar(select(func.max(IntakeBatch.id)).where(IntakeBatch.status == "committed"))
    # Each distinct numerator/denominator is computed once, with every grouping any indicator asks of it.
    needed: dict[str, tuple[MeasureRef, set[str]]] = {}
    for ind in defs:
        for ref in (ind.numerator, ind.denominator):
            if ref is not None:
                needed.setdefault(ref.key, (ref, set()))[1].update(ind.groupings)
    ctx = Context(session, as_of, months, set())
    results: dict[str, Counts | NotConnected] = {}
    for key, (ref, dims) in needed.items():
        if progress:
            progress(ref.describe())
        ctx.dims = dims
        try:
            results[key] = compute(ctx, ref.spec, ref.filters)
        except NotConnected as exc:
            results[key] = exc
    labels = _labels(session)
    meta: dict[str, Any] = {}
    value_rows: list[dict[str, Any]] = []
    for ind in defs:
        num = results[ind.numerator.key]
        den = results[ind.denominator.key] if ind.denominator else None
        missing = [r for r in (num, den) if isinstance(r, NotConnected)]
        if missing:
            meta[ind.code] = {"available": False, "reason": missing[0].reason}
            continue
        meta[ind.code] = {"available": True, "reason": None}
        for row in _rows_for(ind, num, den, months, labels):
            value_rows.append({"indicator": ind.code, **row})
    records_total = session.scalar(select(func.count()).select_from(Record).where(Record.status == "active")) or 0
    snap = IndicatorSnapshot(as_of=as_of, definitions_digest=defs.digest, records_total=records_total,
                             last_batch_id=last_batch, meta=meta, duration_ms=0)
    session.add(snap)
    session.flush()
    for row in value_rows:
        row["snapshot_id"] = snap.id
        row["key"] = str(row["key"])[:64]
        row["label"] = str(row["label"])[:200]
    if value_rows:
        session.execute(IndicatorValue.__table__.insert(), value_rows)
    snap.duration_ms = int((time.perf_counter() - started) * 1000)
    _prune(session, keep_recent=settings.indicators_keep_snapshots)
    session.flush()
    unavailable = [c for c, m in meta.items() if not m["available"]]
    log.info("indicator snapshot %s: %d indicators (%d not connected) in %d ms", snap.id, len(meta),
             len(unavailable), snap.duration_ms)
    return RefreshResult(snap.id, as_of, snap.duration_ms, len(meta), unavailable, records_total)


def _prune(session: Session, *, keep_recent: int) -> None:
    """Keep the newest snapshots and the last one of every month (what monthly reports cite)."""
    snaps = list(session.execute(select(IndicatorSnapshot.id, IndicatorSnapshot.as_of)
                                 .order_by(IndicatorSnapshot.id.desc())))
    keep: set[int] = {sid for sid, _ in snaps[:keep_recent]}
    seen_months: set[str] = set()
    for sid, as_of in snaps:
        month = as_of.strftime("%Y-%m")
        if month not in seen_months:
            seen_months.add(month)
            keep.add(sid)
    drop = [sid for sid, _ in snaps if sid not in keep]
    if drop:
        # Values first: SQLite only cascades with foreign keys switched on.
        session.execute(delete(IndicatorValue).where(IndicatorValue.snapshot_id.in_(drop)))
        session.execute(delete(IndicatorSnapshot).where(IndicatorSnapshot.id.in_(drop)))


def refresh(bind_url: str | None = None, **kw: Any) -> RefreshResult:
    """Refresh in its own transaction; concurrent refreshes in one process queue up."""
    from xinyong.db.engine import session_scope

    with _refresh_lock, session_scope(bind_url) as session:
        return refresh_snapshot(session, **kw)


class _RefreshJob:
    """A refresh started from the dashboard: runs in a thread so a long one never holds a request."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.started: float | None = None
        self.error: str | None = None

    def _run(self) -> None:
        try:
            refresh()
        except Exception as exc:
            log.exception("indicator refresh failed")
            self.error = getattr(exc, "message", None) or "计算出错，详见服务器日志。"

    def start(self, wait: float = 20.0) -> str:
        """Start (unless one is running) and wait up to ``wait`` seconds: done | running | error."""
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.error = None
                self.started = time.monotonic()
                self.thread = threading.Thread(target=self._run, name="indicator-refresh", daemon=True)
                self.thread.start()
            thread = self.thread
        thread.join(wait)
        if thread.is_alive():
            return "running"
        return "error" if self.error else "done"

    def running_seconds(self) -> int | None:
        if self.thread is not None and self.thread.is_alive() and self.started is not None:
            return int(time.monotonic() - self.started)
        return None


refresh_job = _RefreshJob()


# --- reading ---------------------------------------------------------------------------------------


def latest_snapshot(session: Session) -> IndicatorSnapshot | None:
    return session.scalars(select(IndicatorSnapshot).order_by(IndicatorSnapshot.id.desc()).limit(1)).first()


_cache: dict[tuple, dict[str, Any]] = {}
_cache_lock = threading.Lock()


def _card(ind: Indicator, snap_meta: dict[str, Any], values: dict[str, list[IndicatorValue]]) -> dict[str, Any]:
    m = snap_meta.get(ind.code)
    card: dict[str, Any] = {
        "code": ind.code, "name": ind.name, "section": ind.section, "description": ind.description,
        "unit": ind.unit, "public": ind.public, "groupings": list(ind.groupings),
        "numerator_text": ind.numerator.describe(),
        "denominator_text": ind.denominator.describe() if ind.denominator else None,
        "target": ind.target.value if ind.target else None,
        "target_direction": ind.target.direction if ind.target else None,
        "target_text": ind.target.describe(ind.unit) if ind.target else "未设目标",
        "target_year": ind.target.year if ind.target else None,
        "target_source": ind.target.source if ind.target else None,
        "value": None, "numerator": None, "denominator": None, "display": "—", "trend": [],
        "breakdowns": {},
    }
    if m is None:
        card.update(available=False, reason="指标定义在本次快照之后新增，请刷新指标后查看。")
    else:
        card.update(available=m["available"], reason=m["reason"])
    if not card["available"]:
        card.update(status="unavailable", status_label=STATUS_LABELS["unavailable"])
        return card
    rows = values.get(ind.code, [])
    total = next((r for r in rows if r.dimension == "total"), None)
    if total is None:
        card.update(available=False, status="unavailable", status_label=STATUS_LABELS["unavailable"],
                    reason="本次快照没有该指标的数据，请刷新指标。")
        return card
    st = status_of(ind, total.numerator, total.denominator)
    card.update(value=total.value, numerator=total.numerator, denominator=total.denominator,
                display=display(ind, total.value), status=st, status_label=STATUS_LABELS[st])
    for g in ind.groupings:
        items = []
        for r in rows:
            if r.dimension != g:
                continue
            s = status_of(ind, r.numerator, r.denominator)
            items.append({"key": r.key, "label": r.label, "numerator": r.numerator, "denominator": r.denominator,
                          "value": r.value, "display": display(ind, r.value), "status": s,
                          "status_label": STATUS_LABELS[s]})
        if g != "month":
            items.sort(key=lambda x: (x["value"] is None, -(x["value"] or 0), x["label"]))
        card["breakdowns"][g] = items
    card["trend"] = card["breakdowns"].get("month", [])
    return card


def _league(defs: Definitions, cards: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Department data-quality league table: one column per indicator marked ``league``."""
    cols = [ind for ind in defs if ind.league]
    depts: dict[str, dict[str, Any]] = {}
    for ind in cols:
        card = cards[ind.code]
        for item in card["breakdowns"].get("department", []):
            d = depts.setdefault(item["key"], {"department": item["key"], "name": item["label"], "cells": {}})
            d["cells"][ind.code] = item
    rows = []
    for d in depts.values():
        cells = []
        green = red = 0
        for ind in cols:
            card = cards[ind.code]
            if not card["available"]:
                cells.append({"display": "未接入", "status": "unavailable", "status_label": "未接入", "value": None})
                continue
            item = d["cells"].get(ind.code)
            if item is None:
                cells.append({"display": "—", "status": "no_data", "status_label": "无数据", "value": None})
                continue
            cells.append(item)
            green += item["status"] == "green"
            red += item["status"] == "red"
        volume = next((c["value"] or 0 for ind, c in zip(cols, cells, strict=True) if ind.unit == "count"), 0)
        rows.append({"department": d["department"], "name": d["name"], "cells": cells, "green": green, "red": red,
                     "volume": volume})
    rows.sort(key=lambda r: (-r["green"], r["red"], -r["volume"], r["name"]))
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    return {"columns": [{"code": ind.code, "label": ind.league_label,
                         "available": cards[ind.code]["available"],
                         "reason": cards[ind.code].get("reason"),
                         "target_text": cards[ind.code]["target_text"]} for ind in cols],
            "rows": rows}


def dashboard(session: Session, *, definitions: Definitions | None = None, public_only: bool = False) -> dict[str, Any]:
    """Everything the dashboard shows, from the latest snapshot (cached per snapshot)."""
    defs = definitions or load_definitions()
    snap = latest_snapshot(session)
    if snap is None:
        return {"snapshot": None, "sections": [], "indicators": {}, "league": {"columns": [], "rows": []}}
    last_batch = session.scalar(select(func.max(IntakeBatch.id)).where(IntakeBatch.status == "committed"))
    url = session.get_bind().url.render_as_string(hide_password=True)
    key = (url, snap.id, snap.computed_at, defs.digest, public_only)
    with _cache_lock:
        built = _cache.get(key)
    if built is None:
        values: dict[str, list[IndicatorValue]] = {}
        for v in session.scalars(select(IndicatorValue).where(IndicatorValue.snapshot_id == snap.id)
                                 .order_by(IndicatorValue.id)):
            values.setdefault(v.indicator, []).append(v)
        chosen = [ind for ind in defs if ind.public or not public_only]
        cards = {ind.code: _card(ind, snap.meta or {}, values) for ind in chosen}
        sections: dict[str, list[dict[str, Any]]] = {}
        for ind in chosen:
            sections.setdefault(ind.section, []).append(cards[ind.code])
        built = {
            "snapshot": {"id": snap.id, "as_of": snap.as_of.isoformat(),
                         "computed_at": snap.computed_at.isoformat(timespec="seconds") if snap.computed_at else None,
                         "duration_ms": snap.duration_ms, "records_total": snap.records_total,
                         "last_batch_id": snap.last_batch_id,
                         "definitions_changed": snap.definitions_digest != defs.digest},
            "sections": [{"name": k, "indicators": v} for k, v in sections.items()],
            "indicators": cards,
            "league": _league(defs, cards) if not public_only else {"columns": [], "rows": []},
        }
        with _cache_lock:
            if len(_cache) > 32:
                _cache.clear()
            _cache[key] = built
    stale = last_batch is not None and (built["snapshot"]["last_batch_id"] or 0) < last_batch
    return {**built, "snapshot": {**built["snapshot"], "stale": stale}}


def indicator_detail(session: Session, code: str, *, public_only: bool = False) -> dict[str, Any]:
    data = dashboard(session, public_only=public_only)
    card = data["indicators"].get(code)
    if card is None:
        raise NotFound(f"没有代码为 {code} 的指标。可在统计监测页面查看全部指标。", code="indicator_not_found")
    return {"snapshot": data["snapshot"], "indicator": card}


def summary(session: Session, *, public_only: bool = False) -> list[dict[str, Any]]:
    """One line per indicator: code, name, value, target, status (CLI and JSON API)."""
    data = dashboard(session, public_only=public_only)
    out = []
    for card in data["indicators"].values():
        out.append({"code": card["code"], "name": card["name"], "value": card["value"],
                    "display": card["display"], "numerator": card["numerator"], "denominator": card["denominator"],
                    "unit": card["unit"], "target": card["target"], "target_direction": card["target_direction"],
                    "target_year": card["target_year"], "status": card["status"],
                    "status_label": card["status_label"], "reason": card.get("reason")})
    return out


def parse_month(value: str) -> str:
    try:
        d = datetime.strptime(value, "%Y-%m")
    except (TypeError, ValueError):
        raise InvalidInput(f"月份“{value}”格式不正确，请写成 YYYY-MM，如 2026-10。", code="invalid_month") from None
    return d.strftime("%Y-%m")


__all__ = ["DIMENSIONS", "STATUS_LABELS", "dashboard", "display", "indicator_detail", "latest_snapshot",
           "month_window", "parse_month", "refresh", "refresh_snapshot", "status_of", "summary"]
