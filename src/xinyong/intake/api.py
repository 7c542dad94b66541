"""Intake over HTTP: thin translations of ``intake.service``; access rules in ``accounts.policy``."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.orm import Session

from xinyong.accounts.access import current_actor
from xinyong.accounts.actor import Actor
from xinyong.accounts.roles import ADMIN, DEPT_SUBMITTER
from xinyong.config import get_settings
from xinyong.db.engine import get_engine
from xinyong.errors import Forbidden, InvalidInput, XinyongError
from xinyong.web.deps import get_session
from xinyong.web.errors import ERROR_RESPONSES

from .models import IntakeBatch
from .readers import copy_limited, safe_upload_name
from .service import batch_report_path, get_batch, ingest_file, ingest_rows

router = APIRouter(prefix="/api/v1/intake", tags=["数据归集"])
MAX_JSON_ROWS = 100_000
MAX_UPLOAD_BYTES = 2 * 1024 ** 3


def _department_for(actor: Actor, department: str | None) -> str | int:
    """A department account submits for its own department only; an administrator names one."""
    if actor.role == DEPT_SUBMITTER:
        if actor.department_id is None:
            raise Forbidden("该账户未关联部门，不能报送数据。", code="no_department")
        if department and department not in (actor.department_code, actor.department_name, str(actor.department_id)):
            raise Forbidden("部门账户只能报送本部门的数据。", code="not_own_department")
        return actor.department_id
    if actor.role == ADMIN:
        if not department:
            raise InvalidInput("请用参数 department 指定报送部门（部门编码、统一社会信用代码或名称）。",
                               code="department_required")
        return department
    raise Forbidden(f"{actor.role_label}无权报送数据。", code="role_forbidden")


def _result_response(result) -> JSONResponse:
    body = result.to_dict()
    if result.status != "committed":
        return JSONResponse({"error": {"code": "file_refused", "message": result.message, "details": body}},
                            status_code=422)
    return JSONResponse(body)


@router.post("/{resource}", summary="报送数据（文件或 JSON 记录）", responses=ERROR_RESPONSES)
async def submit(
    resource: str,
    request: Request,
    actor: Annotated[Actor, Depends(current_actor)],
    department: Annotated[str | None, Query(description="报送部门（仅平台管理员需要指定）")] = None,
) -> JSONResponse:
    """Submit one file (``multipart/form-data``, field ``file``: CSV/TSV, XLSX, JSON or NDJSON)
    or rows as JSON (a list of objects, or ``{"rows": [...]}``; keys are field codes or column
    labels). The batch is applied whole or not at all; the answer gives the counts, the first
    100 errors and the batch id (``GET /api/v1/intake/batches/{batch_id}``). A file refused as a
    whole (unreadable, wrong resource, no recognisable header) answers 422 ``file_refused``."""
    from starlette.concurrency import run_in_threadpool

    dept = _department_for(actor, department)
    if actor.resources is not None and "*" not in actor.resources and resource not in actor.resources:
        raise Forbidden(f"该接口凭据未获授权报送信息资源 {resource}。", code="scope_forbidden")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidInput("请在表单字段 file 中上传文件。", code="file_required")
        folder = get_settings().var_dir / "intake" / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        name = safe_upload_name(upload.filename)
        suffix = Path(name).suffix[:10]
        with tempfile.NamedTemporaryFile(dir=folder, suffix=suffix, delete=False) as tmp:
            path = Path(tmp.name)
        try:
            with open(path, "wb") as out:
                await run_in_threadpool(copy_limited, upload.file, out, MAX_UPLOAD_BYTES)
            result = await run_in_threadpool(ingest_file, get_engine(), path, resource, dept,
                                             file_name=name, actor=actor)
        finally:
            path.unlink(missing_ok=True)
        return _result_response(result)
    if ctype == "application/json":
        try:
            body: Any = json.loads(await request.body())
        except ValueError:
            raise InvalidInput("请求体不是有效的 JSON。", code="invalid_json") from None
        except RecursionError:
            raise InvalidInput("JSON 嵌套层数过深：每条记录应为一层对象（字段名 → 值）。", code="invalid_json") from None
        rows = body.get("rows") if isinstance(body, dict) else body
        if not isinstance(rows, list):
            raise InvalidInput("JSON 请求体应为记录数组，或 {\"rows\": [...]}。", code="invalid_rows")
        if len(rows) > MAX_JSON_ROWS:
            raise InvalidInput(f"一次最多报送 {MAX_JSON_ROWS:,} 条记录，更多请上传文件。", code="too_many_rows")
        result = await run_in_threadpool(ingest_rows, get_engine(), rows, resource, dept, actor=actor)
        return _result_response(result)
    raise InvalidInput("请以 multipart/form-data 上传文件，或以 application/json 提交记录。", code="unsupported_media_type")


def _visible_batch(session: Session, actor: Actor, batch_id: int) -> None:
    batch = session.get(IntakeBatch, batch_id)
    if batch is not None and actor.is_department:
        actor.ensure_department(batch.department_id)


@router.get("/batches/{batch_id}", summary="报送批次结果", responses=ERROR_RESPONSES)
def batch(batch_id: int, actor: Annotated[Actor, Depends(current_actor)],
          session: Annotated[Session, Depends(get_session)]) -> dict:
    """A batch's counts, match rate, timeliness and first 100 errors. Department accounts see
    their own department's batches only."""
    _visible_batch(session, actor, batch_id)
    return get_batch(session, batch_id)


@router.get("/batches/{batch_id}/errors.{fmt}", summary="批次错误报告（CSV 或 XLSX）", responses=ERROR_RESPONSES)
def batch_errors(batch_id: int, fmt: str, actor: Annotated[Actor, Depends(current_actor)],
                 session: Annotated[Session, Depends(get_session)]) -> FileResponse:
    """The full error report: every rejected row with field, code, Chinese message and the value
    as submitted (masked when personal). Cells that a spreadsheet would run as formulas start
    with ``'``."""
    if fmt not in ("csv", "xlsx"):
        raise XinyongError("错误报告格式只能是 csv 或 xlsx。", code="not_found", status_code=404)
    _visible_batch(session, actor, batch_id)
    path = batch_report_path(session, batch_id, fmt)
    media = "text/csv; charset=utf-8" if fmt == "csv" else \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return FileResponse(path, media_type=media, filename=f"batch-{batch_id}-errors.{fmt}")
