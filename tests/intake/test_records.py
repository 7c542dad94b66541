"""Versioned records, withdrawal, and subject matching. SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from stdnum.iso7064 import mod_11_10

from xinyong.accounts.actor import Actor
from xinyong.errors import Conflict, InvalidInput
from xinyong.identity.codes import generate_citizen_id, generate_org_code, generate_uscc
from xinyong.identity.crypto import get_keyring
from xinyong.intake.models import Record, RecordVersion
from xinyong.intake.service import find_record, ingest_rows, withdraw_record
from xinyong.subjects.models import Subject
from xinyong.subjects.service import SubjectIn, upsert_subjects

TODAY = date(2026, 11, 1)
REG_NO = "44060400000001" + mod_11_10.calc_check_digit("44060400000001")
AUTHORITY = {"authority": "佛山市市场监督管理局", "authority_uscc": "11440600862729575F",
             "source_department": "佛山市市场监督管理局", "source_department_uscc": "11440600862729575F"}


def penalty(n: int, *, name: str = "佛山市恒泰五金制品有限公司", uscc: str | None = None, category: str = "法人及非法人组织",
            **extra) -> dict:
    row = {"subject_name": name, "subject_category": category, "uscc": uscc or "",
           "legal_rep": "李四" if category == "法人及非法人组织" else "",
           "decision_no": f"佛市监罚〔2026〕{n}号", "violation_type": "无证经营", "violation_facts": "经查，当事人无证经营。",
           "legal_basis": "《无证无照经营查处办法》第十三条", "penalty_category": "警告", "penalty_content": "警告",
           "decision_date": "2026-10-20", "valid_until": "2027-10-20", **AUTHORITY}
    row.update(extra)
    return row


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_change_adds_a_version_and_keeps_the_old(engine):
    rng = random.Random(1)
    uscc = generate_uscc(rng)
    first = ingest_rows(engine, [penalty(1, uscc=uscc), penalty(2, uscc=uscc)], "admin_penalty", "market_regulation",
                        today=TODAY)
    assert (first.records_created, first.subjects_created, first.match_rate) == (2, 1, 0.0)
    changed = penalty(1, uscc=uscc, penalty_category="警告；罚款", fine_amount="0.5", penalty_content="罚款五千元")
    # Width, case and spaces of codes and keys are not a change.
    same = penalty(2, uscc=uscc.lower(), decision_no=" 佛市监罚〔2026〕2号 ")
    second = ingest_rows(engine, [changed, same], "admin_penalty", "market_regulation", today=TODAY)
    assert (second.records_created, second.records_updated, second.records_unchanged) == (0, 1, 1)
    # Another bracket style is the same record (a new version: its text did change).
    third = ingest_rows(engine, [penalty(2, uscc=uscc, decision_no="佛市监罚[2026]2号")], "admin_penalty",
                        "market_regulation", today=TODAY)
    assert (third.records_created, third.records_updated) == (0, 1)
    assert second.match_rate == 1.0 and second.matched_by["uscc"] == 1
    with Session(engine) as s:
        rec = s.scalar(select(Record).where(Record.natural_key.like("%〕1号%")))
        assert rec.current_version == 2 and rec.data["fine_amount"] == "0.5"
        versions = s.scalars(select(RecordVersion).where(RecordVersion.record_id == rec.id)
                             .order_by(RecordVersion.version)).all()
        assert [(v.version, v.change) for v in versions] == [(1, "created"), (2, "updated")]
        assert "fine_amount" not in versions[0].data and versions[1].data["fine_amount"] == "0.5"
        assert versions[1].batch_id == second.batch_id and versions[0].batch_id == first.batch_id
        assert versions[1].row_no == 1 and versions[1].department_id == versions[0].department_id
        assert count(s, Record) == 2 and count(s, RecordVersion) == 4 and count(s, Subject) == 1
        subject = s.get(Subject, rec.subject_id)
        assert subject.verified is False and subject.uscc == uscc


def test_withdrawal_is_explicit_and_keeps_history(engine):
    uscc = generate_uscc(random.Random(2))
    ingest_rows(engine, [penalty(1, uscc=uscc)], "admin_penalty", "market_regulation", today=TODAY)
    # Absence from a later file withdraws nothing.
    later = ingest_rows(engine, [penalty(2, uscc=uscc)], "admin_penalty", "market_regulation", today=TODAY)
    assert later.records_created == 1
    with Session(engine) as s, s.begin():
        rec = find_record(s, "admin_penalty", {"decision_no": "佛市监罚〔2026〕1号", "authority": AUTHORITY["authority"]})
        assert rec.status == "active"
        with pytest.raises(InvalidInput):
            withdraw_record(s, rec.id, reason="")
        out = withdraw_record(s, rec.id, reason="行政复议决定撤销原处罚决定", actor=Actor.cli("tester"))
        assert out["version"] == 2
        with pytest.raises(Conflict):
            withdraw_record(s, rec.id, reason="再次撤销")
    with Session(engine) as s:
        rec = s.get(Record, out["record_id"])
        assert rec.status == "withdrawn" and rec.withdrawn_reason.startswith("行政复议")
        assert count(s, RecordVersion) == 3
    again = ingest_rows(engine, [penalty(1, uscc=uscc)], "admin_penalty", "market_regulation", today=TODAY)
    assert again.rows_rejected == 1 and again.errors[0]["code"] == "record_withdrawn"


def test_subject_matching_order_and_ambiguity(engine):
    rng = random.Random(3)
    a_uscc, b_uscc = generate_uscc(rng), generate_uscc(rng)
    legacy_org = generate_org_code(rng)
    with Session(engine) as s, s.begin():
        upsert_subjects(s, [
            SubjectIn(kind="legal_entity", name="佛山市甲公司", uscc=a_uscc, identifiers={"reg_no": REG_NO}),
            SubjectIn(kind="legal_entity", name="佛山市乙公司", uscc=b_uscc, identifiers={"org_code": legacy_org}),
            SubjectIn(kind="individual_business", name="佛山市禅城区同名五金店", uscc=generate_uscc(rng, org_type="2")),
            SubjectIn(kind="individual_business", name="佛山市禅城区同名五金店", uscc=generate_uscc(rng, org_type="2")),
            SubjectIn(kind="individual_business", name="佛山市禅城区唯一五金店", uscc=generate_uscc(rng, org_type="2")),
        ])
    cid = generate_citizen_id(rng)
    rows = [
        penalty(1, name="佛山市甲公司（新名称）", uscc=a_uscc),                                   # USCC
        penalty(2, name="佛山市甲公司", category="个体工商户", reg_no=REG_NO),            # registration number
        penalty(3, name="乙", category="个体工商户", org_code=f"{legacy_org[:8]}-{legacy_org[8]}"),  # organisation code
        penalty(4, name="佛山市禅城区唯一五金店", category="个体工商户"),                             # name, one candidate
        penalty(5, name="佛山市禅城区同名五金店", category="个体工商户"),                             # name, two: held
        penalty(6, name="王五", category="自然人", id_type="身份证", id_no=cid),                     # new person
        penalty(7, name="王五", category="自然人", id_type="身份证", id_no=cid),                     # same person again
        penalty(8, name="佛山市未登记公司", uscc=generate_uscc(rng)),                                  # new organisation
    ]
    result = ingest_rows(engine, rows, "admin_penalty", "market_regulation", today=TODAY)
    assert result.rows_rejected == 1
    assert result.errors[0]["row"] == 5 and result.errors[0]["code"] == "ambiguous_subject"
    assert "2个" in result.errors[0]["message"]
    assert result.matched_by == {"uscc": 1, "legacy_code": 2, "personal_id": 0, "name": 1, "new_subject": 3}
    assert result.subjects_created == 2  # one person (twice), one organisation
    assert result.rows_matched == 4 and result.match_rate == round(4 / 7, 4)
    with Session(engine) as s:
        by_no = {r.natural_key.split(" / ")[0]: r.subject_id for r in s.scalars(select(Record))}
        ids = {n: s.scalar(select(Subject.id).where(Subject.name == n)) for n in ("佛山市甲公司", "佛山市乙公司")}
        assert by_no["佛市监罚〔2026〕1号"] == by_no["佛市监罚〔2026〕2号"] == ids["佛山市甲公司"]
        assert by_no["佛市监罚〔2026〕3号"] == ids["佛山市乙公司"]
        assert by_no["佛市监罚〔2026〕6号"] == by_no["佛市监罚〔2026〕7号"]
        person = s.get(Subject, by_no["佛市监罚〔2026〕6号"])
        assert person.kind == "natural_person" and not person.verified
        assert person.citizen_id_hash == get_keyring().keyed_hash(cid) and person.citizen_id_masked.endswith(cid[-4:])
        assert get_keyring().decrypt(person.citizen_id_enc) == cid
    # Next time the person is found by the keyed hash of the ID.
    later = ingest_rows(engine, [penalty(9, name="王五", category="自然人", id_type="身份证", id_no=cid)],
                        "admin_penalty", "market_regulation", today=TODAY)
    assert later.matched_by["personal_id"] == 1 and later.subjects_created == 0


def test_personal_values_are_stored_encrypted(engine):
    cid = generate_citizen_id(random.Random(4))
    row = penalty(1, uscc=generate_uscc(random.Random(5)), legal_rep_id_type="身份证", legal_rep_id_no=cid)
    ingest_rows(engine, [row], "admin_penalty", "market_regulation", today=TODAY)
    with Session(engine) as s:
        rec = s.scalar(select(Record))
        assert "legal_rep_id_no" not in rec.data
        assert get_keyring().decrypt(rec.personal_enc) == f'{{"legal_rep_id_no":"{cid}"}}'
