"""Properties on random record sets (both databases): base + factors == score exactly, the
batch and the explanation agree record by record, and the same inputs give the same scores."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from xinyong.intake.models import Record
from xinyong.rating import service
from xinyong.rating.models import RatingDirty, RatingFactor, RatingHistory, RatingItem, RatingRun, RatingScore

from .helpers import AS_OF, record, subject

RESOURCES = ["admin_penalty", "admin_inspection", "tax_credit_ratings", "credit_commitments", "honours",
             "business_abnormality", "market_serious_dishonesty", "dishonest_judgment_debtors", "admin_license"]
DATA = {"admin_inspection": ("result", ["未发现问题", "发现问题已责令改正", "发现问题已立案查处", "其他"]),
        "tax_credit_ratings": ("credit_level", ["A", "B", "M", "C", "D"]),
        "credit_commitments": ("fulfilment_status", ["已履行", "未履行", "履行中"])}

a_record = st.fixed_dictionaries({
    "resource": st.sampled_from(RESOURCES),
    "days_ago": st.integers(min_value=-30, max_value=1600),
    "severity": st.sampled_from(["serious", "general", "minor", None]),
    "value": st.integers(min_value=0, max_value=4),
    "repaired": st.booleans(), "objection": st.booleans(), "published": st.booleans(),
})


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(a_record, max_size=14), min_size=1, max_size=4),
       st.sampled_from(["", "张三"]))
def test_explanations_sum_exactly_and_match_the_batch(session, subjects_records, legal_rep):
    from xinyong.workflows.clock import now

    for t in (RatingFactor, RatingScore, RatingHistory, RatingRun, RatingDirty, RatingItem, Record):
        session.execute(delete(t))
    ids = []
    for k, recs in enumerate(subjects_records):
        s = subject(session, f"性质{k}", legal_rep=legal_rep or None, region="440604")
        ids.append(s.id)
        for r in recs:
            data = {}
            if r["resource"] in DATA:
                f, values = DATA[r["resource"]]
                data = {f: values[r["value"] % len(values)]}
            record(session, s, r["resource"], AS_OF - timedelta(days=r["days_ago"]), severity=r["severity"],
                   data=data, repaired_at=now() if r["repaired"] else None, objection_open=r["objection"],
                   published=r["published"])
    first = service.run_scoring(session, full=True, as_of=AS_OF)
    scores = {i: session.get(RatingScore, i).score for i in ids}
    for sid in ids:
        ex = service.explain(session, sid)
        assert ex["base"] + sum(f["points"] for f in ex["factors"]) == ex["score"]
        assert ex["stale"] is False  # the explanation's record-level SQL agrees with the batch
        assert 0 <= ex["score"] <= 1000
    again = service.run_scoring(session, full=True, as_of=AS_OF)
    assert again.subjects_changed == 0 and first.subjects_scored >= len(ids)
    assert {i: session.get(RatingScore, i).score for i in ids} == scores
    session.rollback()


def test_evaluation_day_in_the_past_is_refused_as_incremental(session):
    s = subject(session, "回溯公司")
    record(session, s, "admin_penalty", date(2026, 1, 1), severity="serious")
    service.run_scoring(session, full=True, as_of=AS_OF)
    res = service.run_scoring(session, as_of=AS_OF - timedelta(days=400))
    assert res.mode == "full" and "早于上次评价日" in res.reason


a_change = st.fixed_dictionaries({
    "subject": st.integers(min_value=0, max_value=3), "record": st.integers(min_value=0, max_value=20),
    "kind": st.sampled_from(["severity", "value", "withdraw", "repair", "unpublish", "objection", "date",
                             "add", "legal_rep", "public_until", "move"]),
    "n": st.integers(min_value=0, max_value=1600),
})


# Latest-record and capped dimensions need several records of one resource per subject.
a_dense_record = a_record.map(lambda r: {**r, "resource": ["tax_credit_ratings", "admin_penalty",
                                                           "honours"][r["value"] % 3] if r["days_ago"] % 2 else r["resource"]})


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(a_dense_record, max_size=10), min_size=1, max_size=4), st.lists(a_change, max_size=8),
       st.sampled_from([0, 45, 400]))
# Found by this test: a record added and closed by the day the evaluation moves on to leaves the
# score unchanged; the explanation must be read as of the new day, not the score's own.
@example([[]], [{"subject": 0, "record": 0, "kind": "severity", "n": 0},
                {"subject": 0, "record": 0, "kind": "public_until", "n": 0}], 45)
# A record matched again to another subject: the subject it left is rescored too.
@example([[{"resource": "admin_penalty", "days_ago": 10, "severity": "serious", "value": 0, "repaired": False,
            "objection": False, "published": True}], []],
         [{"subject": 0, "record": 0, "kind": "move", "n": 0}], 0)
def test_incremental_run_gives_what_a_full_run_gives(session, subjects_records, changes, days_later):
    """After records and subjects change (and, maybe, the evaluation day moves on), an
    incremental run leaves exactly the scores and factors a full run computes."""
    from sqlalchemy import select

    from xinyong.workflows.clock import now

    from .helpers import age_everything

    for t in (RatingFactor, RatingScore, RatingHistory, RatingRun, RatingDirty, RatingItem, Record):
        session.execute(delete(t))
    subjects, recs = [], []
    for k, rs in enumerate(subjects_records):
        s = subject(session, f"增量{k}", legal_rep="张三" if k % 2 else None, region="440604")
        subjects.append(s)
        for r in rs:
            data = {}
            if r["resource"] in DATA:
                f, values = DATA[r["resource"]]
                data = {f: values[r["value"] % len(values)]}
            recs.append(record(session, s, r["resource"], AS_OF - timedelta(days=r["days_ago"]),
                               severity=r["severity"], data=data, repaired_at=now() if r["repaired"] else None,
                               objection_open=r["objection"], published=r["published"]))
    age_everything(session)  # submitted long before the first run: only the changes below are new
    service.run_scoring(session, full=True, as_of=AS_OF)
    for c in changes:
        s = subjects[c["subject"] % len(subjects)]
        if c["kind"] == "legal_rep":
            s.legal_rep = None if s.legal_rep else "李四"
            s.updated_at = now()
            continue
        if c["kind"] == "add" or not recs:
            res = RESOURCES[c["n"] % len(RESOURCES)]
            data = {DATA[res][0]: DATA[res][1][c["n"] % len(DATA[res][1])]} if res in DATA else {}
            recs.append(record(session, s, res, AS_OF - timedelta(days=c["n"]), data=data,
                               severity=["serious", "general", "minor"][c["n"] % 3]))
            continue
        r = recs[c["record"] % len(recs)]
        if c["kind"] == "severity":
            r.severity = ["serious", "general", "minor", None][c["n"] % 4]
        elif c["kind"] == "value" and r.resource in DATA:
            f, values = DATA[r.resource]
            r.data = {f: values[c["n"] % len(values)]}
        elif c["kind"] == "withdraw":
            r.status = "withdrawn"
        elif c["kind"] == "repair":
            r.repaired_at = now()
        elif c["kind"] == "unpublish":
            r.published = not r.published
        elif c["kind"] == "objection":
            r.objection_open = not r.objection_open
        elif c["kind"] == "date":
            r.main_date = AS_OF - timedelta(days=c["n"])
        elif c["kind"] == "public_until":
            r.public_until = AS_OF + timedelta(days=c["n"] % 60)
        elif c["kind"] == "move":  # matched again, to another subject: both are rescored
            r.subject_id = subjects[(c["subject"] + 1) % len(subjects)].id
        r.updated_at = now()
    session.flush()
    as_of = AS_OF + timedelta(days=days_later)
    inc = service.run_scoring(session, as_of=as_of)
    assert inc.mode == "incremental"
    ids = [s.id for s in subjects]

    def state():
        return (sorted(session.execute(select(RatingScore.subject_id, RatingScore.score, RatingScore.grade)
                                       .where(RatingScore.subject_id.in_(ids))).all()),
                sorted(session.execute(select(RatingFactor.subject_id, RatingFactor.dimension, RatingFactor.points)
                                       .where(RatingFactor.subject_id.in_(ids))).all()),
                # the kept items the next incremental run starts from: as a full run rebuilds them
                sorted(session.execute(select(RatingItem.record_id, RatingItem.dimension, RatingItem.subject_id,
                                              RatingItem.item_date, RatingItem.points)).all()))

    after_incremental = state()
    for sid in ids:
        ex = service.explain(session, sid)
        assert ex["stale"] is False
    full = service.run_scoring(session, full=True, as_of=as_of)
    assert full.subjects_changed == 0  # the full run finds nothing the incremental one missed
    assert state() == after_incremental
    session.rollback()
