"""Credit repair (信用修复): the rules in one place.

``repair_precheck`` tells the applicant at once whether a record is repairable now and why
not: the record must be an active negative record still published, of a repairable resource,
past its minimum window, with no pending application, within the policy's limit on repeated
applications. ``apply_for_repair`` files an application (declaration of fulfilment, evidence
as attachments, a signed credit commitment); the source department or the credit office
reviews before the policy deadline. Approval marks the record repaired: it leaves every
public surface (``publication.public_record_clause``) and stays in the subject's own file,
labelled 已修复, with a new record version noting the repair.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from xinyong.accounts.actor import Actor
from xinyong.errors import InvalidInput, NotFound
from xinyong.intake.models import Record, RecordVersion
from xinyong.notifications.service import check_email, notify

from . import clock
from .attachments import list_attachments
from .common import (
    StateMachine,
    Transition,
    department_name,
    ensure_handler,
    ensure_subject_actor,
    get_record,
    is_credit_office,
    list_cases,
    record_summary,
    resource_of,
    step,
    subject_name,
    text_field,
    timeline,
)
from .models import RepairApplication
from .policy import load_policy

WORKFLOW = "repair"
OPEN = "submitted"
MACHINE = StateMachine(WORKFLOW, {
    "submitted": "审核中",
    "approved": "已修复",
    "rejected": "未通过",
    "cancelled": "申请人已撤回",
}, [
    Transition("apply", "申请信用修复", (None,), "submitted"),
    Transition("escalate", "逾期提请信用办督办", ("submitted",), None),
    Transition("approve", "同意修复", ("submitted",), "approved"),
    Transition("reject", "不予修复", ("submitted",), "rejected"),
    Transition("cancel", "撤回修复申请", ("submitted",), "cancelled"),
])


def _link(app: RepairApplication) -> str:
    return f"/repairs/{app.id}"


def repair_precheck(session: Session, record: Record, today: date | None = None) -> dict[str, Any]:
    """Whether ``record`` can be repaired today; ``reasons`` says why not, in Chinese."""
    from xinyong.publication import is_public

    today = clock.today(today)
    policy = load_policy()
    res = resource_of(record)
    reasons: list[str] = []
    ok, why = policy.repairable(res)
    if not ok:
        reasons.append(why or "该类信息不适用信用修复")
    if record.status != "active":
        reasons.append("该记录已撤销，无需修复")
    elif record.repaired_at is not None:
        reasons.append("该记录已修复")
    elif ok and not is_public(record, today):
        reasons.append("该记录目前未在公示（不予公示或公示期已满），无需修复")
    if ok and record.repair_after is not None and record.repair_after > today:
        reasons.append(f"最短公示期未满：{record.repair_after} 起方可申请修复")
    pending = session.scalar(select(RepairApplication.id).where(RepairApplication.record_id == record.id,
                                                                 RepairApplication.state == OPEN).limit(1))
    if pending is not None:
        reasons.append(f"已有修复申请正在审核（编号 {pending}），请勿重复申请")
    count = session.scalar(select(func.count()).select_from(RepairApplication).where(
        RepairApplication.record_id == record.id, RepairApplication.state != "cancelled")) or 0
    if count >= policy.repair.max_applications_per_record:
        reasons.append(f"该记录已申请修复 {count} 次，达到上限（{policy.repair.max_applications_per_record} 次）")
    last_rejected = session.scalar(select(func.max(RepairApplication.decided_on)).where(
        RepairApplication.record_id == record.id, RepairApplication.state == "rejected"))
    if last_rejected is not None:
        again = last_rejected + timedelta(days=policy.repair.reapply_after_days)
        if again > today:
            reasons.append(f"上次申请于 {last_rejected} 被驳回，{again} 起方可再次申请")
    return {"record_id": record.id, "eligible": not reasons, "reasons": reasons, "checked_on": today.isoformat(),
            "repairable_from": record.repair_after.isoformat() if record.repair_after else None,
            "commitment_text": policy.repair.commitment_text}


def precheck_for(session: Session, actor: Actor, record_id: int, today: date | None = None) -> dict[str, Any]:
    record = get_record(session, record_id)
    ensure_subject_actor(actor, record.subject_id)
    return repair_precheck(session, record, today)


def apply_for_repair(session: Session, actor: Actor, *, record_id: int, fulfilment: str, commitment_signed_by: str,
                     accept_commitment: bool, contact_email: str | None = None, today: date | None = None
                     ) -> dict[str, Any]:
    """File a repair application; refused with the pre-check's reasons when not repairable now."""
    today = clock.today(today)
    policy = load_policy()
    record = get_record(session, record_id, lock=True)
    ensure_subject_actor(actor, record.subject_id)
    fulfilment_text = text_field(fulfilment, "履行情况说明", min_len=5)
    signer = text_field(commitment_signed_by, "承诺书签署人", min_len=2, max_len=200)
    if not accept_commitment:
        raise InvalidInput("申请信用修复须签署信用承诺书：请阅读承诺内容并勾选同意。", code="commitment_required")
    email = check_email(contact_email)
    check = repair_precheck(session, record, today)
    if not check["eligible"]:
        raise InvalidInput("该记录目前不能申请信用修复：" + "；".join(check["reasons"]) + "。",
                           code="not_repairable", details=check)
    app = RepairApplication(record_id=record.id, subject_id=record.subject_id, department_id=record.department_id,
                            applicant_user_id=actor.id if actor.kind == "user" else None,
                            applicant_name=subject_name(session, record.subject_id), contact_email=email,
                            fulfilment=fulfilment_text, commitment_text=policy.repair.commitment_text,
                            commitment_signed_by=signer, precheck=check, filed_on=today,
                            due_on=today + timedelta(days=policy.repair.review_days))
    session.add(app)
    session.flush()
    step(session, MACHINE, app, "apply", actor=actor, today=today, note=fulfilment_text[:500],
         subject_id=record.subject_id, resources=[record.resource], details={"record_id": record.id})
    what = f"记录“{record.natural_key}”（{resource_of(record).name}）"
    notify(session, "department", record.department_id, f"新信用修复申请待审核：{what}",
           f"{app.applicant_name}于 {today} 申请修复{what}，请在 {app.due_on} 前审核。\n履行情况：{fulfilment_text}",
           link=_link(app), workflow=WORKFLOW, case_id=app.id)
    notify(session, "subject", record.subject_id, "信用修复申请已受理",
           f"您对{what}的信用修复申请已受理（编号 {app.id}），将在 {app.due_on} 前完成审核。", link=_link(app),
           workflow=WORKFLOW, case_id=app.id, emails=[email])
    return repair_to_dict(session, app, viewer=actor)


def review_repair(session: Session, actor: Actor, application_id: int, *, decision: str, reason: str,
                  today: date | None = None) -> dict[str, Any]:
    """``approve``: the record stops being published (已修复); ``reject``: a reason is given."""
    from xinyong.db.base import utcnow

    today = clock.today(today)
    if decision not in ("approve", "reject"):
        raise InvalidInput("审核结果只能是 approve（同意修复）或 reject（不予修复）。", code="invalid_decision")
    app = _get(session, application_id, lock=True)
    ensure_handler(actor, app.department_id)
    MACHINE.target(app.state, decision)
    reason_text = text_field(reason, "审核意见" if decision == "approve" else "不予修复的理由", min_len=2)
    record = get_record(session, app.record_id, lock=True)
    details: dict[str, Any] = {"record_id": record.id}
    if decision == "approve":
        if record.status != "active" or record.repaired_at is not None:
            raise InvalidInput("该记录已撤销或已修复，无需再审核同意；请选择不予修复并说明情况。", code="record_changed")
        now = utcnow()
        version = record.current_version + 1
        session.add(RecordVersion(record_id=record.id, version=version, change="repaired", status=record.status,
                                  batch_id=None, department_id=record.department_id, subject_id=record.subject_id,
                                  content_hash=record.content_hash, data=record.data,
                                  personal_enc=record.personal_enc,
                                  reason=f"信用修复（申请编号 {app.id}）：{reason_text}"[:1000],
                                  actor=(actor.name or actor.describe())[:200], created_at=now))
        record.current_version = version
        record.repaired_at = now
        record.updated_at = now
        details["version"] = version
        from .determinations import on_record_repaired

        on_record_repaired(session, record, actor, today)
    app.decided_on = today
    app.decision_reason = reason_text
    step(session, MACHINE, app, decision, actor=actor, today=today, note=reason_text[:1000],
         subject_id=app.subject_id, resources=[record.resource], details=details)
    what = f"记录“{record.natural_key}”（{resource_of(record).name}）"
    if decision == "approve":
        body = (f"您对{what}的信用修复申请（编号 {app.id}）已通过：该记录自 {today} 起不再公示，"
                f"仍保留在本主体的信用档案中（标注“已修复”）。\n审核意见：{reason_text}")
    else:
        again = today + timedelta(days=load_policy().repair.reapply_after_days)
        body = (f"您对{what}的信用修复申请（编号 {app.id}）未通过。\n理由：{reason_text}\n"
                f"纠正后可于 {again} 起再次申请。")
    notify(session, "subject", app.subject_id, f"信用修复审核结果：{MACHINE.label(app.state)}", body,
           link=_link(app), workflow=WORKFLOW, case_id=app.id, emails=[app.contact_email])
    return repair_to_dict(session, app, viewer=actor)


def cancel_repair(session: Session, actor: Actor, application_id: int, *, today: date | None = None
                  ) -> dict[str, Any]:
    today = clock.today(today)
    app = _get(session, application_id, lock=True)
    ensure_subject_actor(actor, app.subject_id)
    step(session, MACHINE, app, "cancel", actor=actor, today=today, subject_id=app.subject_id)
    notify(session, "department", app.department_id, f"信用修复申请已撤回（编号 {app.id}）",
           "申请人已撤回该修复申请，无需继续审核。", link=_link(app), workflow=WORKFLOW, case_id=app.id)
    return repair_to_dict(session, app, viewer=actor)


def escalate_overdue(session: Session, today: date) -> int:
    rows = session.scalars(select(RepairApplication).where(
        RepairApplication.state == OPEN, RepairApplication.due_on < today,
        RepairApplication.escalated_on.is_(None)).order_by(RepairApplication.id)).all()
    for app in rows:
        app.escalated_on = today
        step(session, MACHINE, app, "escalate", actor=None, today=today,
             note=f"超过审核期限（{app.due_on}）仍未办结，已提请信用办督办。", subject_id=app.subject_id)
        body = (f"信用修复申请（编号 {app.id}）应于 {app.due_on} 前审核，现已逾期，请督促"
                f"{department_name(session, app.department_id)}尽快办结，或由信用办直接审核。")
        notify(session, "credit_office", None, f"逾期修复申请督办（编号 {app.id}）", body, link=_link(app),
               workflow=WORKFLOW, case_id=app.id, urgent=True)
        notify(session, "department", app.department_id, f"信用修复申请已逾期（编号 {app.id}）", body,
               link=_link(app), workflow=WORKFLOW, case_id=app.id, urgent=True)
    return len(rows)


def _get(session: Session, application_id: int, *, lock: bool = False) -> RepairApplication:
    stmt = select(RepairApplication).where(RepairApplication.id == application_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    app = session.scalar(stmt)
    if app is None:
        raise NotFound(f"未找到编号为 {application_id} 的信用修复申请。", code="repair_not_found")
    return app


def can_view(actor: Actor, app: RepairApplication) -> bool:
    if is_credit_office(actor):
        return True
    if actor.is_department:
        return actor.department_id == app.department_id
    return actor.is_subject and actor.subject_id == app.subject_id


def get_repair(session: Session, actor: Actor, application_id: int, today: date | None = None) -> dict[str, Any]:
    app = _get(session, application_id)
    if not can_view(actor, app):
        raise NotFound(f"未找到编号为 {application_id} 的信用修复申请。", code="repair_not_found")
    return repair_to_dict(session, app, viewer=actor, today=today, full=True)


def repair_to_dict(session: Session, app: RepairApplication, *, viewer: Actor | None = None,
                   today: date | None = None, full: bool = False) -> dict[str, Any]:
    today = clock.today(today)
    out: dict[str, Any] = {
        "id": app.id, "workflow": WORKFLOW, "record_id": app.record_id, "subject_id": app.subject_id,
        "subject_name": app.applicant_name, "department": department_name(session, app.department_id),
        "state": app.state, "state_label": MACHINE.label(app.state), "fulfilment": app.fulfilment,
        "commitment_text": app.commitment_text, "commitment_signed_by": app.commitment_signed_by,
        "precheck": app.precheck, "filed_on": app.filed_on.isoformat(), "due_on": app.due_on.isoformat(),
        "overdue": app.state == OPEN and app.due_on < today,
        "escalated_on": app.escalated_on.isoformat() if app.escalated_on else None,
        "decided_on": app.decided_on.isoformat() if app.decided_on else None,
        "decision_reason": app.decision_reason, "link": _link(app),
    }
    if viewer is not None:
        handler = is_credit_office(viewer) or (viewer.is_department and viewer.department_id == app.department_id)
        own = viewer.is_subject and viewer.subject_id == app.subject_id
        out["allowed_actions"] = [a for a in MACHINE.allowed(app.state)
                                  if (a in ("approve", "reject") and handler) or (a == "cancel" and own)]
    if full:
        out["timeline"] = timeline(session, MACHINE, app.id)
        out["attachments"] = list_attachments(session, WORKFLOW, app.id)
        out["record"] = record_summary(session, get_record(session, app.record_id))
    return out


def list_repairs(session: Session, actor: Actor, *, state: str | None = None, overdue: bool | None = None,
                 page: int = 1, size: int = 20, today: date | None = None) -> dict[str, Any]:
    today = clock.today(today)
    return list_cases(
        session, actor, RepairApplication, MACHINE, noun="信用修复申请",
        own=lambda a: RepairApplication.subject_id == a.subject_id,
        to_dict=lambda a: repair_to_dict(session, a, viewer=actor, today=today),
        order_by=(RepairApplication.due_on, RepairApplication.id), state=state, page=page, size=size,
        where=and_(RepairApplication.state == OPEN, RepairApplication.due_on < today) if overdue is True else None)


__all__ = ["MACHINE", "apply_for_repair", "cancel_repair", "get_repair", "list_repairs", "precheck_for",
           "repair_precheck", "review_repair"]
