"""Scoring acceptance: hand-checked scores and explanations, exact sums, determinism,
incremental rescoring, and "re-running with no changes changes nothing" — on both databases."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from xinyong.intake.models import Record
from xinyong.rating import service
from xinyong.rating.models import RatingFactor, RatingHistory, RatingRun, RatingScore

from .helpers import AS_OF, EXPECTED, age_everything, hand_checked, record


def _factors(session, sid: int) -> dict[str, int]:
    return dict(session.execute(select(RatingFactor.dimension, RatingFactor.points)
                                .where(RatingFactor.subject_id == sid)).all())


def _counts(session) -> tuple[int, int, int]:
    return (session.scalar(select(func.count()).select_from(RatingRun)),
            session.scalar(select(func.count()).select_from(RatingHistory)),
            session.scalar(select(func.count()).select_from(RatingFactor)))


def test_hand_checked_scores_and_explanations(session):
    subjects = hand_checked(session)
    result = service.run_scoring(session, full=True, as_of=AS_OF)
    session.commit()
    assert result.mode == "full" and result.subjects_scored == len({s.id for s in subjects.values()})
    for name, (score, grade, factors) in EXPECTED.items():
        sid = subjects[name].id
        sc = session.get(RatingScore, sid)
        assert (name, sc.score, sc.grade) == (name, score, grade)
        assert _factors(session, sid) == factors, name
        ex = service.explain(session, sid)
        assert ex["score"] == score and ex["grade"] == grade
        # base + every listed contribution is the score, exactly
        assert ex["base"] + sum(f["points"] for f in ex["factors"]) == score
        assert ex["sum_check"] is True and ex["stale"] is False
        assert {f["code"]: f["points"] for f in ex["factors"] if f["points"]} == factors
    # record-level detail of the decaying penalties, newest first
    pen = next(f for f in service.explain(session, subjects["penalised"].id)["factors"] if f["code"] == "penalties")
    assert [i["points"] for i in pen["items"]] == [-100, -15, -7, 0]
    honours = next(f for f in service.explain(session, subjects["rules"].id)["factors"] if f["code"] == "honours")
    assert honours["raw"] == 120 and honours["points"] == 90 and honours["capped"] is True
    assert service.grades_for(session, [subjects["clean"].id, subjects["floor"].id, 999999]) == {
        subjects["clean"].id: "B", subjects["floor"].id: "D"}


def test_rerun_changes_nothing_and_is_deterministic(session):
    subjects = hand_checked(session)
    service.run_scoring(session, full=True, as_of=AS_OF)
    session.commit()
    before = _counts(session)
    scores = dict(session.execute(select(RatingScore.subject_id, RatingScore.score)).all())
    again = service.run_scoring(session, full=True, as_of=AS_OF)
    inc = service.run_scoring(session, as_of=AS_OF)
    session.commit()
    assert again.subjects_changed == 0 and again.run_id is None
    assert inc.mode == "incremental" and inc.subjects_changed == 0
    assert _counts(session) == before
    assert dict(session.execute(select(RatingScore.subject_id, RatingScore.score)).all()) == scores
    assert len(scores) == len({s.id for s in subjects.values()})


def test_incremental_rescores_only_changed_subjects(session):
    subjects = hand_checked(session)
    age_everything(session)
    service.run_scoring(session, full=True, as_of=AS_OF)
    session.commit()
    clean = subjects["clean"]
    record(session, clean, "admin_penalty", date(2026, 6, 1), severity="serious")
    session.commit()
    held = service.current_score(session, clean.id)
    assert held.score == 750
    res = service.run_scoring(session, as_of=AS_OF)
    # In the same transaction the session answers with the new score, not the one it held.
    assert (service.current_score(session, clean.id).score, service.explain(session, clean.id)["score"]) == (650, 650)
    session.commit()
    assert res.mode == "incremental" and res.subjects_changed == 1
    assert res.subjects_scored == 1
    sc = session.get(RatingScore, clean.id)
    assert (sc.score, sc.grade) == (650, "C")
    hist = session.scalars(select(RatingHistory).where(RatingHistory.subject_id == clean.id)
                           .order_by(RatingHistory.id)).all()
    assert [(h.previous_score, h.score) for h in hist] == [(None, 750), (750, 650)]
    run = session.get(RatingRun, res.run_id)
    assert run.stats["transitions"] == {"B>C": 1} and run.model_version == "2026.1"


def test_time_passing_rescores_decayed_records(session):
    subjects = hand_checked(session)
    service.run_scoring(session, full=True, as_of=AS_OF)
    session.commit()
    # 2027-03-02: the serious penalty of 2026-03-01 is past 12 months → -50; the 2025-03-01 one
    # past 24 months → -7; the 2024-03-01 one past 36 months → 0.
    res = service.run_scoring(session, as_of=date(2027, 3, 2))
    session.commit()
    assert res.mode == "incremental"
    pen = _factors(session, subjects["penalised"].id)["penalties"]
    assert pen == -50 - 7
    full = service.run_scoring(session, full=True, as_of=date(2027, 3, 2))
    assert full.subjects_changed == 0  # the incremental run found every change a full run finds


def test_repaired_and_withdrawn_records_leave_the_score(session):
    subjects = hand_checked(session)
    service.run_scoring(session, full=True, as_of=AS_OF)
    session.commit()
    s2 = subjects["penalised"]
    serious = session.scalar(select(Record).where(Record.subject_id == s2.id, Record.severity == "serious"))
    from xinyong.workflows.clock import now

    serious.repaired_at = now()
    serious.updated_at = now()
    session.commit()
    service.run_scoring(session, as_of=AS_OF)
    session.commit()
    assert session.get(RatingScore, s2.id).score == 678 + 100


@pytest.mark.parametrize("rule", ["exclude"])
def test_model_rule_for_records_under_objection(session, tmp_path, monkeypatch, rule):
    from xinyong.rating.scorecard import DEFAULT_MODEL

    text = DEFAULT_MODEL.read_text(encoding="utf-8").replace("under_objection: count", f"under_objection: {rule}")
    text = text.replace('version: "2026.1"', 'version: "2026.1-x"')
    path = tmp_path / "model.yaml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("XINYONG_RATING_MODEL_FILE", str(path))
    subjects = hand_checked(session)
    service.run_scoring(session, full=True, as_of=AS_OF)
    session.commit()
    sc = session.get(RatingScore, subjects["rules"].id)
    assert sc.score == 790 + 30 and sc.model_version == "2026.1-x"


def test_named_subjects_are_rescored_on_the_last_evaluation_day(session):
    from xinyong.errors import InvalidInput

    subjects = hand_checked(session)
    service.run_scoring(session, full=True, as_of=AS_OF)
    with pytest.raises(InvalidInput, match="上次评价日 2026-06-30"):
        service.run_scoring(session, subject_ids=[subjects["clean"].id], as_of=date(2026, 7, 1))
    res = service.run_scoring(session, subject_ids=[subjects["clean"].id])
    assert (res.mode, res.as_of, res.subjects_scored, res.subjects_changed) == ("subjects", "2026-06-30", 1, 0)


def test_disclosure_windows_recomputed_are_rescored(session):
    """Re-applying the disclosure policy to stored records (severity, publication, window)
    is a change the next incremental run sees."""
    from sqlalchemy import update

    from xinyong.workflows.windows import recompute_windows

    hand_checked(session)
    age_everything(session)
    # As an older policy (or none) left them, without touching updated_at.
    session.execute(update(Record).where(Record.resource == "admin_penalty").values(severity="minor", published=True))
    service.run_scoring(session, full=True, as_of=AS_OF)
    assert recompute_windows(session).get("admin_penalty")
    inc = service.run_scoring(session, as_of=AS_OF)
    assert inc.mode == "incremental" and inc.subjects_changed > 0
    assert service.run_scoring(session, full=True, as_of=AS_OF).subjects_changed == 0


def test_full_run_leaves_the_items_table_as_the_migration_made_it(session):
    """A full run rebuilds ``rating_items`` in bulk (on PostgreSQL a new table takes its
    place): its columns, key and index stay those of the model, and it holds each record once."""
    from sqlalchemy import inspect, text

    from xinyong.rating.models import RatingItem

    hand_checked(session)
    service.run_scoring(session, full=True, as_of=AS_OF)

    def shape():
        insp = inspect(session.connection())
        cols = {c["name"]: (str(c["type"]).split("(")[0].upper(), c["nullable"])
                for c in insp.get_columns("rating_items")}
        pk = insp.get_pk_constraint("rating_items")
        return cols, (pk["name"], pk["constrained_columns"]), sorted(
            (i["name"], i["column_names"]) for i in insp.get_indexes("rating_items"))

    cols, pk, indexes = shape()
    assert cols == {"record_id": ("BIGINT", False), "dimension": ("VARCHAR", False), "subject_id": ("BIGINT", False),
                    "item_date": ("DATE", True), "points": ("INTEGER", False)}
    assert pk == ("pk_rating_items", ["record_id", "dimension"])
    assert indexes == [("ix_rating_items_subject", ["subject_id", "dimension", "item_date", "points"])]
    if session.get_bind().dialect.name == "postgresql":  # derived data, no write-ahead log
        assert session.scalar(text("SELECT relpersistence FROM pg_class WHERE relname = 'rating_items'")) == "u"
    n = session.scalar(select(func.count()).select_from(RatingItem))
    assert n > 0 and n == session.scalar(select(func.count()).select_from(
        select(RatingItem.record_id, RatingItem.dimension).distinct().subquery()))
    service.run_scoring(session, full=True, as_of=AS_OF)  # and again, on the rebuilt table
    assert shape() == (cols, pk, indexes)
    assert session.scalar(select(func.count()).select_from(RatingItem)) == n


def test_two_dimensions_reading_one_resource(session, tmp_path, monkeypatch):
    """A record can count in two dimensions (a model may read one resource twice): it keeps an
    item in each, and incremental runs keep both up to date."""
    from xinyong.rating.models import RatingItem
    from xinyong.rating.scorecard import DEFAULT_MODEL

    text = DEFAULT_MODEL.read_text(encoding="utf-8").replace('version: "2026.1"', 'version: "2026.1-twice"')
    text += """  - code: penalty_count
    name: 行政处罚次数
    description: 每次行政处罚（不论轻重）-5 分，最多扣 20 分。
    source: records
    resources: [admin_penalty]
    points: -5
    cap: {min: -20}
"""
    path = tmp_path / "model.yaml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("XINYONG_RATING_MODEL_FILE", str(path))
    subjects = hand_checked(session)
    age_everything(session)
    service.run_scoring(session, full=True, as_of=AS_OF)
    pid = subjects["penalised"].id
    serious = session.scalar(select(Record).where(Record.subject_id == pid, Record.severity == "serious")
                             .order_by(Record.main_date.desc()))
    assert sorted(session.scalars(select(RatingItem.dimension).where(RatingItem.record_id == serious.id))) == [
        "penalties", "penalty_count"]
    before = _factors(session, pid)
    from xinyong.workflows.clock import now

    serious.status, serious.updated_at = "withdrawn", now()
    session.flush()
    inc = service.run_scoring(session, as_of=AS_OF)
    assert (inc.mode, inc.subjects_scored, inc.subjects_changed) == ("incremental", 1, 1)
    after = _factors(session, pid)
    assert after["penalties"] > before["penalties"] and after.get("penalty_count", 0) > before["penalty_count"]
    assert session.scalar(select(func.count()).select_from(RatingItem).where(RatingItem.record_id == serious.id)) == 0
    assert service.run_scoring(session, full=True, as_of=AS_OF).subjects_changed == 0


def test_items_emptied_make_the_next_run_full(session):
    """The kept items are missing after the upgrade to 0018 (the migration leaves the table
    empty) and, on PostgreSQL, after a server crash or a standby taking over (the table is
    UNLOGGED). The next incremental run sees it, scores everyone and keeps the items again;
    the one after is incremental."""
    from sqlalchemy import delete

    from xinyong.rating.models import RatingItem

    subjects = hand_checked(session)
    age_everything(session)
    service.run_scoring(session, full=True, as_of=AS_OF)
    session.execute(delete(RatingItem))
    record(session, subjects["clean"], "admin_penalty", date(2026, 6, 1), severity="serious")
    res = service.run_scoring(session, as_of=AS_OF)
    assert res.mode == "full" and "逐条计分明细缺失" in res.reason
    assert res.subjects_scored == len({s.id for s in subjects.values()}) and res.subjects_changed == 1
    assert session.scalar(select(func.count()).select_from(RatingItem)) > 1  # the items and their marker
    again = service.run_scoring(session, as_of=AS_OF)
    assert (again.mode, again.subjects_scored) == ("incremental", 0)
    record(session, subjects["clean"], "admin_penalty", date(2026, 6, 2), severity="serious")
    third = service.run_scoring(session, as_of=AS_OF)
    assert (third.mode, third.subjects_scored, third.subjects_changed) == ("incremental", 1, 1)
