"""Objections (异议): the rules in one place; API, pages, CLI and tests call these.

Filed by the subject against its own record (any disclosure class) or its basic information,
or by anyone against a public record. On filing the record is marked 异议处理中 on every
surface at once (``Record.objection_open``, read by ``publication.record_status_label``). The
source department (the credit office for basic information) answers before the policy's
deadline: upholds the record, corrects it (a new record version through intake's own
validation) or withdraws it, always with a written reply; the applicant is notified. Overdue
cases are escalated to the credit office by ``xinyong tick``.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from xinyong.accounts.actor import Actor
from xinyong.errors import Forbidden, InvalidInput, NotFound
from xinyong.intake.models import Record
from xinyong.notifications.service import check_email, notify, send_email
from xinyong.subjects.models import Subject

from . import clock
from .attachments import list_attachments
from .common import (
    StateMachine,
    Transition,
    department_name,
    ensure_handler,
    get_record,
    is_credit_office,
    list_cases,
    record_row,
    record_summary,
    resource_of,
    step,
    subject_name,
    text_field,
    timeline,
)
from .models import Objection
from .policy import load_policy

WORKFLOW = "objection"
OPEN = "submitted"
MACHINE = StateMachine(WORKFLOW, {
    "submitted": "处理中",
    "upheld": "已办结（维持原记录）",
    "corrected": "已办结（已更正记录）",
    "record_withdrawn": "已办结（记录已撤销）",
    "cancelled": "申请人已撤回",
}, [
    Transition("file", "提出异议", (None,), "submitted"),
    Transition("escalate", "逾期提请信用办督办", ("submitted",), None),
    Transition("uphold", "维持原记录", ("submitted",), "upheld"),
    Transition("correct", "更正记录", ("submitted",), "corrected"),
    Transition("withdraw", "撤销记录", ("submitted",), "record_withdrawn"),
    Transition("cancel", "撤回异议申请", ("submitted",), "cancelled"),
])
DECISIONS = {"uphold": "upheld", "correct": "corrected", "withdraw": "record_withdrawn"}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _link(obj: Objection) -> str:
    return f"/objections/{obj.id}"


# --- filing --------------------------------------------------------------------------------------


def file_objection(session: Session, actor: Actor, *, record_id: int | None = None, subject_id: int | None = None,
                   reason: str, requested_change: str | None = None, applicant_name: str | None = None,
                   contact_email: str | None = None, today: date | None = None,
                   target_kind: str | None = None) -> dict[str, Any]:
    """File an objection against a record (``record_id``) or a subject's basic information
    (``subject_id``, the subject itself only); ``target_kind="grade"`` with ``subject_id``
    contests the subject's credit evaluation grade (the credit office answers). Re-filing while
    the applicant's earlier objection to the same target is open returns that one
    (``duplicate: true``), changing nothing."""
    from xinyong.publication import is_public

    today = clock.today(today)
    policy = load_policy()
    reason_text = text_field(reason, "异议理由", min_len=5)
    change = text_field(requested_change, "更正要求", required=False)
    email = check_email(contact_email)
    if actor.is_staff:
        raise Forbidden("工作人员不能以本人名义提出异议；记录有误请由来源部门更正或撤销。", code="staff_cannot_object")
    record: Record | None = None
    if record_id is not None:
        record = get_record(session, record_id, lock=True)
        if record.status != "active":
            raise InvalidInput("该记录已撤销，不能再提出异议。", code="record_not_active")
        subject_id = record.subject_id
        own = actor.is_subject and actor.subject_id == record.subject_id
        if not own and not (policy.objections.public_may_object and is_public(record, today)):
            raise Forbidden("只能对本主体的记录，或对正在公示的记录提出异议。", code="objection_not_allowed")
        department_id: int | None = record.department_id
        target = "record"
    elif subject_id is not None:
        if not (actor.is_subject and actor.subject_id == subject_id):
            raise Forbidden("只有信用主体本人可以对其基本信息提出异议。", code="not_own_subject")
        if session.get(Subject, subject_id) is None:
            raise NotFound("未找到该信用主体。", code="subject_not_found")
        own, department_id, target = True, None, "subject_info"
        if target_kind == "grade":
            from xinyong.rating.service import current_score

            if current_score(session, subject_id) is None:
                raise InvalidInput("该主体尚无信用评价结果，无需对评价等级提出异议。", code="no_grade")
            target = "grade"
    else:
        raise InvalidInput("请指明异议对象：记录编号 record_id，或主体基本信息 subject_id。", code="target_required")
    kind = "subject" if own else "public"
    if actor.is_anonymous:
        name = text_field(applicant_name, "申请人姓名或名称", min_len=2, max_len=200)
        if email is None:
            raise InvalidInput("未登录提出异议时请填写电子邮箱，用于接收处理结果。", code="email_required")
    else:
        name = (applicant_name or "").strip()[:200] or (subject_name(session, actor.subject_id)
                                                         if actor.is_subject and actor.subject_id else actor.name or "")
    # The same applicant, the same target, still open: nothing new.
    dup_q = select(Objection).where(Objection.state == OPEN, Objection.subject_id == subject_id,
                                    Objection.record_id == record_id if record_id is not None
                                    else and_(Objection.record_id.is_(None), Objection.target == target))
    if actor.kind == "user":
        dup_q = dup_q.where(Objection.applicant_user_id == actor.id)
    else:
        dup_q = dup_q.where(Objection.applicant_user_id.is_(None), Objection.contact_email == email,
                            Objection.reason == reason_text)
    dup = session.scalar(dup_q.limit(1))
    if dup is not None:
        return {**objection_to_dict(session, dup, viewer=actor), "duplicate": True}
    token = secrets.token_urlsafe(18) if actor.kind != "user" else None
    obj = Objection(record_id=record_id, subject_id=subject_id, target=target, department_id=department_id,
                    applicant_kind=kind, applicant_user_id=actor.id if actor.kind == "user" else None,
                    applicant_name=name or "申请人", contact_email=email,
                    tracking_hash=_hash(token) if token else None, reason=reason_text, requested_change=change,
                    filed_on=today, due_on=today + timedelta(days=policy.objections.answer_days),
                    record_version_before=record.current_version if record else None)
    session.add(obj)
    session.flush()
    if record is not None:
        record.objection_open = True
    step(session, MACHINE, obj, "file", actor=actor, today=today, note=reason_text[:500], subject_id=subject_id,
         resources=[record.resource] if record else [], details={"record_id": record_id, "target": target})
    what = f"记录“{record.natural_key}”（{resource_of(record).name}）" if record else (
        "信用评价等级" if target == "grade" else "主体基本信息")
    _rating_hook(session, [subject_id], "objection_filed")
    handler = "department" if department_id is not None else "credit_office"
    notify(session, handler, department_id, f"新异议待处理：{what}",
           f"{name or '申请人'}于 {today} 对{what}提出异议，请在 {obj.due_on} 前核查并答复。\n异议理由：{reason_text}",
           link=_link(obj), workflow=WORKFLOW, case_id=obj.id)
    _notify_applicant(session, obj, "异议已受理",
                      f"您对{what}提出的异议已受理（编号 {obj.id}），来源单位将在 {obj.due_on} 前答复。"
                      "处理期间该记录在各公示页面标注“异议处理中”。")
    out = objection_to_dict(session, obj, viewer=actor)
    if token:
        out["tracking_code"] = token
    return out


def objection_target(session: Session, actor: Actor, record_id: int, today: date | None = None) -> dict[str, Any]:
    """The record a form is about, if this actor may object to it (else "not found": a record
    that is not public is not confirmed to exist)."""
    from xinyong.publication import is_public

    record = get_record(session, record_id)
    own = actor.is_subject and actor.subject_id == record.subject_id
    staff = is_credit_office(actor) or (actor.is_department and actor.department_id == record.department_id)
    if not (own or staff or is_public(record, clock.today(today))):
        raise NotFound(f"未找到编号为 {record_id} 的信用记录。", code="record_not_found")
    return record_summary(session, record)


def _notify_applicant(session: Session, obj: Objection, title: str, body: str) -> None:
    if obj.applicant_kind == "subject":
        notify(session, "subject", obj.subject_id, title, body, link=_link(obj), workflow=WORKFLOW, case_id=obj.id,
               emails=[obj.contact_email])
    elif obj.applicant_user_id is not None:
        notify(session, "user", obj.applicant_user_id, title, body, link=_link(obj), workflow=WORKFLOW,
               case_id=obj.id, emails=[obj.contact_email])
    elif obj.contact_email:
        send_email(session, obj.contact_email, title, body, link=_link(obj))


# --- handling ------------------------------------------------------------------------------------


def handle_objection(session: Session, actor: Actor, objection_id: int, *, decision: str, reply: str,
                     changes: dict[str, Any] | None = None, today: date | None = None) -> dict[str, Any]:
    """The source department (or the credit office) answers: ``uphold`` the record, ``correct``
    it (``changes``: field code → corrected value; a new version is written through intake's
    validation) or ``withdraw`` it. A written reply is required; the applicant is notified."""
    from xinyong.intake.service import ingest_rows, withdraw_record

    today = clock.today(today)
    if decision not in DECISIONS:
        raise InvalidInput("处理结果只能是：uphold（维持）、correct（更正）、withdraw（撤销记录）。",
                           code="invalid_decision")
    obj = _get(session, objection_id, lock=True)
    ensure_handler(actor, obj.department_id)
    MACHINE.target(obj.state, decision)  # refuse before doing any work
    reply_text = text_field(reply, "书面答复", min_len=5)
    record = get_record(session, obj.record_id, lock=True) if obj.record_id is not None else None
    if decision == "withdraw" and record is None:
        raise InvalidInput("主体基本信息异议不能“撤销记录”；请选择维持或更正（并在答复中说明已更正的内容）。",
                           code="invalid_decision")
    details: dict[str, Any] = {"decision": decision}
    if decision == "correct" and record is not None:
        res = resource_of(record)
        if not changes:
            raise InvalidInput("更正记录时请给出更正后的字段值（字段代码 → 新值）。", code="changes_required")
        unknown = [c for c in changes if not res.has_field(c)]
        if unknown:
            raise InvalidInput(f"资源 {res.name} 没有这些字段：{'、'.join(unknown)}。", code="unknown_field")
        keyed = [res.field(c).label for c in changes if c in res.natural_key]
        if keyed:
            raise InvalidInput(f"更正不能修改记录的唯一标识（{'、'.join(keyed)}）；如标识有误，请撤销该记录后重新报送。",
                               code="key_change_refused")
        row = record_row(record)
        row.update({k: ("" if v is None else str(v)) for k, v in changes.items()})
        before = record.current_version
        result = ingest_rows(session, [row], res, record.department_id, today=today,
                             source_name=f"异议{obj.id}更正", actor=actor)
        if result.rows_rejected:
            msgs = "；".join(e["message"] for e in result.errors) or "更正后的记录未通过校验"
            raise InvalidInput(f"更正后的记录未通过校验：{msgs}", code="correction_invalid", details=result.errors)
        session.refresh(record)
        if record.current_version == before:
            raise InvalidInput("更正内容与现有记录相同，记录未变化；如无需更正请选择“维持原记录”。",
                               code="correction_unchanged")
        obj.record_version_after = record.current_version
        details.update(version_before=before, version_after=record.current_version)
    elif decision == "withdraw" and record is not None:
        out = withdraw_record(session, record.id, reason=f"异议（编号 {obj.id}）核查后撤销：{reply_text}"[:1000],
                              actor=actor)
        obj.record_version_after = out["version"]
    obj.reply = reply_text
    obj.decided_on = today
    step(session, MACHINE, obj, decision, actor=actor, today=today, note=reply_text[:1000],
         subject_id=obj.subject_id, resources=[record.resource] if record else [], details=details)
    if record is not None:
        _refresh_flag(session, record)
    if ((record is not None and decision in ("correct", "withdraw"))
            or (obj.target == "grade" and decision == "correct")):
        # A corrected or withdrawn record, or an upheld grade appeal: recompute the subject now.
        _rating_hook(session, [obj.subject_id], "objection_" + decision, rescore=True, actor=actor)
    else:
        _rating_hook(session, [obj.subject_id], "objection_" + decision)
    label = MACHINE.label(obj.state)
    _notify_applicant(session, obj, f"异议处理结果：{label}",
                      f"您提出的异议（编号 {obj.id}）已办结：{label}。\n答复：{reply_text}")
    return objection_to_dict(session, obj, viewer=actor)


def cancel_objection(session: Session, actor: Actor, objection_id: int, *, reason: str | None = None,
                     today: date | None = None, token: str | None = None) -> dict[str, Any]:
    today = clock.today(today)
    obj = _get(session, objection_id, lock=True)
    if not _is_applicant(actor, obj, token) and not is_credit_office(actor):
        raise Forbidden("只有异议申请人可以撤回申请。", code="not_applicant")
    step(session, MACHINE, obj, "cancel", actor=actor, today=today, note=(reason or "").strip()[:500] or None,
         subject_id=obj.subject_id)
    if obj.record_id is not None:
        _refresh_flag(session, get_record(session, obj.record_id))
        _rating_hook(session, [obj.subject_id], "objection_cancelled")
    notify(session, "department" if obj.department_id else "credit_office", obj.department_id,
           f"异议已撤回（编号 {obj.id}）", "申请人已撤回该异议，无需继续办理。", link=_link(obj), workflow=WORKFLOW,
           case_id=obj.id)
    return objection_to_dict(session, obj, viewer=actor)


def _rating_hook(session: Session, subject_ids: list[int], reason: str, *, rescore: bool = False,
                 actor: Actor | None = None) -> None:
    """Tell the credit evaluation (xinyong.rating) that these subjects' inputs changed: queue
    them for the next run, or (a decided correction) recompute them now."""
    from xinyong.errors import ConfigurationError
    from xinyong.rating import service as rating

    if rescore:
        try:
            rating.rescore_subjects(session, subject_ids, actor=actor, reason=reason)
            return
        except ConfigurationError:  # an invalid model file must not block the objection
            pass
    rating.mark_dirty(session, subject_ids, reason)


def _refresh_flag(session: Session, record: Record) -> None:
    """The badge stays while any objection to the record is open."""
    session.flush()
    record.objection_open = bool(session.scalar(select(exists().where(
        Objection.record_id == record.id, Objection.state == OPEN))))


def escalate_overdue(session: Session, today: date) -> int:
    """Open objections past their deadline and not yet escalated: to the credit office, in red."""
    rows = session.scalars(select(Objection).where(Objection.state == OPEN, Objection.due_on < today,
                                                   Objection.escalated_on.is_(None)).order_by(Objection.id)).all()
    for obj in rows:
        obj.escalated_on = today
        step(session, MACHINE, obj, "escalate", actor=None, today=today,
             note=f"超过答复期限（{obj.due_on}）仍未办结，已提请信用办督办。", subject_id=obj.subject_id)
        body = (f"异议（编号 {obj.id}）应于 {obj.due_on} 前答复，现已逾期，请督促"
                f"{department_name(session, obj.department_id)}尽快办结。")
        notify(session, "credit_office", None, f"逾期异议督办（编号 {obj.id}）", body, link=_link(obj),
               workflow=WORKFLOW, case_id=obj.id, urgent=True)
        if obj.department_id is not None:
            notify(session, "department", obj.department_id, f"异议已逾期（编号 {obj.id}）", body, link=_link(obj),
                   workflow=WORKFLOW, case_id=obj.id, urgent=True)
    return len(rows)


# --- reading -------------------------------------------------------------------------------------


def _get(session: Session, objection_id: int, *, lock: bool = False) -> Objection:
    stmt = select(Objection).where(Objection.id == objection_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    obj = session.scalar(stmt)
    if obj is None:
        raise NotFound(f"未找到编号为 {objection_id} 的异议。", code="objection_not_found")
    return obj


def _is_applicant(actor: Actor, obj: Objection, token: str | None = None) -> bool:
    if token and obj.tracking_hash and secrets.compare_digest(_hash(token), obj.tracking_hash):
        return True
    if actor.kind == "user" and obj.applicant_user_id == actor.id:
        return True
    return obj.applicant_kind == "subject" and actor.is_subject and actor.subject_id == obj.subject_id


def can_view(actor: Actor, obj: Objection, token: str | None = None) -> bool:
    if is_credit_office(actor) or _is_applicant(actor, obj, token):
        return True
    if actor.is_department and obj.department_id is not None and actor.department_id == obj.department_id:
        return True
    return actor.is_subject and actor.subject_id == obj.subject_id


def get_objection(session: Session, actor: Actor, objection_id: int, *, token: str | None = None,
                  today: date | None = None) -> dict[str, Any]:
    obj = _get(session, objection_id)
    if not can_view(actor, obj, token):
        raise NotFound(f"未找到编号为 {objection_id} 的异议。", code="objection_not_found")
    return objection_to_dict(session, obj, viewer=actor, token=token, today=today, full=True)


def objection_to_dict(session: Session, obj: Objection, *, viewer: Actor | None = None, token: str | None = None,
                      today: date | None = None, full: bool = False) -> dict[str, Any]:
    today = clock.today(today)
    overdue = obj.state == OPEN and obj.due_on < today
    out: dict[str, Any] = {
        "id": obj.id, "workflow": WORKFLOW, "target": obj.target, "record_id": obj.record_id,
        "subject_id": obj.subject_id, "subject_name": subject_name(session, obj.subject_id),
        "department": department_name(session, obj.department_id), "state": obj.state,
        "state_label": MACHINE.label(obj.state), "applicant_kind": obj.applicant_kind,
        "applicant_name": obj.applicant_name, "reason": obj.reason, "requested_change": obj.requested_change,
        "filed_on": obj.filed_on.isoformat(), "due_on": obj.due_on.isoformat(), "overdue": overdue,
        "escalated_on": obj.escalated_on.isoformat() if obj.escalated_on else None,
        "decided_on": obj.decided_on.isoformat() if obj.decided_on else None, "reply": obj.reply,
        "record_version_before": obj.record_version_before, "record_version_after": obj.record_version_after,
        "link": _link(obj),
    }
    if viewer is not None:
        applicant = _is_applicant(viewer, obj, token)
        handler = is_credit_office(viewer) or (viewer.is_department and viewer.department_id == obj.department_id)
        out["allowed_actions"] = [a for a in MACHINE.allowed(obj.state)
                                  if (a in DECISIONS and handler) or (a == "cancel" and applicant)]
        if not (applicant or handler):
            out["applicant_name"] = "（他人）"  # a third party's identity is not the subject's business
        if applicant or handler:
            out["contact_email"] = obj.contact_email
    if full:
        out["timeline"] = timeline(session, MACHINE, obj.id)
        out["attachments"] = list_attachments(session, WORKFLOW, obj.id)
        if obj.record_id is not None:
            out["record"] = record_summary(session, get_record(session, obj.record_id))
    return out


def list_objections(session: Session, actor: Actor, *, state: str | None = None, overdue: bool | None = None,
                    page: int = 1, size: int = 20, today: date | None = None) -> dict[str, Any]:
    """The cases this actor handles (department / credit office) or filed (applicant)."""
    today = clock.today(today)
    return list_cases(
        session, actor, Objection, MACHINE, noun="异议列表",
        own=lambda a: or_(Objection.applicant_user_id == a.id, Objection.subject_id == a.subject_id),
        to_dict=lambda o: objection_to_dict(session, o, viewer=actor, today=today),
        order_by=(Objection.due_on, Objection.id), state=state, page=page, size=size,
        where=and_(Objection.state == OPEN, Objection.due_on < today) if overdue is True else None)
