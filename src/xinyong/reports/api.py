"""Report routes: public download, own full report, department API, verify page, public keys."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from xinyong.accounts.access import current_actor, render_error_page, require_access
from xinyong.accounts.actor import Actor
from xinyong.errors import Forbidden, InvalidInput, NotFound, XinyongError
from xinyong.reports.service import (
    FORMATS,
    MEDIA_TYPES,
    IssuedReport,
    issue_report,
    report_status,
)
from xinyong.subjects.models import Subject
from xinyong.web.deps import get_session
from xinyong.web.errors import ERROR_RESPONSES

router = APIRouter(tags=["信用报告"], responses=ERROR_RESPONSES)
KEYS_PATH = "/.well-known/xinyong-report-keys.json"

Code = Annotated[str, Path(max_length=64, description="统一社会信用代码、组织机构代码、工商注册号等")]
Fmt = Annotated[str, Path(max_length=8, description="pdf、html 或 json")]


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InvalidInput(f"不支持的报告格式“{fmt[:8]}”：可选 pdf、html、json。", code="unknown_format")
    return fmt


def _respond(request: Request, issued: IssuedReport, fmt: str, *, private: bool,
             downloads_query: str = "") -> Response:
    headers = {"X-Report-Number": issued.number,
               "Cache-Control": "private, no-store" if private else "no-cache"}
    if fmt == "html":
        from xinyong.portal.templating import templates
        from xinyong.reports.html import context

        downloads = [(f"report.pdf{downloads_query}", "PDF（含数字签名）"), (f"report.json{downloads_query}", "JSON（机器可读）")]
        return templates.TemplateResponse(request, "reports/report.html",
                                          {**context(issued.content, issued.signature), "downloads": downloads},
                                          headers=headers)
    body = issued.render(fmt)
    disposition = "inline" if fmt == "pdf" else "attachment"
    headers["Content-Disposition"] = f"{disposition}; filename=\"{issued.number}.{fmt}\""
    return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)


def _as_page(request: Request, fmt: str, exc: XinyongError) -> Response:
    if fmt == "html":
        return render_error_page(request, exc.status_code, exc.message, code=exc.code)
    raise exc


def _public_subject(session: Session, code: str) -> Subject:
    from xinyong.subjects.service import resolve_subject

    subject = resolve_subject(session, code)
    if subject.kind == "natural_person":
        # As in the subjects API: a person's presence on the platform is not public by itself.
        raise NotFound("未找到该代码对应的公开信用主体。", code="subject_not_found")
    return subject


_REPORT_CONTENT = {200: {"content": {"text/html": {}, "application/pdf": {}, "application/json": {}}}}


@router.get("/subjects/{code}/report.{fmt}", name="public_report", summary="公共信用信息报告（公开）",
            responses=_REPORT_CONTENT)
def public_report(
    request: Request,
    code: Code,
    fmt: Fmt,
    session: Annotated[Session, Depends(get_session)],
    scenario: Annotated[str | None, Query(max_length=64, description="专项报告场景代码，如 bidding、procurement")] = None,
) -> Response:
    """The public report of an organisation or individual business (or, with ``scenario``, its
    scenario report): public records within their disclosure windows, signed. Same data → same
    report number."""
    try:
        _check_format(fmt)
        subject = _public_subject(session, code)
        kind = "scenario" if scenario else "public"
        issued = issue_report(session, subject, kind, scenario=scenario, actor=current_actor(request))
    except XinyongError as exc:
        return _as_page(request, fmt, exc)
    query = f"?scenario={quote(scenario)}" if scenario else ""
    return _respond(request, issued, fmt, private=False, downloads_query=query)


@router.get("/me/report.{fmt}", name="own_report", summary="本主体完整版信用报告", responses=_REPORT_CONTENT)
def own_report(request: Request, fmt: Fmt, session: Annotated[Session, Depends(get_session)]) -> Response:
    """For a subject account: every record about the subject (public or not) and who queried
    its non-public information."""
    actor = current_actor(request)
    try:
        _check_format(fmt)
        if actor.subject_id is None:
            raise NotFound("账户尚未关联信用主体：主体信息登记后即可下载完整版报告。", code="subject_not_linked")
        subject = session.get(Subject, actor.subject_id)
        if subject is None:
            raise NotFound("账户关联的信用主体不存在，请联系信用办。", code="subject_not_found")
        issued = issue_report(session, subject, "full", actor=actor)
    except XinyongError as exc:
        return _as_page(request, fmt, exc)
    return _respond(request, issued, fmt, private=True)


class ReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=64, description="主体的任一代码（统一社会信用代码等）")
    kind: Literal["public", "scenario", "full"] = Field("public", description="public（公开）、scenario（专项）、"
                                                        "full（主体完整版，仅信用办人员）")
    scenario: str | None = Field(None, max_length=64, description="专项报告场景代码")
    format: Literal["json", "pdf", "html"] = Field("json", description="返回格式")


@router.post("/api/v1/reports", summary="出具信用报告（部门接口）",
             responses={200: {"content": {"application/json": {}, "application/pdf": {}}}})
def request_report(
    request: Request,
    body: Annotated[ReportRequest, Body()],
    session: Annotated[Session, Depends(get_session)],
    actor: Annotated[Actor, Depends(require_access(disclosure="government", action="report.request"))],
) -> Response:
    """For departments and the credit office: a signed report of any subject, with the declared
    purpose (header ``X-Purpose``). Each request is recorded in the subject's access history."""
    from xinyong.audit.service import record_event
    from xinyong.subjects.service import resolve_subject

    actor = current_actor(request)  # with the purpose require_access validated
    if body.kind == "full" and not actor.can_read(None, "subject"):
        raise Forbidden(f"{actor.role_label}不能获取主体完整版报告：可选 public（公开报告）或 scenario（专项报告）。",
                        code="report_kind_forbidden")
    subject = resolve_subject(session, body.subject)
    issued = issue_report(session, subject, body.kind, scenario=body.scenario, actor=actor)
    resources = sorted({b["code"] for s in issued.content["sections"] for b in s["resources"]})
    record_event(session, "report.read", actor=actor, subject_id=subject.id, resources=resources,
                 details={"number": issued.number, "kind": body.kind, "scenario": body.scenario})
    if body.format == "html":
        from xinyong.reports.html import render_standalone

        return Response(render_standalone(issued.content, issued.signature), media_type=MEDIA_TYPES["html"],
                        headers={"X-Report-Number": issued.number, "Cache-Control": "private, no-store"})
    return _respond(request, issued, body.format, private=True)


@router.get("/verify/{number}", name="verify_report", summary="核验信用报告",
            responses={200: {"content": {"text/html": {}, "application/json": {}}}})
def verify_page(
    request: Request,
    number: Annotated[str, Path(max_length=64)],
    session: Annotated[Session, Depends(get_session)],
    format: Annotated[Literal["html", "json"], Query(description="html（页面）或 json")] = "html",
) -> Response:
    """Is the report with this number authentic (issued and signed by the platform) and current
    (no newer report of the same subject and kind)?"""
    from xinyong.portal.templating import templates
    from xinyong.reports.pdf import china_time

    try:
        status = report_status(session, number)
    except XinyongError as exc:
        if format == "json":
            raise
        return templates.TemplateResponse(request, "reports/verify.html",
                                          {"s": None, "number": number[:32], "message": exc.message,
                                           "china_time": china_time}, status_code=exc.status_code)
    if format == "json":
        return JSONResponse({k: v for k, v in status.items() if k != "signature"})
    return templates.TemplateResponse(request, "reports/verify.html",
                                      {"s": status, "number": status["number"], "china_time": china_time})


@router.get(KEYS_PATH, name="report_keys", summary="报告签名公钥")
def report_keys() -> JSONResponse:
    """Every Ed25519 public key the platform has signed reports with (current and retired):
    download it once to verify reports offline with ``xinyong report verify``."""
    from xinyong.reports.keys import published_keyset

    return JSONResponse(published_keyset().to_dict(), headers={"Cache-Control": "public, max-age=3600"})
