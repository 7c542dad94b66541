"""Public pages over the demo city on SQLite and PostgreSQL: home, search, profile, double
publicity with filters and exports, lists, 404 and 400 pages."""

from __future__ import annotations

import csv
import io
import random
import re

from fastapi.routing import iter_route_contexts
from python_calamine import CalamineWorkbook
from sqlalchemy import select

from tests.portal.conftest import AS_OF
from xinyong.db.engine import session_scope
from xinyong.departments.models import Department
from xinyong.identity.codes import generate_uscc
from xinyong.intake.models import Record
from xinyong.portal.search import subject_key
from xinyong.publication import public_record_clause
from xinyong.subjects.models import Subject

RECORD_ID = re.compile(r'data-record-id="(\d+)"')


def visible_penalty(city):
    """A public penalty of an organisation: (record id, subject key, subject name, department name)."""
    with session_scope(city.url) as s:
        row = s.execute(select(Record.id, Subject, Department.name)
                        .join(Subject, Subject.id == Record.subject_id)
                        .join(Department, Department.id == Record.department_id)
                        .where(Record.resource == "admin_penalty", public_record_clause(AS_OF),
                               Subject.kind == "legal_entity").order_by(Record.id).limit(1)).one()
        rid, subject, dept = row
        s.refresh(subject, ["identifiers"])
        return rid, subject_key(subject), subject.name, dept


def test_home(web):
    r = web.get("/")
    assert r.status_code == 200
    assert "信用佛山" in r.text and "信用信息查询" in r.text
    assert "最新行政处罚" in r.text and "红黑名单最新变动" in r.text
    assert RECORD_ID.search(r.text)


def test_search_then_profile_shows_penalty_with_department(web, city):
    rid, key, name, dept = visible_penalty(city)
    brand = re.sub(r"^(佛山市)?(禅城区|南海区|顺德区|高明区|三水区)?", "", name)[:2]
    r = web.get("/search", params={"q": brand})
    assert r.status_code == 200
    assert f'href="/subjects/{key}"' in r.text
    profile = web.get(f"/subjects/{key}")
    assert profile.status_code == 200
    assert name in profile.text and f'data-record-id="{rid}"' in profile.text
    assert dept in profile.text and "行政处罚信息" in profile.text
    with session_scope(city.url) as s:  # its other codes (e.g. the organisation code) are listed
        subject = s.scalar(select(Subject).where(Subject.name == name))
        codes = [i.value for i in subject.identifiers if i.scheme != "uscc"]
    assert codes and all(f"<dd>{c}</dd>" in profile.text for c in codes)
    # Features of later issues are hidden, not dead: no report/objection/repair links unless routed.
    for label, route in (("下载信用报告", "public_report"), ("提出异议", "objection_new"), ("申请信用修复", "repair_new")):
        has = any(getattr(ctx.original_route, "name", None) == route
                  for ctx in iter_route_contexts(web.app.routes))
        assert (f">{label}</a>" in profile.text) == has, label


def test_unknown_subject_is_a_chinese_404_and_malformed_code_a_400(web):
    unknown = generate_uscc(random.Random(99), region="440604")
    r = web.get(f"/subjects/{unknown}")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    assert "未找到该信用主体" in r.text
    r = web.get("/subjects/91440604MA4W00000!")
    assert r.status_code == 400 and "text/html" in r.headers["content-type"]
    for q in ("张", "陶瓷\x01", "x" * 101):
        r = web.get("/search", params={"q": q})
        assert r.status_code == 400 and "查询" in r.text, q
    assert web.get("/publicity/penalties", params={"date_from": "2026-13-45"}).status_code == 400
    assert web.get("/publicity/penalties", params={"category": "砍头"}).status_code == 400
    assert web.get("/publicity/nothing").status_code == 404
    assert web.get("/lists/admin_penalty").status_code == 404


def test_search_by_citizen_id_does_not_echo_it(web):
    r = web.get("/search", params={"q": "440604198001011234"})
    assert r.status_code == 200 and "440604198001011234" not in r.text and "不支持按公民身份号码查询" in r.text


def _rows_on_page(text):
    return RECORD_ID.findall(text)


def test_publicity_filters_and_exports_hold_the_filtered_rows(web, city):
    _, _, _, dept_name = visible_penalty(city)
    with session_scope(city.url) as s:
        dept_code = s.scalar(select(Department.code).where(Department.name == dept_name))
    params = {"department": dept_code, "date_from": "2024-01-01", "date_to": AS_OF.isoformat()}
    page = web.get("/publicity/penalties", params=params)
    assert page.status_code == 200
    ids = _rows_on_page(page.text)
    assert ids
    m = re.search(r"共 ([\d,]+) 条", page.text)
    total = int(m.group(1).replace(",", ""))
    assert page.text.count(f'<td class="dept">{dept_name}</td>') == len(ids)

    csv_resp = web.get("/publicity/penalties/export.csv", params=params)
    assert csv_resp.status_code == 200 and "attachment" in csv_resp.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(csv_resp.content.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert len(body) == total and "行政处罚决定书文号" in header and "数据来源单位" in header
    assert {r[header.index("数据来源单位")] for r in body} == {dept_name}
    assert all(params["date_from"] <= r[header.index("处罚决定日期")] <= params["date_to"] for r in body)
    assert "法定代表人证件号码" not in header and "证件号码" not in header  # personal, not public

    xlsx = web.get("/publicity/penalties/export.xlsx", params=params)
    assert xlsx.status_code == 200
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(xlsx.content)).get_sheet_by_index(0).to_python()
    assert sheet[0] == header and len(sheet) - 1 == total
    assert [str(c) for c in sheet[1]] == body[0]


def test_category_filter(web):
    r = web.get("/publicity/penalties", params={"category": "罚款"})
    assert r.status_code == 200
    rows = web.get("/publicity/penalties/export.csv", params={"category": "罚款"}).content.decode("utf-8-sig")
    parsed = list(csv.reader(io.StringIO(rows)))
    col = parsed[0].index("处罚类别")
    assert parsed[1:] and all("罚款" in r[col] for r in parsed[1:])
    licences = web.get("/publicity/licenses", params={"category": "普通"})
    assert licences.status_code == 200


def test_lists_and_masked_persons(web):
    index = web.get("/lists")
    assert index.status_code == 200 and "失信被执行人名单" in index.text and "红名单" in index.text
    page = web.get("/lists/dishonest_judgment_debtors")
    assert page.status_code == 200 and "认定依据" in page.text
    assert re.search(r"\d{4}\*{10}\d{3}[\dX]", page.text), "natural persons are shown with masked ID numbers"
    assert not re.search(r"(?<!\d)\d{17}[\dX](?!\d)", page.text)


def test_static_assets_are_vendored(web):
    r = web.get("/static/htmx.min.js")
    assert r.status_code == 200 and "htmx" in r.text[:200]
    assert web.get("/static/../app.py").status_code == 404
    assert web.get("/static/VENDORED.md").status_code == 404
    home = web.get("/").text
    assert "/static/htmx.min.js?v=" in home and "http" not in re.findall(r'<script src="([^"]+)"', home)[0]
