"""Browser end to end (Playwright + Debian's Chromium, a live server over a file SQLite
database): the subject, the department clerk and the credit office click through the real
pages; the calendar is moved with XINYONG_TODAY and ``xinyong tick --today``.

a. objection: public profile's 提出异议 → form → 异议处理中 on the profile and in search → the
   clerk corrects the record from the console inbox with a written reply → the new version is
   public; the applicant reads the reply in its inbox and on the objection's timeline.
b. repair of a natural person's penalty after its minimum window: pre-check → application →
   approval → gone from search, the public profile, double publicity and its CSV/XLSX exports;
   still in the subject's own file, marked 已修复.
c. black-list determination proposed on the console form → notice (告知) seen by the subject →
   decided after the notice period and published → on /lists → expires with ``tick``, and a
   second tick changes nothing.

The same flows run against both databases at the service/API level in test_e2e_api.py and
test_forms.py.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook
from sqlalchemy import func, select

from xinyong.config import reset_settings
from xinyong.db.engine import dispose_all, session_scope
from xinyong.identity.codes import generate_citizen_id, generate_uscc

from .conftest import PASSWORD, actor_for, penalty
from ..live import CHROMIUM, app_server, launch_chromium

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")
COMPANY = "佛山市恒泰五金制品有限公司"
PERSON = "欧阳明远"
LIST = "safety_production_blacklist"



def set_today(day: str) -> None:
    """The running server's calendar (it reads the setting on each request)."""
    os.environ["XINYONG_TODAY"] = day
    reset_settings()


@dataclass
class Site:
    base: str
    url: str
    uscc: str
    citizen_id: str
    env: dict[str, str] = field(default_factory=dict)

    def record_id(self, decision_no: str) -> int:
        from xinyong.intake.models import Record

        with session_scope(self.url) as s:
            return s.scalar(select(Record.id).where(Record.natural_key.like(f"%{decision_no}%")))

    def subject_id(self, **where) -> int:
        from xinyong.subjects.models import Subject

        with session_scope(self.url) as s:
            return s.scalar(select(Subject.id).filter_by(**where))

    def tick(self, day: str) -> dict:
        """The operator's command, as a separate process on the same database."""
        out = subprocess.run([sys.executable, "-c", "from xinyong.cli import main; main()", "tick", "--today", day,
                              "--json"], env={**os.environ, **self.env}, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def site(settings_env, sqlite_template, tmp_path, monkeypatch):
    """A fresh database (a company with a penalty, a natural person with a penalty, the accounts),
    served by uvicorn on a free port for this test."""
    from xinyong.departments.service import seed_departments
    from xinyong.intake.service import ingest_rows

    path = tmp_path / "site.sqlite3"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("XINYONG_DATABASE_URL", url)
    monkeypatch.setenv("XINYONG_TODAY", "2026-11-01")
    reset_settings()
    from xinyong.portal.service import clear_caches

    clear_caches()
    uscc = generate_uscc(random.Random(7), region="440604")
    citizen = generate_citizen_id(random.Random(11), region="440604")
    person_row = penalty(7, "", name=PERSON, subject_category="自然人", id_type="身份证", id_no=citizen,
                         legal_rep="")
    person_row.pop("uscc")
    with session_scope(url) as s:
        seed_departments(s)
    with session_scope(url) as s:
        result = ingest_rows(s, [penalty(1, uscc), person_row], "admin_penalty", "market_regulation",
                             today=date(2026, 11, 1))
        assert result.rows_accepted == 2, result.errors
    actor_for(url, "hengtai", "subject", subject=uscc)
    actor_for(url, "ouyang", "subject", subject=citizen)
    actor_for(url, "scjg", "dept_submitter", dept="market_regulation")
    actor_for(url, "yjj", "dept_submitter", dept="emergency")
    actor_for(url, "xinyongban", "reviewer")
    from xinyong.app import create_app

    env = {k: os.environ[k] for k in ("XINYONG_DATABASE_URL", "XINYONG_VAR_DIR", "XINYONG_SECRET_KEY")}
    try:
        with app_server(create_app()) as base:
            yield Site(base, url, uscc, citizen, env)
    finally:
        dispose_all()
        reset_settings()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def people(browser, site):
    """One browser context per person (their own cookies); no console errors on any page."""
    contexts, errors = [], []

    def open_as(username: str | None = None):
        ctx = browser.new_context(accept_downloads=True, locale="zh-CN", viewport={"width": 1280, "height": 900})
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(15000)
        page.on("console", lambda m: errors.append(f"{username}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"{username}: {e}"))
        if username:
            page.goto(site.base + "/login")
            page.get_by_label("用户名").fill(username)
            page.get_by_label("密码").fill(PASSWORD)
            page.get_by_role("button", name="登录").click()
            page.wait_for_url("**/me")
        return page

    yield open_as
    for ctx in contexts:
        ctx.close()
    # A 404 page (a profile no longer public) logs the failed load; anything else is a bug.
    assert [e for e in errors if "404" not in e] == [], errors


def _card(page, record_id: int):
    return page.locator(f'article[data-record-id="{record_id}"]')


def test_objection_badge_correction_and_reply(site, people):
    rid = site.record_id("〕1号")
    subject = people("hengtai")
    # From the public profile, found by search, to the objection form.
    subject.goto(site.base + "/search")
    subject.get_by_label("查询内容").fill("恒泰五金")
    subject.keyboard.press("Enter")
    subject.locator(f'#results a[href="/subjects/{site.uscc}"]').click()
    subject.wait_for_url(f"**/subjects/{site.uscc}")
    _card(subject, rid).get_by_role("link", name="提出异议").click()
    subject.wait_for_url(f"**/objections/new?record_id={rid}")
    subject.get_by_label("异议理由").fill("罚款金额有误：实际罚款三千元，见缴款凭证。")
    subject.get_by_label("希望如何更正").fill("罚款金额改为0.3万元")
    subject.get_by_role("button", name="提交异议").click()
    subject.wait_for_url(re.compile(r".*/objections/\d+\?filed=1"))
    objection_url = subject.url.split("?")[0]
    assert "异议已提交" in subject.content()

    # The badge, at once, on the profile and in search (seen by anyone).
    public = people()
    public.goto(f"{site.base}/subjects/{site.uscc}")
    assert "异议处理中" in _card(public, rid).inner_text()
    public.goto(f"{site.base}/search?q=恒泰五金")
    assert "异议处理中" in public.locator("#results li", has_text=COMPANY).inner_text()

    # The clerk answers from the console inbox: a correction with a written reply.
    clerk = people("scjg")
    clerk.goto(site.base + "/console")
    clerk.get_by_role("link", name="待办事项").click()
    clerk.wait_for_url("**/console/inbox")
    row = clerk.locator("table.wf-cases tr", has_text=COMPANY)
    assert "异议" in row.inner_text()
    row.get_by_role("link").click()
    clerk.wait_for_url(objection_url)
    clerk.select_option("#decision-decision", "correct")
    clerk.fill("#decision-reply", "经核查，罚款金额录入有误，已更正为0.3万元。")
    clerk.fill("#decision-changes", "fine_amount=0.3\npenalty_content=罚款三千元")
    clerk.get_by_role("button", name="提交办理结果").click()
    clerk.wait_for_load_state()
    assert "已办结（已更正记录）" in clerk.content()

    # The new version is what the public sees; the badge is gone.
    public.goto(f"{site.base}/subjects/{site.uscc}")
    card = _card(public, rid).inner_text()
    assert "罚款三千元" in card and "罚款五千元" not in card and "异议处理中" not in card
    public.goto(f"{site.base}/search?q=恒泰五金")
    assert "异议处理中" not in public.locator("#results").inner_text()

    # The applicant: the reply in its inbox, and the timeline.
    subject.goto(site.base + "/me/inbox")
    notice = subject.locator("ul.wf-inbox li", has_text="异议处理结果")
    assert "已更正为0.3万元" in notice.inner_text()
    notice.get_by_role("link", name="查看办理详情").click()
    subject.wait_for_url(objection_url)
    timeline = subject.locator("ol.wf-timeline").inner_text()
    assert "提出异议" in timeline and "更正记录" in timeline and "已更正为0.3万元" in timeline


def _publicity_rows(page, base: str, keyword: str) -> tuple[int, list[list[str]], list[list]]:
    """The double-publicity page filtered by keyword: rows shown, and both export files."""
    page.goto(f"{base}/publicity/penalties")
    page.fill("#keyword", keyword)
    page.get_by_role("button", name="筛选").click()
    page.wait_for_url(re.compile(r".*keyword=.*"))
    shown = page.locator("tbody tr[data-record-id]").count()
    with page.expect_download() as dl:
        page.click("#export-csv")
    rows = list(csv.reader(io.StringIO(Path(dl.value.path()).read_bytes().decode("utf-8-sig"))))
    with page.expect_download() as dl:
        page.click("#export-xlsx")
    sheet = CalamineWorkbook.from_path(dl.value.path()).get_sheet_by_index(0).to_python()
    return shown, rows[1:], sheet[1:]


def test_repair_removes_the_penalty_from_every_public_surface(site, people):
    rid = site.record_id("〕7号")
    person_id = site.subject_id(name=PERSON)
    public = people()
    # Before: the person is found (masked), has a profile, and the penalty is in publicity and exports.
    public.goto(f"{site.base}/search?q={PERSON}")
    hit = public.locator("#results li", has_text=PERSON)
    assert hit.count() == 1 and site.citizen_id not in public.content()
    public.goto(f"{site.base}/subjects/s-{person_id}")
    assert _card(public, rid).count() == 1
    shown, csv_rows, xlsx_rows = _publicity_rows(public, site.base, PERSON)
    assert shown == 1 and len(csv_rows) == 1 and len(xlsx_rows) == 1 and "佛市监罚〔2026〕7号" in csv_rows[0]

    # The subject applies from its own file; the pre-check answers at once.
    subject = people("ouyang")
    subject.goto(site.base + "/me")
    subject.get_by_role("link", name="我的完整信用档案（含非公开信息）").click()
    subject.wait_for_url("**/me/file")
    _card(subject, rid).get_by_role("link", name="申请信用修复").click()
    subject.wait_for_url(f"**/repairs/new?record_id={rid}")
    assert "预检通过" in subject.content()
    subject.get_by_label("履行情况").fill("罚款已于2026年1月20日全额缴纳，无证经营行为已停止并办理许可。")
    subject.get_by_label("签署人").fill(PERSON)
    subject.get_by_label("我已阅读并同意上述信用承诺").check()
    subject.get_by_role("button", name=re.compile("提交")).click()
    subject.wait_for_url(re.compile(r".*/repairs/\d+$"))
    repair_url = subject.url
    assert "审核中" in subject.content()

    # The department reviews from its console inbox and approves.
    clerk = people("scjg")
    clerk.goto(site.base + "/console/inbox")
    clerk.locator("table.wf-cases tr", has_text="信用修复").get_by_role("link").click()
    clerk.wait_for_url(repair_url)
    clerk.select_option("#decision-decision", "approve")
    clerk.fill("#decision-reason", "罚款已缴清，违法行为已纠正，同意修复。")
    clerk.get_by_role("button", name="提交审核结果").click()
    clerk.wait_for_load_state()
    assert "已修复" in clerk.content()

    # Gone from search, the profile, double publicity and both exports.
    public.goto(f"{site.base}/search?q={PERSON}")
    assert public.locator("#results li", has_text=PERSON).count() == 0
    response = public.goto(f"{site.base}/subjects/s-{person_id}")
    assert response.status == 404 or _card(public, rid).count() == 0
    shown, csv_rows, xlsx_rows = _publicity_rows(public, site.base, PERSON)
    assert (shown, csv_rows, xlsx_rows) == (0, [], [])
    # Still in the subject's own file, marked 已修复; the application's timeline says so.
    subject.goto(site.base + "/me/file")
    assert "已修复" in _card(subject, rid).inner_text()
    subject.goto(repair_url)
    assert "同意修复" in subject.locator("ol.wf-timeline").inner_text()


def test_black_list_determination_from_console_form_to_expiry_by_tick(site, people):
    clerk = people("yjj")
    clerk.goto(site.base + "/console")
    clerk.get_by_role("link", name="名单认定").click()
    clerk.wait_for_url("**/console/determinations")
    clerk.get_by_role("link", name="提出名单认定").click()
    clerk.wait_for_url("**/console/determinations/new")
    assert clerk.locator('#proposal input[name="resource"]').get_attribute("value") == LIST
    clerk.fill("#subject", site.uscc)
    clerk.fill("#facts", "2026年9月发生较大生产安全事故，造成3人死亡，负有主要责任。")
    clerk.fill("#basis", "《安全生产严重失信主体名单管理办法》第六条第（一）项")
    clerk.fill("#d_dishonest_facts", "发生较大生产安全事故")
    clerk.fill("#d_penalty_decision_no", "佛应急罚〔2026〕8号")
    clerk.fill("#d_decision_no", "佛应急失信〔2026〕1号")
    clerk.fill("#d_decision_authority", "佛山市应急管理局")
    clerk.get_by_role("button", name="提出拟认定").click()
    clerk.wait_for_url(re.compile(r".*/determinations/\d+\?proposed=1"))
    case_url = clerk.url.split("?")[0]
    clerk.get_by_role("button", name="发送告知书").click()
    clerk.wait_for_url(re.compile(r".*\?done=notify"))
    assert "2026-11-06" in clerk.content()  # the notice period

    # The subject is told (告知) and sees the case; it does not answer.
    subject = people("hengtai")
    subject.goto(site.base + "/me/inbox")
    notice = subject.locator("ul.wf-inbox li", has_text="告知书")
    assert "2026-11-06" in notice.inner_text()
    notice.get_by_role("link", name="查看办理详情").click()
    subject.wait_for_url(case_url)
    assert "已告知" in subject.content() and "陈述申辩" in subject.content()

    # After the notice period: decided and published.
    set_today("2026-11-07")
    clerk.goto(case_url)
    clerk.fill("#decide-decision_no", "佛应急失信〔2026〕1号")
    clerk.fill("#decide-reason", "陈述申辩期满，当事人未陈述申辩，事实清楚，依法列入。")
    clerk.fill("#decide-valid_until", "2027-11-06")
    clerk.get_by_role("button", name="作出认定决定").click()
    clerk.wait_for_url(re.compile(r".*\?done=decide"))
    clerk.get_by_role("button", name="列入名单并公示").click()
    clerk.wait_for_url(re.compile(r".*\?done=publish"))
    assert "已列入并公示" in clerk.content()

    public = people()
    public.goto(f"{site.base}/lists/{LIST}")
    assert COMPANY in public.locator("table").inner_text()
    public.goto(f"{site.base}/subjects/{site.uscc}")
    assert "黑名单" in public.content()

    # The valid period ends: tick removes it; a second tick changes nothing.
    first = site.tick("2027-11-07")
    assert first["list_entries_expired"] == 1
    from xinyong.audit.models import AuditEvent
    from xinyong.workflows.models import WorkflowEvent

    with session_scope(site.url) as s:
        before = (s.scalar(select(func.count()).select_from(WorkflowEvent)),
                  s.scalar(select(func.count()).select_from(AuditEvent)))
    second = site.tick("2027-11-07")
    assert second["list_entries_expired"] == 0 and second["windows_closed_total"] == 0
    with session_scope(site.url) as s:
        after = (s.scalar(select(func.count()).select_from(WorkflowEvent)),
                 s.scalar(select(func.count()).select_from(AuditEvent)))
    assert after == before
    set_today("2027-11-07")
    public.goto(f"{site.base}/lists/{LIST}")
    assert COMPANY not in public.locator("table").inner_text()
    clerk.goto(case_url)
    assert "期满移出" in clerk.content() and "有效期届满移出" in clerk.locator("ol.wf-timeline").inner_text()
    clerk.goto(f"{site.base}/console/determinations?state=expired")
    assert clerk.locator("tr[data-determination-id]").count() == 1
