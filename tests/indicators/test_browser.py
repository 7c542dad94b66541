"""The dashboard in a real browser (Debian chromium): charts render, no console errors, drill-down."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .conftest import AS_OF, build_city
from ..live import CHROMIUM, app_server, launch_chromium

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed (make system-deps)")



@pytest.fixture
def server(settings_env, tmp_path, monkeypatch):
    from xinyong.accounts.actor import Actor
    from xinyong.accounts.service import create_user
    from xinyong.config import reset_settings
    from xinyong.db.engine import session_scope
    from xinyong.indicators.service import refresh

    path = tmp_path / "browser.sqlite3"
    from xinyong.db.migrate import upgrade

    url = f"sqlite:///{path}"
    monkeypatch.setenv("XINYONG_DATABASE_URL", url)
    reset_settings()
    upgrade(url)
    build_city(url)
    refresh(url, as_of=AS_OF)
    with session_scope(url) as s:
        create_user(s, Actor.cli("pytest"), username="office", role="admin", password="Correct-Horse-42")
    from xinyong.app import create_app

    with app_server(create_app()) as base:
        yield base


def test_dashboard_in_browser(server, tmp_path):
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{server}/indicators")
        assert "/login" in page.url  # the dashboard needs a signed-in credit office user
        page.fill("input[name=username]", "office")
        page.fill("input[name=password]", "Correct-Horse-42")
        page.click("button[type=submit]")
        page.wait_for_url(f"{server}/indicators")
        page.wait_for_selector("html[data-charts-ready]")
        sparks = page.locator("[data-spark] canvas")
        assert sparks.count() >= 8
        assert page.locator(".xy-card.xy-red").count() >= 1
        assert page.locator("#xy-league tbody tr").count() >= 5
        shot = tmp_path / "indicators-dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        # Drill down: the card opens the indicator, a bar picks out its department's row.
        page.click("a.xy-card[data-code=double_publicity_timeliness]")
        page.wait_for_url(f"{server}/indicators/double_publicity_timeliness")
        page.wait_for_selector("html[data-charts-ready]")
        assert page.locator("[data-chart] canvas").count() >= 4
        assert page.locator("[data-table=department] tbody tr").count() == 2
        box = page.locator("[data-chart=department] canvas").first.bounding_box()
        # The first bar (highest value) sits in the top band of the horizontal bar chart.
        page.mouse.click(box["x"] + 160, box["y"] + 20 + (box["height"] - 50) / 4)
        page.wait_for_selector("[data-table=department] tr.xy-focus", timeout=5000)
        assert "佛山市人力资源和社会保障局" in page.locator("[data-table=department] tr.xy-focus").inner_text()
        page.screenshot(path=str(tmp_path / "indicators-detail.png"), full_page=True)
        page.goto(f"{server}/statistics")
        page.wait_for_selector("html[data-charts-ready]")
        assert page.locator("[data-spark] canvas").count() >= 4
        browser.close()
    assert errors == []
    # Screenshots stay in the test's tmp dir; XINYONG_SCREENSHOT_DIR keeps a copy for people to look at.
    keep = os.environ.get("XINYONG_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for png in tmp_path.glob("indicators-*.png"):
            shutil.copy(png, Path(keep) / png.name)
