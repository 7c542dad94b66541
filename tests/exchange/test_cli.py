"""`xinyong exchange …` on both databases: export, trust, import (idempotent), tampering refused."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from xinyong.cli import app
from xinyong.db.engine import session_scope
from xinyong.exchange.packages import PackageRefused, _department_map

from .conftest import seed_platform

runner = CliRunner()


def test_export_trust_import_and_tamper(db_url, tmp_path, settings_env):
    seed_platform(db_url, companies=2, per_company=2)
    out = runner.invoke(app, ["exchange", "export", "--to", str(tmp_path / "p"), "--json"])
    assert out.exit_code == 0, out.output
    manifest = json.loads(out.output)
    assert manifest["resources"]["admin_penalty"]["count"] == 4
    # Not trusted yet: refused, and the message says what to do.
    out = runner.invoke(app, ["exchange", "import", str(tmp_path / "p")])
    assert out.exit_code == 1 and "exchange trust" in out.output
    keys = settings_env / "report-keys" / "keys.json"
    out = runner.invoke(app, ["exchange", "trust", "--platform", "本平台", "--keys", str(keys)])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["exchange", "import", str(tmp_path / "p"), "--json"])
    assert out.exit_code == 0, out.output
    done = json.loads(out.output)
    assert (done["created"], done["updated"], done["unchanged"]) == (0, 0, 4)  # the same records: nothing changes
    out = runner.invoke(app, ["exchange", "import", str(tmp_path / "p")])
    assert out.exit_code == 0 and "此前已导入" in out.output
    f = tmp_path / "p" / "admin_penalty.ndjson"
    f.write_bytes(f.read_bytes().replace(b"5000", b"5001", 1))
    out = runner.invoke(app, ["exchange", "import", str(tmp_path / "p"), "--force"])
    assert out.exit_code == 1 and "篡改" in out.output
    out = runner.invoke(app, ["exchange", "changes", "--limit", "2"])
    assert out.exit_code == 0 and json.loads(out.output)["count"] == 2
    out = runner.invoke(app, ["exchange", "deliver", "--once", "--json"])
    assert out.exit_code == 0 and json.loads(out.output)["subscriptions"] == 0


def test_departments_are_mapped_or_refused(db_url):
    seed_platform(db_url, companies=1, per_company=1)
    manifest = {"departments": {"county_market": "某某县市场监督管理局"}}
    with session_scope(db_url) as s:
        with pytest.raises(PackageRefused, match="county_market.*--map-department"):
            _department_map(s, manifest, None)
        ids = _department_map(s, manifest, {"county_market": "market_regulation"})
        assert list(ids) == ["county_market"]
