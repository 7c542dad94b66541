"""Public pages of the credit website: home, search, subject profiles, double publicity, lists,
notices, and the vendored static assets. Thin: the services decide, these only translate."""

from __future__ import annotations

import csv
import io
import mimetypes
import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import xlsxwriter
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session

from xinyong.catalogue.schemas import LIST_KINDS
from xinyong.errors import NotFound
from xinyong.identity.codes import looks_like_citizen_id, normalize_code
from xinyong.intake.reports import formula_safe
from xinyong.portal import notices as notice_service
from xinyong.portal import service
from xinyong.portal.normalize import BadQuery
from xinyong.portal.search import PAGE_SIZE, search_subjects
from xinyong.portal.templating import STATIC, page, render
from xinyong.subjects.service import KINDS
from xinyong.web.deps import get_session

router = APIRouter(include_in_schema=False)
DbSession = Annotated[Session, Depends(get_session)]


def _date(value: str | None, label: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise BadQuery(f"{label}格式不正确：“{value[:20]}”。请按 2025-01-31 的格式填写。", code="invalid_date") from None


def _int(value: str | None, label: str, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        n = int(value)
    except ValueError:
        raise BadQuery(f"{label}应为正整数。", code="invalid_page") from None
    if n < 1 or n > 1_000_000:
        raise BadQuery(f"{label}应为正整数。", code="invalid_page")
    return n


# --- home and search ------------------------------------------------------------------------------


@router.get("/", name="portal_home")
@page
def home(request: Request, session: DbSession) -> Response:
    figures = service.home_figures(session)
    latest_notices = notice_service.latest(session, limit=5)
    return render(request, "portal/home.html", {"figures": figures, "notices": latest_notices,
                                                "titles": service.PUBLICITY_TITLES})


@router.get("/search", name="portal_search")
@page
def search_page(request: Request, session: DbSession, q: str | None = None, kind: str | None = None,
                region: str | None = None, page: str | None = None) -> Response:
    result, shown_q, message = None, q or "", None
    if q is not None and q.strip():
        if looks_like_citizen_id(normalize_code(q)):
            # Never echo an ID number, and never say whether a person is on record under it.
            shown_q, message = "", "不支持按公民身份号码查询。自然人仅在依法公开的失信、处罚等信息中按名称展示。"
        else:
            result = search_subjects(session, q, kind=kind or None, region=region or None,
                                     page=_int(page, "页码", 1), size=PAGE_SIZE)
    regions = service.search_regions(session)
    return render(request, "portal/search.html", {
        "q": shown_q, "kind": kind or "", "region": region or "", "result": result, "message": message,
        "kinds": KINDS, "regions": regions})


# --- subject profile ------------------------------------------------------------------------------


@router.get("/subjects/{code}", name="subject_profile")
@page
def subject_page(request: Request, session: DbSession, code: str) -> Response:
    profile = service.subject_profile(session, code)
    from xinyong.rating.service import public_grade  # issue #8: only where the deployment publishes grades

    return render(request, "portal/subject.html", {"p": profile, "list_kinds": LIST_KINDS,
                                                   "grade": public_grade(session, profile["subject_id"])})


# --- double publicity -----------------------------------------------------------------------------


def _list_filter(department: str | None, date_from: str | None, date_to: str | None, category: str | None,
                 keyword: str | None) -> service.ListFilter:
    return service.ListFilter(department=department or None, date_from=_date(date_from, "开始日期"),
                              date_to=_date(date_to, "结束日期"), category=category or None,
                              keyword=(keyword or "").strip() or None)


def _publicity_kind(kind: str) -> str:
    if kind not in service.PUBLICITY:
        raise NotFound("没有这个公示栏目。双公示包括行政许可（/publicity/licenses）和行政处罚（/publicity/penalties）。",
                       code="publicity_not_found")
    return kind


@router.get("/publicity/{kind}", name="publicity_list")
@page
def publicity_page(request: Request, session: DbSession, kind: str, department: str | None = None,
                   date_from: str | None = None, date_to: str | None = None, category: str | None = None,
                   keyword: str | None = None, page: str | None = None) -> Response:
    kind = _publicity_kind(kind)
    res = service.publicity_resource(kind)
    flt = _list_filter(department, date_from, date_to, category, keyword)
    cat_field = service.category_field(res)
    # The table shows one field of each record, its category.
    result = service.record_page(session, res, flt, page=_int(page, "页码", 1),
                                 fields=[cat_field.code] if cat_field else [])
    return render(request, "portal/publicity.html", {
        "kind": kind, "title": service.PUBLICITY_TITLES[kind], "res": res, "flt": flt, "result": result,
        "categories": cat_field.enum_values if cat_field else [], "category_label": cat_field.label if cat_field else None,
        "departments": service.departments_for(session, res), "export_query": flt.as_query()})


@router.get("/publicity/{kind}/export.{fmt}", name="publicity_export")
@page
def publicity_export(request: Request, session: DbSession, kind: str, fmt: str, department: str | None = None,
                     date_from: str | None = None, date_to: str | None = None, category: str | None = None,
                     keyword: str | None = None) -> Response:
    """The filtered list as CSV (UTF-8 with BOM, opens in Excel) or XLSX; cells formula-safe."""
    kind = _publicity_kind(kind)
    if fmt not in ("csv", "xlsx"):
        raise NotFound("导出格式只支持 csv 和 xlsx。", code="export_format_not_found")
    res = service.publicity_resource(kind)
    flt = _list_filter(department, date_from, date_to, category, keyword)
    header, rows = service.export_rows(session, res, flt)
    stem = f"{service.PUBLICITY_TITLES[kind]}-{service.portal_today().isoformat()}"
    disposition = f"attachment; filename=\"{kind}.{fmt}\"; filename*=UTF-8''{quote(stem)}.{fmt}"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        buf.write("\ufeff")
        writer.writerow(header)
        for row in rows:
            writer.writerow([formula_safe(v) for v in row])
        return Response(buf.getvalue().encode("utf-8"), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": disposition})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.xlsx"
        wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                             "strings_to_numbers": False, "strings_to_urls": False})
        ws = wb.add_worksheet(service.PUBLICITY_TITLES[kind])
        bold = wb.add_format({"bold": True})
        for col, value in enumerate(header):
            ws.write_string(0, col, value, bold)
        for r, row in enumerate(rows, start=1):
            for col, value in enumerate(row):
                ws.write_string(r, col, formula_safe(value))
        wb.close()
        data = path.read_bytes()
    return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": disposition})


# --- red and black lists --------------------------------------------------------------------------


@router.get("/lists", name="lists_index")
@page
def lists_index(request: Request, session: DbSession) -> Response:
    groups: dict[str, list] = {}
    for res in service.list_resources():
        groups.setdefault(res.list_kind, []).append(res)
    return render(request, "portal/lists.html", {"groups": groups, "list_kinds": LIST_KINDS})


@router.get("/lists/{code}", name="list_page")
@page
def list_page(request: Request, session: DbSession, code: str, keyword: str | None = None,
              date_from: str | None = None, date_to: str | None = None, page: str | None = None) -> Response:
    res = service.list_resource(code)
    flt = _list_filter(None, date_from, date_to, None, keyword)
    basis = service.list_basis_fields(res)
    result = service.record_page(session, res, flt, page=_int(page, "页码", 1), fields=basis)
    return render(request, "portal/list.html", {"res": res, "flt": flt, "result": result,
                                                "list_label": LIST_KINDS[res.list_kind],
                                                "basis_fields": basis})


# --- notices --------------------------------------------------------------------------------------


@router.get("/notices", name="notices_index")
@page
def notices_index(request: Request, session: DbSession, page: str | None = None) -> Response:
    result = notice_service.list_published(session, page=_int(page, "页码", 1))
    return render(request, "portal/notices.html", {"result": result})


@router.get("/notices/{slug}", name="notice_page")
@page
def notice_page(request: Request, session: DbSession, slug: str) -> Response:
    notice = notice_service.get_published(session, slug)
    return render(request, "portal/notice.html", {"notice": notice, "html": notice_service.render_markdown(notice.body)})


# --- static assets --------------------------------------------------------------------------------


@router.get("/static/{path:path}", name="static")
def static_asset(path: str, v: Annotated[str | None, Query(max_length=32)] = None) -> Response:
    """Vendored assets (htmx, the site's CSS/JS): no CDN, cached long when versioned."""
    target = (STATIC / path).resolve()
    if STATIC.resolve() not in target.parents or not target.is_file() or target.suffix not in (".js", ".css"):
        raise NotFound("未找到该文件。", code="not_found")
    media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    cache = "public, max-age=31536000, immutable" if v else "public, max-age=3600"
    return FileResponse(target, media_type=media, headers={"Cache-Control": cache})
