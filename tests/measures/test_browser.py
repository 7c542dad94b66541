"""Browser end to end (Playwright + Debian's Chromium, live server, SQLite file database): a
department querier checks one bidder on the console form, then uploads the tender's list of
bidders as a batch, watches its progress page fill in and downloads the result file. The same
checks run on both databases at the service/API level in test_checks.py and test_api.py."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from tests.workflows.conftest import actor_for
from tests.workflows.test_browser import COMPANY, browser, people, site  # noqa: F401 - fixtures

from ..live import CHROMIUM

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")


def test_console_check_then_batch_with_progress_and_result_file(site, people, tmp_path):  # noqa: F811
    actor_for(site.url, "cgzx", "dept_querier", dept="market_regulation")
    clerk = people("cgzx")

    # One bidder on the form: the answer names the subject and gives a check number.
    clerk.goto(site.base + "/console/checks/new")
    clerk.get_by_label("主体代码").fill(site.uscc)
    clerk.get_by_label("应用场景").select_option(label="招标投标")
    clerk.get_by_role("button", name="核查").click()
    result = clerk.locator("#check-result")
    assert COMPANY in result.inner_text() and site.uscc in result.inner_text()
    check_no = re.search(r"核查编号 (\d+)", result.inner_text()).group(1)
    assert clerk.locator("#check-summary").inner_text().strip()

    # A wrong code is explained next to the form (answered 400, so on a tab of the same session
    # that the fixture does not watch for console errors: the browser logs the 400 by design).
    tab = clerk.context.new_page()
    tab.goto(site.base + "/console/checks/new")
    tab.get_by_label("主体代码").fill("91440600ABCDEFGH1X")
    tab.get_by_label("应用场景").select_option(label="招标投标")
    tab.get_by_role("button", name="核查").click()
    assert "代码" in tab.locator("#check-error").inner_text()
    assert tab.get_by_label("主体代码").input_value() == "91440600ABCDEFGH1X"  # kept for correction
    tab.close()

    # The tender's bidders as a file: two real subjects, one unknown code, one malformed line.
    bidders = tmp_path / "投标人名单.csv"
    bidders.write_text("统一社会信用代码,投标人名称\n"
                       f"{site.uscc},{COMPANY}\n"
                       f"{site.citizen_id},欧阳明远\n"
                       "91440606MA4UJ2XQ8B,不存在的公司\n"
                       "不是代码,乱填\n", encoding="utf-8-sig")
    clerk.goto(site.base + "/console/check-batches/new")
    clerk.get_by_label("应用场景").select_option(label="招标投标")
    clerk.get_by_label("主体清单").set_input_files(str(bidders))
    clerk.get_by_role("button", name="上传并核查").click()
    clerk.wait_for_url(re.compile(r".*/console/check-batches/\d+$"))
    # The page polls until the batch is done, then shows the downloads.
    clerk.locator("#batch-downloads").wait_for(state="visible", timeout=60000)
    assert clerk.locator("#batch-count").inner_text().strip() == "4/4"
    assert clerk.locator("#batch-progress").evaluate("e => e.value") == 1
    with clerk.expect_download() as dl:
        clerk.get_by_role("link", name="CSV").click()
    text = Path(dl.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    masked = site.citizen_id[:4] + "*" * 10 + site.citizen_id[-4:]
    assert [r["输入代码"] for r in rows] == [site.uscc, masked, "91440606MA4UJ2XQ8B", "不是代码"]
    assert site.citizen_id not in text  # the export masks the citizen's ID number, even the one uploaded
    status = [r["核查状态"] for r in rows]
    assert status[:2] == ["已核查", "已核查"] and status[2] in ("未找到主体", "代码有误") and status[3] == "代码有误"
    assert rows[0]["主体名称"] == COMPANY and rows[0]["核查编号"] and rows[0]["核查编号"] != check_no
