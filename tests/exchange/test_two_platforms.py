"""Acceptance: a county platform (PostgreSQL) and its city platform (SQLite) keep each other
current through signed packages — by directory and by pulling over a real HTTP server."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from tests.conftest import _truncate_pg
from xinyong.accounts.actor import Actor
from xinyong.config import reset_settings
from xinyong.db.engine import session_scope
from xinyong.departments.service import seed_departments
from xinyong.exchange.packages import PackageRefused, export_package, import_package, pull, trust_keys
from xinyong.intake.models import IntakeBatch, Record, RecordVersion
from xinyong.intake.service import ingest_rows
from xinyong.reports.keys import published_keyset
from xinyong.workflows import objections, repair

from tests.workflows.conftest import actor_for

from .conftest import add_client, penalty, usccs
from .test_api import _natural_person_row
from ..live import app_server

TODAY = date(2026, 11, 20)


@pytest.fixture
def platforms(settings_env, monkeypatch, tmp_path, request):
    """County on PostgreSQL (the process's configured database), city on SQLite (explicit engine)."""
    for k, v in (("XINYONG_ARGON2_TIME_COST", "1"), ("XINYONG_ARGON2_MEMORY_COST", "8"),
                 ("XINYONG_ARGON2_PARALLELISM", "1"), ("XINYONG_EXCHANGE_PLATFORM", "某某县信用平台")):
        monkeypatch.setenv(k, v)
    county = request.getfixturevalue("pg_template_url")
    _truncate_pg(county)
    city_path = tmp_path / "city.sqlite3"
    shutil.copy(request.getfixturevalue("sqlite_template"), city_path)
    monkeypatch.setenv("XINYONG_DATABASE_URL", county)
    reset_settings()
    city = create_engine(f"sqlite:///{city_path}")
    with session_scope(county) as s:
        seed_departments(s)
    with Session(city) as s, s.begin():
        seed_departments(s)
    # The city trusts the county's published signing keys.
    trust_keys(published_keyset(), "某某县信用平台")
    yield county, city
    city.dispose()


def _bind(bind):
    from xinyong.db.engine import get_engine

    return get_engine(bind) if isinstance(bind, str) else bind


def snapshot(bind) -> dict[str, tuple]:
    """What a platform holds, comparable across platforms: key → (status, repaired, data)."""
    with Session(_bind(bind)) as s:
        rows = s.scalars(select(Record).order_by(Record.natural_key)).all()
        return {r.natural_key: (r.status, r.repaired_at is not None, json.dumps(r.data, sort_keys=True,
                                                                                ensure_ascii=False)) for r in rows}


def versions(bind) -> int:
    with Session(_bind(bind)) as s:
        return s.scalar(select(func.count()).select_from(RecordVersion))


def export(county: str, folder: Path, since: str | None = None, recipient: str | None = "city") -> dict:
    """The county's package for the city (both test platforms share one master secret, so the
    city's exchange key is this process's own)."""
    from xinyong.exchange.sealing import own_public_key

    with session_scope(county) as s:
        return export_package(s, folder, since=since, recipient_key=own_public_key() if recipient == "city" else recipient)


def _package_text(folder: Path) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in sorted(folder.iterdir()))


def import_into(city, folder: Path, **kw) -> dict:
    with Session(city) as s, s.begin():
        return import_package(s, folder, actor=Actor.cli("city-operator"), today=TODAY, **kw)


def _county_data(county: str) -> list[str]:
    codes = usccs(3, seed=21)
    rows = [penalty(i, code, name=f"某某县测试{i}号企业有限公司") for i, code in enumerate(codes, start=1)]
    rows.append(penalty(4, codes[0], name="某某县测试1号企业有限公司", category="警告"))
    with session_scope(county) as s:
        res = ingest_rows(s, rows, "admin_penalty", "market_regulation", today=date(2026, 11, 1))
        assert res.rows_rejected == 0, res.errors
    return codes


def _natural_person(county: str) -> str:
    import random

    from xinyong.identity.codes import generate_citizen_id

    cid = generate_citizen_id(random.Random(5), region="440604")
    with session_scope(county) as s:
        res = ingest_rows(s, [_natural_person_row(cid)], "admin_penalty", "market_regulation", today=date(2026, 11, 1))
        assert res.rows_rejected == 0, res.errors
    return cid


def _record(county: str, n: int) -> Record:
    with session_scope(county) as s:
        rec = s.scalar(select(Record).where(Record.natural_key.like(f"%〕{n}号%")))
        s.expunge(rec)
        return rec


def _correct_and_repair(county: str, uscc: str) -> None:
    """At the county: the subject objects, the department corrects the fine; then the subject
    asks for repair and the department approves (the real workflows)."""
    subj = actor_for(county, "hengtai", "subject", subject=uscc)
    dept = actor_for(county, "scjg", "dept_submitter", dept="market_regulation")
    rec = _record(county, 1)
    with session_scope(county) as s:
        case = objections.file_objection(s, subj, record_id=rec.id, reason="罚款金额有误，应为三千元。", today=TODAY)
        objections.handle_objection(s, dept, case["id"], decision="correct", reply="经核查，罚款金额更正为三千元。",
                                    changes={"fine_amount": "3000"}, today=TODAY)
    with session_scope(county) as s:
        app = repair.apply_for_repair(s, subj, record_id=rec.id, today=TODAY, fulfilment="罚款已缴清，已整改到位。",
                                      commitment_signed_by="李四", accept_commitment=True)
        repair.review_repair(s, dept, app["id"], decision="approve", reason="已缴清罚款并整改。", today=TODAY)


def _resign(folder: Path, change) -> None:
    """Play an upstream platform whose catalogue differs: edit the manifest and sign it again."""
    import base64

    from xinyong.exchange.packages import SIGN_PREFIX
    from xinyong.reports.keys import get_keystore
    from xinyong.reports.signing import content_hash

    path = folder / "manifest.json"
    env = json.loads(path.read_text(encoding="utf-8"))
    change(env["manifest"])
    kid, private = get_keystore().signing_key()
    digest = content_hash(env["manifest"])
    env["signature"] = {"alg": "Ed25519", "key_id": kid, "hash": f"sha256:{digest}",
                        "value": base64.b64encode(private.sign(SIGN_PREFIX + digest.encode())).decode()}
    path.write_text(json.dumps(env, ensure_ascii=False), encoding="utf-8")


def test_county_postgresql_to_city_sqlite_by_package(platforms, tmp_path):
    county, city = platforms
    codes = _county_data(county)
    cid = _natural_person(county)
    p1 = tmp_path / "p1"
    m1 = export(county, p1)
    assert m1["resources"]["admin_penalty"]["count"] == 5 and m1["platform"] == "某某县信用平台"
    # The citizen's ID number travels only sealed for the city, never in clear.
    assert m1["contains_personal_data"] and cid not in _package_text(p1) and cid[-8:] not in _package_text(p1)
    assert sum('"sealed"' in line for line in (p1 / "admin_penalty.ndjson").read_text(encoding="utf-8").splitlines()) == 1
    # Sealed for another platform: the city cannot open it, and says what to do.
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    other = base64.b64encode(X25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()
    elsewhere = tmp_path / "elsewhere"
    export(county, elsewhere, recipient=other)
    with pytest.raises(PackageRefused, match="为另一个平台加密.*xinyong exchange key"):
        import_into(city, elsewhere)
    # Without a recipient key the personal fields are left out: the person's row cannot be taken.
    bare = tmp_path / "bare"
    assert export(county, bare, recipient=None)["contains_personal_data"] is False
    assert cid not in _package_text(bare)
    with pytest.raises(PackageRefused, match="证件号码.*不含个人信息"):
        import_into(city, bare)
    assert versions(city) == 0
    out = import_into(city, p1)
    assert out["created"] == 5 and out["status"] == "imported"
    assert snapshot(city) == snapshot(county)
    with Session(city) as s:
        # Provenance: the upstream platform and package on every batch; the person matched by ID.
        names = s.scalars(select(IntakeBatch.file_name)).all()
        assert names and all(n.startswith("交换包:某某县信用平台:") for n in names)
        from xinyong.identity.crypto import get_keyring
        from xinyong.subjects.models import Subject

        assert s.scalar(select(Subject).where(Subject.citizen_id_hash == get_keyring().keyed_hash(cid))) is not None
    # Re-importing changes nothing (recognised; and even when forced, every row is unchanged).
    before = versions(city)
    assert import_into(city, p1)["status"] == "already_imported"
    forced = import_into(city, p1, force=True)
    assert (forced["created"], forced["updated"], forced["unchanged"]) == (0, 0, 5)
    assert versions(city) == before and snapshot(city) == snapshot(county)

    # Tampered: a changed data line, a changed manifest, a missing file.
    bad = tmp_path / "bad"
    shutil.copytree(p1, bad)
    f = bad / "admin_penalty.ndjson"
    f.write_text(f.read_text(encoding="utf-8").replace("5000", "9000", 1), encoding="utf-8")
    with pytest.raises(PackageRefused, match="篡改"):
        import_into(city, bad)
    bad2 = tmp_path / "bad2"
    shutil.copytree(p1, bad2)
    env = json.loads((bad2 / "manifest.json").read_text(encoding="utf-8"))
    env["manifest"]["platform"] = "冒充的平台"
    (bad2 / "manifest.json").write_text(json.dumps(env, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(PackageRefused, match="篡改"):
        import_into(city, bad2)
    assert versions(city) == before

    # Catalogue compatibility: an unknown resource and a conflicting field definition.
    odd = tmp_path / "odd"
    shutil.copytree(p1, odd)
    _resign(odd, lambda m: m["resources"]["admin_penalty"]["fields"][0].update(type="date"))
    with pytest.raises(PackageRefused, match="不兼容.*定义冲突"):
        import_into(city, odd)
    odd2 = tmp_path / "odd2"
    shutil.copytree(p1, odd2)

    def rename(m):
        m["resources"]["social_maintenance_fees"] = m["resources"].pop("admin_penalty")

    _resign(odd2, rename)
    with pytest.raises(PackageRefused, match="没有资源 social_maintenance_fees"):
        import_into(city, odd2)

    # A correction, a repair and a withdrawal at the county reach the city.
    _correct_and_repair(county, codes[0])
    from xinyong.intake.service import withdraw_record

    with session_scope(county) as s:
        withdraw_record(s, _record(county, 3).id, reason="行政复议决定撤销该处罚", actor=Actor.cli("county"))
    p2 = tmp_path / "p2"
    m2 = export(county, p2, since=m1["cursor_to"])
    kinds = [json.loads(line)["op"] for line in (p2 / "admin_penalty.ndjson").read_text(encoding="utf-8").splitlines()]
    assert kinds == ["upsert", "repair", "withdraw"]
    out = import_into(city, p2)
    assert (out["updated"], out["repaired"], out["withdrawn"]) == (1, 1, 1)
    assert snapshot(city) == snapshot(county)
    corrected = [v for k, v in snapshot(city).items() if "〕1号" in k][0]
    assert corrected[1] is True and '"fine_amount": "3000"' in corrected[2]
    assert [v[0] for k, v in snapshot(city).items() if "〕3号" in k] == ["withdrawn"]
    # Once more: nothing changes.
    before = versions(city)
    assert import_into(city, p2, force=True)["already"] == 2
    assert versions(city) == before and snapshot(city) == snapshot(county)
    # The city's own feed tells its consumers (e.g. the province) the same story.
    from xinyong.exchange.feed import read_page

    with Session(city) as s:
        page = read_page(s, Actor.cli(), since=None, limit=100)
    assert [c["type"] for c in page.changes][-3:] == ["record.updated", "record.repaired", "record.withdrawn"]
    assert m2["cursor_from"] == m1["cursor_to"]


@pytest.fixture
def county_server(platforms):
    from xinyong.app import create_app

    with app_server(create_app()) as base:
        yield platforms, base


def test_city_sqlite_pulls_from_county_postgresql_over_http(county_server):
    (county, city), url = county_server
    codes = _county_data(county)
    cid = _natural_person(county)
    key = add_client(county, name="市级平台", resources=["admin_penalty"])
    out = pull(city, url, key, actor=Actor.cli("city"))
    assert out["packages"] == 1 and out["created"] == 5
    assert snapshot(city) == snapshot(county)
    with Session(city) as s:  # the pull sent the city's exchange key: the person is matched by ID
        from xinyong.identity.crypto import get_keyring
        from xinyong.subjects.models import Subject

        assert s.scalar(select(Subject).where(Subject.citizen_id_hash == get_keyring().keyed_hash(cid))) is not None
    # Caught up: pulling again brings nothing and changes nothing.
    before = versions(city)
    again = pull(city, url, key, actor=Actor.cli("city"))
    assert again["changes"] == 0 and versions(city) == before
    # Correction and repair at the county arrive with the next pull, from the stored cursor.
    _correct_and_repair(county, codes[0])
    out = pull(city, url, key, actor=Actor.cli("city"))
    assert (out["updated"], out["repaired"]) == (1, 1)
    assert snapshot(city) == snapshot(county)
    # Replaying from the start changes nothing either.
    before = versions(city)
    replay = pull(city, url, key, actor=Actor.cli("city"), since="")
    assert replay["created"] == 0 and replay["updated"] == 0 and versions(city) == before
    # A bad key is refused with the county's own message.
    from xinyong.errors import InvalidInput

    with pytest.raises(InvalidInput, match="拒绝"):
        pull(city, url, key[:-3] + "abc", actor=Actor.cli("city"))
