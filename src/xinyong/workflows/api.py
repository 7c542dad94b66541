"""Workflow API (v1): thin translations of the services; access rules in ``accounts.policy``
(roles) and in the services (whose case, which department).

Each write runs in its own unit of work; e-mail goes out after the commit, so a failed step
never notifies anyone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from xinyong.accounts.access import current_actor
from xinyong.accounts.actor import Actor
from xinyong.db.engine import session_scope
from xinyong.errors import InvalidInput, NotFound
from xinyong.web.errors import ERROR_RESPONSES

from . import commitments, determinations, objections, repair
from .attachments import attachment_to_dict, get_attachment, save_attachment
from .policy import load_policy, policy_summary

router = APIRouter(prefix="/api/v1", tags=["信用工作流"], responses=ERROR_RESPONSES)
T = TypeVar("T")
TRACKING_HEADER = "X-Tracking-Code"


def run(fn: Callable[[Session], T]) -> T:
    """One unit of work, then the e-mail outbox."""
    from xinyong.notifications.service import deliver_after_commit

    with session_scope() as session:
        out = fn(session)
    deliver_after_commit()
    return out


def read(fn: Callable[[Session], T]) -> T:
    with session_scope() as session:
        return fn(session)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


Actor_ = Annotated[Actor, Depends(current_actor)]


# --- objections -------------------------------------------------------------------------------------


class ObjectionIn(_In):
    record_id: int | None = Field(default=None, description="异议的记录编号")
    subject_id: int | None = Field(default=None, description="对主体基本信息提出异议时：本主体编号")
    reason: str = Field(max_length=4000, description="异议理由")
    requested_change: str | None = Field(default=None, max_length=4000, description="希望如何更正")
    applicant_name: str | None = Field(default=None, max_length=200, description="申请人（未登录时必填）")
    contact_email: str | None = Field(default=None, max_length=254, description="接收结果的电子邮箱（未登录时必填）")


class ObjectionDecisionIn(_In):
    decision: Literal["uphold", "correct", "withdraw"]
    reply: str = Field(max_length=4000, description="书面答复")
    changes: dict[str, Any] | None = Field(default=None, description="更正时：字段代码 → 更正后的值")


class CancelIn(_In):
    reason: str | None = Field(default=None, max_length=1000)


@router.post("/objections", summary="提出异议", status_code=201)
def file_objection(body: ObjectionIn, actor: Actor_) -> dict:
    """File an objection against a record (``record_id``: the subject's own record, or anyone's
    public record) or against the subject's own basic information (``subject_id``). The record
    is marked 异议处理中 at once. Without an account, ``applicant_name`` and ``contact_email`` are
    required and the answer carries a ``tracking_code`` (send it as header X-Tracking-Code to
    follow the case). Filing the same open objection again returns it (``duplicate``)."""
    return run(lambda s: objections.file_objection(s, actor, **body.model_dump()))


@router.get("/objections", summary="异议列表（本人提出的、本部门办理的或全部）")
def list_objections(actor: Actor_, state: str | None = None, overdue: bool | None = None,
                    page: Annotated[int, Query(ge=1)] = 1, size: Annotated[int, Query(ge=1, le=100)] = 20) -> dict:
    """Departments see the objections routed to them, the credit office all (``overdue=true``:
    past the deadline, shown in red), a subject those it filed or that concern it."""
    return read(lambda s: objections.list_objections(s, actor, state=state, overdue=overdue, page=page, size=size))


@router.get("/objections/{objection_id}", summary="异议详情与办理时间线")
def get_objection(objection_id: int, request: Request, actor: Actor_) -> dict:
    token = request.headers.get(TRACKING_HEADER)
    return read(lambda s: objections.get_objection(s, actor, objection_id, token=token))


@router.post("/objections/{objection_id}/decision", summary="办理异议：维持、更正或撤销记录")
def decide_objection(objection_id: int, body: ObjectionDecisionIn, actor: Actor_) -> dict:
    """The source department (or the credit office) answers with a written reply. ``correct``
    writes a new record version (validated like any submission); the applicant is notified."""
    return run(lambda s: objections.handle_objection(s, actor, objection_id, **body.model_dump()))


@router.post("/objections/{objection_id}/cancel", summary="撤回异议申请")
def cancel_objection(objection_id: int, request: Request, actor: Actor_, body: CancelIn | None = None) -> dict:
    token = request.headers.get(TRACKING_HEADER)
    return run(lambda s: objections.cancel_objection(s, actor, objection_id, reason=body.reason if body else None,
                                                     token=token))


async def _upload(request: Request) -> list[tuple[str | None, bytes]]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "multipart/form-data":
        raise InvalidInput("请以 multipart/form-data 上传附件（字段名 file，可多个）。", code="unsupported_media_type")
    form = await request.form()
    files = [f for f in form.getlist("file") if not isinstance(f, str)]
    if not files:
        raise InvalidInput("请在表单字段 file 中选择要上传的附件。", code="file_required")
    from xinyong.config import get_settings

    limit = get_settings().attachment_max_bytes
    out = []
    for f in files:
        content = await f.read(limit + 1)
        out.append((f.filename, content))
    return out


@router.post("/objections/{objection_id}/attachments", summary="上传异议附件（证明材料）", status_code=201)
async def objection_attachment(objection_id: int, request: Request, actor: Actor_) -> dict:
    """PDF, PNG or JPEG (recognised by content), each up to the configured size; the applicant
    or the handling department."""
    files = await _upload(request)
    token = request.headers.get(TRACKING_HEADER)

    def work(s: Session) -> dict:
        obj = objections._get(s, objection_id)
        if not (objections._is_applicant(actor, obj, token) or (
                objections.can_view(actor, obj) and not actor.is_subject)):
            raise NotFound(f"未找到编号为 {objection_id} 的异议。", code="objection_not_found")
        saved = [attachment_to_dict(save_attachment(s, "objection", obj.id, name, content,
                                                    uploaded_by=actor.name or "申请人"))
                 for name, content in files]
        return {"attachments": saved}

    return await run_in_threadpool(run, work)


def _case_visible(s: Session, actor: Actor, workflow: str, case_id: int, token: str | None) -> bool:
    if workflow == "objection":
        obj = s.get(objections.Objection, case_id)
        return obj is not None and objections.can_view(actor, obj, token)
    if workflow == "repair":
        app = s.get(repair.RepairApplication, case_id)
        return app is not None and repair.can_view(actor, app)
    return False


@router.get("/attachments/{attachment_id}", summary="下载附件")
def download_attachment(attachment_id: int, request: Request, actor: Actor_, code: str | None = None
                        ) -> FileResponse:
    """Only to those who may see the case. Always a download, with the type recognised at upload."""
    token = request.headers.get(TRACKING_HEADER) or code

    def work(s: Session):
        att, path = get_attachment(s, attachment_id)
        if not _case_visible(s, actor, att.workflow, att.case_id, token):
            raise NotFound("未找到该附件。", code="attachment_not_found")
        return att.media_type, att.file_name, path

    media, name, path = read(work)
    response = FileResponse(path, media_type=media, filename=name, content_disposition_type="attachment")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- repair ------------------------------------------------------------------------------------------


class RepairIn(_In):
    record_id: int
    fulfilment: str = Field(max_length=4000, description="履行情况说明（如：罚款已于某日缴清，违法行为已改正）")
    commitment_signed_by: str = Field(max_length=200, description="信用承诺书签署人（法定代表人或本人）")
    accept_commitment: bool = Field(description="已阅读并同意信用承诺书（见 precheck 返回的 commitment_text）")
    contact_email: str | None = Field(default=None, max_length=254)


class RepairDecisionIn(_In):
    decision: Literal["approve", "reject"]
    reason: str = Field(max_length=4000)


@router.get("/repairs/precheck", summary="信用修复预检：该记录现在能否申请修复")
def repair_precheck(record_id: int, actor: Actor_) -> dict:
    """Answers at once: ``eligible`` and, when not, every reason (minimum window not elapsed,
    resource not repairable, pending application, too many attempts…)."""
    return read(lambda s: repair.precheck_for(s, actor, record_id))


@router.post("/repairs", summary="申请信用修复", status_code=201)
def apply_repair(body: RepairIn, actor: Actor_) -> dict:
    """Refused with the pre-check's reasons when the record is not repairable now. Upload evidence
    with ``POST /api/v1/repairs/{id}/attachments``."""
    return run(lambda s: repair.apply_for_repair(s, actor, **body.model_dump()))


@router.get("/repairs", summary="信用修复申请列表")
def list_repairs(actor: Actor_, state: str | None = None, overdue: bool | None = None,
                 page: Annotated[int, Query(ge=1)] = 1, size: Annotated[int, Query(ge=1, le=100)] = 20) -> dict:
    return read(lambda s: repair.list_repairs(s, actor, state=state, overdue=overdue, page=page, size=size))


@router.get("/repairs/{application_id}", summary="信用修复申请详情与时间线")
def get_repair(application_id: int, actor: Actor_) -> dict:
    return read(lambda s: repair.get_repair(s, actor, application_id))


@router.post("/repairs/{application_id}/decision", summary="审核信用修复申请")
def decide_repair(application_id: int, body: RepairDecisionIn, actor: Actor_) -> dict:
    """``approve``: the record stops being published everywhere and stays in the subject's own
    file marked 已修复; ``reject``: the reason is sent to the applicant."""
    return run(lambda s: repair.review_repair(s, actor, application_id, **body.model_dump()))


@router.post("/repairs/{application_id}/cancel", summary="撤回信用修复申请")
def cancel_repair(application_id: int, actor: Actor_) -> dict:
    return run(lambda s: repair.cancel_repair(s, actor, application_id))


@router.post("/repairs/{application_id}/attachments", summary="上传修复证明材料", status_code=201)
async def repair_attachment(application_id: int, request: Request, actor: Actor_) -> dict:
    files = await _upload(request)

    def work(s: Session) -> dict:
        app = repair._get(s, application_id)
        if not (actor.is_subject and actor.subject_id == app.subject_id):
            raise NotFound(f"未找到编号为 {application_id} 的信用修复申请。", code="repair_not_found")
        return {"attachments": [attachment_to_dict(save_attachment(s, "repair", app.id, name, content,
                                                                   uploaded_by=actor.name))
                                for name, content in files]}

    return await run_in_threadpool(run, work)


# --- list determinations ------------------------------------------------------------------------------


class DeterminationIn(_In):
    subject: str = Field(max_length=64, description="被认定主体的统一社会信用代码等代码")
    facts: str = Field(max_length=4000, description="认定事实")
    basis: str = Field(max_length=4000, description="认定依据（法律法规条款）")
    data: dict[str, Any] = Field(default_factory=dict, description="名单记录的其他字段（字段代码 → 值）")
    department: str | None = Field(default=None, description="认定部门（仅信用办代为登记时需要）")


class DeterminationStepIn(_In):
    action: Literal["notify", "decide", "drop", "publish", "revoke"]
    reason: str | None = Field(default=None, max_length=4000)
    decision_no: str | None = Field(default=None, max_length=100)
    valid_from: date | None = None
    valid_until: date | None = None


class StatementIn(_In):
    statement: str = Field(max_length=4000)


@router.post("/lists/{resource}/determinations", summary="提出名单认定（拟列入）", status_code=201)
def propose(resource: str, body: DeterminationIn, actor: Actor_) -> dict:
    """Then: ``notify`` (告知，陈述申辩期) → ``decide`` (文号、理由、有效期) → ``publish`` →
    removal on expiry (tick), repair or ``revoke``."""
    return run(lambda s: determinations.propose_determination(s, actor, resource=resource, **body.model_dump()))


@router.get("/lists/{resource}/determinations", summary="名单认定列表（resource=all 为全部名单）")
def list_determinations(resource: str, actor: Actor_, state: str | None = None, subject_id: int | None = None,
                        page: Annotated[int, Query(ge=1)] = 1,
                        size: Annotated[int, Query(ge=1, le=100)] = 20) -> dict:
    return read(lambda s: determinations.list_determinations(
        s, actor, resource=None if resource == "all" else resource, state=state, subject_id=subject_id,
        page=page, size=size))


@router.get("/lists/{resource}/determinations/{determination_id}", summary="名单认定详情与时间线")
def get_determination(resource: str, determination_id: int, actor: Actor_) -> dict:
    return read(lambda s: determinations.get_determination(s, actor, determination_id))


@router.post("/lists/{resource}/determinations/{determination_id}/steps", summary="办理名单认定")
def determination_step(resource: str, determination_id: int, body: DeterminationStepIn, actor: Actor_) -> dict:
    data = body.model_dump()
    action = data.pop("action")
    return run(lambda s: determinations.advance_determination(s, actor, determination_id, action, **data))


@router.post("/lists/{resource}/determinations/{determination_id}/statement", summary="陈述申辩（被认定主体）")
def determination_statement(resource: str, determination_id: int, body: StatementIn, actor: Actor_) -> dict:
    return run(lambda s: determinations.respond_to_notice(s, actor, determination_id, statement=body.statement))


# --- commitments --------------------------------------------------------------------------------------


class CommitmentIn(_In):
    department: str = Field(max_length=100, description="承诺受理部门（部门编码或名称）")
    commitment_type: str = Field(description="承诺类型（见 /api/v1/commitments/types）")
    domain: str = Field(description="承诺领域")
    matter: str = Field(max_length=500, description="承诺事项")
    content: str = Field(max_length=4000, description="承诺内容")
    valid_until: date | None = None
    subject: str | None = Field(default=None, description="承诺主体代码（部门代为登记时）")


class VerificationIn(_In):
    outcome: Literal["fulfil", "breach"]
    facts: str | None = Field(default=None, max_length=4000, description="核查说明；违诺时必填违诺情况")


@router.get("/commitments", summary="信用承诺公示列表")
def list_commitments(q: str | None = None, domain: str | None = None, commitment_type: str | None = None,
                     state: str | None = None, page: Annotated[int, Query(ge=1)] = 1,
                     size: Annotated[int, Query(ge=1, le=100)] = 20) -> dict:
    """Public: commitments of organisations and individual businesses (never natural persons)."""
    return read(lambda s: commitments.list_commitments(s, q=q, domain=domain, commitment_type=commitment_type,
                                                       state=state, page=page, size=size))


@router.get("/commitments/types", summary="承诺类型与领域（来自信用信息目录）")
def commitment_types() -> dict:
    return commitments.commitment_types()


@router.post("/commitments", summary="作出信用承诺", status_code=201)
def make_commitment(body: CommitmentIn, actor: Actor_) -> dict:
    return run(lambda s: commitments.make_commitment(s, actor, **body.model_dump()))


@router.get("/commitments/{commitment_id}", summary="信用承诺详情")
def get_commitment(commitment_id: int, actor: Actor_) -> dict:
    return read(lambda s: commitments.get_commitment(s, actor, commitment_id))


@router.post("/commitments/{commitment_id}/verification", summary="登记承诺履行情况（已履行或违诺）")
def verify_commitment(commitment_id: int, body: VerificationIn, actor: Actor_) -> dict:
    return run(lambda s: commitments.verify_commitment(s, actor, commitment_id, **body.model_dump()))


# --- policy ---------------------------------------------------------------------------------------------


@router.get("/policy", summary="当前生效的工作流策略（公示期、时限、修复条件）")
def get_policy() -> dict:
    """Public: the windows and deadlines every subject is held to, with their sources."""
    return policy_summary(load_policy())
