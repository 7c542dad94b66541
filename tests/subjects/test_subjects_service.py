"""Subject registration and lookup by any identifier, on SQLite and PostgreSQL."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select

from xinyong.errors import InvalidInput, NotFound
from xinyong.identity.codes import generate_citizen_id, generate_uscc
from xinyong.subjects.models import Subject, SubjectIdentifier, SubjectName
from xinyong.subjects.service import (
    SubjectIn,
    codes_and_former_names,
    get_public_subject,
    list_subjects,
    normalize_name,
    resolve_subject,
    upsert_subjects,
)


def _enterprise(rng, name="佛山市恒泰五金制品有限公司", **kw):
    return SubjectIn(kind="legal_entity", org_type="enterprise", name=name,
                     uscc=generate_uscc(rng, region="440604"), **kw)


def test_upsert_is_idempotent_and_tracks_renames(session):
    rng = random.Random(1)
    ent = _enterprise(rng, identifiers={"reg_no": "440604000123456"})
    stats = upsert_subjects(session, [ent])
    session.commit()
    assert stats.to_dict() == {"created": 1, "updated": 0, "unchanged": 0}

    again = upsert_subjects(session, [ent])
    session.commit()
    assert again.to_dict() == {"created": 0, "updated": 0, "unchanged": 1}
    assert session.scalar(select(func.count()).select_from(Subject)) == 1

    renamed = SubjectIn(**{**ent.__dict__, "name": "佛山市恒泰智能科技有限公司"})
    stats = upsert_subjects(session, [renamed])
    session.commit()
    assert stats.updated == 1
    subj = session.scalar(select(Subject))
    assert subj.name == "佛山市恒泰智能科技有限公司"
    assert [n.name for n in session.scalars(select(SubjectName))] == ["佛山市恒泰五金制品有限公司"]
    # The former name and every code still find the same subject.
    assert get_public_subject(session, ent.uscc.lower())["former_names"] == ["佛山市恒泰五金制品有限公司"]


def test_codes_and_former_names_read_together_as_the_relationships_hold_them(session):
    """One statement answers for many subjects what the profile, the subjects API and their
    list show: every code in the order registered, every former name in the order renamed."""
    rng = random.Random(4)
    first = _enterprise(rng, identifiers={"reg_no": "440604000111222", "tax_no": "440604111222333"})
    second = _enterprise(rng, name="佛山市顺达物流有限公司")
    upsert_subjects(session, [first, second])
    for name in ("佛山市恒泰智能科技有限公司", "佛山市恒泰科技集团有限公司"):
        upsert_subjects(session, [SubjectIn(**{**first.__dict__, "name": name})])
    session.commit()
    subjects = session.scalars(select(Subject).order_by(Subject.id)).all()
    got = codes_and_former_names(session, [s.id for s in subjects] + [10**9])
    for subj in subjects:
        assert got[subj.id] == ([(i.scheme, i.value) for i in subj.identifiers], [n.name for n in subj.names])
    assert got[subjects[0].id][1] == ["佛山市恒泰五金制品有限公司", "佛山市恒泰智能科技有限公司"]
    assert got[subjects[1].id][1] == [] and got[10**9] == ([], [])
    assert codes_and_former_names(session, []) == {}
    listed = {item["uscc"]: item for item in list_subjects(session)["items"]}
    shown = get_public_subject(session, first.uscc)
    for item in (listed[first.uscc], shown):
        assert item["former_names"] == ["佛山市恒泰五金制品有限公司", "佛山市恒泰智能科技有限公司"]
        assert [(i["scheme"], i["value"]) for i in item["identifiers"]] == got[subjects[0].id][0]
        assert {i["scheme"] for i in item["identifiers"]} == {"uscc", "org_code", "reg_no", "tax_no"}


def test_lookup_by_any_identifier(session):
    rng = random.Random(2)
    ent = _enterprise(rng, identifiers={"reg_no": "440604000765432", "tax_no": "440604123456789"})
    upsert_subjects(session, [ent])
    session.commit()
    embedded_org_code = ent.uscc[8:17]
    for ident in (ent.uscc, ent.uscc.lower(), f" {ent.uscc[:6]} {ent.uscc[6:]} ",
                  "440604000765432", "440604123456789",
                  embedded_org_code, f"{embedded_org_code[:8]}-{embedded_org_code[8]}",
                  # full-width input as typed on a Chinese keyboard
                  ent.uscc.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})):
        assert resolve_subject(session, ident).uscc == ent.uscc, ident
    kinds = {i.scheme for i in session.scalars(select(SubjectIdentifier))}
    assert kinds == {"uscc", "org_code", "reg_no", "tax_no"}


def test_lookup_errors_are_clear(session):
    rng = random.Random(3)
    ent = _enterprise(rng)
    upsert_subjects(session, [ent])
    session.commit()
    wrong_check = ent.uscc[:-1] + ("0" if ent.uscc[-1] != "0" else "1")
    with pytest.raises(InvalidInput) as bad:
        resolve_subject(session, wrong_check)
    assert "校验" in bad.value.message
    with pytest.raises(NotFound):
        resolve_subject(session, generate_uscc(rng))
    with pytest.raises(InvalidInput):
        resolve_subject(session, "'; DROP TABLE subjects; --")
    with pytest.raises(InvalidInput):
        resolve_subject(session, "")
    with pytest.raises(InvalidInput):
        resolve_subject(session, "9" * 100)


def test_natural_person_id_is_encrypted_hashed_and_not_public(session):
    rng = random.Random(4)
    cid = generate_citizen_id(rng, region="440605")
    upsert_subjects(session, [SubjectIn(kind="natural_person", name="张三", citizen_id=cid)])
    session.commit()
    subj = session.scalar(select(Subject))
    assert subj.citizen_id_hash and subj.citizen_id_hash != cid
    assert cid.encode() not in subj.citizen_id_enc
    assert subj.citizen_id_masked.startswith(cid[:4]) and cid[4:14] not in subj.citizen_id_masked
    # Found through the keyed hash (also from the legacy 15-digit form when it converts).
    assert resolve_subject(session, cid).id == subj.id
    assert resolve_subject(session, cid.lower()).id == subj.id
    with pytest.raises(NotFound):
        get_public_subject(session, cid)
    # Same person again changes nothing.
    assert upsert_subjects(session, [SubjectIn(kind="natural_person", name="张三", citizen_id=cid)]).unchanged == 1


def test_invalid_subjects_rejected_whole_batch(session):
    rng = random.Random(5)
    good = _enterprise(rng)
    bad = SubjectIn(kind="legal_entity", org_type="enterprise", name="无代码公司")
    with pytest.raises(InvalidInput) as exc:
        upsert_subjects(session, [good, bad])
    assert "统一社会信用代码" in exc.value.message
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Subject)) == 0


def test_identifier_conflict_refused(session):
    rng = random.Random(6)
    a = _enterprise(rng, name="甲公司", identifiers={"reg_no": "440604000111111"})
    b = _enterprise(rng, name="乙公司", identifiers={"reg_no": "440604000111111"})
    upsert_subjects(session, [a])
    with pytest.raises(InvalidInput) as exc:
        upsert_subjects(session, [b])
    assert "已关联到另一个主体" in exc.value.message


def test_list_filters_and_pages(session):
    rng = random.Random(7)
    items = [_enterprise(rng, name=f"佛山市恒泰{i:03d}号贸易有限公司", region="440605" if i % 2 else "440604")
             for i in range(45)]
    items.append(SubjectIn(kind="individual_business", name="禅城区恒泰（便利店）",
                           uscc=generate_uscc(rng, org_type="2", region="440604")))
    upsert_subjects(session, items)
    session.commit()
    page = list_subjects(session, q="恒泰", size=20)
    assert page["total"] == 46 and len(page["items"]) == 20
    assert list_subjects(session, q="恒泰", page=3, size=20)["items"][-1]["name"] == "禅城区恒泰（便利店）"
    assert list_subjects(session, region="440605")["total"] == 22
    assert list_subjects(session, kind="individual_business")["total"] == 1
    # Bracket width and spaces do not matter.
    assert list_subjects(session, q="恒泰(便利 店)")["total"] == 1
    # LIKE wildcards in the query are literal.
    assert list_subjects(session, q="恒泰%")["total"] == 0


def test_normalize_name():
    assert normalize_name(" 佛山市（顺德）ＡＢＣ 有限公司 ") == "佛山市(顺德)ABC有限公司"
