"""Build subjects and records directly (the scoring reads only these columns)."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, date, datetime

from xinyong.intake.models import Record
from xinyong.subjects.models import Subject

_seq = itertools.count(1)


def _uscc(n: int) -> str:
    import random

    from xinyong.identity.codes import generate_uscc

    return generate_uscc(random.Random(1000 + n), region="440604")
AS_OF = date(2026, 6, 30)


def subject(session, name: str, *, kind: str = "legal_entity", **fields) -> Subject:
    s = Subject(kind=kind, name=name, name_norm=name, verified=True, **fields)
    session.add(s)
    session.flush()
    return s


def record(session, subject: Subject, resource: str, main_date: date, *, severity: str | None = None,
           data: dict | None = None, **cols) -> Record:
    n = next(_seq)
    h = hashlib.md5(f"{resource}-{n}".encode()).hexdigest()
    r = Record(resource=resource, natural_key_hash=h, natural_key=f"{resource}-{n}", subject_id=subject.id,
               department_id=1, content_hash=h, data=data or {}, main_date=main_date, severity=severity, **cols)
    session.add(r)
    session.flush()
    return r


def full_subject_fields() -> dict:
    return {"uscc": None, "legal_rep": "张三", "region": "440604", "established": date(2010, 1, 1),
            "address": "佛山市禅城区某路1号"}


def hand_checked(session) -> dict[str, Subject]:
    """The hand-checked set (evaluation day 2026-06-30) whose expected scores tests/rating
    spell out line by line."""
    from xinyong.departments.service import seed_departments

    seed_departments(session)
    out: dict[str, Subject] = {}
    out["clean"] = subject(session, "清白完整公司", **{**full_subject_fields(), "uscc": _uscc(1)})
    s2 = out["penalised"] = subject(session, "处罚衰减公司", **{**full_subject_fields(), "uscc": _uscc(2)})
    record(session, s2, "admin_penalty", date(2026, 3, 1), severity="serious")      # ≤12 months: -100
    record(session, s2, "admin_penalty", date(2025, 3, 1), severity="general")      # 12–24: -30×50% = -15
    record(session, s2, "admin_penalty", date(2024, 3, 1), severity="general")      # 24–36: -30×25% = -7
    record(session, s2, "admin_penalty", date(2023, 1, 1), severity="general")      # >36: 0
    record(session, s2, "admin_inspection", date(2026, 1, 10), data={"result": "未发现问题"})  # +10
    record(session, s2, "tax_credit_ratings", date(2025, 4, 1), data={"credit_level": "B"})
    record(session, s2, "tax_credit_ratings", date(2026, 4, 1), data={"credit_level": "A"})  # latest: +40
    s3 = out["blacklisted"] = subject(session, "严重失信公司", region="440605")
    for res in ("market_serious_dishonesty", "major_tax_violations", "wage_arrears_blacklist"):
        record(session, s3, res, date(2025, 10, 1))                                  # 3×-200 → cap -400
    record(session, s3, "dishonest_judgment_debtors", date(2026, 2, 1))              # -150
    s4 = out["floor"] = subject(session, "触底公司")
    for k in range(3):
        record(session, s4, "market_serious_dishonesty", date(2026, 1, 1 + k))
        record(session, s4, "dishonest_judgment_debtors", date(2026, 1, 1 + k))
        record(session, s4, "admin_penalty", date(2026, 2, 1 + k), severity="serious")
        record(session, s4, "business_abnormality", date(2026, 2, 1 + k))
        record(session, s4, "admin_inspection", date(2026, 3, 1 + k), data={"result": "发现问题已立案查处"})
        record(session, s4, "credit_commitments", date(2026, 3, 1 + k), data={"fulfilment_status": "未履行"})
    record(session, s4, "tax_credit_ratings", date(2026, 4, 1), data={"credit_level": "D"})
    s5 = out["rules"] = subject(session, "规则检验公司", uscc=_uscc(5), legal_rep="李四")
    record(session, s5, "admin_penalty", date(2026, 1, 1), severity="serious",
           repaired_at=datetime(2026, 5, 1, tzinfo=UTC))                              # repaired: not counted
    record(session, s5, "admin_penalty", date(2026, 1, 2), severity="serious", status="withdrawn")  # withdrawn
    record(session, s5, "admin_penalty", date(2025, 9, 1), severity="general",
           public_until=date(2026, 6, 1))                                             # window ended
    record(session, s5, "admin_penalty", date(2026, 4, 1), severity="minor", published=False)  # not published
    record(session, s5, "admin_penalty", date(2026, 7, 15), severity="serious")      # after evaluation day
    out["objected"] = s5
    record(session, s5, "admin_penalty", date(2026, 5, 1), severity="general", objection_open=True)  # -30
    for k in range(4):
        record(session, s5, "honours", date(2025, 5, 1 + k))                         # 4×30 → cap +90
    record(session, s5, "credit_commitments", date(2026, 1, 5), data={"fulfilment_status": "已履行"})  # +10
    record(session, s5, "credit_commitments", date(2026, 1, 6), data={"fulfilment_status": "履行中"})  # 0
    out["person"] = subject(session, "王五", kind="natural_person", region="440606")
    session.flush()
    return out


#: name → (score, grade, {dimension: points}) by hand from default_model.yaml.
EXPECTED = {
    "clean": (750, "B", {"basic_info": 50}),
    "penalised": (678, "C", {"basic_info": 50, "penalties": -122, "compliance": 10, "tax_grade": 40}),
    "blacklisted": (160, "D", {"basic_info": 10, "black_lists": -400, "court_enforcement": -150}),
    "floor": (0, "D", {"black_lists": -400, "court_enforcement": -300, "penalties": -300, "watch_lists": -100,
                       "compliance": -90, "commitments": -100, "tax_grade": -80, "_range": 670}),
    "rules": (790, "A", {"basic_info": 20, "penalties": -30, "honours": 90, "commitments": 10}),
    "person": (710, "B", {"basic_info": 10}),
}


def age_everything(session) -> None:
    """Pretend everything was submitted long before the first run (incremental runs look back
    a safety margin before the last run started)."""
    from sqlalchemy import update

    old = datetime(2026, 1, 1, tzinfo=UTC)
    session.execute(update(Record).values(updated_at=old))
    session.execute(update(Subject).values(updated_at=old))
    session.flush()
