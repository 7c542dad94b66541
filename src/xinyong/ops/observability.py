"""Observability: one JSON access-log line per request with its request id, Prometheus metrics
at ``/metrics`` and readiness at ``/readyz`` (beside the liveness check ``/healthz``).

Nothing personal is logged: the access line carries the path (never the query string), the
route template, status and duration; every line still passes ``mask_personal_data``.

Request latency is measured in each server process. With several workers set
``PROMETHEUS_MULTIPROC_DIR`` (the systemd unit does) so ``/metrics`` aggregates them all.
Business figures (intake rows, workflow deadlines, queue depths) are read from the database at
scrape time, so every worker and every host reports the same, complete numbers.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextvars import ContextVar
from datetime import timedelta
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xinyong import __version__

log = logging.getLogger("xinyong.access")
ops_log = logging.getLogger("xinyong.ops")
request_id_var: ContextVar[str | None] = ContextVar("xinyong_request_id", default=None)
_SCOPE_KEY = "xinyong.request_id"  # set by xinyong.web.security.RequestIdMiddleware

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
REGISTRY = CollectorRegistry(auto_describe=True)
REQUEST_LATENCY = Histogram(
    "xinyong_http_request_duration_seconds", "HTTP request latency by route template",
    ["method", "route", "status"], buckets=_BUCKETS, registry=REGISTRY)


def _route_label(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not path:
        return "unmatched"  # a 404 must not create one label per scanned URL
    return path if len(path) <= 200 else path[:200]


class ObservabilityMiddleware:
    """Time each HTTP request, label it by route template, log one access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = request_id_var.set(scope.get(_SCOPE_KEY))
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - start
            route = _route_label(scope)
            method = scope.get("method", "GET")
            if route != "/metrics":
                REQUEST_LATENCY.labels(method, route, str(status)).observe(elapsed)
            log.info("%s %s %s %.1fms", method, scope.get("path", ""), status, elapsed * 1000, extra={"event": "request", "method": method, "path": scope.get("path", ""),
                                       "route": route, "status": status,
                                       "duration_ms": round(elapsed * 1000, 2)})
            request_id_var.reset(token)


# --- database figures -----------------------------------------------------------------------------------


class DatabaseCollector:
    """Business gauges read from the database at scrape time (cached a few seconds)."""

    ttl = 10.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: tuple[float, list] | None = None

    def describe(self) -> list:
        return []

    def collect(self):
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > self.ttl:
                self._cached = (time.monotonic(), self._read())
            return list(self._cached[1])

    def _read(self) -> list:
        from sqlalchemy import func, select

        from xinyong.db.engine import get_sessionmaker
        from xinyong.intake.models import IntakeBatch
        from xinyong.notifications.models import EmailMessage
        from xinyong.workflows.clock import today
        from xinyong.workflows.models import Objection, RepairApplication

        up = GaugeMetricFamily("xinyong_database_up", "1 when the database answered the last scrape")
        try:
            with get_sessionmaker()() as s:
                rows = CounterMetricFamily("xinyong_intake_rows", "Rows taken in by intake batches, by outcome",
                                           labels=["outcome"])
                totals = s.execute(select(func.coalesce(func.sum(IntakeBatch.rows_accepted), 0),
                                          func.coalesce(func.sum(IntakeBatch.rows_rejected), 0),
                                          func.coalesce(func.sum(IntakeBatch.rows_duplicate), 0))).one()
                for outcome, value in zip(("accepted", "rejected", "duplicate"), totals, strict=True):
                    rows.add_metric([outcome], float(value))
                batches = CounterMetricFamily("xinyong_intake_batches", "Intake batches by status", labels=["status"])
                for status, n in s.execute(select(IntakeBatch.status, func.count()).group_by(IntakeBatch.status)):
                    batches.add_metric([status], float(n))
                day = today()
                open_cases = GaugeMetricFamily("xinyong_workflow_open_cases", "Open workflow cases",
                                               labels=["workflow"])
                overdue = GaugeMetricFamily("xinyong_workflow_overdue_cases",
                                            "Open workflow cases past their reply deadline", labels=["workflow"])
                due_soon = GaugeMetricFamily("xinyong_workflow_due_within_3_days",
                                             "Open workflow cases due within three days", labels=["workflow"])
                for name, model in (("objection", Objection), ("repair", RepairApplication)):
                    is_open = model.state == "submitted"
                    n_open, n_over, n_soon = s.execute(select(
                        func.count(),
                        func.count().filter(model.due_on < day),
                        func.count().filter(model.due_on >= day, model.due_on <= day + timedelta(days=3)),
                    ).where(is_open)).one()
                    open_cases.add_metric([name], float(n_open))
                    overdue.add_metric([name], float(n_over))
                    due_soon.add_metric([name], float(n_soon))
                queue = GaugeMetricFamily("xinyong_queue_depth", "Items waiting in a queue", labels=["queue"])
                mail = dict(s.execute(select(EmailMessage.status, func.count()).group_by(EmailMessage.status)).all())
                queue.add_metric(["email_pending"], float(mail.get("pending", 0)))
                queue.add_metric(["email_failed"], float(mail.get("failed", 0)))
            up.add_metric([], 1.0)
            return [up, rows, batches, open_cases, overdue, due_soon, queue]
        except Exception:  # noqa: BLE001 - a scrape must answer even when the database does not
            ops_log.warning("metrics: database figures unavailable", exc_info=True)
            up.add_metric([], 0.0)
            return [up]


_DB_COLLECTOR = DatabaseCollector()
REGISTRY.register(_DB_COLLECTOR)


def metrics_payload() -> bytes:
    multiproc = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if multiproc:
        # Several workers: latency comes from every worker's files, business figures from here.
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=multiproc)
        registry.register(_DB_COLLECTOR)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


# --- routes ---------------------------------------------------------------------------------------------

router = APIRouter(tags=["运维"])


@router.get("/metrics", summary="Prometheus 指标", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus 文本格式"}})
def metrics() -> Response:
    """Request latency by route template, intake rows, workflow deadlines and queue depths, in
    the Prometheus text format. Aggregates only, no personal data; restrict it to the monitoring
    network at the reverse proxy (see docs/deploy.md)."""
    return Response(metrics_payload(), media_type=CONTENT_TYPE_LATEST)


@router.get("/readyz", summary="就绪检查",
            responses={503: {"description": "未就绪", "content": {"application/json": {}}}})
def readyz() -> JSONResponse:
    """Ready to serve: the database answers and its schema is at this version's migration head.
    503 with an error body (and the reason in Chinese) otherwise; a load balancer takes the
    host out of rotation until it is ready."""
    from xinyong.db.migrate import current_revision, head_revision

    head = head_revision()
    try:
        current = current_revision()
    except Exception as exc:  # noqa: BLE001
        ops_log.warning("readiness: database unreachable (%s)", type(exc).__name__)
        return JSONResponse({"error": {"code": "database_unavailable", "message": "数据库无法连接，服务暂不可用。"}},
                            status_code=503)
    if current != head:
        return JSONResponse({"error": {"code": "migrations_pending",
                                       "message": f"数据库结构版本 {current or '（未初始化）'} 不是最新的 {head}：请运行 "
                                                  "`xinyong init` 升级。"}}, status_code=503)
    return JSONResponse({"status": "ready", "version": __version__, "revision": current})


def install_observability(app: FastAPI) -> None:
    """Routes /metrics and /readyz, and the timing middleware innermost of the user middleware
    (inside the request-id middleware, so the id is known when the access line is written)."""
    from starlette.middleware import Middleware

    from xinyong.ops.limits import BodyLimitMiddleware

    app.include_router(router)
    app.user_middleware.append(Middleware(ObservabilityMiddleware))
    app.user_middleware.append(Middleware(BodyLimitMiddleware))  # innermost: inside the access log
