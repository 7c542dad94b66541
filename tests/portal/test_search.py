"""The search service and its API on SQLite and PostgreSQL: fragments, variants, codes, pinyin,
renames, natural persons only while public, badges, caps and 400s."""

from __future__ import annotations

import random
from datetime import date

import pytest
from sqlalchemy import func, select

from xinyong.db.engine import get_engine
from xinyong.identity.codes import generate_citizen_id, generate_uscc
from xinyong.intake.models import Record
from xinyong.portal import search as search_mod
from xinyong.portal.normalize import (
    INITIALS_FOURGRAM_FLAG,
    INITIALS_TRIGRAM_FLAG,
    NAME_TRIGRAM_FLAG,
    BadQuery,
    initials_fourgrams,
    initials_trigrams,
)
from xinyong.portal.search import rebuild_index, search_subjects
from xinyong.subjects.models import Subject
from xinyong.subjects.service import (
    SubjectIn,
    create_unverified_subjects,
    upsert_subjects,
)

TODAY = date(2026, 11, 1)


def _org(rng, name, **kw):
    return SubjectIn(kind="legal_entity", org_type="enterprise", name=name, uscc=generate_uscc(rng, region="440604"),
                     **kw)


def _names(result):
    return [i["name"] for i in result["items"]]


def _record(session, subject_id, resource, n, **kw):
    rec = Record(resource=resource, natural_key_hash=f"{resource[:8]}{n:024d}", natural_key=f"k{n}",
                 subject_id=subject_id, department_id=1, main_date=date(2026, 6, 1), content_hash="c" * 32,
                 data={"subject_name": "x", "case_no": f"（2026）粤0604执{n}号"}, **kw)
    session.add(rec)
    session.flush()
    return rec


@pytest.fixture
def registry(session):
    rng = random.Random(7)
    items = [
        _org(rng, "佛山市禅城区恒泰陶瓷有限公司", identifiers={"reg_no": "440604000123456"}),
        _org(rng, "佛山市南海区恒泰五金制品厂"),
        _org(rng, "广东美的制冷设备有限公司"),
        _org(rng, "佛山市美的电器有限公司"),
        SubjectIn(kind="individual_business", name="禅城区云骏工艺品店（个体工商户）",
                  uscc=generate_uscc(rng, authority="9", org_type="2", region="440604")),
        SubjectIn(kind="natural_person", name="张恒泰", citizen_id=generate_citizen_id(rng)),
    ]
    upsert_subjects(session, items)
    session.commit()
    return items


def test_any_fragment_of_two_or_more_characters(session, registry):
    assert _names(search_subjects(session, "恒泰", today=TODAY)) == [
        "佛山市禅城区恒泰陶瓷有限公司", "佛山市南海区恒泰五金制品厂"]  # the person has nothing public
    assert _names(search_subjects(session, "泰陶", today=TODAY)) == ["佛山市禅城区恒泰陶瓷有限公司"]
    assert _names(search_subjects(session, "禅城区恒泰陶瓷有限公司", today=TODAY)) == ["佛山市禅城区恒泰陶瓷有限公司"]
    assert search_subjects(session, "恒美", today=TODAY)["total"] == 0
    # The exact name ranks first, then names that start with the query.
    assert _names(search_subjects(session, "佛山市美的电器有限公司", today=TODAY))[0] == "佛山市美的电器有限公司"


def test_width_and_bracket_variants(session, registry):
    for q in ("云骏工艺品店（个体工商户）", "云骏工艺品店(个体工商户)", "云骏工艺品店（个体", "云骏　工艺"):
        assert _names(search_subjects(session, q, today=TODAY)) == ["禅城区云骏工艺品店（个体工商户）"], q


def test_codes_are_exact(session, registry):
    ent = registry[0]
    for q in (ent.uscc, ent.uscc.lower(), "440604000123456", f"{ent.uscc[8:16]}-{ent.uscc[16]}"):
        r = search_subjects(session, q, today=TODAY)
        assert r["mode"] == "code" and _names(r) == ["佛山市禅城区恒泰陶瓷有限公司"], q
    assert search_subjects(session, ent.uscc[:12], today=TODAY)["total"] == 0


def test_pinyin_initials(session, registry):
    assert "佛山市美的电器有限公司" in _names(search_subjects(session, "fssmd", today=TODAY))
    assert _names(search_subjects(session, "MDZL", today=TODAY)) == ["广东美的制冷设备有限公司"]
    # Two letters read a bigram's list, three or more a trigram's: the same subjects either way.
    assert "广东美的制冷设备有限公司" in _names(search_subjects(session, "zl", today=TODAY))
    assert _names(search_subjects(session, "dzl", today=TODAY)) == ["广东美的制冷设备有限公司"]


def test_renaming_reindexes_the_initials(session, registry):
    from xinyong.portal.models import SearchEntry, SearchGram

    sid = session.scalar(select(Subject.id).where(Subject.name == registry[1].name))
    old_initials = session.get(SearchEntry, sid).initials
    renamed = SubjectIn(**{**registry[1].__dict__, "name": "佛山市南海区华耀智能科技有限公司"})
    upsert_subjects(session, [renamed])
    session.commit()
    session.expire_all()
    entry = session.get(SearchEntry, sid)
    held = set(session.scalars(select(SearchGram.gram).where(SearchGram.subject_id == entry.subject_id,
                                                             SearchGram.gram >= INITIALS_TRIGRAM_FLAG,
                                                             SearchGram.gram < NAME_TRIGRAM_FLAG)))
    # The current name's initials, as trigrams and four-grams, and no stale ones of the old name's.
    assert held == initials_trigrams(entry.initials) | initials_fourgrams(entry.initials)
    assert entry.initials != old_initials
    assert _names(search_subjects(session, "hyzn", today=TODAY)) == ["佛山市南海区华耀智能科技有限公司"]


def _downgrade(db_url: str, revision: str) -> None:
    from alembic import command

    from xinyong.db.migrate import alembic_config

    cfg = alembic_config(db_url)
    with get_engine(db_url).begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_upgrading_indexes_the_initials_trigrams_of_subjects_indexed_before(db_url, session, registry):
    """Revision 0017 adds the trigrams of every subject indexed under 0016 (bigrams only)."""
    from xinyong.db.migrate import upgrade
    from xinyong.portal.models import SearchGram

    def trigram_rows():
        return session.scalar(select(func.count()).select_from(SearchGram)
                              .where(SearchGram.gram >= INITIALS_TRIGRAM_FLAG, SearchGram.gram < INITIALS_FOURGRAM_FLAG))

    indexed = trigram_rows()
    assert indexed > 0
    session.commit()
    _downgrade(db_url, "0016_audit_append")
    session.expire_all()
    assert trigram_rows() == 0
    session.commit()
    upgrade(db_url)
    assert trigram_rows() == indexed
    assert _names(search_subjects(session, "MDZL", today=TODAY)) == ["广东美的制冷设备有限公司"]


def test_upgrading_indexes_the_longer_grams_of_subjects_indexed_before(db_url, session, registry):
    """Revision 0019 adds the trigrams of every name (current and former) and the four-grams of
    the initials indexed before; queries of three characters or four letters read them and find
    the same subjects as before the upgrade."""
    from xinyong.db.migrate import upgrade
    from xinyong.portal.models import SearchGram
    from xinyong.portal.normalize import trigrams

    upsert_subjects(session, [SubjectIn(**{**registry[1].__dict__, "name": "佛山市南海区华耀智能科技有限公司"})])
    session.commit()

    def trigram_rows():
        return session.scalar(select(func.count()).select_from(SearchGram).where(SearchGram.gram >= NAME_TRIGRAM_FLAG))

    def fourgram_rows():
        return session.scalar(select(func.count()).select_from(SearchGram).where(
            SearchGram.gram >= INITIALS_FOURGRAM_FLAG, SearchGram.gram < NAME_TRIGRAM_FLAG))

    indexed, indexed4 = trigram_rows(), fourgram_rows()
    entries = session.execute(select(search_mod.PS.c.names_key, search_mod.PS.c.initials)).all()
    assert indexed == sum(len(set().union(*(trigrams(n) for n in key.split("\n")))) for key, _ in entries) > 0
    assert indexed4 == sum(len(initials_fourgrams(ini)) for _, ini in entries) > 0
    queries = {"恒泰五金": ["佛山市南海区华耀智能科技有限公司"], "华耀智能": ["佛山市南海区华耀智能科技有限公司"],
               "泰陶瓷": ["佛山市禅城区恒泰陶瓷有限公司"], "有限公司": None, "mdzl": ["广东美的制冷设备有限公司"],
               "fssmd": None}
    before = {q: _names(search_subjects(session, q, today=TODAY)) for q in queries}
    session.commit()
    _downgrade(db_url, "0018_rating_items")
    session.expire_all()
    assert trigram_rows() == fourgram_rows() == 0
    session.commit()
    upgrade(db_url)
    assert (trigram_rows(), fourgram_rows()) == (indexed, indexed4)
    for q, expected in queries.items():
        got = _names(search_subjects(session, q, today=TODAY))
        assert got == before[q] and (expected is None or got == expected), q
    assert len(before["有限公司"]) >= 3 and "佛山市美的电器有限公司" in before["fssmd"]


def test_rename_keeps_the_former_name_searchable(session, registry):
    renamed = SubjectIn(**{**registry[1].__dict__, "name": "佛山市南海区华耀智能科技有限公司"})
    upsert_subjects(session, [renamed])
    session.commit()
    assert _names(search_subjects(session, "华耀智能", today=TODAY)) == ["佛山市南海区华耀智能科技有限公司"]
    assert _names(search_subjects(session, "恒泰五金", today=TODAY)) == ["佛山市南海区华耀智能科技有限公司"]
    assert search_subjects(session, "恒泰", today=TODAY)["total"] == 2


def test_subjects_created_by_intake_are_indexed(session, registry):
    ids = create_unverified_subjects(session, [{"kind": "legal_entity", "name": "佛山市顺德区未登记测试商行",
                                                "region": "440606"}])
    session.commit()
    assert _names(search_subjects(session, "未登记测试", today=TODAY)) == ["佛山市顺德区未登记测试商行"]
    # Re-indexing is idempotent and rebuild finds nothing missing.
    search_mod.index_subjects(session, ids)
    assert rebuild_index(session) == 0
    assert search_subjects(session, "未登记测试", today=TODAY)["total"] == 1


def test_natural_person_only_while_a_public_record_names_them(session, registry):
    person = session.scalar(select(Subject).where(Subject.kind == "natural_person"))
    assert search_subjects(session, "张恒泰", today=TODAY)["total"] == 0
    # A record the public may not see (government sharing class) does not reveal the person.
    _record(session, person.id, "key_profession_records", 1)
    session.commit()
    assert search_subjects(session, "张恒泰", today=TODAY)["total"] == 0
    rec = _record(session, person.id, "dishonest_judgment_debtors", 2)
    session.commit()
    r = search_subjects(session, "张恒泰", today=TODAY)
    assert _names(r) == ["张恒泰"]
    item = r["items"][0]
    assert item["id_masked"] == person.citizen_id_masked and "*" in item["id_masked"]
    assert item["uscc"] is None and item["url"] == f"/subjects/s-{person.id}"
    assert [b["code"] for b in item["badges"]] == ["black"]
    assert registry[5].citizen_id not in repr(r)
    # Searching by the ID number never finds (nor confirms) a person.
    assert search_subjects(session, registry[5].citizen_id, today=TODAY)["total"] == 0
    rec.status = "withdrawn"
    session.commit()
    assert search_subjects(session, "张恒泰", today=TODAY)["total"] == 0


def test_filters_paging_and_cap(session, registry, monkeypatch):
    assert _names(search_subjects(session, "有限公司", kind="individual_business", today=TODAY)) == []
    assert len(_names(search_subjects(session, "有限公司", kind="legal_entity", today=TODAY))) == 3
    page2 = search_subjects(session, "佛山", size=1, page=2, today=TODAY)
    assert page2["total"] == 3 and page2["pages"] == 3 and len(page2["items"]) == 1
    past = search_subjects(session, "佛山", size=1, page=4, today=TODAY)  # past the last page
    assert past["total"] == 3 and past["items"] == []
    both = search_subjects(session, "有限公司", kind="legal_entity", region="440604", today=TODAY)
    assert len(both["items"]) == 3 and {i["region"] for i in both["items"]} == {"440604"}
    assert search_subjects(session, "有限公司", kind="legal_entity", region="440605", today=TODAY)["total"] == 0
    monkeypatch.setattr(search_mod, "RESULT_CAP", 2)
    capped = search_subjects(session, "有限", today=TODAY)
    assert capped["total"] == 2 and capped["total_exact"] is False
    with pytest.raises(BadQuery):
        search_subjects(session, "有限", page=3, size=1, today=TODAY)


@pytest.mark.parametrize("params, code", [
    ({"q": "张"}, "query_too_short"), ({}, "query_required"), ({"q": "陶瓷\x07"}, "invalid_query"),
    ({"q": "陶瓷", "kind": "robot"}, "invalid_subject_kind"), ({"q": "陶瓷", "region": "44"}, "invalid_region"),
])
def test_api_rejects_malformed_queries_with_400(client, params, code):
    r = client.get("/api/v1/search", params=params)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == code


def test_api_shape(client, session, registry):
    r = client.get("/api/v1/search", params={"q": "恒泰"})
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 2 and body["total_exact"] is True
    item = body["items"][0]
    assert {"name", "uscc", "kind", "badges"} <= set(item)
    assert item["uscc"] == registry[0].uscc and item["kind"] == "legal_entity" and item["badges"] == []


def test_cli_reindex_restores_a_dropped_index(db_url, session, registry):
    from typer.testing import CliRunner

    from xinyong.cli import app
    from xinyong.portal.models import SearchEntry, SearchGram

    session.query(SearchGram).delete()
    session.query(SearchEntry).delete()
    session.commit()
    assert search_subjects(session, "恒泰", today=TODAY)["total"] == 0
    out = CliRunner().invoke(app, ["portal", "reindex", "--json"])
    assert out.exit_code == 0, out.output
    assert '"indexed": 6' in out.output
    session.expire_all()
    assert search_subjects(session, "恒泰", today=TODAY)["total"] == 2


def test_the_shortest_posting_list_is_read_when_all_are_long(session, registry, monkeypatch):
    """Lists longer than SHORT_LIST are counted again (up to LONG_LIST_CAP): the query reads the
    shortest, not the first in gram order (at a million subjects: 6,900 names instead of 619,000)."""
    from xinyong.portal.models import SearchGram
    from xinyong.portal.normalize import bigrams

    monkeypatch.setattr(search_mod, "SHORT_LIST", 1)  # every list counts as long
    monkeypatch.setattr(search_mod, "_list_lengths", {})
    grams = bigrams("恒泰陶瓷")
    length = {g: session.scalar(select(func.count()).select_from(SearchGram).where(SearchGram.gram == g))
              for g in grams}
    assert length[min(grams)] > min(length.values())  # gram order alone would read a longer list
    chosen = search_mod._rarest(session.connection(), grams)
    assert length[chosen] == min(length.values()) < max(length.values())
    assert _names(search_subjects(session, "恒泰陶瓷", today=TODAY)) == ["佛山市禅城区恒泰陶瓷有限公司"]


def test_when_every_list_is_past_the_cap_the_statistics_pick_the_shortest(session, registry, monkeypatch):
    """Every list counted past LONG_LIST_CAP: on PostgreSQL the planner's statistics (ANALYZE)
    tell them apart and the shortest is read; without statistics (SQLite) the first in gram
    order. The results are the same either way."""
    from sqlalchemy import text

    from xinyong.portal.models import SearchGram
    from xinyong.portal.normalize import bigrams

    monkeypatch.setattr(search_mod, "SHORT_LIST", 1)
    monkeypatch.setattr(search_mod, "LONG_LIST_CAP", 1)  # every list is past the cap
    monkeypatch.setattr(search_mod, "_list_lengths", {})
    monkeypatch.setattr(search_mod, "_estimates", {})
    grams = bigrams("恒泰陶瓷")
    length = {g: session.scalar(select(func.count()).select_from(SearchGram).where(SearchGram.gram == g))
              for g in grams}
    assert length[min(grams)] > min(length.values())
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        session.commit()
        conn = session.connection()
        conn.execute(text("ANALYZE portal_search_grams"))
        assert length[search_mod._rarest(conn, grams)] == min(length.values())
    else:
        assert search_mod._rarest(conn, grams) == min(grams)
    assert _names(search_subjects(session, "恒泰陶瓷", today=TODAY)) == ["佛山市禅城区恒泰陶瓷有限公司"]


def test_list_lengths_are_remembered_and_a_stale_one_changes_no_result(session, registry, monkeypatch):
    """A query's lists are counted once an hour per process, not for every search; a length
    gone stale can only make a search read a longer list, never change what it finds."""
    from sqlalchemy import event

    from xinyong.portal.normalize import bigrams

    monkeypatch.setattr(search_mod, "_list_lengths", {})
    conn = session.connection()
    grams = bigrams("恒泰陶瓷")
    counted: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        if "portal_search_grams" in statement and "count(" in statement.lower():
            counted.append(statement)

    event.listen(conn, "before_cursor_execute", seen)
    try:
        first = search_mod._rarest(conn, grams)
        assert counted
        counted.clear()
        assert search_mod._rarest(conn, grams) == first and counted == []
    finally:
        event.remove(conn, "before_cursor_execute", seen)
    expected = _names(search_subjects(session, "恒泰陶瓷", today=TODAY))
    assert expected == ["佛山市禅城区恒泰陶瓷有限公司"]
    db = conn.engine.url.render_as_string(hide_password=True)
    for g in grams:  # every length wrong: the longest list is now thought the shortest
        n, at = search_mod._list_lengths[(db, g)]
        search_mod._list_lengths[(db, g)] = (10**6 - n, at)
    assert search_mod._rarest(conn, grams) != first
    assert _names(search_subjects(session, "恒泰陶瓷", today=TODAY)) == expected
