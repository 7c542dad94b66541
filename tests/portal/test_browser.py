"""Browser tests: Playwright drives Debian's Chromium against the real server on the demo city.

search a fragment → open the profile → see a penalty and its department → filter and export the
penalty list (CSV and XLSX hold the filtered rows) → the console upload path; no console errors
on any page; screenshots of home, results and profile under the test's temporary directory.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook
from sqlalchemy import select

from tests.portal.conftest import apply_env
from tests.portal.test_pages import visible_penalty
from xinyong.config import reset_settings
from xinyong.db.engine import session_scope
from xinyong.departments.models import Department

from ..live import CHROMIUM, app_server, launch_chromium

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists(),
                                reason="Debian chromium is not installed (make test installs it)")
PASSWORD = "Browser-Test-42"


def upload_entry(city) -> dict:
    """A penalty file of the city written as CSV: what the submitter uploads again."""
    import json

    manifest = json.loads((city.city_dir / "manifest.json").read_text())
    return next(e for e in manifest["files"] if e["resource"] == "admin_penalty" and e["path"].endswith(".csv"))



@pytest.fixture(scope="module")
def server(portal_city):
    city = portal_city
    with pytest.MonkeyPatch.context() as mp:
        apply_env(mp, city)
        for k, v in (("XINYONG_ARGON2_TIME_COST", "1"), ("XINYONG_ARGON2_MEMORY_COST", "8"),
                     ("XINYONG_ARGON2_PARALLELISM", "1")):
            mp.setenv(k, v)
        reset_settings()
        from xinyong.accounts.actor import Actor
        from xinyong.accounts.service import create_user

        with session_scope(city.url) as s:
            create_user(s, Actor.cli("pytest"), username="browser-submitter", role="dept_submitter",
                        department=upload_entry(city)["department"], password=PASSWORD)
        from xinyong.app import create_app

        with app_server(create_app()) as base:
            yield city, base
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
def page(browser, server):
    context = browser.new_context(accept_downloads=True, locale="zh-CN", viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    pg.errors = errors  # type: ignore[attr-defined]
    yield pg
    context.close()
    assert errors == [], errors


@pytest.mark.parametrize("portal_city", ["sqlite"], indirect=True)
def test_search_profile_penalty_and_export(page, server, tmp_path_factory):
    city, base = server
    shots = tmp_path_factory.mktemp("portal-screenshots")
    rid, key, name, dept = visible_penalty(city)
    fragment = re.sub(r"^(佛山市)?(禅城区|南海区|顺德区|高明区|三水区)?", "", name)[:2]

    page.goto(base + "/")
    page.screenshot(path=str(shots / "home.png"), full_page=True)
    page.get_by_label("查询内容").fill(fragment)
    page.keyboard.press("Enter")
    link = page.locator(f'#results a[href="/subjects/{key}"]')
    link.wait_for()
    page.screenshot(path=str(shots / "results.png"), full_page=True)
    link.click()
    page.wait_for_url(f"**/subjects/{key}")
    record = page.locator(f'[data-record-id="{rid}"]')
    record.wait_for()
    assert dept in record.inner_text()
    assert "行政处罚信息" in page.content()
    page.screenshot(path=str(shots / "profile.png"), full_page=True)
    for shot in ("home", "results", "profile"):
        assert (shots / f"{shot}.png").stat().st_size > 10_000
    print(f"screenshots: {shots}")

    # Double publicity: filter by the department with the keyboard-usable form, then export.
    with session_scope(city.url) as s:
        dept_code = s.scalar(select(Department.code).where(Department.name == dept))
    page.goto(base + "/publicity/penalties")
    page.select_option("#department", dept_code)
    page.get_by_role("button", name="筛选").click()
    page.wait_for_url(re.compile(r".*department=.*"))
    total = int(re.search(r"共 ([\d,]+) 条", page.content()).group(1).replace(",", ""))
    cells = page.locator("td.dept").all_inner_texts()
    assert cells and set(cells) == {dept}
    with page.expect_download() as dl:
        page.click("#export-csv")
    rows = list(csv.reader(io.StringIO(Path(dl.value.path()).read_bytes().decode("utf-8-sig"))))
    assert len(rows) - 1 == total and {r[rows[0].index("数据来源单位")] for r in rows[1:]} == {dept}
    with page.expect_download() as dl:
        page.click("#export-xlsx")
    sheet = CalamineWorkbook.from_path(dl.value.path()).get_sheet_by_index(0).to_python()
    assert len(sheet) - 1 == total and sheet[0] == rows[0]


@pytest.mark.parametrize("portal_city", ["sqlite"], indirect=True)
def test_console_upload(page, server):
    city, base = server
    entry = upload_entry(city)
    page.goto(base + "/console/upload")
    page.wait_for_url("**/login?next=*")
    page.get_by_label("用户名").fill("browser-submitter")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/console/upload")
    page.select_option("#resource", "admin_penalty")
    page.set_input_files("#file", str(city.city_dir / entry["path"]))
    page.get_by_role("button", name="上传并处理").click()
    page.wait_for_url(re.compile(r".*/console/batches/\d+\?new=1"))
    assert "文件已处理" in page.content()
    accepted = int(page.locator("#rows-accepted").inner_text())
    assert accepted > 0
    page.goto(base + "/console/batches")
    assert entry["path"].split("/")[-1] in page.content()
    page.goto(base + "/console/records")
    assert page.locator("[data-record-id]").count() > 0


@pytest.mark.parametrize("portal_city", ["sqlite"], indirect=True)
def test_every_public_page_is_free_of_console_errors_and_keyboard_reachable(page, server):
    city, base = server
    rid, key, _, _ = visible_penalty(city)
    for path in ("/", "/search?q=有限", f"/subjects/{key}", "/publicity/licenses", "/publicity/penalties",
                 "/lists", "/lists/dishonest_judgment_debtors", "/notices", "/login"):
        page.goto(base + path)
        page.wait_for_load_state("networkidle")
    # The first Tab lands on the skip link, which moves focus to the main content.
    page.goto(base + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "跳到正文"
    # A phone-sized viewport needs no horizontal scrolling.
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(base + f"/subjects/{key}")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
