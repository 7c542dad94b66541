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


def test_exchange_key_and_sealed_export(db_url, tmp_path):
    from tests.exchange.test_api import _natural_person_row
    from xinyong.identity.codes import generate_citizen_id
    from xinyong.intake.service import ingest_rows

    import random

    seed_platform(db_url, companies=1, per_company=1)
    cid = generate_citizen_id(random.Random(9), region="440604")
    with session_scope(db_url) as s:
        assert ingest_rows(s, [_natural_person_row(cid)], "admin_penalty", "market_regulation").rows_rejected == 0
    out = runner.invoke(app, ["exchange", "key", "--json"])
    assert out.exit_code == 0, out.output
    key = json.loads(out.output)["exchange_key"]
    assert len(key) == 44 and runner.invoke(app, ["exchange", "key"]).output.count(key) == 2  # stable
    out = runner.invoke(app, ["exchange", "export", "--to", str(tmp_path / "p"), "--recipient-key", key])
    assert out.exit_code == 0 and "个人信息已为接收平台加密" in out.output, out.output
    assert cid not in (tmp_path / "p" / "admin_penalty.ndjson").read_text(encoding="utf-8")
    out = runner.invoke(app, ["exchange", "export", "--to", str(tmp_path / "q")])
    assert out.exit_code == 0 and "未含个人信息" in out.output
    out = runner.invoke(app, ["exchange", "export", "--to", str(tmp_path / "r"), "--recipient-key", "不是公钥"])
    assert out.exit_code != 0 and "交换公钥格式不正确" in out.output
