"""Joint rewards and punishments API (v1): the measures catalogue, checks, feedback, feedback
rates and batch checks. Roles are in ``accounts.policy``; whose check and which department in
``measures.service``."""

from __future__ import annotations

import shutil
import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response
from pydantic_core import to_json
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from xinyong.accounts.access import request_actor
from xinyong.accounts.actor import Actor
from xinyong.config import get_settings
from xinyong.db.engine import session_scope
from xinyong.errors import InvalidInput
from xinyong.web.errors import ERROR_RESPONSES
from xinyong.web.lean import LeanJSONRoute

from . import batch as batches
from . import service

router = APIRouter(prefix="/api/v1", tags=["联合奖惩"], responses=ERROR_RESPONSES)
Actor_ = Annotated[Actor, Depends(request_actor)]
UPLOAD_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm")
MAX_UPLOAD = 64 * 1024 * 1024


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckIn(_In):
    subject: str = Field(min_length=1, max_length=64, description="主体的任一代码：统一社会信用代码、组织机构代码、"
                                                                 "工商注册号、公民身份号码等")
    scenario: str = Field(min_length=1, max_length=64, description="应用场景代码，如 government_procurement、bidding")
    department: str | None = Field(None, max_length=64, description="发起核查的部门编码（部门账户可省略，默认本部门）")


class FeedbackEntry(_In):
    measure: str = Field(min_length=1, max_length=64, description="措施代码")
    outcome: Literal["applied", "not_applied"] = Field(description="applied（已实施）或 not_applied（未实施）")
    reason: str | None = Field(None, max_length=2000, description="说明；未实施时必填")


class FeedbackIn(_In):
    items: list[FeedbackEntry] = Field(min_length=1, max_length=200)


@router.get("/measures", summary="联合奖惩措施清单")
def measures_catalogue(scenario: Annotated[str | None, Query(max_length=64)] = None) -> dict:
    """Every measure with its kind, strength, triggers, scenarios, implementing departments and
    legal basis; ``scenario`` narrows to one scenario."""
    return service.catalogue_dict(scenario=scenario)


def _check(actor: Actor, body: CheckIn) -> dict:
    with session_scope() as s:
        return service.check_subject(s, actor, body.subject, body.scenario, body.department)


async def create_check(body: CheckIn, actor: Actor_) -> Response:
    """The measures that apply to a subject in a scenario, each with its triggering list entries
    or records, legal basis and strength, and a check id to report feedback against. Rewards
    and punishments can both apply: ``both`` and ``summary`` say so. Records under objection or
    repaired do not trigger punishments. Recorded in the subject's access history."""
    # Async with the work in one worker thread: for a sync endpoint FastAPI also validates the
    # answer in another worker thread, and each hop cost more than the validation. The answer is
    # our own plain dict: serialised once here, not validated against ``dict`` first.
    answer = await run_in_threadpool(_check, actor, body)
    return Response(to_json(answer), status_code=201, media_type="application/json")


# Departments' systems call this more than everything else together: served by a lean handler
# (same path, body, OpenAPI, policy and errors; xinyong.web.lean).
router.add_api_route("/checks", create_check, methods=["POST"], summary="联合奖惩核查", status_code=201,
                     response_model=dict, route_class_override=LeanJSONRoute)


@router.get("/checks", summary="本部门的核查记录（待反馈、逾期）")
def list_checks(actor: Actor_, overdue: bool = False, pending: bool = False,
                department: Annotated[str | None, Query(max_length=64)] = None,
                page: Annotated[int, Query(ge=1)] = 1, size: Annotated[int, Query(ge=1, le=100)] = 20) -> dict:
    with session_scope() as s:
        return service.list_checks(s, actor, overdue=overdue, pending=pending, department=department,
                                   page=page, size=size)


@router.get("/checks/{check_id}", summary="核查结果与反馈情况")
def get_check(check_id: int, actor: Actor_) -> dict:
    with session_scope() as s:
        return service.get_check(s, actor, check_id)


@router.post("/checks/{check_id}/feedback", summary="反馈措施实施情况")
def feedback(check_id: int, body: FeedbackIn, actor: Actor_) -> dict:
    """Per measure: ``applied`` or ``not_applied`` with the reason. The same feedback again
    changes nothing; a changed one is recorded in the audit log."""
    with session_scope() as s:
        return service.record_feedback(s, actor, check_id, [e.model_dump() for e in body.items])


@router.get("/measures/feedback-rates", summary="反馈率（按部门或按措施）")
def feedback_rates(actor: Actor_, by: Literal["department", "measure"] = "department",
                   department: Annotated[str | None, Query(max_length=64)] = None,
                   since: date | None = None, until: date | None = None) -> dict:
    if actor.is_department:
        department = actor.department_code
    with session_scope() as s:
        return service.feedback_rates(s, by=by, department=department, since=since, until=until)


# --- batch checks -----------------------------------------------------------------------------------


def save_upload(file: UploadFile) -> tuple[Path, str]:
    name = Path(file.filename or "").name[:255]
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise InvalidInput(f"不支持的文件类型“{suffix or '（无扩展名）'}”：请上传 CSV 或 XLSX 文件。",
                           code="unsupported_file_type")
    folder = get_settings().var_dir / "measures" / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, suffix=suffix, delete=False) as tmp:
        shutil.copyfileobj(file.file, tmp, 1 << 20)
        path = Path(tmp.name)
    size = path.stat().st_size
    if size == 0 or size > MAX_UPLOAD:
        path.unlink(missing_ok=True)
        raise InvalidInput("上传的文件是空的。" if size == 0 else "文件过大：核查清单不超过 64 MB。", code="bad_upload")
    return path, name


def start_batch(actor: Actor, path: Path, name: str, scenario: str, department: str | None,
                background: BackgroundTasks) -> dict[str, Any]:
    """Read and validate the list now (errors answer the upload), then check in the background."""
    try:
        entries = batches.read_entries(path)
        sha = batches.sha256_of(path)
    finally:
        path.unlink(missing_ok=True)
    with session_scope() as s:
        b = batches.create_batch(s, actor, scenario, department, file_name=name, file_sha256=sha)
        b.total = len(entries)
        batch_id = b.id
        out = batches.batch_to_dict(b, s)

    def work() -> None:
        try:
            batches.run_batch(actor, batch_id, entries)
        except Exception:  # noqa: BLE001 - recorded on the batch row (state failed, message)
            pass

    background.add_task(work)
    return out


@router.post("/check-batches", summary="批量核查（上传主体清单）", status_code=202)
def create_batch(request: Request, background: BackgroundTasks, actor: Actor_,
                 file: Annotated[UploadFile, File(description="CSV 或 XLSX：一列主体代码，可附名称、业务编号")],
                 scenario: Annotated[str, Form(max_length=64)],
                 department: Annotated[str | None, Form(max_length=64)] = None) -> dict:
    """Up to 100,000 subjects. Answers at once with the batch id; follow ``GET
    /api/v1/check-batches/{id}`` (progress) and download the result as XLSX, CSV or JSON."""
    path, name = save_upload(file)
    return start_batch(actor, path, name, scenario, department, background)


@router.get("/check-batches/{batch_id}", summary="批量核查进度")
def batch_status(batch_id: int, actor: Actor_) -> dict:
    with session_scope() as s:
        return batches.batch_to_dict(batches.get_batch(s, actor, batch_id), s)


MEDIA = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         "csv": "text/csv; charset=utf-8", "json": "application/json"}


@router.get("/check-batches/{batch_id}/result.{fmt}", summary="下载批量核查结果")
def batch_result(batch_id: int, fmt: str, actor: Actor_) -> FileResponse:
    with session_scope() as s:
        path = batches.result_path(s, actor, batch_id, fmt)
    return FileResponse(path, media_type=MEDIA[fmt], filename=f"核查结果-{batch_id}.{fmt}",
                        headers={"Cache-Control": "private, no-store"})
