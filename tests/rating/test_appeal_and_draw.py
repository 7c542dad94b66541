"""Appeal (objection workflow, target grade) → correction → recomputation; the 双随机 draw is
reproducible and verifiable — on both databases."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from xinyong.accounts.actor import Actor
from xinyong.db.engine import session_scope
from xinyong.rating import draw as draws
from xinyong.rating import service
from xinyong.rating.models import InspectionItem, RatingScore
from xinyong.workflows import objections
from xinyong.workflows.models import Objection

from tests.workflows.conftest import actor_for

from .helpers import AS_OF, hand_checked, subject

DAY = date(2026, 11, 1)


def test_record_objection_corrected_recomputes_the_subject(world):
    subj = actor_for(world.url, "firm", "subject", subject=world.uscc)
    dept = actor_for(world.url, "mrdept", "dept_submitter", dept="market_regulation")
    with session_scope(world.url) as s:
        service.run_scoring(s, full=True, as_of=DAY)
    with session_scope(world.url) as s:
        before = s.get(RatingScore, world.subject_id).score
        assert service.explain(s, world.subject_id)["factors"][2]["points"] == -30  # the fine (general)
    rec = world.record(1)
    with session_scope(world.url) as s:
        obj = objections.file_objection(s, subj, record_id=rec.id, reason="处罚类别登记错误，应为警告。", today=DAY)
    with session_scope(world.url) as s:
        objections.handle_objection(s, dept, obj["id"], decision="correct", reply="经核查，处罚类别更正为警告。",
                                    changes={"penalty_category": "警告", "penalty_content": "警告", "fine_amount": ""},
                                    today=DAY)
    with session_scope(world.url) as s:
        sc = s.get(RatingScore, world.subject_id)
        assert sc.score == before + 30  # recomputed at once, no batch run needed
        ex = service.explain(s, world.subject_id)
        assert ex["base"] + sum(f["points"] for f in ex["factors"]) == sc.score
        assert [h["previous_score"] for h in ex["history"]][:1] == [before]


def test_grade_appeal_uses_the_objection_workflow(world):
    subj = actor_for(world.url, "firm2", "subject", subject=world.uscc)
    office = actor_for(world.url, "office", "reviewer")
    with session_scope(world.url) as s:
        service.run_scoring(s, full=True, as_of=DAY)
    with session_scope(world.url) as s:
        out = objections.file_objection(s, subj, subject_id=world.subject_id, target_kind="grade",
                                        reason="我司已整改，评价等级偏低。", today=DAY)
        assert out["target"] == "grade" and out["department"] == "信用办"
        again = objections.file_objection(s, subj, subject_id=world.subject_id, target_kind="grade",
                                          reason="我司已整改，评价等级偏低。", today=DAY)
        assert again["duplicate"] is True and again["id"] == out["id"]
        # an objection to basic information is a different case
        info = objections.file_objection(s, subj, subject_id=world.subject_id, reason="住所登记有误，请更正。",
                                         today=DAY)
        assert info["target"] == "subject_info" and info["id"] != out["id"]
    with session_scope(world.url) as s:
        done = objections.handle_objection(s, office, out["id"], decision="uphold",
                                           reply="经核查，评价依据的记录准确，维持评价等级。", today=DAY)
        assert done["state"] == "upheld"
        assert s.scalar(select(Objection.target).where(Objection.id == out["id"])) == "grade"


def test_grade_appeal_needs_a_grade(world):
    import pytest

    from xinyong.errors import InvalidInput

    subj = actor_for(world.url, "firm3", "subject", subject=world.uscc)
    with session_scope(world.url) as s, pytest.raises(InvalidInput):
        objections.file_objection(s, subj, subject_id=world.subject_id, target_kind="grade",
                                  reason="我司已整改，评价等级偏低。", today=DAY)


def _population(session, n: int = 200):
    for k in range(n):
        subject(session, f"抽查对象{k}", region="440604", **({"legal_rep": "甲"} if k % 3 else {}))


def test_same_draw_inputs_give_the_same_draw(session):
    hand_checked(session)
    _population(session)
    service.run_scoring(session, full=True, as_of=AS_OF)
    session.commit()
    d1 = draws.draw(session, Actor.cli(), dept_code="market_regulation", draw_date=date(2026, 7, 1))
    session.commit()
    assert d1["existing"] is False and d1["selected_count"] == len(d1["items"]) > 0
    # quotas: ceil(n × ratio) per grade
    pop = d1["population_by_grade"]
    expect = sum(draws.quota(n, draws.load_supervision().for_department("market_regulation").ratios[g])
                 for g, n in pop.items())
    assert d1["selected_count"] == expect
    assert all(len(i["inspectors"]) == 2 for i in d1["items"])
    d2 = draws.draw(session, Actor.cli(), dept_code="market_regulation", draw_date=date(2026, 7, 1))
    assert d2["existing"] is True and d2["items"] == d1["items"] and d2["seed"] == d1["seed"]
    # recomputed from the published inputs alone
    rows = [(i.subject_id, i.grade) for i in session.scalars(select(RatingScore).order_by(RatingScore.subject_id))]
    from xinyong.subjects.models import Subject

    kinds = {s.id: s.kind for s in session.scalars(select(Subject))}
    population = [(sid, g) for sid, g in rows if kinds[sid] in ("legal_entity", "individual_business")]
    assert draws.population_hash(population) == d1["population_hash"]
    seed = draws.seed_for(date(2026, 7, 1), "market_regulation", d1["population_hash"])
    assert seed == d1["seed"]
    from decimal import Decimal

    ratios = {"A": Decimal(3), "B": Decimal(5), "C": Decimal(10), "D": Decimal(20)}  # supervision.yaml
    drawn = [sid for sid, _, _ in draws.select_subjects(population, seed, ratios)]
    assert drawn == [i["subject_id"] for i in d1["items"]]
    assert draws.verify(session, d1["id"])["ok"] is True
    # another day, another seed
    d3 = draws.draw(session, Actor.cli(), dept_code="market_regulation", draw_date=date(2026, 7, 2))
    assert d3["seed"] != d1["seed"]


def test_tampered_draw_fails_verification(session):
    hand_checked(session)
    _population(session, 60)
    service.run_scoring(session, full=True, as_of=AS_OF)
    d = draws.draw(session, Actor.cli(), dept_code="tax", draw_date=date(2026, 7, 1))
    item = session.scalar(select(InspectionItem).where(InspectionItem.draw_id == d["id"]).limit(1))
    item.inspectors = [{"id": "X", "name": "冒名"}]
    session.flush()
    v = draws.verify(session, d["id"])
    assert v["ok"] is False and v["problems"]


def test_draw_quota_and_tickets_are_pure_functions():
    from decimal import Decimal

    assert draws.quota(0, Decimal(3)) == 0
    assert draws.quota(1, Decimal(3)) == 1
    assert draws.quota(100, Decimal(3)) == 3
    assert draws.quota(101, Decimal(3)) == 4
    pop = [(i, "B") for i in range(1, 41)]
    a = draws.select_subjects(pop, "s", {"B": Decimal(10)})
    assert a == draws.select_subjects(list(reversed(pop)), "s", {"B": Decimal(10)}) and len(a) == 4
