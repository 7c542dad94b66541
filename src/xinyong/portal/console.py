"""Department console (工作台): upload data, batch history and error reports, the department's
own records with withdrawal, and notices for administrators. Intake and withdrawal rules live
in ``xinyong.intake.service``; these pages only collect the form and show the result."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyong.accounts.access import current_actor
from xinyong.accounts.actor import Actor
from xinyong.accounts.roles import ADMIN, DEPT_SUBMITTER
from xinyong.config import get_settings
from xinyong.db.engine import get_engine
from xinyong.departments.models import Department
from xinyong.errors import Forbidden, InvalidInput, NotFound, XinyongError
from xinyong.intake.models import IntakeBatch, Record
from xinyong.intake.readers import copy_limited, safe_upload_name
from xinyong.intake.service import (
    batch_to_dict,
    get_batch,
    ingest_file,
    withdraw_record,
)
from xinyong.portal import notices as notice_service
from xinyong.portal import service
from xinyong.portal.templating import page, render
from xinyong.publication import record_status_label
from xinyong.web.deps import get_session
from xinyong.web.security import form_csrf_token

router = APIRouter(prefix="/console", include_in_schema=False)
DbSession = Annotated[Session, Depends(get_session)]
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
UPLOAD_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".json", ".ndjson", ".jsonl")
PAGE = 20


def _csrf(request: Request) -> str:
    return form_csrf_token(request)[0]


def _department_filter(actor: Actor) -> int | None:
    """Department staff see their own department; the credit office sees all."""
    if actor.is_department:
        if actor.department_id is None:
            raise Forbidden("该账户未关联部门，请联系平台管理员。", code="no_department")
        return actor.department_id
    return None


def _ctx(request: Request, actor: Actor, **extra: Any) -> dict[str, Any]:
    return {"actor": actor, "csrf_token": _csrf(request), "can_submit": actor.role in (ADMIN, DEPT_SUBMITTER),
            "is_admin": actor.role == ADMIN, **extra}


@router.get("", name="console_home")
@page
def console_home(request: Request, session: DbSession) -> Response:
    actor = current_actor(request)
    dept_id = _department_filter(actor)
    stmt = select(IntakeBatch).order_by(IntakeBatch.id.desc()).limit(5)
    records = select(func.count()).select_from(Record)
    if dept_id is not None:
        stmt = stmt.where(IntakeBatch.department_id == dept_id)
        records = records.where(Record.department_id == dept_id)
    batches = [batch_to_dict(b) for b in session.scalars(stmt)]
    return render(request, "portal/console/index.html", _ctx(
        request, actor, batches=batches, n_records=session.scalar(records) or 0), private=True)


# --- upload ---------------------------------------------------------------------------------------


def _upload_choices(session: Session, actor: Actor) -> tuple[list, list[Department]]:
    cat = service.catalogue()
    depts = list(service.departments(session).values())
    if actor.is_department:
        dept = next((d for d in depts if d.id == actor.department_id), None)
        mine = cat.for_department(dept.code) if dept else []
        return (mine or list(cat)), ([dept] if dept else [])
    return list(cat), depts


@router.get("/upload", name="console_upload")
@page
def upload_form(request: Request, session: DbSession) -> Response:
    actor = current_actor(request)
    resources, depts = _upload_choices(session, actor)
    return render(request, "portal/console/upload.html", _ctx(request, actor, resources=resources, departments=depts,
                                                              error=None, form={}), private=True)


@router.post("/upload", name="console_upload_submit")
@page
def upload_submit(request: Request, session: DbSession, file: Annotated[UploadFile, File()],
                  resource: Annotated[str, Form(max_length=64)], department: Annotated[str, Form(max_length=64)] = ""
                  ) -> Response:
    actor = current_actor(request)
    resources, depts = _upload_choices(session, actor)
    try:
        if resource not in service.catalogue():
            raise InvalidInput("请选择要报送的信息资源。", code="unknown_resource")
        if actor.is_department:
            dept_id = actor.department_id
        else:
            dept = next((d for d in depts if d.code == department), None)
            if dept is None:
                raise InvalidInput("请选择报送部门。", code="department_required")
            dept_id = dept.id
        name = safe_upload_name(file.filename)
        suffix = Path(name).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            raise InvalidInput(f"不支持的文件类型“{suffix or '（无扩展名）'}”：请上传 CSV、XLSX、JSON 或 NDJSON 文件。",
                               code="unsupported_file_type")
        folder = get_settings().var_dir / "intake" / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, suffix=suffix, delete=False) as tmp:
            path = Path(tmp.name)
        try:
            with open(path, "wb") as out:
                copy_limited(file.file, out, MAX_UPLOAD_BYTES)
            if path.stat().st_size == 0:
                raise InvalidInput("上传的文件是空的，请检查后重新选择。", code="empty_file")
            if path.stat().st_size > MAX_UPLOAD_BYTES:
                raise InvalidInput("文件过大：网页上传不超过 512 MB，更大的文件请通过数据接口报送。", code="file_too_large")
            result = ingest_file(get_engine(), path, resource, dept_id, file_name=name, actor=actor)
        finally:
            path.unlink(missing_ok=True)
    except InvalidInput as exc:
        return render(request, "portal/console/upload.html", _ctx(
            request, actor, resources=resources, departments=depts, error=exc.message,
            form={"resource": resource, "department": department}), status=400, private=True)
    service.clear_caches()
    return RedirectResponse(f"/console/batches/{result.batch_id}?new=1", status_code=303)


# --- batches --------------------------------------------------------------------------------------


@router.get("/batches", name="console_batches")
@page
def batches(request: Request, session: DbSession, page: int = 1) -> Response:
    actor = current_actor(request)
    dept_id = _department_filter(actor)
    page = max(1, page)
    stmt = select(IntakeBatch)
    if dept_id is not None:
        stmt = stmt.where(IntakeBatch.department_id == dept_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(IntakeBatch.id.desc()).offset((page - 1) * PAGE).limit(PAGE)).all()
    depts = service.departments(session)
    items = []
    for b in rows:
        item = batch_to_dict(b)
        d = depts.get(b.department_id)
        item["department_name"] = d.name if d else ""
        items.append(item)
    return render(request, "portal/console/batches.html", _ctx(
        request, actor, items=items, total=total, page=page, pages=max(1, -(-total // PAGE))), private=True)


@router.get("/batches/{batch_id}", name="console_batch")
@page
def batch_page(request: Request, session: DbSession, batch_id: int, new: int = 0) -> Response:
    actor = current_actor(request)
    batch = session.get(IntakeBatch, batch_id)
    if batch is None:
        raise NotFound(f"未找到报送批次 {batch_id}。", code="batch_not_found")
    if actor.is_department:
        actor.ensure_department(batch.department_id)
    info = get_batch(session, batch_id)
    d = service.departments(session).get(batch.department_id)
    info["department_name"] = d.name if d else ""
    res = service.catalogue().resources.get(batch.resource)
    return render(request, "portal/console/batch.html", _ctx(
        request, actor, b=info, resource_name=res.name if res else batch.resource, new=bool(new)), private=True)


# --- records and withdrawal -----------------------------------------------------------------------


@router.get("/records", name="console_records")
@page
def records(request: Request, session: DbSession, resource: str | None = None, status: str | None = None,
            page: int = 1) -> Response:
    actor = current_actor(request)
    dept_id = _department_filter(actor)
    page = max(1, page)
    cat = service.catalogue()
    stmt = select(Record)
    if dept_id is not None:
        stmt = stmt.where(Record.department_id == dept_id)
    if resource:
        if resource not in cat:
            raise InvalidInput(f"信用信息目录中没有资源 {resource}。", code="unknown_resource")
        stmt = stmt.where(Record.resource == resource)
    if status in ("active", "withdrawn"):
        stmt = stmt.where(Record.status == status)
    total, exact = service.count_capped(session, stmt)
    rows = session.scalars(stmt.order_by(Record.main_date.desc(), Record.id.desc())
                           .offset((page - 1) * PAGE).limit(PAGE)).all()
    depts = service.departments(session)
    items = []
    for r in rows:
        res = cat.resources.get(r.resource)
        if res is None:
            continue
        item = service.present_record(r, res, depts)
        item["subject_name"] = (r.data or {}).get(res.subject_fields.name)
        item["record_status"] = r.status
        item["label"] = record_status_label(r)
        items.append(item)
    return render(request, "portal/console/records.html", _ctx(
        request, actor, items=items, total=total, total_exact=exact, page=page, pages=max(1, -(-total // PAGE)),
        resource=resource or "", status=status or "", resources=list(cat)), private=True)


@router.post("/records/{record_id}/withdraw", name="console_withdraw")
@page
def withdraw(request: Request, session: DbSession, record_id: int,
             reason: Annotated[str, Form(max_length=1000)] = "") -> Response:
    actor = current_actor(request)
    record = session.get(Record, record_id)
    if record is None:
        raise NotFound(f"未找到编号为 {record_id} 的记录。", code="record_not_found")
    if actor.is_department:
        actor.ensure_department(record.department_id)
    withdraw_record(session, record_id, reason=reason, actor=actor)
    service.clear_caches()
    return RedirectResponse(f"/console/records?withdrawn={record_id}", status_code=303)


# --- notices (administrators) ---------------------------------------------------------------------


@router.get("/notices", name="console_notices")
@page
def notices_admin(request: Request, session: DbSession) -> Response:
    actor = current_actor(request)
    return render(request, "portal/console/notices.html", _ctx(
        request, actor, items=notice_service.list_all(session), kinds=notice_service.KINDS), private=True)


@router.get("/notices/new", name="console_notice_new")
@page
def notice_new(request: Request) -> Response:
    actor = current_actor(request)
    return render(request, "portal/console/notice_form.html", _ctx(
        request, actor, notice=None, form={"kind": "notice"}, error=None, kinds=notice_service.KINDS), private=True)


def _notice_form(slug: str, title: str, body: str, kind: str, published: str) -> dict[str, Any]:
    return {"slug": slug, "title": title, "body": body, "kind": kind, "published": published in ("1", "on", "true")}


@router.post("/notices", name="console_notice_create")
@page
def notice_create(request: Request, session: DbSession, slug: Annotated[str, Form(max_length=200)] = "",
                  title: Annotated[str, Form(max_length=400)] = "", body: Annotated[str, Form()] = "",
                  kind: Annotated[str, Form(max_length=16)] = "notice",
                  published: Annotated[str, Form(max_length=8)] = "") -> Response:
    actor = current_actor(request)
    form = _notice_form(slug, title, body, kind, published)
    try:
        notice = notice_service.create_notice(session, actor=actor, **form)
    except XinyongError as exc:
        session.rollback()
        return render(request, "portal/console/notice_form.html", _ctx(
            request, actor, notice=None, form=form, error=exc.message, kinds=notice_service.KINDS),
            status=400 if exc.status_code == 422 else exc.status_code, private=True)
    return RedirectResponse(f"/console/notices?saved={notice.id}", status_code=303)


@router.get("/notices/{notice_id}/edit", name="console_notice_edit")
@page
def notice_edit(request: Request, session: DbSession, notice_id: int) -> Response:
    actor = current_actor(request)
    notice = notice_service.get_notice(session, notice_id)
    form = {"slug": notice.slug, "title": notice.title, "body": notice.body, "kind": notice.kind,
            "published": notice.published}
    return render(request, "portal/console/notice_form.html", _ctx(
        request, actor, notice=notice, form=form, error=None, kinds=notice_service.KINDS), private=True)


@router.post("/notices/{notice_id}", name="console_notice_update")
@page
def notice_update(request: Request, session: DbSession, notice_id: int,
                  slug: Annotated[str, Form(max_length=200)] = "", title: Annotated[str, Form(max_length=400)] = "",
                  body: Annotated[str, Form()] = "", kind: Annotated[str, Form(max_length=16)] = "notice",
                  published: Annotated[str, Form(max_length=8)] = "") -> Response:
    actor = current_actor(request)
    notice = notice_service.get_notice(session, notice_id)
    form = _notice_form(slug, title, body, kind, published)
    try:
        notice_service.update_notice(session, notice_id, actor=actor, **form)
    except XinyongError as exc:
        session.rollback()
        return render(request, "portal/console/notice_form.html", _ctx(
            request, actor, notice=notice, form=form, error=exc.message, kinds=notice_service.KINDS),
            status=400 if exc.status_code == 422 else exc.status_code, private=True)
    service.clear_caches()
    return RedirectResponse(f"/console/notices?saved={notice_id}", status_code=303)
