"""Intake (归集): the rules. CLI and API call these and only translate.

``ingest_file`` / ``ingest_rows`` take one department's submission for one catalogue resource
and apply it as **one batch in one transaction**: a crash or ``kill -9`` part-way leaves the
database as it was, and re-running the same file gives what one clean run gives. Re-submitting
the same data changes nothing (every row reported unchanged).

A record's identity is resource + natural key (``Resource.natural_key``). For each row:

* new key → record created (version 1);
* same content as the current version → unchanged;
* different content → a new version; the old one is kept (``record_versions``);
* the same key again within the batch → duplicate if identical (counted unchanged), rejected
  (``duplicate_key_conflict``) if it differs;
* a withdrawn record → rejected (``record_withdrawn``). Withdrawal (撤销) is only ever the
  explicit ``withdraw_record``, never a row missing from a later file.

``bind`` is an Engine (the service opens and commits its own transaction) or a Session (the
caller's transaction: nothing is committed here; a refused file rolls the session back before
recording the refusal).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Integer, cast, func, select
from sqlalchemy.orm import Session

from xinyong.accounts.actor import Actor
from xinyong.catalogue import Resource, load_catalogue
from xinyong.catalogue.validation import row_validator
from xinyong.config import get_settings
from xinyong.departments.models import Department
from xinyong.departments.service import find_department
from xinyong.errors import Conflict, InvalidInput, NotFound
from xinyong.identity.crypto import Keyring, get_keyring
from xinyong.workflows.windows import WindowCalculator

from .models import BatchError, IntakeBatch, Record, RecordVersion
from .pipeline import (
    PARALLEL_MIN_BYTES,
    Helper,
    SourceMeta,
    WorkerArgs,
    gc_paused,
    gc_tick,
    prepare_in_process,
)
from .prepare import ErrorItem, PreparedChunk, Preparer, canonical_key, natural_key_hash
from .readers import FileRefused, open_source, rows_source
from .reports import ErrorReport
from .store import BatchStore
from .workdays import DEADLINE_WORKDAYS, DelayCounter, WorkdayCalendar, default_calendar

log = logging.getLogger("xinyong.intake")

CHINA_TZ = timezone(timedelta(hours=8))
CHUNK_ROWS = 20_000
ERRORS_IN_RESULT = 100
#: Errors kept in the database per batch; the report files always hold all of them.
ERRORS_IN_DATABASE = 100_000

Progress = Callable[[int, int | None, int], None]  # (bytes done, bytes total, rows done)


def china_today() -> date:
    return datetime.now(CHINA_TZ).date()


@dataclass
class BatchResult:
    batch_id: int | None
    status: str  # committed | refused
    resource: str
    department: str
    file_name: str | None = None
    file_sha256: str | None = None
    format: str | None = None
    encoding: str | None = None
    sheet: str | None = None
    rows_total: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    rows_duplicate: int = 0
    records_created: int = 0
    records_updated: int = 0
    records_unchanged: int = 0
    subjects_created: int = 0
    rows_matched: int = 0
    match_rate: float | None = None
    matched_by: dict[str, int] = field(default_factory=dict)
    timeliness: dict[str, Any] | None = None
    unknown_columns: list[str] = field(default_factory=list)
    duplicate_columns: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_count: int = 0
    error_report: dict[str, str] | None = None
    message: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- units of work ---------------------------------------------------------------------------------


@contextmanager
def _unit(bind: Session | Engine) -> Iterator[Session]:
    if isinstance(bind, Session):
        yield bind
        bind.flush()
        return
    session = Session(bind=bind, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _db_url(bind: Session | Engine) -> str:
    engine = bind.get_bind() if isinstance(bind, Session) else bind
    return engine.url.render_as_string(hide_password=False)


def _resolve(session: Session, resource: str | Resource, department: str | Department | int,
             catalogue=None) -> tuple[Resource, Department]:
    res = resource if isinstance(resource, Resource) else (catalogue or load_catalogue()).get(resource)
    if isinstance(department, Department):
        dept = department
    elif isinstance(department, int):
        dept = session.get(Department, department)
        if dept is None:
            raise NotFound(f"未找到编号为 {department} 的部门。", code="department_not_found")
    else:
        dept = find_department(session, department)
    if dept.code not in res.source_departments and res.source_departments:
        log.info("department %s is not a listed source of %s", dept.code, res.code)
    return res, dept


def file_sha256(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def report_dir() -> Path:
    return get_settings().var_dir / "intake" / "reports"


# --- the batch -------------------------------------------------------------------------------------


def ingest_file(bind: Session | Engine, path: Path | str, resource: str | Resource,
                department: str | Department | int, *, sheet: str | None = None, today: date | None = None,
                keyring: Keyring | None = None, progress: Progress | None = None, parallel: bool | None = None,
                chunk_rows: int = CHUNK_ROWS, catalogue=None, calendar: WorkdayCalendar | None = None,
                file_name: str | None = None, actor: Actor | None = None) -> BatchResult:
    """Take in one department file (CSV/TSV, XLSX, JSON/NDJSON) for ``resource``.

    Returns the batch's figures; a file refused as a whole gives ``status == "refused"`` and a
    Chinese ``message`` (nothing else is kept but the refusal). ``parallel`` (default: files of
    4 MB or more) reads and validates in a helper process. With an ``actor`` the batch is
    recorded in the audit log, in the batch's own transaction.
    """
    path = Path(path)
    with _unit(bind) as session:
        res, dept = _resolve(session, resource, department, catalogue)
        dept_id, dept_code, dept_region = dept.id, dept.code, dept.region
    today = today or china_today()
    keyring = keyring or get_keyring()
    name = file_name or path.name
    try:
        stat_size = path.stat().st_size
    except OSError:
        stat_size = 0
    use_helper = parallel if parallel is not None else stat_size >= PARALLEL_MIN_BYTES
    helper: Helper | None = None
    windows = WindowCalculator(res)
    if use_helper:
        # Started first: its interpreter starts up while this process hashes the file.
        helper = Helper(WorkerArgs(path=str(path), resource=res, keyring=keyring, sheet=sheet, today=today,
                                   db_url=_db_url(bind), chunk_rows=chunk_rows, windows=windows))
    try:
        sha, size = file_sha256(path) if path.exists() else (None, None)
    except BaseException:
        if helper is not None:
            helper.close()
        raise
    try:
        if helper is not None:
            meta = helper.meta()

            def chunks_factory(store: BatchStore) -> Iterator[PreparedChunk]:
                assert helper is not None
                helper.allow_lookups()  # called under the resource's writer lock
                return helper.chunks()
        else:
            src = open_source(path, res, sheet=sheet)
            meta = SourceMeta.of(src)

            def chunks_factory(store: BatchStore) -> Iterator[PreparedChunk]:
                preparer = Preparer(res, src.fields, keyring=keyring, today=today, hints=store.hint_lookup,
                                    windows=windows)
                return prepare_in_process(src, preparer, chunk_rows)
    except FileRefused as exc:
        if helper is not None:
            helper.close()
        return _refused(bind, res, dept_id, dept_code, name, sha, size, today, exc, source="file", actor=actor)
    except BaseException:
        if helper is not None:
            helper.close()
        raise
    try:
        return _run_batch(bind, res, dept_id, dept_code, dept_region, meta, chunks_factory, today=today,
                          file_name=name, sha=sha, size=size, source="file", progress=progress,
                          calendar=calendar, actor=actor)
    finally:
        if helper is not None:
            helper.close()


def ingest_rows(bind: Session | Engine, rows: Iterable[dict[str, Any]], resource: str | Resource,
                department: str | Department | int, *, today: date | None = None, keyring: Keyring | None = None,
                catalogue=None, calendar: WorkdayCalendar | None = None, source_name: str | None = None,
                chunk_rows: int = CHUNK_ROWS, actor: Actor | None = None) -> BatchResult:
    """Take in rows given as objects (field code or column label → value), e.g. an API's JSON body.
    Row numbers are 1-based positions in ``rows``."""
    with _unit(bind) as session:
        res, dept = _resolve(session, resource, department, catalogue)
        dept_id, dept_code, dept_region = dept.id, dept.code, dept.region
    today = today or china_today()
    keyring = keyring or get_keyring()
    src = rows_source(rows, res)
    meta = SourceMeta.of(src)

    def chunks_factory(store: BatchStore) -> Iterator[PreparedChunk]:
        preparer = Preparer(res, src.fields, keyring=keyring, today=today, hints=store.hint_lookup)
        return prepare_in_process(src, preparer, chunk_rows)

    return _run_batch(bind, res, dept_id, dept_code, dept_region, meta, chunks_factory, today=today,
                      file_name=source_name, sha=None, size=None, source="api", progress=None, calendar=calendar,
                      actor=actor)


def _audit(session: Session, actor: Actor | None, action: str, resource: str, details: dict[str, Any]) -> None:
    if actor is not None:
        from xinyong.audit.service import record_event

        record_event(session, action, actor=actor, resources=[resource], details=details)


def _refused(bind, res: Resource, dept_id: int, dept_code: str, name: str | None, sha: str | None,
             size: int | None, today: date, exc: FileRefused, *, source: str, actor: Actor | None = None
             ) -> BatchResult:
    if isinstance(bind, Session):
        bind.rollback()
    with _unit(bind) as session:
        batch = IntakeBatch(department_id=dept_id, resource=res.code, source=source, file_name=name,
                            file_sha256=sha, file_size=size, status="refused", message=exc.message[:1000],
                            submitted_on=today, finished_at=datetime.now(UTC))
        session.add(batch)
        session.flush()
        batch_id = batch.id
        _audit(session, actor, "intake.refused", res.code, {"batch_id": batch_id, "department": dept_code})
    log.info("intake batch %s refused: resource=%s department=%s", batch_id, res.code, dept_code)
    return BatchResult(batch_id=batch_id, status="refused", resource=res.code, department=dept_code,
                       file_name=name, file_sha256=sha, message=exc.message)


def _run_batch(bind, res: Resource, dept_id: int, dept_code: str, dept_region: str | None, meta: SourceMeta,
               chunks_factory: Callable[[BatchStore], Iterator[PreparedChunk]], *, today: date,
               file_name: str | None, sha: str | None, size: int | None, source: str,
               progress: Progress | None, calendar: WorkdayCalendar | None, actor: Actor | None = None
               ) -> BatchResult:
    started = time.monotonic()
    report: ErrorReport | None = None
    first_errors: list[ErrorItem] = []
    try:
        with _unit(bind) as session:
            BatchStore.lock(session, res.code)
            batch = IntakeBatch(department_id=dept_id, resource=res.code, source=source, file_name=file_name,
                                file_sha256=sha, file_size=size, file_format=meta.format, encoding=meta.encoding,
                                status="running", submitted_on=today)
            session.add(batch)
            session.flush()
            delays = DelayCounter(calendar or default_calendar(), today) if res.double_publicity else None
            store = BatchStore(session, batch_id=batch.id, resource=res, department_id=dept_id,
                               department_region=dept_region, file_sha256=sha, submitted_on=today, delays=delays)
            report = ErrorReport(report_dir(), batch.id)
            with gc_paused():
                _apply_chunks(session, store, chunks_factory(store), report, batch.id, first_errors, progress,
                              meta.total_bytes)
            store.close()
            c = store.counts
            paths = report.finish()
            report = None
            batch.status = "committed"
            for name in ("rows_total", "rows_rejected", "rows_duplicate", "records_created", "records_updated",
                         "records_unchanged", "subjects_created", "rows_matched"):
                setattr(batch, name, getattr(c, name))
            batch.rows_accepted = c.rows_accepted
            timeliness = _batch_timeliness(c) if delays is not None else None
            batch.stats = {"matched_by": c.matched_by, "timeliness": timeliness,
                           "unknown_columns": meta.unknown_columns, "duplicate_columns": meta.duplicate_columns,
                           "header_row": meta.header_row, "sheet": meta.sheet}
            batch.error_report = paths["csv"] if paths else None
            batch.finished_at = datetime.now(UTC)
            session.flush()
            batch_id = batch.id
            # Last, just before the commit: appending to the audit chain serialises writers.
            _audit(session, actor, "intake.batch", res.code, {
                "batch_id": batch_id, "department": dept_code, "rows_total": c.rows_total,
                "rows_rejected": c.rows_rejected, "records_created": c.records_created,
                "records_updated": c.records_updated})
    except FileRefused as exc:
        if report is not None:
            report.discard()
        return _refused(bind, res, dept_id, dept_code, file_name, sha, size, today, exc, source=source, actor=actor)
    except BaseException as exc:
        if report is not None:
            report.discard()
        _record_failure(bind, res, dept_id, file_name, sha, size, today, source, exc)
        raise
    seconds = time.monotonic() - started
    log.info("intake batch %s committed: resource=%s department=%s rows=%d accepted=%d rejected=%d "
             "created=%d updated=%d unchanged=%d in %.1fs", batch_id, res.code, dept_code, c.rows_total,
             c.rows_accepted, c.rows_rejected, c.records_created, c.records_updated, c.records_unchanged, seconds)
    return BatchResult(
        batch_id=batch_id, status="committed", resource=res.code, department=dept_code, file_name=file_name,
        file_sha256=sha, format=meta.format, encoding=meta.encoding, sheet=meta.sheet,
        rows_total=c.rows_total, rows_accepted=c.rows_accepted, rows_rejected=c.rows_rejected,
        rows_duplicate=c.rows_duplicate, records_created=c.records_created, records_updated=c.records_updated,
        records_unchanged=c.records_unchanged, subjects_created=c.subjects_created, rows_matched=c.rows_matched,
        match_rate=round(c.rows_matched / c.rows_accepted, 4) if c.rows_accepted else None,
        matched_by=dict(c.matched_by), timeliness=timeliness, unknown_columns=meta.unknown_columns,
        duplicate_columns=meta.duplicate_columns,
        errors=[{"row": e.row_no, "field": e.field, "label": e.label, "code": e.code, "message": e.message,
                 "value": e.value} for e in first_errors],
        error_count=report_rows(paths), error_report=paths, seconds=round(seconds, 3))


def _apply_chunks(session: Session, store: BatchStore, chunks: Iterator[PreparedChunk], report: ErrorReport,
                  batch_id: int, first_errors: list[ErrorItem], progress: Progress | None,
                  total_bytes: int | None) -> None:
    """Apply each prepared chunk; keep its errors (report file, first ones, database)."""
    stored_errors = 0
    for n, chunk in enumerate(chunks, start=1):
        errors = sorted([*chunk.errors, *store.apply(chunk)], key=lambda e: e.row_no)
        if errors:
            report.add(errors)
            if len(first_errors) < ERRORS_IN_RESULT:
                first_errors.extend(errors[:ERRORS_IN_RESULT - len(first_errors)])
            keep = errors[:max(0, ERRORS_IN_DATABASE - stored_errors)]
            if keep:
                session.execute(BatchError.__table__.insert(), [
                    {"batch_id": batch_id, "row_no": e.row_no, "field": e.field, "code": e.code,
                     "message": e.message, "value": e.value} for e in keep])
                stored_errors += len(keep)
        if progress is not None:
            progress(chunk.position or 0, total_bytes, store.counts.rows_total)
        del chunk, errors
        gc_tick(n)


def _record_failure(bind, res: Resource, dept_id: int, file_name: str | None, sha: str | None, size: int | None,
                    today: date, source: str, exc: BaseException) -> None:
    """Leave a trace of a batch that failed for an unexpected reason (nothing of it was kept).
    Only with an Engine: a caller's session is theirs to roll back."""
    if not isinstance(bind, Engine) or isinstance(exc, (KeyboardInterrupt, SystemExit)):
        return
    log.error("intake batch failed: resource=%s error=%s", res.code, type(exc).__name__)
    try:
        with _unit(bind) as session:
            session.add(IntakeBatch(department_id=dept_id, resource=res.code, source=source, file_name=file_name,
                                    file_sha256=sha, file_size=size, status="failed", submitted_on=today,
                                    message=f"处理过程中出现意外错误（{type(exc).__name__}），本批次未入库，请重新报送或联系平台管理员。",
                                    finished_at=datetime.now(UTC)))
    except Exception:  # noqa: BLE001 - the original error is the one to report
        log.warning("could not record the failed intake batch")


def report_rows(paths: dict[str, str] | None) -> int:
    if not paths:
        return 0
    with open(paths["csv"], encoding="utf-8-sig") as fh:
        return sum(1 for _ in fh) - 1


def _batch_timeliness(c) -> dict[str, Any]:
    total = c.on_time + c.late
    return {"deadline_workdays": DEADLINE_WORKDAYS, "new_records": total, "on_time": c.on_time, "late": c.late,
            "on_time_rate": round(c.on_time / total, 4) if total else None}


# --- the city --------------------------------------------------------------------------------------


def ingest_city(bind: Session | Engine, city_dir: Path | str, *, today: date | None = None,
                progress: Callable[[dict, BatchResult], None] | None = None, catalogue=None,
                actor: Actor | None = None) -> list[BatchResult]:
    """Ingest every file of a generated city (``manifest.json``), one batch per file."""
    from xinyong.synthetic.generator import read_manifest

    city_dir = Path(city_dir)
    manifest = read_manifest(city_dir)
    if manifest is None:
        raise InvalidInput(f"{city_dir} 不是合成城市目录（缺少 manifest.json）：请先运行 `xinyong generate`。",
                           code="not_a_city")
    today = today or date.fromisoformat(manifest["as_of"])
    results = []
    calendar = default_calendar()
    for entry in manifest["files"]:
        result = ingest_file(bind, city_dir / entry["path"], entry["resource"], entry["department"], today=today,
                             catalogue=catalogue, calendar=calendar, actor=actor)
        results.append(result)
        if progress is not None:
            progress(entry, result)
    return results


# --- batches ---------------------------------------------------------------------------------------


def batch_to_dict(batch: IntakeBatch, department: Department | None = None) -> dict[str, Any]:
    stats = batch.stats or {}
    return {
        "batch_id": batch.id, "status": batch.status, "resource": batch.resource,
        "department": department.code if department else batch.department_id, "source": batch.source,
        "file_name": batch.file_name, "file_sha256": batch.file_sha256, "format": batch.file_format,
        "encoding": batch.encoding, "message": batch.message, "rows_total": batch.rows_total,
        "rows_accepted": batch.rows_accepted, "rows_rejected": batch.rows_rejected,
        "rows_duplicate": batch.rows_duplicate, "records_created": batch.records_created,
        "records_updated": batch.records_updated, "records_unchanged": batch.records_unchanged,
        "subjects_created": batch.subjects_created, "rows_matched": batch.rows_matched,
        "match_rate": round(batch.rows_matched / batch.rows_accepted, 4) if batch.rows_accepted else None,
        "matched_by": stats.get("matched_by"), "timeliness": stats.get("timeliness"),
        "submitted_on": batch.submitted_on.isoformat() if batch.submitted_on else None,
        "started_at": batch.started_at.isoformat() if batch.started_at else None,
        "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
        "error_report": batch.error_report,
    }


def get_batch(session: Session, batch_id: int, *, errors: int = ERRORS_IN_RESULT) -> dict[str, Any]:
    batch = session.get(IntakeBatch, batch_id)
    if batch is None:
        raise NotFound(f"未找到报送批次 {batch_id}。", code="batch_not_found")
    out = batch_to_dict(batch, session.get(Department, batch.department_id))
    rows = session.execute(select(BatchError).where(BatchError.batch_id == batch_id)
                           .order_by(BatchError.id).limit(errors)).scalars()
    out["errors"] = [{"row": e.row_no, "field": e.field, "code": e.code, "message": e.message, "value": e.value}
                     for e in rows]
    return out


def batch_report_path(session: Session, batch_id: int, fmt: str = "csv") -> Path:
    batch = session.get(IntakeBatch, batch_id)
    if batch is None:
        raise NotFound(f"未找到报送批次 {batch_id}。", code="batch_not_found")
    if not batch.error_report:
        raise NotFound("该批次没有错误报告（没有被拒收的行）。", code="no_error_report")
    path = Path(batch.error_report)
    if fmt == "xlsx":
        path = path.with_suffix(".xlsx")
    if not path.exists():
        raise NotFound("错误报告文件已不存在。", code="error_report_missing")
    return path


# --- withdrawal ------------------------------------------------------------------------------------


def find_record(session: Session, resource: str | Resource, key: dict[str, Any], *, keyring: Keyring | None = None,
                catalogue=None) -> Record:
    """A record by its natural key values (field code → value, written as in a file)."""
    res = resource if isinstance(resource, Resource) else (catalogue or load_catalogue()).get(resource)
    validator = row_validator(res)
    missing = [res.field(c).label for c in res.natural_key if key.get(c) in (None, "")]
    if missing:
        raise InvalidInput(f"请提供记录的唯一标识：{'、'.join(missing)}。", code="record_key_required")
    values = validator.key_columns({c: [key.get(c)] for c in res.natural_key}, res.natural_key, 1)
    if values is None or values[0] is None:
        raise InvalidInput("记录的唯一标识格式不正确，请按报送文件中的写法填写。", code="invalid_record_key")
    nk = natural_key_hash(keyring or get_keyring(), res.code, canonical_key(res, values[0]))
    record = session.scalar(select(Record).where(Record.resource == res.code, Record.natural_key_hash == nk))
    if record is None:
        raise NotFound("未找到该记录。", code="record_not_found")
    return record


def withdraw_record(session: Session, record_id: int, *, reason: str, actor: Actor | None = None) -> dict[str, Any]:
    """Withdraw (撤销) a record: it stops being current; every version stays. Needs a reason."""
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise InvalidInput("撤销记录必须说明理由（例如：行政处罚决定已被依法撤销，文号……）。", code="reason_required")
    record = session.get(Record, record_id)
    if record is None:
        raise NotFound(f"未找到编号为 {record_id} 的记录。", code="record_not_found")
    BatchStore.lock(session, record.resource)
    session.refresh(record)
    if record.status == "withdrawn":
        raise Conflict("该记录已于此前撤销。", code="already_withdrawn")
    now = datetime.now(UTC)
    version = record.current_version + 1
    session.add(RecordVersion(record_id=record.id, version=version, change="withdrawn", status="withdrawn",
                              batch_id=None, department_id=record.department_id, subject_id=record.subject_id,
                              content_hash=record.content_hash, data=record.data, personal_enc=record.personal_enc,
                              reason=reason[:1000], actor=(actor.name or actor.describe())[:200] if actor else None,
                              created_at=now))
    record.current_version = version
    record.status = "withdrawn"
    record.withdrawn_at = now
    record.withdrawn_reason = reason[:1000]
    record.updated_at = now
    session.flush()
    _audit(session, actor, "intake.withdraw", record.resource, {"record_id": record.id, "version": version})
    log.info("record %s (%s) withdrawn", record.id, record.resource)
    return {"record_id": record.id, "resource": record.resource, "status": record.status, "version": version}


# --- timeliness ------------------------------------------------------------------------------------


def timeliness_by_department(session: Session, *, department: str | None = None, resource: str | None = None,
                             decided_from: date | None = None, decided_to: date | None = None) -> list[dict[str, Any]]:
    """Double-publicity timeliness per department: records published within 7 working days."""
    stmt = (select(Department.code, Department.name, Record.resource, func.count(),
                   func.sum(cast(Record.on_time, Integer)),
                   func.avg(Record.delay_workdays))
            .join(Department, Department.id == Record.department_id)
            .where(Record.on_time.is_not(None))
            .group_by(Department.code, Department.name, Record.resource)
            .order_by(Department.code, Record.resource))
    if department:
        dept = find_department(session, department)
        stmt = stmt.where(Record.department_id == dept.id)
    if resource:
        stmt = stmt.where(Record.resource == resource)
    if decided_from:
        stmt = stmt.where(Record.main_date >= decided_from)
    if decided_to:
        stmt = stmt.where(Record.main_date <= decided_to)
    out: dict[str, dict[str, Any]] = {}
    for code, name, res, total, on_time, avg_delay in session.execute(stmt):
        d = out.setdefault(code, {"department": code, "name": name, "total": 0, "on_time": 0, "late": 0,
                                  "resources": {}})
        on_time = int(on_time or 0)
        d["total"] += total
        d["on_time"] += on_time
        d["late"] += total - on_time
        d["resources"][res] = {"total": total, "on_time": on_time, "late": total - on_time,
                               "on_time_rate": round(on_time / total, 4) if total else None,
                               "avg_delay_workdays": round(float(avg_delay), 2) if avg_delay is not None else None}
    for d in out.values():
        d["on_time_rate"] = round(d["on_time"] / d["total"], 4) if d["total"] else None
    return list(out.values())

