"""Workflow pages: the objection and repair forms the portal links to (by route name
``objection_new`` / ``repair_new`` with ``?record_id=``), and each case's page with its
timeline and the handler's forms. Rules stay in the services; a refused step re-renders the
page with the Chinese reason."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from xinyong.accounts.access import current_actor, render_error_page
from xinyong.config import get_settings
from xinyong.errors import InvalidInput, XinyongError
from xinyong.portal.templating import templates
from xinyong.web.security import PRELOGIN_COOKIE, form_csrf_token, set_cookie

from . import objections, repair
from .api import read, run
from .attachments import save_attachment
from .common import get_record, record_summary
from .policy import load_policy

router = APIRouter(include_in_schema=False)


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    token, new_cookie = form_csrf_token(request)
    response = templates.TemplateResponse(request, name, {"csrf_token": token, **context}, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    if new_cookie:
        set_cookie(response, request, PRELOGIN_COOKIE, new_cookie, max_age=3600 * 12)
    return response


def _limits() -> dict[str, Any]:
    return {"max_files": load_policy().attachments.max_files,
            "max_mb": int(get_settings().attachment_max_bytes / 1048576)}


async def _form(request: Request) -> tuple[dict[str, str], list[tuple[str | None, bytes]]]:
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    limit = get_settings().attachment_max_bytes
    files = []
    for f in form.getlist("file"):
        if not isinstance(f, str) and f.filename:
            files.append((f.filename, await f.read(limit + 1)))
    return fields, files


def _int(value: str | None, label: str) -> int:
    try:
        return int(value or "")
    except ValueError:
        raise InvalidInput(f"{label}应为数字。", code="invalid_id") from None


# --- objections -----------------------------------------------------------------------------------


def _objection_form(request: Request, record_id: int, form: dict | None = None, error: str | None = None,
                    status: int = 200) -> Response:
    actor = current_actor(request)
    record = read(lambda s: objections.objection_target(s, actor, record_id))
    return _page(request, "workflows/objection_new.html", {
        "record": record, "record_id": record_id, "form": form or {}, "error": error,
        "anonymous": actor.is_anonymous, "answer_days": load_policy().objections.answer_days, **_limits()},
        status=status)


@router.get("/objections/new", response_class=HTMLResponse, name="objection_new", summary="提出异议")
def objection_new(request: Request, record_id: int) -> Response:
    try:
        return _objection_form(request, record_id)
    except XinyongError as exc:
        return render_error_page(request, exc.status_code, exc.message, code=exc.code)


@router.post("/objections/new", response_class=HTMLResponse, name="objection_create", summary="提交异议")
async def objection_create(request: Request) -> Response:
    actor = current_actor(request)
    fields, files = await _form(request)
    try:
        record_id = _int(fields.get("record_id"), "记录编号")
    except XinyongError as exc:
        return render_error_page(request, exc.status_code, exc.message, code=exc.code)

    def work(s):
        out = objections.file_objection(s, actor, record_id=record_id, reason=fields.get("reason", ""),
                                        requested_change=fields.get("requested_change"),
                                        applicant_name=fields.get("applicant_name"),
                                        contact_email=fields.get("contact_email"))
        if not out.get("duplicate"):
            for name, content in files:
                save_attachment(s, "objection", out["id"], name, content, uploaded_by=actor.name or "申请人")
        return out

    try:
        out = await run_in_threadpool(run, work)
    except XinyongError as exc:
        return await run_in_threadpool(_objection_form, request, record_id, fields, exc.message, exc.status_code)
    target = f"/objections/{out['id']}?filed=1"
    if out.get("tracking_code"):
        target += f"&code={out['tracking_code']}"
    return RedirectResponse(target, status_code=303)


def _objection_page(request: Request, objection_id: int, code: str | None, *, error: str | None = None,
                    notice: str | None = None, status: int = 200) -> Response:
    actor = current_actor(request)
    case = read(lambda s: objections.get_objection(s, actor, objection_id, token=code))
    forms = []
    if any(a in case.get("allowed_actions", []) for a in objections.DECISIONS):
        forms.append({"id": "decision", "title": "办理异议（书面答复）", "action": f"/objections/{objection_id}/decision",
                      "button": "提交办理结果", "fields": [
                          {"name": "decision", "kind": "select", "label": "处理结果",
                           "options": [("uphold", "维持原记录"), ("correct", "更正记录"), ("withdraw", "撤销记录")]},
                          {"name": "reply", "kind": "textarea", "label": "书面答复（必填）", "required": True},
                          {"name": "changes", "kind": "textarea", "label": "更正内容（仅“更正记录”时填写）",
                           "hint": "每行一项：字段代码=更正后的值，如 penalty_amount=5000"}]})
    if "cancel" in case.get("allowed_actions", []):
        forms.append({"id": "cancel", "title": "撤回异议", "action": f"/objections/{objection_id}/cancel",
                      "button": "撤回异议申请", "fields": [
                          {"name": "reason", "kind": "text", "label": "撤回原因（选填）"}]})
    target = {"record": "记录", "grade": "信用评价等级"}.get(case["target"], "主体基本信息")
    facts = [("异议对象", target), ("主体", case["subject_name"]),
             ("办理单位", case["department"]), ("申请人", case["applicant_name"]), ("提出日期", case["filed_on"]),
             ("答复期限", case["due_on"]), ("异议理由", case["reason"]), ("更正要求", case["requested_change"]),
             ("书面答复", case["reply"])]
    if code and request.query_params.get("filed"):
        notice = (notice or "") + f"异议已提交。请保存查询码 {code}（凭此链接查看进度），处理结果将发送到您的邮箱。"
    elif request.query_params.get("filed"):
        notice = "异议已提交，处理结果将通过站内消息通知您。"
    return _page(request, "workflows/case.html", {
        "heading": f"异议 {objection_id}", "case": case, "facts": facts, "forms": forms, "error": error,
        "notice": notice, "code": code}, status=status)


@router.get("/objections/{objection_id}", response_class=HTMLResponse, summary="异议详情")
def objection_page(request: Request, objection_id: int, code: str | None = None) -> Response:
    try:
        return _objection_page(request, objection_id, code)
    except XinyongError as exc:
        return render_error_page(request, exc.status_code, exc.message, code=exc.code)


def _changes(text: str | None) -> dict[str, str] | None:
    out = {}
    for n, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        if "=" not in line:
            raise InvalidInput(f"更正内容第 {n} 行应写作“字段代码=新值”。", code="invalid_changes")
        k, v = line.split("=", 1)
        out[k.strip()] = v.strip()
    return out or None


async def _case_post(request: Request, page, case_id: int, work) -> Response:
    fields, _ = await _form(request)
    code = fields.get("code") or None
    try:
        await run_in_threadpool(run, lambda s: work(s, fields, code))
    except XinyongError as exc:
        message, status = exc.message, exc.status_code
        return await run_in_threadpool(lambda: page(request, case_id, code, error=message, status=status))
    return await run_in_threadpool(lambda: page(request, case_id, code, notice="已办理。"))


@router.post("/objections/{objection_id}/decision", response_class=HTMLResponse, summary="办理异议")
async def objection_decision(request: Request, objection_id: int) -> Response:
    actor = current_actor(request)
    return await _case_post(request, _objection_page, objection_id, lambda s, f, code: objections.handle_objection(
        s, actor, objection_id, decision=f.get("decision", ""), reply=f.get("reply", ""),
        changes=_changes(f.get("changes"))))


@router.post("/objections/{objection_id}/cancel", response_class=HTMLResponse, summary="撤回异议")
async def objection_cancel(request: Request, objection_id: int) -> Response:
    actor = current_actor(request)
    return await _case_post(request, _objection_page, objection_id, lambda s, f, code: objections.cancel_objection(
        s, actor, objection_id, reason=f.get("reason"), token=code))


# --- repair ----------------------------------------------------------------------------------------


def _repair_form(request: Request, record_id: int, form: dict | None = None, error: str | None = None,
                 status: int = 200) -> Response:
    actor = current_actor(request)

    def work(s):
        return record_summary(s, get_record(s, record_id)), repair.precheck_for(s, actor, record_id)

    record, check = read(work)
    return _page(request, "workflows/repair_new.html", {
        "record": record, "record_id": record_id, "precheck": check, "form": form or {}, "error": error,
        **_limits()}, status=status)


@router.get("/repairs/new", response_class=HTMLResponse, name="repair_new", summary="申请信用修复")
def repair_new(request: Request, record_id: int) -> Response:
    try:
        return _repair_form(request, record_id)
    except XinyongError as exc:
        return render_error_page(request, exc.status_code, exc.message, code=exc.code)


@router.post("/repairs/new", response_class=HTMLResponse, name="repair_create", summary="提交信用修复申请")
async def repair_create(request: Request) -> Response:
    actor = current_actor(request)
    fields, files = await _form(request)
    try:
        record_id = _int(fields.get("record_id"), "记录编号")
    except XinyongError as exc:
        return render_error_page(request, exc.status_code, exc.message, code=exc.code)

    def work(s):
        out = repair.apply_for_repair(s, actor, record_id=record_id, fulfilment=fields.get("fulfilment", ""),
                                      commitment_signed_by=fields.get("commitment_signed_by", ""),
                                      accept_commitment=fields.get("accept_commitment") == "1",
                                      contact_email=fields.get("contact_email"))
        for name, content in files:
            save_attachment(s, "repair", out["id"], name, content, uploaded_by=actor.name)
        return out

    try:
        out = await run_in_threadpool(run, work)
    except XinyongError as exc:
        return await run_in_threadpool(_repair_form, request, record_id, fields, exc.message, exc.status_code)
    return RedirectResponse(f"/repairs/{out['id']}", status_code=303)


def _repair_page(request: Request, application_id: int, code: str | None = None, *, error: str | None = None,
                 notice: str | None = None, status: int = 200) -> Response:
    actor = current_actor(request)
    case = read(lambda s: repair.get_repair(s, actor, application_id))
    forms = []
    if "approve" in case.get("allowed_actions", []):
        forms.append({"id": "decision", "title": "审核修复申请", "action": f"/repairs/{application_id}/decision",
                      "button": "提交审核结果", "fields": [
                          {"name": "decision", "kind": "select", "label": "审核结果",
                           "options": [("approve", "同意修复（停止公示）"), ("reject", "不予修复")]},
                          {"name": "reason", "kind": "textarea", "label": "审核意见或不予修复的理由（必填）",
                           "required": True}]})
    if "cancel" in case.get("allowed_actions", []):
        forms.append({"id": "cancel", "title": "撤回申请", "action": f"/repairs/{application_id}/cancel",
                      "button": "撤回修复申请", "fields": []})
    facts = [("主体", case["subject_name"]), ("审核单位", case["department"]), ("申请日期", case["filed_on"]),
             ("审核期限", case["due_on"]), ("履行情况", case["fulfilment"]),
             ("信用承诺", f"{case['commitment_text']}（签署人：{case['commitment_signed_by']}）"),
             ("审核意见", case["decision_reason"])]
    return _page(request, "workflows/case.html", {"heading": f"信用修复申请 {application_id}", "case": case,
                                                  "facts": facts, "forms": forms, "error": error, "notice": notice,
                                                  "code": None}, status=status)


@router.get("/repairs/{application_id}", response_class=HTMLResponse, summary="信用修复申请详情")
def repair_page(request: Request, application_id: int) -> Response:
    try:
        return _repair_page(request, application_id)
    except XinyongError as exc:
        return render_error_page(request, exc.status_code, exc.message, code=exc.code)


@router.post("/repairs/{application_id}/decision", response_class=HTMLResponse, summary="审核信用修复申请")
async def repair_decision(request: Request, application_id: int) -> Response:
    actor = current_actor(request)
    return await _case_post(request, _repair_page, application_id, lambda s, f, code: repair.review_repair(
        s, actor, application_id, decision=f.get("decision", ""), reason=f.get("reason", "")))


@router.post("/repairs/{application_id}/cancel", response_class=HTMLResponse, summary="撤回信用修复申请")
async def repair_cancel(request: Request, application_id: int) -> Response:
    actor = current_actor(request)
    return await _case_post(request, _repair_page, application_id,
                            lambda s, f, code: repair.cancel_repair(s, actor, application_id))


# Determination and commitment pages and their forms: see ``forms`` (included here).
from .forms import router as _forms_router  # noqa: E402

router.include_router(_forms_router)
