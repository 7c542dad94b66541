"""Properties on random record sets (both databases): base + factors == score exactly, the
batch and the explanation agree record by record, and the same inputs give the same scores."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from xinyong.intake.models import Record
from xinyong.rating import service
from xinyong.rating.models import RatingDirty, RatingFactor, RatingHistory, RatingRun, RatingScore

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

    for t in (RatingFactor, RatingScore, RatingHistory, RatingRun, RatingDirty, Record):
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
