"""Subject search (信用查询): name fragments, pinyin initials and exact codes.

Index: ``portal_search`` (one row per subject) and ``portal_search_grams`` (gram posting lists,
see ``portal.models``). ``index_subjects`` keeps them current; the subjects service calls it
wherever subjects are created or renamed, in the same transaction.

Query: the rarest gram of the query (a trigram from three characters on, else its bigram; for
initials a four-gram from four letters on; the posting lists counted up to ``RESULT_CAP * 4``)
is scanned in subject order and each candidate confirmed with ``LIKE '%key%'`` on the names; at
most ``RESULT_CAP`` matches are collected, so a query as vague as 有限 costs the same as a
precise one. The database ranks, counts and pages them: only a page of ids comes back. The same
SQL runs on SQLite and PostgreSQL.

Visibility: organisations are public; a natural person is found only while at least one of
their records is public (``publication.public_record_clause``), and then only with a masked
ID number.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import date
from itertools import islice
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    true,
    union,
)
from sqlalchemy.orm import Session

from xinyong.catalogue import load_catalogue
from xinyong.catalogue.schemas import LIST_KINDS
from xinyong.db.sql import in_bound, in_codes
from xinyong.identity.regions import region_name
from xinyong.intake.models import Record
from xinyong.portal.models import SearchEntry, SearchGram
from xinyong.portal.normalize import (
    BadQuery,
    Query,
    initials_grams,
    initials_of,
    initials_query_grams,
    name_grams,
    names_key,
    parse_query,
    query_grams,
)
from xinyong.publication import built_on_public_clause, record_status_label
from xinyong.subjects.models import Subject, SubjectIdentifier, SubjectName
from xinyong.subjects.service import KINDS, SUBJECTS_BY_ID

PS = SearchEntry.__table__
GR = SearchGram.__table__
ST = Subject.__table__
SN = SubjectName.__table__
SI = SubjectIdentifier.__table__

#: Matches collected per query at most (pages beyond it ask the user to be more precise).
RESULT_CAP = 1000
PAGE_SIZE = 20
MAX_PAGE_SIZE = 50
BADGES = {"red": "红名单", "black": "黑名单", "watch": "重点关注"}
OBJECTION_LABEL = "异议处理中"
_CHUNK = 500
_REGION = re.compile(r"^\d{6}$")
_SYNTHETIC_KEY = re.compile(r"^s-(\d{1,15})$")


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _conn(bind: Session | Connection) -> Connection:
    return bind.connection() if isinstance(bind, Session) else bind


# --- index maintenance ----------------------------------------------------------------------------


def _entry(sid: int, kind: str, region: str | None, name_norm: str, former: list[str]) -> tuple[dict, set[int]]:
    key = names_key(name_norm, former)
    initials = initials_of(name_norm)[:255]
    grams = set()
    for part in key.split("\n"):
        grams |= name_grams(part)
    grams |= initials_grams(initials)
    return {"subject_id": sid, "kind": kind, "region": region, "names_key": key, "initials": initials}, grams


def index_subjects(bind: Session | Connection, subject_ids: Iterable[int], *, only_missing: bool = False) -> int:
    """(Re)index subjects after they were created, renamed or moved: idempotent, in the caller's
    transaction. ``only_missing`` skips subjects already indexed (cheap for "maybe new" ids).
    Returns the number of subjects indexed."""
    conn = _conn(bind)
    done = 0
    for part in _chunks(sorted(set(subject_ids)), _CHUNK):
        if only_missing:
            have = set(conn.execute(select(PS.c.subject_id).where(PS.c.subject_id.in_(part))).scalars())
            part = [sid for sid in part if sid not in have]
            if not part:
                continue
        subjects = conn.execute(select(ST.c.id, ST.c.kind, ST.c.region, ST.c.name_norm).where(ST.c.id.in_(part))).all()
        former: dict[int, list[str]] = {}
        for sid, key in conn.execute(select(SN.c.subject_id, SN.c.name_norm).where(SN.c.subject_id.in_(part))
                                     .order_by(SN.c.id)):
            former.setdefault(sid, []).append(key)
        old = conn.execute(select(PS.c.subject_id, PS.c.names_key, PS.c.initials)
                           .where(PS.c.subject_id.in_(part))).all()
        if old:
            stale = []
            for sid, key, initials in old:
                grams = initials_grams(initials or "")
                for name in key.split("\n"):
                    grams |= name_grams(name)
                stale.extend({"g": g, "s": sid} for g in grams)
            if stale:
                conn.execute(delete(GR).where(GR.c.gram == bindparam("g"), GR.c.subject_id == bindparam("s")), stale)
            conn.execute(delete(PS).where(PS.c.subject_id.in_([r[0] for r in old])))
        entries, grams_rows = [], []
        for sid, kind, region, name_norm in subjects:
            entry, grams = _entry(sid, kind, region, name_norm or "", former.get(sid, []))
            entries.append(entry)
            grams_rows.extend((g, sid) for g in grams)
        if entries:
            conn.execute(insert(PS), entries)
        if grams_rows:
            _insert_grams(conn, grams_rows)
        done += len(entries)
    return done


def _insert_grams(conn: Connection, rows: list[tuple[int, int]]) -> None:
    """About fifteen rows per subject: straight to the driver (COPY on PostgreSQL), so that
    registering a million subjects is not slowed by statement building."""
    rows.sort()  # index order: appends to the posting lists' B-tree pages instead of random writes
    dbapi = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        with dbapi.cursor() as cur, cur.copy("COPY portal_search_grams (gram, subject_id) FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)
    elif conn.dialect.name == "sqlite":
        cur = dbapi.cursor()
        try:
            cur.executemany("INSERT INTO portal_search_grams (gram, subject_id) VALUES (?, ?)", rows)
        finally:
            cur.close()
    else:  # pragma: no cover - other dialects take the portable path
        conn.execute(insert(GR), [{"gram": g, "subject_id": sid} for g, sid in rows])


def rebuild_index(bind: Session | Connection, *, progress=None) -> int:
    """Index every subject not yet in the index (after an upgrade, or a bulk load that bypassed
    the subjects service). Safe to re-run."""
    conn = _conn(bind)
    missing = select(ST.c.id).where(~exists().where(PS.c.subject_id == ST.c.id)).order_by(ST.c.id)
    total = 0
    for part in _chunks(conn.execute(missing).scalars().all(), 5000):
        total += index_subjects(conn, part)
        if progress is not None:
            progress(total)
    return total


# --- queries --------------------------------------------------------------------------------------


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_count_statements: dict[int, Any] = {}


def _capped_counts(conn: Connection, grams: list[int], cap: int) -> list[int]:
    """Each gram's posting list counted up to ``cap`` entries, in one statement (one per number
    of grams, built once: building it cost more than running it)."""
    stmt = _count_statements.get(len(grams))
    if stmt is None:
        cap_ = bindparam("cap", type_=Integer)
        stmt = _count_statements[len(grams)] = select(*(
            select(func.count()).select_from(select(GR.c.subject_id).where(GR.c.gram == bindparam(f"g{i}"))
                                             .limit(cap_).subquery()).scalar_subquery()
            for i in range(len(grams))))
    return list(conn.execute(stmt, {"cap": cap, **{f"g{i}": g for i, g in enumerate(grams)}}).one())


#: Posting lists are counted up to this many entries (an index range each, cheap) ...
SHORT_LIST = RESULT_CAP * 4
#: ... and when every list of a query is longer, those are counted again up to this many. At a
#: million subjects a query's shortest list was often 6,000-15,000 long beside ones of 600,000
#: (有限), and picking the first in gram order confirmed 180,000 names one by one.
LONG_LIST_CAP = 40_000
#: Lengths counted are remembered this long in the process: counting a query's lists took a
#: fifth of a search's database time at a million subjects, and a list's length moves by one
#: subject at a time. A stale length can only make a query read a longer list than it could;
#: every match is on every list of its grams, so the results are the same.
LIST_LENGTH_TTL = 3600.0
_list_lengths: dict[tuple[str, int], tuple[int, float]] = {}


def _rarest(conn: Connection, grams: set[int]) -> int:
    """The gram with the shortest posting list."""
    ordered = sorted(grams)
    if len(ordered) < 2:
        return ordered[0] if ordered else -1  # no choice to make (-1: no gram, an empty list)
    db, now = sys.intern(conn.engine.url.render_as_string(hide_password=True)), time.monotonic()
    if len(_list_lengths) > 50_000:  # bounded (~15 MB): the grams people search by most are kept again
        _list_lengths.clear()
    known: dict[int, int] = {}  # exact below SHORT_LIST; counted up to LONG_LIST_CAP above it
    for g in ordered:
        hit = _list_lengths.get((db, g))
        if hit is not None and now - hit[1] < LIST_LENGTH_TTL:
            known[g] = hit[0]
    todo = [g for g in ordered if g not in known]
    if todo:
        long = []
        for g, n in zip(todo, _capped_counts(conn, todo, SHORT_LIST), strict=True):
            if n < SHORT_LIST:
                known[g] = n
                _list_lengths[(db, g)] = (n, now)
            else:
                long.append(g)
        if long and min(known.values(), default=SHORT_LIST) >= SHORT_LIST:  # no short list: which long one?
            for g, n in zip(long, _capped_counts(conn, long, LONG_LIST_CAP), strict=True):
                known[g] = n
                _list_lengths[(db, g)] = (n, now)
        for g in long:
            known.setdefault(g, SHORT_LIST)  # longer than a short list known
    if min(known.values()) >= LONG_LIST_CAP:  # every list past the cap: the statistics tell them apart
        estimate = _estimated_lengths(conn, db, now)
        if estimate:
            floor = min(estimate.values())  # a gram not among the most common is rarer than those
            return min((max(n, estimate.get(g, floor)), g) for g, n in known.items())[1]
    return min((n, g) for g, n in known.items())[1]


_estimates: dict[str, tuple[dict[int, int], float]] = {}


def _estimated_lengths(conn: Connection, db: str, now: float) -> dict[int, int]:
    """The most common grams' list lengths as PostgreSQL's statistics estimate them (ANALYZE
    samples the posting lists), remembered like the counted lengths. At a million subjects a
    four-letter initials query often had every list past ``LONG_LIST_CAP`` (fss: 850,000, ssd:
    177,000, ssh: 42,000), and the first in gram order was read: fssd confirmed 58,000 names
    (70 ms) where the shorter list held its matches four times as densely. Empty where there
    are no such statistics (SQLite; a table never analysed): the counted lengths decide."""
    hit = _estimates.get(db)
    if hit is not None and now - hit[1] < LIST_LENGTH_TTL:
        return hit[0]
    found: dict[int, int] = {}
    if conn.dialect.name == "postgresql":
        row = conn.execute(text(
            "SELECT s.most_common_vals::text::bigint[], s.most_common_freqs, c.reltuples FROM pg_stats s "
            "JOIN pg_class c ON c.relname = s.tablename JOIN pg_namespace n ON n.oid = c.relnamespace "
            "AND n.nspname = s.schemaname WHERE s.schemaname = current_schema() AND s.tablename = :t "
            "AND s.attname = 'gram'"), {"t": GR.name}).first()
        if row is not None and row[0] and row[2] and row[2] > 0:
            found = {int(g): int(f * row[2]) for g, f in zip(row[0], row[1], strict=True)}
    _estimates[db] = (found, now)
    return found


def _validate_filters(kind: str | None, region: str | None, page: int, size: int) -> None:
    if kind is not None and kind not in KINDS:
        raise BadQuery(f"未知的主体类别：{kind}。可选：{'、'.join(f'{k}（{v}）' for k, v in KINDS.items())}。",
                       code="invalid_subject_kind")
    if region is not None and not _REGION.match(region):
        raise BadQuery("地区代码应为6位数字的行政区划代码，例如 440604。", code="invalid_region")
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        raise BadQuery(f"页码从1开始，每页1至{MAX_PAGE_SIZE}条。", code="invalid_page")
    if (page - 1) * size >= RESULT_CAP:
        raise BadQuery(f"最多显示前 {RESULT_CAP} 条结果，请输入更完整的名称以缩小范围。", code="page_out_of_range")


def _kind_region(kind: str | None, region: str | None) -> list:
    return [*([PS.c.kind == kind] if kind else []), *([PS.c.region == region] if region else [])]


def _code_matches(conn: Connection, query: Query, kind: str | None, region: str | None) -> list[int]:
    stmt = (select(PS.c.subject_id).select_from(SI.join(PS, PS.c.subject_id == SI.c.subject_id))
            .where(SI.c.value == query.key, PS.c.kind != "natural_person", *_kind_region(kind, region))
            .distinct().limit(RESULT_CAP))
    return sorted(conn.execute(stmt).scalars())


def _branch(gram: Any, match: Any, filters: list) -> Any:
    """Subjects on one posting list whose names match, in subject order, at most one past the cap."""
    return (select(PS.c.subject_id, PS.c.names_key)
            .select_from(GR.join(PS, PS.c.subject_id == GR.c.subject_id))
            .where(GR.c.gram == gram, match, *filters)
            .order_by(GR.c.subject_id).limit(RESULT_CAP + 1)).subquery()


def _statements(initials: bool, kind: bool, region: bool, today: date | None) -> dict[str, Any]:
    """The statements of a name query of one shape (with or without the initials branch and each
    filter), built once a day (the visibility of persons depends on the day): building them
    cost a search more than a millisecond. The matches are the union of the name branch and
    the initials branch, ranked exact current name, then current name starting with the query,
    then subject order; ``page`` pages and counts them, ``count`` counts them, ``ids`` lists
    them up to one past the cap."""
    return built_on_public_clause(("portal.search", initials, kind, region, RESULT_CAP), today,
                                  lambda clause: _build_statements(initials, kind, region, clause))


def _build_statements(initials: bool, kind: bool, region: bool, clause: Any) -> dict[str, Any]:
    # Organisations always; a natural person only with a record the public may see now.
    filters = [or_(PS.c.kind != "natural_person",
                   exists(select(Record.id).where(Record.subject_id == PS.c.subject_id, clause))),
               *([PS.c.kind == bindparam("kind")] if kind else []),
               *([PS.c.region == bindparam("region")] if region else [])]
    branches = [_branch(bindparam("gram"), PS.c.names_key.like(bindparam("contains"), escape="\\"), filters)]
    if initials:
        branches.append(_branch(bindparam("initials_gram"),
                                PS.c.initials.like(bindparam("initials_contain"), escape="\\"), filters))
    parts = [select(b.c.subject_id, b.c.names_key) for b in branches]
    found = (union(*parts) if len(parts) > 1 else parts[0]).subquery()
    # names_key is the current name, then former names after "\n" (never inside a query).
    rank = case((or_(found.c.names_key == bindparam("exact"),
                     found.c.names_key.like(bindparam("first_line"), escape="\\")), 0),
                (found.c.names_key.like(bindparam("prefix"), escape="\\"), 1), else_=2)
    order = (rank, found.c.subject_id)
    return {"page": select(found.c.subject_id, func.count().over()).order_by(*order)
            .offset(bindparam("offset", type_=Integer)).limit(bindparam("size", type_=Integer)),
            "count": select(func.count()).select_from(found),
            "ids": select(found.c.subject_id).order_by(*order).limit(RESULT_CAP + 1)}


def _ranked(conn: Connection, query: Query, kind: str | None, region: str | None,
            today: date | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(statements, parameters) of a name query: see ``_statements``."""
    key = _escape_like(query.key)
    params: dict[str, Any] = {"gram": _rarest(conn, query_grams(query.key)), "contains": f"%{key}%", "exact": query.key,
                              "first_line": f"{key}\n%", "prefix": f"{key}%", "kind": kind, "region": region}
    if query.initials:
        ini = query.initials
        params["initials_gram"] = _rarest(conn, initials_query_grams(ini))
        params["initials_contain"] = f"%{_escape_like(ini)}%"
    stmts = _statements(bool(query.initials), kind is not None, region is not None, today)
    return stmts, {k: v for k, v in params.items() if v is not None}


def matching_subject_ids(session: Session, query: Query, *, kind: str | None = None, region: str | None = None,
                         today: date | None = None) -> tuple[list[int], bool]:
    """Ids of the subjects matching a parsed query, best first (exact name, then name starting
    with the query, then subject order); at most ``RESULT_CAP``. Returns (ids, exact_total)."""
    conn = session.connection()
    if query.mode == "code":
        return _code_matches(conn, query, kind, region), True
    stmts, params = _ranked(conn, query, kind, region, today)
    ids = list(conn.execute(stmts["ids"], params).scalars())
    return ids[:RESULT_CAP], len(ids) <= RESULT_CAP


def _matching_page(session: Session, query: Query, *, kind: str | None, region: str | None, today: date | None,
                   offset: int, size: int) -> tuple[list[int], int, bool]:
    """One page of matches and their total (at most ``RESULT_CAP``): (ids, total, exact). Ranked,
    counted and paged by the database: the matches (up to a thousand names) never reach Python."""
    conn = session.connection()
    if query.mode == "code":
        ids = _code_matches(conn, query, kind, region)
        return ids[offset:offset + size], len(ids), True
    stmts, params = _ranked(conn, query, kind, region, today)
    rows = conn.execute(stmts["page"], {**params, "offset": offset, "size": size}).all()
    if rows:
        n = rows[0][1]
    else:  # past the last page (or nothing found): the total still says how many there are
        n = conn.execute(stmts["count"], params).scalar_one() if offset else 0
    return [sid for sid, _ in rows], min(n, RESULT_CAP), n <= RESULT_CAP


def subject_key(subject: Subject | Any) -> str:
    """The code a profile URL uses: the USCC, else a registered code, else ``s-<id>``."""
    if getattr(subject, "uscc", None):
        return subject.uscc
    if subject.kind != "natural_person":
        for ident in getattr(subject, "identifiers", None) or ():
            if ident.scheme != "org_code" or ident.source != "derived":
                return ident.value
    return f"s-{subject.id}"


def parse_subject_key(text: str) -> int | None:
    m = _SYNTHETIC_KEY.match(text or "")
    return int(m.group(1)) if m else None


def _list_resources() -> dict[str, str]:
    """Resource code → list kind (red/black/watch) of the catalogue's list resources."""
    catalogue = load_catalogue()
    return {code: res.list_kind for code, res in catalogue.resources.items() if res.list_kind}


def badges_for(session: Session, subject_ids: list[int], today: date | None = None) -> dict[int, list[dict]]:
    """Red/black/watch list and objection badges from the records the public sees now."""
    if not subject_ids:
        return {}
    lists = _list_resources()
    codes = tuple(sorted(lists))
    # Only the rows that make a badge, and only three columns: a page of results used to load
    # every public record of its twenty subjects as full objects.
    stmt = built_on_public_clause(("portal.badges", codes), today, lambda clause: (
        select(Record.subject_id, Record.resource, Record.objection_open)
        .where(in_bound(Record.subject_id, "ids"), clause,
               or_(in_codes(Record.resource, codes), Record.objection_open == true()))
        .distinct()))
    # A public record is active and not repaired, so an open objection is its only status label.
    return _badges(subject_ids, ((sid, lists.get(res), bool(objection))
                                 for sid, res, objection in session.connection().execute(stmt, {"ids": subject_ids})))


def badges_from_records(subject_ids: list[int], records: Iterable[Record]) -> dict[int, list[dict]]:
    """Badges from public records already loaded (the profile page has them at hand)."""
    lists = _list_resources()
    return _badges(subject_ids, ((r.subject_id, lists.get(r.resource), record_status_label(r) == OBJECTION_LABEL)
                                 for r in records))


def _badges(subject_ids: list[int], rows: Iterable[tuple[int, str | None, bool]]) -> dict[int, list[dict]]:
    found: dict[int, set[str]] = {sid: set() for sid in subject_ids}
    for sid, list_kind, objection in rows:
        if list_kind:
            found[sid].add(list_kind)
        if objection:
            found[sid].add("objection")
    out: dict[int, list[dict]] = {}
    for sid, codes in found.items():
        out[sid] = [{"code": c, "label": BADGES[c]} for c in ("red", "black", "watch") if c in codes]
        if "objection" in codes:
            out[sid].append({"code": "objection", "label": OBJECTION_LABEL})
    return out


def search_subjects(session: Session, q: str | None, *, kind: str | None = None, region: str | None = None,
                    page: int = 1, size: int = PAGE_SIZE, today: date | None = None) -> dict[str, Any]:
    """The search the page and ``GET /api/v1/search`` share. Raises ``BadQuery`` (400)."""
    query = parse_query(q)
    kind = kind or None
    region = region or None
    _validate_filters(kind, region, page, size)
    page_ids, total, exact = _matching_page(session, query, kind=kind, region=region, today=today,
                                            offset=(page - 1) * size, size=size)
    subjects = {s.id: s for s in session.scalars(SUBJECTS_BY_ID, {"ids": page_ids})} if page_ids else {}
    badges = badges_for(session, page_ids, today)
    items = []
    for sid in page_ids:
        s = subjects[sid]
        person = s.kind == "natural_person"
        items.append({
            "name": s.name,
            "uscc": s.uscc,
            "kind": s.kind,
            "kind_label": KINDS[s.kind],
            "region": s.region,
            "region_name": region_name(s.region),
            "status": None if person else s.reg_status,
            "id_masked": s.citizen_id_masked if person else None,
            "badges": badges.get(sid, []),
            "key": subject_key(s) if not person else f"s-{s.id}",
            "url": f"/subjects/{subject_key(s) if not person else f's-{s.id}'}",
        })
    return {"query": query.key if query.mode == "name" else None, "mode": query.mode, "total": total,
            "total_exact": exact, "page": page, "size": size,
            "pages": max(1, -(-total // size)), "items": items}


__all__ = [
    "BADGES",
    "LIST_KINDS",
    "RESULT_CAP",
    "BadQuery",
    "badges_for",
    "index_subjects",
    "matching_subject_ids",
    "parse_subject_key",
    "rebuild_index",
    "search_subjects",
    "subject_key",
]
