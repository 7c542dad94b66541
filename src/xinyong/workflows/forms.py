"""Pages and forms for list determinations (认定) and credit commitments (信用承诺).

- Console: ``/console/determinations`` (the cases, filtered and paged) and
  ``/console/determinations/new`` (the proposal form; its fields come from the chosen list's
  catalogue entry, so a new list needs no code).
- A determination's page ``/determinations/{id}`` shows the step forms its viewer may use now
  (告知, 决定, 不予认定, 公示, 撤销; the subject's 陈述申辩).
- ``/commitments`` (public list), ``/commitments/new`` (a subject commits; staff record a
  commitment they received), and the verification form on ``/commitments/{id}``.

Every rule stays in ``determinations`` and ``commitments``: a refused step re-renders its page
with the service's Chinese message, the entered values kept.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from xinyong.accounts.access import current_actor, render_error_page
from xinyong.accounts.actor import Actor
from xinyong.accounts.roles import ADMIN, DEPT_SUBMITTER
from xinyong.catalogue import Resource, load_catalogue
from xinyong.catalogue.schemas import LIST_KINDS
from xinyong.departments.models import Department
from xinyong.errors import InvalidInput, XinyongError
from xinyong.portal.templating import render
from xinyong.web.security import form_csrf_token

from . import commitments, determinations
from .api import read, run
from .common import is_credit_office
from .pages import _form, _page
from .policy import load_policy

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 20


def _error_page(request: Request, exc: XinyongError) -> Response:
    return render_error_page(request, exc.status_code, exc.message, code=exc.code)


def _date(value: str | None, label: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{label}“{value}”不是有效日期，请按“年-月-日”填写，如 2027-10-31。",
                           code="invalid_date", details={"field": label}) from None


def _field_error(exc: XinyongError) -> str | None:
    """The label of the field a service error is about (to show the message next to it)."""
    details = exc.details if isinstance(exc.details, dict) else {}
    return details.get("field")


def _console_ctx(request: Request, actor: Actor, **extra: Any) -> dict[str, Any]:
    """What the console's navigation needs (as ``portal.console`` passes it)."""
    return {"actor": actor, "csrf_token": form_csrf_token(request)[0],
            "can_submit": actor.role in (ADMIN, DEPT_SUBMITTER), "is_admin": actor.role == ADMIN, **extra}


def _departments() -> list[tuple[str, str]]:
    return read(lambda s: [(d.code, d.name) for d in s.scalars(select(Department).order_by(Department.id))])


# --- list determinations: console list and proposal ----------------------------------------------


@router.get("/console/determinations", response_class=HTMLResponse, name="console_determinations",
            summary="工作台：名单认定")
def console_determinations(request: Request, resource: str | None = None, state: str | None = None,
                           subject: str | None = None, page: int = 1) -> Response:
    actor = current_actor(request)
    resource, state, subject = resource or None, state or None, (subject or "").strip() or None
    error, result = None, {"total": 0, "page": 1, "size": PAGE_SIZE, "items": []}

    def work(s):
        from xinyong.subjects.service import resolve_subject

        subject_id = resolve_subject(s, subject).id if subject else None
        return determinations.list_determinations(s, actor, resource=resource, state=state, subject_id=subject_id,
                                                  page=max(page, 1), size=PAGE_SIZE)

    try:
        result = read(work)
    except XinyongError as exc:
        if exc.status_code in (401, 403):
            raise
        error = exc.message
    pages = max(1, -(-result["total"] // PAGE_SIZE))
    return render(request, "workflows/determinations.html", _console_ctx(
        request, actor, result=result, pages=pages, error=error, lists=load_catalogue().lists(),
        states=determinations.MACHINE.states, flt={"resource": resource or "", "state": state or "",
                                                   "subject": subject or ""},
        can_propose=actor.role in (ADMIN, DEPT_SUBMITTER) or is_credit_office(actor)), status=400 if error else 200,
        private=True)


def _proposal_fields(res: Resource) -> list[dict[str, Any]]:
    """The list record's own fields for the form: everything but the subject columns and the
    dates the workflow fills (listing date from the decision, valid-until from the period)."""
    sf = res.subject_fields
    filled = {sf.name, sf.category, sf.uscc, sf.citizen_id, res.date_field, res.valid_until_field}
    out = []
    for f in res.fields:
        if f.code in filled:
            continue
        kind = "select" if f.enum else "textarea" if f.type == "text" else "date" if f.type == "date" else "text"
        out.append({"code": f.code, "label": f.label, "kind": kind, "required": f.required,
                    "options": [(o.value, o.display) for o in f.enum] if f.enum else [],
                    "hint": f.description})
    return out


def _lists_for(actor: Actor) -> list[Resource]:
    cat = load_catalogue()
    lists = cat.lists()
    if actor.is_department and actor.department_code:
        own = [r.code for r in cat.for_department(actor.department_code) if r.is_list]
        lists.sort(key=lambda r: r.code not in own)  # the department's own lists first
    return lists


def _proposal_page(request: Request, resource: str | None, form: dict[str, str] | None = None,
                   error: str | None = None, error_field: str | None = None, status: int = 200) -> Response:
    actor = current_actor(request)
    lists = _lists_for(actor)
    codes = [r.code for r in lists]
    if resource not in codes:
        resource = codes[0]
    res = load_catalogue().get(resource)
    return render(request, "workflows/determination_new.html", _console_ctx(
        request, actor, lists=lists, res=res, list_label=LIST_KINDS.get(res.list_kind, res.list_kind),
        fields=_proposal_fields(res), form=form or {}, error=error, error_field=error_field,
        departments=_departments() if not actor.is_department else [],
        notice_days=load_policy().determinations.notice_days), status=status, private=True)


@router.get("/console/determinations/new", response_class=HTMLResponse, name="console_determination_new",
            summary="工作台：提出名单认定")
def determination_new(request: Request, resource: str | None = None) -> Response:
    return _proposal_page(request, resource)


@router.post("/console/determinations/new", response_class=HTMLResponse, name="console_determination_create",
             summary="提交名单认定（拟列入）")
async def determination_create(request: Request) -> Response:
    actor = current_actor(request)
    fields, _ = await _form(request)
    resource = fields.get("resource", "")
    data = {k[2:]: v.strip() for k, v in fields.items() if k.startswith("d_") and v.strip()}

    def work(s):
        return determinations.propose_determination(
            s, actor, resource=resource, subject=fields.get("subject", "").strip(), facts=fields.get("facts", ""),
            basis=fields.get("basis", ""), data=data, department=fields.get("department") or None)

    try:
        if not fields.get("subject", "").strip():
            raise InvalidInput("请填写被认定主体的统一社会信用代码（或其他登记代码）。", code="subject_required",
                               details={"field": "被认定主体"})
        out = await run_in_threadpool(run, work)
    except XinyongError as exc:
        if exc.status_code in (401, 403) and exc.code in ("auth_required", "role_forbidden"):
            raise
        message, field, status = exc.message, _field_error(exc), exc.status_code
        return await run_in_threadpool(lambda: _proposal_page(request, resource, fields, message, field, status))
    return RedirectResponse(f"/determinations/{out['id']}?proposed=1", status_code=303)


# --- a determination's page and its steps ----------------------------------------------------------


STEP_FORMS: dict[str, dict[str, Any]] = {
    "notify": {"title": "告知当事人（拟列入告知书）", "button": "发送告知书", "fields": []},
    "decide": {"title": "作出认定决定", "button": "作出认定决定", "fields": [
        {"name": "decision_no", "kind": "text", "label": "认定决定书文号（必填）", "required": True},
        {"name": "reason", "kind": "textarea", "label": "决定理由（必填，含对陈述申辩的采纳情况）", "required": True},
        {"name": "valid_from", "kind": "date", "label": "有效期起（选填，默认今天）"},
        {"name": "valid_until", "kind": "date", "label": "有效期止（选填，默认规定的最长期限）"}]},
    "publish": {"title": "列入名单并公示", "button": "列入名单并公示", "fields": []},
    "drop": {"title": "不予认定", "button": "不予认定", "fields": [
        {"name": "reason", "kind": "textarea", "label": "不予认定的理由（必填）", "required": True}]},
    "revoke": {"title": "撤销认定", "button": "撤销认定并移出名单", "fields": [
        {"name": "reason", "kind": "textarea", "label": "撤销认定的理由（必填）", "required": True}]},
}


def _determination_page(request: Request, determination_id: int, *, error: str | None = None,
                        notice: str | None = None, form: dict[str, str] | None = None, failed: str | None = None,
                        status: int = 200) -> Response:
    actor = current_actor(request)
    case = read(lambda s: determinations.get_determination(s, actor, determination_id))
    allowed = case.get("allowed_actions", [])
    forms = []
    for action in ("notify", "decide", "publish", "drop", "revoke"):
        if action in allowed:
            spec = STEP_FORMS[action]
            values = form if failed == action else {}
            forms.append({"id": action, "action": f"/determinations/{determination_id}/steps",
                          "title": spec["title"], "button": spec["button"],
                          "fields": [{"name": "action", "kind": "hidden", "value": action}]
                          + [{**f, "value": (values or {}).get(f["name"], "")} for f in spec["fields"]]})
    if "respond" in allowed:
        forms.append({"id": "respond", "action": f"/determinations/{determination_id}/statement",
                      "title": f"陈述申辩（{case['objection_until']} 前）", "button": "提交陈述申辩",
                      "fields": [{"name": "statement", "kind": "textarea", "label": "陈述申辩内容（必填）",
                                  "required": True, "value": (form or {}).get("statement", "")
                                  if failed == "respond" else ""}]})
    done = request.query_params.get("done")
    if request.query_params.get("proposed"):
        notice = notice or "已提出拟认定。下一步：告知当事人。"
    elif done in determinations.MACHINE.transitions:
        notice = notice or f"已办理：{determinations.MACHINE.transitions[done].label}。"
    facts = [("名单", f"{case['resource_name']}（{case['list_label']}）"), ("主体", case["subject_name"]),
             ("认定部门", case["department"]), ("认定事实", case["facts"]), ("认定依据", case["basis"]),
             ("拟认定日期", case["proposed_on"]), ("陈述申辩期至", case["objection_until"]),
             ("陈述申辩", case["statement"]), ("决定书文号", case["decision_no"]),
             ("有效期", f"{case['valid_from']} 至 {case['valid_until']}" if case["valid_from"] else None),
             ("公示日期", case["published_on"]), ("移出日期", case["removed_on"]),
             ("移出或不予认定原因", case["removal_reason"])]
    return _page(request, "workflows/case.html", {"heading": f"名单认定 {determination_id}", "case": case,
                                                  "facts": facts, "forms": forms, "error": error,
                                                  "notice": notice, "code": None}, status=status)


@router.get("/determinations/{determination_id}", response_class=HTMLResponse, name="determination_page",
            summary="名单认定详情")
def determination_page(request: Request, determination_id: int) -> Response:
    try:
        return _determination_page(request, determination_id)
    except XinyongError as exc:
        return _error_page(request, exc)


async def _step_post(request: Request, determination_id: int, work) -> Response:
    fields, _ = await _form(request)
    try:
        await run_in_threadpool(run, lambda s: work(s, fields))
    except XinyongError as exc:
        message, status = exc.message, exc.status_code
        failed = fields.get("action") or "respond"
        try:
            return await run_in_threadpool(lambda: _determination_page(
                request, determination_id, error=message, form=fields, failed=failed, status=status))
        except XinyongError as inner:
            return _error_page(request, inner)
    return RedirectResponse(f"/determinations/{determination_id}?done={fields.get('action', 'respond')}",
                            status_code=303)


@router.post("/determinations/{determination_id}/steps", response_class=HTMLResponse, summary="办理名单认定")
async def determination_step(request: Request, determination_id: int) -> Response:
    actor = current_actor(request)

    def work(s, f):
        return determinations.advance_determination(
            s, actor, determination_id, f.get("action", ""), reason=f.get("reason"),
            decision_no=f.get("decision_no"), valid_from=_date(f.get("valid_from"), "有效期起"),
            valid_until=_date(f.get("valid_until"), "有效期止"))

    return await _step_post(request, determination_id, work)


@router.post("/determinations/{determination_id}/statement", response_class=HTMLResponse,
             summary="陈述申辩（被认定主体）")
async def determination_statement(request: Request, determination_id: int) -> Response:
    actor = current_actor(request)
    return await _step_post(request, determination_id, lambda s, f: determinations.respond_to_notice(
        s, actor, determination_id, statement=f.get("statement", "")))


# --- commitments ------------------------------------------------------------------------------------


@router.get("/commitments", response_class=HTMLResponse, name="commitments_list", summary="信用承诺公示")
def commitments_list(request: Request, q: str | None = None, domain: str | None = None,
                     commitment_type: str | None = None, state: str | None = None, page: int = 1) -> Response:
    flt = {"q": (q or "").strip(), "domain": domain or "", "commitment_type": commitment_type or "",
           "state": state or ""}
    error, result = None, {"total": 0, "page": 1, "size": PAGE_SIZE, "items": []}
    try:
        result = read(lambda s: commitments.list_commitments(
            s, q=flt["q"] or None, domain=flt["domain"] or None, commitment_type=flt["commitment_type"] or None,
            state=flt["state"] or None, page=max(page, 1), size=PAGE_SIZE))
    except XinyongError as exc:
        error = exc.message
    return render(request, "workflows/commitments.html", {
        "result": result, "pages": max(1, -(-result["total"] // PAGE_SIZE)), "flt": flt, "error": error,
        "vocab": commitments.commitment_types(), "states": commitments.MACHINE.states},
        status=400 if error else 200)


def _commitment_form(request: Request, form: dict[str, str] | None = None, error: str | None = None,
                     error_field: str | None = None, status: int = 200) -> Response:
    actor = current_actor(request)
    return _page(request, "workflows/commitment_new.html", {
        "vocab": commitments.commitment_types(), "departments": _departments(), "form": form or {},
        "error": error, "error_field": error_field, "for_subject": not actor.is_subject,
        "own_department": actor.department_code if actor.is_department else None}, status=status)


@router.get("/commitments/new", response_class=HTMLResponse, name="commitment_new", summary="作出信用承诺")
def commitment_new(request: Request) -> Response:
    return _commitment_form(request)


@router.post("/commitments/new", response_class=HTMLResponse, name="commitment_create", summary="提交信用承诺")
async def commitment_create(request: Request) -> Response:
    actor = current_actor(request)
    fields, _ = await _form(request)

    def work(s):
        return commitments.make_commitment(
            s, actor, department=fields.get("department", ""), commitment_type=fields.get("commitment_type", ""),
            domain=fields.get("domain", ""), matter=fields.get("matter", ""), content=fields.get("content", ""),
            valid_until=_date(fields.get("valid_until"), "承诺有效期"), subject=fields.get("subject") or None)

    try:
        if not fields.get("department"):
            raise InvalidInput("请选择承诺受理部门。", code="department_required", details={"field": "受理部门"})
        out = await run_in_threadpool(run, work)
    except XinyongError as exc:
        if exc.status_code in (401, 403) and exc.code in ("auth_required", "role_forbidden"):
            raise
        message, field, status = exc.message, _field_error(exc), exc.status_code
        return await run_in_threadpool(lambda: _commitment_form(request, fields, message, field, status))
    return RedirectResponse(f"/commitments/{out['id']}?made=1", status_code=303)


def _commitment_page(request: Request, commitment_id: int, *, error: str | None = None,
                     form: dict[str, str] | None = None, status: int = 200) -> Response:
    actor = current_actor(request)
    case = read(lambda s: commitments.get_commitment(s, actor, commitment_id))
    forms = []
    if {"fulfil", "breach"} & set(case.get("allowed_actions", [])):
        form = form or {}
        forms.append({"id": "verification", "title": "登记履行情况", "button": "提交核查结果",
                      "action": f"/commitments/{commitment_id}/verification", "fields": [
                          {"name": "outcome", "kind": "select", "label": "核查结果", "value": form.get("outcome", ""),
                           "options": [("fulfil", "已履行"), ("breach", "未履行（违诺，记入信用记录）")]},
                          {"name": "facts", "kind": "textarea", "label": "核查说明；违诺时必填违诺情况",
                           "value": form.get("facts", "")}]})
    notice = None
    if request.query_params.get("made"):
        notice = "信用承诺已提交，受理部门将核查履行情况。"
    elif request.query_params.get("verified"):
        notice = "已登记履行情况。"
    facts = [("承诺书编号", case["commitment_no"]), ("主体", case["subject_name"]), ("受理部门", case["department"]),
             ("承诺类型", case["commitment_type"]), ("领域", case["domain"]), ("承诺事项", case["matter"]),
             ("承诺内容", case["content"]), ("承诺日期", case["committed_on"]), ("有效期至", case["valid_until"]),
             ("核查日期", case["verified_on"]), ("违诺情况", case["breach_facts"])]
    return _page(request, "workflows/case.html", {"heading": f"信用承诺 {case['commitment_no']}", "case": case,
                                                  "facts": facts, "forms": forms, "error": error,
                                                  "notice": notice, "code": None}, status=status)


@router.get("/commitments/{commitment_id}", response_class=HTMLResponse, name="commitment_page",
            summary="信用承诺详情")
def commitment_page(request: Request, commitment_id: int) -> Response:
    try:
        return _commitment_page(request, commitment_id)
    except XinyongError as exc:
        return _error_page(request, exc)


@router.post("/commitments/{commitment_id}/verification", response_class=HTMLResponse,
             summary="登记承诺履行情况")
async def commitment_verification(request: Request, commitment_id: int) -> Response:
    actor = current_actor(request)
    fields, _ = await _form(request)
    try:
        await run_in_threadpool(run, lambda s: commitments.verify_commitment(
            s, actor, commitment_id, outcome=fields.get("outcome", ""), facts=fields.get("facts")))
    except XinyongError as exc:
        message, status = exc.message, exc.status_code
        try:
            return await run_in_threadpool(lambda: _commitment_page(request, commitment_id, error=message,
                                                                    form=fields, status=status))
        except XinyongError as inner:
            return _error_page(request, inner)
    return RedirectResponse(f"/commitments/{commitment_id}?verified=1", status_code=303)


__all__ = ["router"]
