"""List determinations (认定) for the catalogue's red, black and watch lists.

propose → notify the subject (告知, with a window to state its case) → decide (basis, decision
document, valid period) → publish (the list entry becomes a record of the list resource,
through intake's validation, published until the decided end) → removed on expiry (``xinyong
tick``), repair or revocation, each with its reason. Dropping a proposal (不予认定) is possible
until the decision. The determination rows and their timelines are the list membership history.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.accounts.actor import Actor
from xinyong.catalogue import Resource, load_catalogue
from xinyong.catalogue.schemas import LIST_KINDS
from xinyong.catalogue.validation import row_validator
from xinyong.departments.service import find_department
from xinyong.errors import Forbidden, InvalidInput, NotFound
from xinyong.identity.crypto import get_keyring
from xinyong.intake.models import Record
from xinyong.notifications.service import notify
from xinyong.subjects.models import Subject
from xinyong.subjects.service import resolve_subject

from . import clock
from .common import (
    StateMachine,
    Transition,
    department_name,
    ensure_handler,
    is_credit_office,
    list_cases,
    step,
    text_field,
    timeline,
)
from .models import ListDetermination
from .policy import load_policy
from .windows import add_months

WORKFLOW = "determination"
MACHINE = StateMachine(WORKFLOW, {
    "proposed": "拟认定",
    "noticed": "已告知，陈述申辩期",
    "decided": "已作出认定决定",
    "published": "已列入并公示",
    "dropped": "不予认定",
    "expired": "期满移出",
    "repaired": "信用修复后移出",
    "revoked": "撤销认定，已移出",
}, [
    Transition("propose", "提出拟认定", (None,), "proposed"),
    Transition("notify", "告知当事人", ("proposed",), "noticed"),
    Transition("respond", "当事人陈述申辩", ("noticed",), None),
    Transition("decide", "作出认定决定", ("noticed",), "decided"),
    Transition("drop", "不予认定", ("proposed", "noticed"), "dropped"),
    Transition("publish", "列入名单并公示", ("decided",), "published"),
    Transition("expire", "有效期届满移出", ("published",), "expired"),
    Transition("remove_repaired", "信用修复移出", ("published",), "repaired"),
    Transition("revoke", "撤销认定并移出", ("decided", "published"), "revoked"),
])
LIVE = ("proposed", "noticed", "decided", "published")


def _link(d: ListDetermination) -> str:
    return f"/determinations/{d.id}"


def _list_resource(code: str) -> Resource:
    res = load_catalogue().get(code)
    if not res.is_list:
        raise InvalidInput(f"资源 {res.name}（{code}）不是名单；可认定的名单："
                           + "、".join(f"{r.code}（{r.name}）" for r in load_catalogue().lists()), code="not_a_list")
    return res


def _subject_values(session: Session, res: Resource, subject: Subject) -> dict[str, str]:
    """The list record's subject columns, from the subject registry."""
    sf = res.subject_fields
    out: dict[str, str] = {sf.name: subject.name}
    if sf.category:
        from xinyong.catalogue.schemas import SUBJECT_KINDS

        out[sf.category] = SUBJECT_KINDS.get(subject.kind, "法人及非法人组织")
    if sf.uscc and subject.uscc:
        out[sf.uscc] = subject.uscc
    if sf.citizen_id and subject.citizen_id_enc:
        ident = get_keyring().decrypt(subject.citizen_id_enc)
        if ":" not in ident:
            out[sf.citizen_id] = ident
    return out


def _validate(res: Resource, row: dict[str, Any], today: date) -> None:
    validator = row_validator(res, today)
    unknown = [k for k in row if not res.has_field(k)]
    if unknown:
        raise InvalidInput(f"名单 {res.name} 没有这些字段：{'、'.join(unknown)}；可用字段："
                           + "、".join(f"{f.code}（{f.label}）" for f in res.fields), code="unknown_field")
    checked = validator.validate_columns({k: [None if v is None else str(v)] for k, v in row.items()}, 1)
    errors = checked.errors.get(0)
    if errors:
        raise InvalidInput("名单记录内容不完整或有误：" + "；".join(e.message for e in errors),
                           code="determination_data_invalid", details=[e.to_dict() for e in errors])


def propose_determination(session: Session, actor: Actor, *, resource: str, subject: str, facts: str, basis: str,
                          data: dict[str, Any] | None = None, department: str | None = None,
                          today: date | None = None) -> dict[str, Any]:
    """A department proposes to list a subject. ``data`` holds the list record's other fields
    (field code → value, e.g. the reason or decision number); subject columns and dates are
    filled by the workflow. The row is validated now, so problems show before the notice."""
    today = clock.today(today)
    res = _list_resource(resource)
    if actor.is_department:
        if actor.department_id is None:
            raise Forbidden("该账户未关联部门，不能提出认定。", code="no_department")
        department_id = actor.department_id
    elif is_credit_office(actor):
        if not department:
            raise InvalidInput("请指定认定部门（department）。", code="department_required")
        department_id = find_department(session, department).id
    else:
        raise Forbidden(f"{actor.role_label}无权提出名单认定。", code="role_forbidden")
    subj = resolve_subject(session, subject)
    facts_text = text_field(facts, "认定事实", min_len=5)
    basis_text = text_field(basis, "认定依据", min_len=4)
    data = {k: v for k, v in (data or {}).items() if v not in (None, "")}
    row = {**data, **_subject_values(session, res, subj), res.date_field: today.isoformat()}
    _validate(res, row, today)
    live = session.scalar(select(ListDetermination.id).where(
        ListDetermination.resource == res.code, ListDetermination.subject_id == subj.id,
        ListDetermination.state.in_(LIVE)).limit(1))
    if live is not None:
        raise InvalidInput(f"该主体已有进行中的{res.name}认定（编号 {live}），请勿重复提出。", code="duplicate_determination")
    personal = {k: v for k, v in data.items() if res.field(k).personal}
    plain = {k: v for k, v in data.items() if k not in personal}
    d = ListDetermination(resource=res.code, list_kind=res.list_kind, subject_id=subj.id,
                          department_id=department_id, facts=facts_text, basis=basis_text, data=plain,
                          personal_enc=get_keyring().encrypt(json.dumps(personal, ensure_ascii=False))
                          if personal else None, proposed_on=today)
    session.add(d)
    session.flush()
    step(session, MACHINE, d, "propose", actor=actor, today=today, note=facts_text[:500], subject_id=subj.id,
         resources=[res.code])
    return determination_to_dict(session, d, viewer=actor)


def advance_determination(session: Session, actor: Actor, determination_id: int, action: str, *,
                          reason: str | None = None, decision_no: str | None = None,
                          valid_from: date | None = None, valid_until: date | None = None,
                          today: date | None = None) -> dict[str, Any]:
    """The department's steps: ``notify``, ``decide``, ``drop``, ``publish``, ``revoke``."""
    today = clock.today(today)
    if action not in ("notify", "decide", "drop", "publish", "revoke"):
        raise InvalidInput("操作只能是 notify（告知）、decide（决定）、drop（不予认定）、publish（公示）、"
                           "revoke（撤销）。", code="invalid_action")
    d = _get(session, determination_id, lock=True)
    ensure_handler(actor, d.department_id)
    MACHINE.target(d.state, action)
    res = load_catalogue().get(d.resource)
    name = f"{res.name}（{LIST_KINDS.get(d.list_kind, d.list_kind)}）"
    note = None
    if action == "notify":
        days = load_policy().determinations.notice_days
        d.noticed_on, d.objection_until = today, today + timedelta(days=days)
        note = f"陈述申辩期至 {d.objection_until}"
        notify(session, "subject", d.subject_id, f"拟列入{res.name}告知书",
               f"{department_name(session, d.department_id)}拟将贵方列入{name}。\n认定事实：{d.facts}\n"
               f"认定依据：{d.basis}\n如有异议，请于 {d.objection_until} 前在平台提交陈述申辩。",
               link=_link(d), workflow=WORKFLOW, case_id=d.id)
    elif action == "decide":
        if today <= d.objection_until and not d.statement:
            raise InvalidInput(f"陈述申辩期至 {d.objection_until} 止，期满（或当事人已陈述申辩）后方可作出决定。",
                               code="notice_period_running")
        d.decision_no = text_field(decision_no, "认定决定书文号", min_len=2, max_len=100)
        note = text_field(reason, "决定理由（含对陈述申辩的采纳情况）", min_len=4)
        d.valid_from = valid_from or today
        window = load_policy().effective_window(res)
        maxes = [p.max_months for p in window.periods.values() if p.max_months] if window else []
        limit = add_months(d.valid_from, max(maxes) if maxes else load_policy().determinations.default_valid_months)
        limit -= timedelta(days=1)
        d.valid_until = valid_until or limit
        if d.valid_until < d.valid_from:
            raise InvalidInput("有效期截止日不能早于起始日。", code="invalid_period")
        if d.valid_until > limit:
            raise InvalidInput(f"有效期不能超过规定的最长期限（至 {limit}）。", code="period_too_long")
        d.decided_on = today
        notify(session, "subject", d.subject_id, f"{res.name}认定决定",
               f"{department_name(session, d.department_id)}已作出认定决定（{d.decision_no}），"
               f"列入{name}，有效期 {d.valid_from} 至 {d.valid_until}。\n理由：{note}",
               link=_link(d), workflow=WORKFLOW, case_id=d.id)
    elif action == "drop":
        note = text_field(reason, "不予认定的理由", min_len=4)
        d.removal_reason = note
        notify(session, "subject", d.subject_id, f"不予列入{res.name}",
               f"经核查，{department_name(session, d.department_id)}决定不将贵方列入{name}。\n理由：{note}",
               link=_link(d), workflow=WORKFLOW, case_id=d.id)
    elif action == "publish":
        _publish(session, actor, d, res, today)
        note = f"列入名单，公示至 {d.valid_until}"
        notify(session, "subject", d.subject_id, f"已列入{res.name}",
               f"贵方已列入{name}，公示期至 {d.valid_until}。可依法申请信用修复。", link=_link(d),
               workflow=WORKFLOW, case_id=d.id)
    elif action == "revoke":
        note = text_field(reason, "撤销认定的理由", min_len=4)
        _remove(session, actor, d, "revoked", note, today)
        notify(session, "subject", d.subject_id, f"已撤销{res.name}认定",
               f"{department_name(session, d.department_id)}已撤销对贵方的{name}认定并移出名单。\n理由：{note}",
               link=_link(d), workflow=WORKFLOW, case_id=d.id)
        return determination_to_dict(session, d, viewer=actor)
    step(session, MACHINE, d, action, actor=actor, today=today, note=note, subject_id=d.subject_id,
         resources=[d.resource], details={"record_id": d.record_id} if d.record_id else None)
    return determination_to_dict(session, d, viewer=actor)


def respond_to_notice(session: Session, actor: Actor, determination_id: int, *, statement: str,
                      today: date | None = None) -> dict[str, Any]:
    """The subject's statement (陈述申辩) during the notice period."""
    today = clock.today(today)
    d = _get(session, determination_id, lock=True)
    if not (actor.is_subject and actor.subject_id == d.subject_id):
        raise Forbidden("只有被认定的主体本人可以陈述申辩。", code="subject_only")
    MACHINE.target(d.state, "respond")
    if d.objection_until is not None and today > d.objection_until:
        raise InvalidInput(f"陈述申辩期已于 {d.objection_until} 届满。", code="notice_period_over")
    text = text_field(statement, "陈述申辩内容", min_len=5)
    d.statement = text
    step(session, MACHINE, d, "respond", actor=actor, today=today, note=text[:1000], subject_id=d.subject_id,
         resources=[d.resource])
    notify(session, "department", d.department_id, f"当事人已陈述申辩（认定编号 {d.id}）", text, link=_link(d),
           workflow=WORKFLOW, case_id=d.id)
    return determination_to_dict(session, d, viewer=actor)


def _publish(session: Session, actor: Actor, d: ListDetermination, res: Resource, today: date) -> None:
    from xinyong.intake.service import ingest_rows

    subj = session.get(Subject, d.subject_id)
    row = {**(d.data or {}), **(json.loads(get_keyring().decrypt(d.personal_enc)) if d.personal_enc else {}),
           **_subject_values(session, res, subj), res.date_field: d.valid_from.isoformat()}
    if res.valid_until_field:
        row[res.valid_until_field] = d.valid_until.isoformat()
    _validate(res, row, today)
    result = ingest_rows(session, [row], res, d.department_id, today=today, source_name=f"名单认定{d.id}",
                         actor=actor)
    if result.rows_rejected or result.rows_accepted != 1:
        msgs = "；".join(e["message"] for e in result.errors) or "名单记录未能写入"
        raise InvalidInput(f"名单记录未通过校验：{msgs}", code="determination_data_invalid")
    session.flush()
    record = session.scalar(select(Record).where(Record.resource == res.code, Record.last_batch_id == result.batch_id)
                            .order_by(Record.id.desc()).limit(1))
    if record is None:  # identical row already on file (unchanged): find it by subject and date
        record = session.scalar(select(Record).where(Record.resource == res.code, Record.subject_id == d.subject_id,
                                                     Record.status == "active").order_by(Record.id.desc()).limit(1))
    d.record_id = record.id
    # The decision fixes the period: never longer than the window rules allow.
    record.public_until = min(filter(None, [record.public_until, d.valid_until]))
    record.window_closed_on = None
    d.published_on = today


def _remove(session: Session, actor: Actor | None, d: ListDetermination, state: str, reason: str,
            today: date) -> None:
    from xinyong.intake.service import withdraw_record

    action = {"expired": "expire", "repaired": "remove_repaired", "revoked": "revoke"}[state]
    if state == "revoked" and d.record_id is not None:
        record = session.get(Record, d.record_id)
        if record is not None and record.status == "active":
            withdraw_record(session, record.id, reason=f"撤销名单认定（编号 {d.id}）：{reason}"[:1000], actor=actor)
    d.removed_on, d.removal_reason = today, reason
    step(session, MACHINE, d, action, actor=actor, today=today, note=reason, subject_id=d.subject_id,
         resources=[d.resource], details={"record_id": d.record_id})


def expire_due(session: Session, today: date) -> int:
    """Published entries whose valid period has ended: removed (tick)."""
    rows = session.scalars(select(ListDetermination).where(ListDetermination.state == "published",
                                                           ListDetermination.valid_until < today)
                           .order_by(ListDetermination.id)).all()
    for d in rows:
        res = load_catalogue().get(d.resource)
        _remove(session, None, d, "expired", f"有效期于 {d.valid_until} 届满，自动移出名单。", today)
        notify(session, "subject", d.subject_id, f"已移出{res.name}",
               f"贵方列入{res.name}的有效期已于 {d.valid_until} 届满，已移出名单并停止公示。", link=_link(d),
               workflow=WORKFLOW, case_id=d.id)
        notify(session, "department", d.department_id, f"名单到期移出（认定编号 {d.id}）",
               f"{res.name}认定（{d.decision_no}）有效期届满，已自动移出。", link=_link(d), workflow=WORKFLOW,
               case_id=d.id)
    return len(rows)


def on_record_repaired(session: Session, record: Record, actor: Actor | None, today: date) -> None:
    """A repaired list record takes its determination off the list (called by repair)."""
    d = session.scalar(select(ListDetermination).where(ListDetermination.record_id == record.id,
                                                       ListDetermination.state == "published"))
    if d is not None:
        _remove(session, actor, d, "repaired", "信用修复申请已通过，移出名单。", today)


# --- reading -------------------------------------------------------------------------------------


def _get(session: Session, determination_id: int, *, lock: bool = False) -> ListDetermination:
    stmt = select(ListDetermination).where(ListDetermination.id == determination_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    d = session.scalar(stmt)
    if d is None:
        raise NotFound(f"未找到编号为 {determination_id} 的名单认定。", code="determination_not_found")
    return d


def can_view(actor: Actor, d: ListDetermination) -> bool:
    if is_credit_office(actor):
        return True
    if actor.is_department:
        return actor.department_id == d.department_id
    return actor.is_subject and actor.subject_id == d.subject_id


def get_determination(session: Session, actor: Actor, determination_id: int) -> dict[str, Any]:
    d = _get(session, determination_id)
    if not can_view(actor, d):
        raise NotFound(f"未找到编号为 {determination_id} 的名单认定。", code="determination_not_found")
    return determination_to_dict(session, d, viewer=actor, full=True)


def determination_to_dict(session: Session, d: ListDetermination, *, viewer: Actor | None = None,
                          full: bool = False) -> dict[str, Any]:
    res = load_catalogue().get(d.resource)
    subj = session.get(Subject, d.subject_id)

    def iso(v: date | None) -> str | None:
        return v.isoformat() if v else None

    out: dict[str, Any] = {
        "id": d.id, "workflow": WORKFLOW, "resource": d.resource, "resource_name": res.name,
        "list_kind": d.list_kind, "list_label": LIST_KINDS.get(d.list_kind, d.list_kind),
        "subject_id": d.subject_id, "subject_name": subj.name if subj else None,
        "department": department_name(session, d.department_id), "facts": d.facts, "basis": d.basis,
        "data": d.data, "state": d.state, "state_label": MACHINE.label(d.state),
        "proposed_on": iso(d.proposed_on), "noticed_on": iso(d.noticed_on),
        "objection_until": iso(d.objection_until), "statement": d.statement, "decision_no": d.decision_no,
        "decided_on": iso(d.decided_on), "valid_from": iso(d.valid_from), "valid_until": iso(d.valid_until),
        "published_on": iso(d.published_on), "record_id": d.record_id, "removed_on": iso(d.removed_on),
        "removal_reason": d.removal_reason, "link": _link(d),
    }
    if viewer is not None:
        handler = is_credit_office(viewer) or (viewer.is_department and viewer.department_id == d.department_id)
        own = viewer.is_subject and viewer.subject_id == d.subject_id
        out["allowed_actions"] = [a for a in MACHINE.allowed(d.state)
                                  if (a == "respond" and own) or (a not in ("respond", "expire", "remove_repaired")
                                                                  and handler)]
    if full:
        out["timeline"] = timeline(session, MACHINE, d.id)
    return out


def list_determinations(session: Session, actor: Actor | None, *, resource: str | None = None,
                        subject_id: int | None = None, state: str | None = None, page: int = 1, size: int = 20
                        ) -> dict[str, Any]:
    """Staff see their cases; a subject its own (the membership history)."""

    def narrow(q):
        if resource:
            _list_resource(resource)
            q = q.where(ListDetermination.resource == resource)
        if subject_id is not None:
            q = q.where(ListDetermination.subject_id == subject_id)
        return q

    return list_cases(session, actor, ListDetermination, MACHINE, noun="名单认定",
                      own=lambda a: ListDetermination.subject_id == a.subject_id,
                      to_dict=lambda d: determination_to_dict(session, d, viewer=actor),
                      order_by=(ListDetermination.id.desc(),), state=state, page=page, size=size, narrow=narrow)
