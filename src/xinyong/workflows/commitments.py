"""Credit commitments (信用承诺): made by a subject (or taken by a department for it), kept as a
record of the catalogue's ``credit_commitments`` resource (so the catalogue's types, validation
and disclosure apply), listed publicly, and verified by the receiving department: fulfilment
or breach. A breach is written as a new version of that record (履行状态 未履行, with the facts),
which is a negative fact on the subject's file and on the public list."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyong.accounts.actor import Actor
from xinyong.catalogue import load_catalogue
from xinyong.departments.models import Department
from xinyong.departments.service import find_department
from xinyong.errors import Forbidden, InvalidInput, NotFound
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
    step,
    text_field,
    timeline,
)
from .determinations import _subject_values
from .models import Commitment

WORKFLOW = "commitment"
RESOURCE = "credit_commitments"
MACHINE = StateMachine(WORKFLOW, {"active": "履行中", "fulfilled": "已履行", "breached": "未履行（违诺）"}, [
    Transition("make", "作出承诺", (None,), "active"),
    Transition("fulfil", "核查：已履行", ("active",), "fulfilled"),
    Transition("breach", "核查：未履行（违诺）", ("active",), "breached"),
])
STATUS_VALUE = {"active": "履行中", "fulfilled": "已履行", "breached": "未履行"}


def commitment_types() -> dict[str, list[str]]:
    """The catalogue's vocabularies (types and domains) — the only ones accepted."""
    res = load_catalogue().get(RESOURCE)
    return {"commitment_type": res.field("commitment_type").enum_values,
            "commitment_domain": res.field("commitment_domain").enum_values}


def _link(c: Commitment) -> str:
    return f"/commitments/{c.id}"


def _row(session: Session, c: Commitment, today: date, state: str) -> dict[str, Any]:
    res = load_catalogue().get(RESOURCE)
    subj = session.get(Subject, c.subject_id)
    dept = session.get(Department, c.department_id)
    row = {"commitment_no": c.commitment_no, "commitment_type": c.commitment_type, "commitment_domain": c.domain,
           "commitment_matter": c.matter, "commitment_content": c.content,
           "commitment_date": c.committed_on.isoformat(), "receiving_authority": dept.name,
           "fulfilment_status": STATUS_VALUE[state], **_subject_values(session, res, subj)}
    if c.valid_until:
        row["valid_until"] = c.valid_until.isoformat()
    if state != "active":
        row["verification_date"] = (c.verified_on or today).isoformat()
    if c.breach_facts:
        row["breach_facts"] = c.breach_facts
    return row


def _write(session: Session, actor: Actor | None, c: Commitment, today: date, state: str) -> None:
    from xinyong.intake.service import ingest_rows

    result = ingest_rows(session, [_row(session, c, today, state)], RESOURCE, c.department_id, today=today,
                         source_name=f"信用承诺{c.id}", actor=actor)
    if result.rows_rejected:
        msgs = "；".join(e["message"] for e in result.errors) or "承诺记录未通过校验"
        raise InvalidInput(f"承诺内容有误：{msgs}", code="commitment_invalid", details=result.errors)
    if c.record_id is None:
        session.flush()
        c.record_id = session.scalar(select(Record.id).where(Record.resource == RESOURCE,
                                                             Record.last_batch_id == result.batch_id).limit(1))


def make_commitment(session: Session, actor: Actor, *, department: str, commitment_type: str, domain: str,
                    matter: str, content: str, valid_until: date | None = None, subject: str | None = None,
                    today: date | None = None) -> dict[str, Any]:
    """A subject commits (its own account), or a department records a commitment it received."""
    today = clock.today(today)
    if actor.is_subject:
        if actor.subject_id is None:
            raise Forbidden("该主体账户尚未关联已登记的信用主体。", code="no_subject")
        subject_id = actor.subject_id
    elif actor.is_department or is_credit_office(actor):
        if not subject:
            raise InvalidInput("请指定承诺主体（统一社会信用代码等）。", code="subject_required")
        subject_id = resolve_subject(session, subject).id
    else:
        raise Forbidden(f"{actor.role_label}无权作出信用承诺。", code="role_forbidden")
    dept = find_department(session, department)
    if actor.is_department and actor.department_id != dept.id:
        raise Forbidden("部门账户只能登记本部门受理的承诺。", code="not_own_department")
    vocab = commitment_types()
    if commitment_type not in vocab["commitment_type"]:
        raise InvalidInput(f"承诺类型只能是：{'、'.join(vocab['commitment_type'])}", code="invalid_commitment_type")
    if domain not in vocab["commitment_domain"]:
        raise InvalidInput(f"承诺领域只能是：{'、'.join(vocab['commitment_domain'])}", code="invalid_commitment_domain")
    if valid_until is not None and valid_until < today:
        raise InvalidInput("承诺有效期不能早于今天。", code="invalid_valid_until")
    c = Commitment(subject_id=subject_id, department_id=dept.id, commitment_no="-", commitment_type=commitment_type,
                   domain=domain, matter=text_field(matter, "承诺事项", min_len=2, max_len=500),
                   content=text_field(content, "承诺内容", min_len=10), committed_on=today, valid_until=valid_until,
                   created_by_user_id=actor.id if actor.kind == "user" else None)
    session.add(c)
    session.flush()
    c.commitment_no = f"XYCN{today:%Y%m%d}{c.id:06d}"
    _write(session, actor, c, today, "active")
    step(session, MACHINE, c, "make", actor=actor, today=today, note=c.matter, subject_id=subject_id,
         resources=[RESOURCE], details={"record_id": c.record_id})
    notify(session, "department", dept.id, f"新信用承诺：{c.matter}",
           f"{session.get(Subject, subject_id).name}作出{commitment_type}承诺（{domain}）：{c.matter}。"
           "请在核查后登记履行情况。", link=_link(c), workflow=WORKFLOW, case_id=c.id)
    return commitment_to_dict(session, c, viewer=actor)


def verify_commitment(session: Session, actor: Actor, commitment_id: int, *, outcome: str, facts: str | None = None,
                      today: date | None = None) -> dict[str, Any]:
    """The receiving department records fulfilment (``fulfil``) or breach (``breach``, with facts)."""
    today = clock.today(today)
    if outcome not in ("fulfil", "breach"):
        raise InvalidInput("核查结果只能是 fulfil（已履行）或 breach（未履行）。", code="invalid_outcome")
    c = _get(session, commitment_id)
    ensure_handler(actor, c.department_id)
    target = MACHINE.target(c.state, outcome)
    note = text_field(facts, "违诺情况" if outcome == "breach" else "核查说明", min_len=4,
                      required=outcome == "breach")
    c.verified_on = today
    if outcome == "breach":
        c.breach_facts = note
    _write(session, actor, c, today, target)
    step(session, MACHINE, c, outcome, actor=actor, today=today, note=note, subject_id=c.subject_id,
         resources=[RESOURCE], details={"record_id": c.record_id})
    title = "信用承诺核查：已履行" if outcome == "fulfil" else "信用承诺核查：未履行（违诺）"
    body = f"您于 {c.committed_on} 作出的承诺“{c.matter}”经{department_name(session, c.department_id)}核查：" \
           f"{MACHINE.label(c.state)}。" + (f"\n违诺情况：{note}\n违诺信息将记入信用记录。" if outcome == "breach" else "")
    notify(session, "subject", c.subject_id, title, body, link=_link(c), workflow=WORKFLOW, case_id=c.id)
    return commitment_to_dict(session, c, viewer=actor)


def _get(session: Session, commitment_id: int) -> Commitment:
    c = session.get(Commitment, commitment_id)
    if c is None:
        raise NotFound(f"未找到编号为 {commitment_id} 的信用承诺。", code="commitment_not_found")
    return c


def commitment_to_dict(session: Session, c: Commitment, *, viewer: Actor | None = None, full: bool = False
                       ) -> dict[str, Any]:
    subj = session.get(Subject, c.subject_id)
    out: dict[str, Any] = {
        "id": c.id, "workflow": WORKFLOW, "commitment_no": c.commitment_no, "subject_id": c.subject_id,
        "subject_name": subj.name if subj else None, "department": department_name(session, c.department_id),
        "commitment_type": c.commitment_type, "domain": c.domain, "matter": c.matter, "content": c.content,
        "committed_on": c.committed_on.isoformat(), "valid_until": c.valid_until.isoformat() if c.valid_until else None,
        "state": c.state, "state_label": MACHINE.label(c.state),
        "verified_on": c.verified_on.isoformat() if c.verified_on else None, "breach_facts": c.breach_facts,
        "record_id": c.record_id, "link": _link(c),
    }
    if viewer is not None:
        handler = is_credit_office(viewer) or (viewer.is_department and viewer.department_id == c.department_id)
        out["allowed_actions"] = [a for a in MACHINE.allowed(c.state) if a != "make" and handler]
    if full:
        out["timeline"] = timeline(session, MACHINE, c.id)
    return out


def get_commitment(session: Session, actor: Actor, commitment_id: int) -> dict[str, Any]:
    """Public when its record is public and the subject is not a natural person; otherwise the
    subject itself and the staff."""
    from xinyong.publication import is_public

    c = _get(session, commitment_id)
    subj = session.get(Subject, c.subject_id)
    record = session.get(Record, c.record_id) if c.record_id else None
    visible = (is_credit_office(actor) or (actor.is_department and actor.department_id == c.department_id)
               or (actor.is_subject and actor.subject_id == c.subject_id)
               or (record is not None and is_public(record) and subj is not None and subj.kind != "natural_person"))
    if not visible:
        raise NotFound(f"未找到编号为 {commitment_id} 的信用承诺。", code="commitment_not_found")
    return commitment_to_dict(session, c, viewer=actor, full=True)


def list_commitments(session: Session, *, q: str | None = None, domain: str | None = None,
                     commitment_type: str | None = None, state: str | None = None, page: int = 1, size: int = 20,
                     today: date | None = None) -> dict[str, Any]:
    """The public list: commitments whose record is public, never of natural persons."""
    from xinyong.publication import public_record_clause
    from xinyong.subjects.service import normalize_name

    if page < 1 or not 1 <= size <= 100:
        raise InvalidInput("页码从 1 开始，每页 1–100 条。", code="invalid_page")
    stmt = (select(Commitment).join(Record, Record.id == Commitment.record_id)
            .join(Subject, Subject.id == Commitment.subject_id)
            .where(public_record_clause(clock.today(today)), Subject.kind != "natural_person"))
    if q:
        q = q.strip()
        if len(q) > 100 or any(ord(ch) < 32 for ch in q):
            raise InvalidInput("查询词过长或含有控制字符。", code="invalid_query")
        stmt = stmt.where(Subject.name_norm.contains(normalize_name(q)))
    if domain:
        stmt = stmt.where(Commitment.domain == domain)
    if commitment_type:
        stmt = stmt.where(Commitment.commitment_type == commitment_type)
    if state:
        if state not in MACHINE.states:
            raise InvalidInput(f"状态只能是：{'、'.join(MACHINE.states)}", code="invalid_state")
        stmt = stmt.where(Commitment.state == state)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Commitment.id.desc()).offset((page - 1) * size).limit(size)).all()
    return {"total": total, "page": page, "size": size, "items": [commitment_to_dict(session, c) for c in rows]}
