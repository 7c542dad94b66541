"""What every workflow shares: explicit state machines, the timeline, access to a case,
and loading a record with its subject and department."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from xinyong.accounts.actor import Actor
from xinyong.accounts.roles import ADMIN, REVIEWER
from xinyong.audit.service import record_event
from xinyong.catalogue import Resource, load_catalogue
from xinyong.departments.models import Department
from xinyong.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyong.identity.crypto import get_keyring
from xinyong.intake.models import Record
from xinyong.subjects.models import Subject

from .models import WorkflowEvent

WORKFLOW_LABELS = {"objection": "异议", "repair": "信用修复", "determination": "名单认定", "commitment": "信用承诺"}


@dataclass(frozen=True)
class Transition:
    action: str
    label: str
    sources: tuple[str | None, ...]
    target: str | None  # None: the state stays (e.g. escalation, a statement)


class StateMachine:
    """States with Chinese labels and the transitions between them; anything else is refused."""

    def __init__(self, workflow: str, states: dict[str, str], transitions: list[Transition]) -> None:
        self.workflow = workflow
        self.states = states
        self.transitions = {t.action: t for t in transitions}

    def label(self, state: str | None) -> str:
        return self.states.get(state or "", state or "（新建）")

    def target(self, state: str | None, action: str) -> str:
        t = self.transitions[action]
        if state not in t.sources:
            allowed = [self.transitions[a].label for a in self.allowed(state)]
            hint = f"当前可办理：{'、'.join(allowed)}。" if allowed else "该事项已办结，不能再变更。"
            raise Conflict(f"{WORKFLOW_LABELS[self.workflow]}事项当前状态为“{self.label(state)}”，"
                           f"不能执行“{t.label}”。{hint}", code="invalid_transition",
                           details={"state": state, "action": action})
        return t.target or state  # type: ignore[return-value]

    def allowed(self, state: str | None) -> list[str]:
        return [a for a, t in self.transitions.items() if state in t.sources]

    def describe(self) -> dict[str, Any]:
        return {"states": self.states,
                "transitions": [{"action": t.action, "label": t.label, "from": list(t.sources), "to": t.target}
                                for t in self.transitions.values()]}


def actor_name(actor: Actor | None) -> str:
    if actor is None:
        return "系统"
    if actor.kind == "anonymous":
        return "公众"
    if actor.is_department and actor.department_name:
        return f"{actor.department_name}（{actor.name or actor.role_label}）"
    return actor.name or actor.role_label


def step(session: Session, machine: StateMachine, case: Any, action: str, *, actor: Actor | None, today: date,
         note: str | None = None, subject_id: int | None = None, resources: list[str] | None = None,
         details: dict[str, Any] | None = None) -> str:
    """Apply ``action`` to ``case`` (checking the machine), write the timeline entry and the
    audit event in the caller's transaction. Returns the new state."""
    # A creating action starts from nothing (the row's state column already holds its default).
    before = None if machine.transitions[action].sources == (None,) else case.state
    after = machine.target(before, action)
    case.state = after
    session.flush()
    session.add(WorkflowEvent(workflow=machine.workflow, case_id=case.id, action=action, state_from=before,
                              state_to=after, actor_name=actor_name(actor)[:200],
                              actor_role=actor.role if actor else None, note=note, on_day=today))
    record_event(session, f"{machine.workflow}.{action}", actor=actor, subject_id=subject_id,
                 resources=resources or [], details={"case_id": case.id, "from": before, "to": after,
                                                     **(details or {})})
    return after


def timeline(session: Session, machine: StateMachine, case_id: int) -> list[dict[str, Any]]:
    events = session.scalars(select(WorkflowEvent).where(WorkflowEvent.workflow == machine.workflow,
                                                         WorkflowEvent.case_id == case_id)
                             .order_by(WorkflowEvent.id)).all()
    return [{"action": e.action, "label": machine.transitions[e.action].label if e.action in machine.transitions
             else e.action, "from": e.state_from, "to": e.state_to, "to_label": machine.label(e.state_to),
             "actor": e.actor_name, "note": e.note, "day": e.on_day.isoformat(),
             "at": e.at.isoformat() if e.at else None} for e in events]


# --- records, subjects, departments ----------------------------------------------------------------


def get_record(session: Session, record_id: int, *, lock: bool = False) -> Record:
    stmt = select(Record).where(Record.id == record_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    record = session.scalar(stmt)
    if record is None:
        raise NotFound(f"未找到编号为 {record_id} 的信用记录。", code="record_not_found")
    return record


def resource_of(record: Record) -> Resource:
    return load_catalogue().get(record.resource)


def record_row(record: Record) -> dict[str, Any]:
    """The record's full current values (personal ones decrypted), for building a new version."""
    row = dict(record.data or {})
    if record.personal_enc:
        row.update(json.loads(get_keyring().decrypt(record.personal_enc)))
    return row


def department_name(session: Session, department_id: int | None) -> str:
    if department_id is None:
        return "信用办"
    dept = session.get(Department, department_id)
    return dept.name if dept else f"部门{department_id}"


def subject_name(session: Session, subject_id: int) -> str:
    s = session.get(Subject, subject_id)
    return s.name if s else f"主体{subject_id}"


def record_summary(session: Session, record: Record) -> dict[str, Any]:
    """What a case page shows about its record (public fields only; personal values never)."""
    res = resource_of(record)
    fields = [f for f in res.fields if f.public and not f.personal]
    from xinyong.publication import record_status_label

    return {"id": record.id, "resource": record.resource, "resource_name": res.name,
            "natural_key": record.natural_key, "version": record.current_version,
            "main_date": record.main_date.isoformat() if record.main_date else None,
            "status_label": record_status_label(record), "severity": record.severity,
            "public_until": record.public_until.isoformat() if record.public_until else None,
            "repair_after": record.repair_after.isoformat() if record.repair_after else None,
            "department": department_name(session, record.department_id),
            "values": {f.label: (record.data or {}).get(f.code) for f in fields
                       if (record.data or {}).get(f.code) not in (None, "")}}


# --- who may act ---------------------------------------------------------------------------------


def is_credit_office(actor: Actor) -> bool:
    return actor.role in (ADMIN, REVIEWER) or actor.kind == "cli"


def ensure_handler(actor: Actor, department_id: int | None) -> None:
    """The source department handles its cases; the credit office (admin, reviewer) any."""
    if is_credit_office(actor):
        return
    if actor.is_department and department_id is not None and actor.department_id == department_id:
        return
    if actor.is_department:
        raise Forbidden("该事项由其他部门办理，部门账户只能办理本部门的事项。", code="not_own_department")
    raise Forbidden(f"{actor.role_label}无权办理该事项。", code="role_forbidden")


def ensure_subject_actor(actor: Actor, subject_id: int) -> None:
    if is_credit_office(actor):
        return
    if not actor.is_subject:
        raise Forbidden("只有信用主体本人（主体账户）可以办理该事项。", code="subject_only")
    actor.ensure_subject(subject_id)


def text_field(value: str | None, label: str, *, min_len: int = 2, max_len: int = 4000,
               required: bool = True) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise InvalidInput(f"请填写{label}。", code="field_required", details={"field": label})
        return None
    if len(value) < min_len:
        raise InvalidInput(f"{label}过短，请至少写 {min_len} 个字，说明具体情况。", code="field_too_short",
                           details={"field": label})
    if len(value) > max_len:
        raise InvalidInput(f"{label}过长（{len(value)} 字），请控制在 {max_len} 字以内。", code="field_too_long",
                           details={"field": label})
    return value


# --- listing cases ---------------------------------------------------------------------------------


def list_cases(session: Session, actor: Actor | None, model: Any, machine: StateMachine, *, noun: str,
               own: Callable[[Actor], Any], to_dict: Callable[[Any], dict[str, Any]], order_by: tuple,
               state: str | None = None, page: int = 1, size: int = 20,
               narrow: Callable[[Select], Select] | None = None, where: Any = None) -> dict[str, Any]:
    """One page of a workflow's cases as this actor may see them: all for the credit office (or
    no actor: the system), its own department's for department staff, ``own(actor)`` for a
    subject; anyone else is refused. ``narrow`` adds the workflow's own filters, ``state`` is
    checked against the machine, ``where`` is an extra clause (e.g. overdue)."""
    if page < 1 or not 1 <= size <= 100:
        raise InvalidInput("页码从 1 开始，每页 1–100 条。", code="invalid_page")
    q = select(model)
    if actor is None or is_credit_office(actor):
        pass
    elif actor.is_department:
        q = q.where(model.department_id == actor.department_id)
    elif actor.is_subject:
        q = q.where(own(actor))
    else:
        raise Forbidden(f"{actor.role_label}无权查看{noun}。", code="role_forbidden")
    if narrow is not None:
        q = narrow(q)
    if state:
        if state not in machine.states:
            raise InvalidInput(f"状态只能是：{'、'.join(machine.states)}", code="invalid_state")
        q = q.where(model.state == state)
    if where is not None:
        q = q.where(where)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(q.order_by(*order_by).offset((page - 1) * size).limit(size)).all()
    return {"total": total, "page": page, "size": size, "items": [to_dict(r) for r in rows]}
