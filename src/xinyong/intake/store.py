"""The writing half of intake: classify prepared rows against stored records and write them.

Everything runs in the batch's one transaction, so a batch is kept whole or not at all.
Set-based work is behind one class with a dialect fast path:

* PostgreSQL: new records and their first versions are ``COPY``'d straight into their tables
  (lines built in COPY text format); changed records go through a temporary staging table and
  ``UPDATE … FROM`` / ``INSERT … SELECT``; key lookups probe the unique index key by key
  (``LATERAL``), whatever the planner's statistics say mid-batch;
* SQLite: ``executemany`` in large chunks, record ids assigned up front (the batch holds
  SQLite's single write lock for its whole life).

No ``ON CONFLICT``: writers of one resource are serialised (advisory lock on PostgreSQL, the
write lock on SQLite), so a unique-key violation can only mean a bug, and it aborts the batch
whole rather than dropping rows silently.

Rows are applied in file order. Within one batch a key seen before (in any earlier chunk:
the ``_intake_seen`` temporary table remembers every key, so memory stays flat) is a
*duplicate* when its content is identical (counted as unchanged) and is rejected
(``duplicate_key_conflict``) when it differs: the department must say which one is right.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import islice
from typing import NamedTuple

from sqlalchemy import text
from sqlalchemy.orm import Session

from xinyong.catalogue.schemas import Resource
from xinyong.subjects.service import (
    create_unverified_subjects,
    normalize_name,
    subjects_by_id_hash,
    subjects_by_identifier,
    subjects_by_name,
    subjects_by_uscc,
)

from .prepare import ErrorItem, HintedRow, PreparedChunk, PreparedRow, SubjectKey
from .workdays import DEADLINE_WORKDAYS, DelayCounter

_SQLITE_IN = 900
# Keys go to the server as one comma-joined text (hex hashes): dumping a Python list as text[]
# costs more client CPU than the lookup itself costs the server.
PG_RECORD_LOOKUP = (
    "SELECT k.nk, r.id, r.content_hash, r.raw_hash, r.status, r.current_version "
    "FROM unnest(string_to_array(%s, ',')) k(nk) CROSS JOIN LATERAL "
    "(SELECT id, content_hash, raw_hash, status, current_version "
    "FROM records WHERE resource = %s AND natural_key_hash = k.nk LIMIT 1) r")
SQLITE_CACHE_KIB = 256 * 1024


class Existing(NamedTuple):
    id: int
    content_hash: str
    raw_hash: str | None
    status: str
    version: int


@dataclass
class Counts:
    rows_total: int = 0
    rows_rejected: int = 0
    rows_duplicate: int = 0
    records_created: int = 0
    records_updated: int = 0
    records_unchanged: int = 0
    subjects_created: int = 0
    rows_matched: int = 0
    matched_by: dict[str, int] = field(default_factory=lambda: {"uscc": 0, "legacy_code": 0, "personal_id": 0,
                                                               "name": 0, "new_subject": 0})
    on_time: int = 0
    late: int = 0

    @property
    def rows_accepted(self) -> int:
        return self.records_created + self.records_updated + self.records_unchanged


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def region_prefix(region: str | None) -> str | None:
    """A department's area as a prefix of subjects' region codes (440600 → 4406)."""
    if not region:
        return None
    if region[2:] == "0000":
        return region[:2]
    if region[4:] == "00":
        return region[:4]
    return region


def advisory_key(resource: str) -> int:
    return zlib.crc32(f"xinyong-intake:{resource}".encode())


class BatchStore:
    """Writes one batch's chunks. Create it after the batch row exists (see ``service``)."""

    def __init__(self, session: Session, *, batch_id: int, resource: Resource, department_id: int,
                 department_region: str | None, file_sha256: str | None, submitted_on: date,
                 delays: DelayCounter | None) -> None:
        self.session = session
        self.batch_id = batch_id
        self.resource = resource
        self.department_id = department_id
        self.region = region_prefix(department_region)
        self.file_sha256 = file_sha256
        self.submitted_on = submitted_on
        self.delays = delays
        # Working days per decision date (text as prepared), and each window as SQLite stores it.
        self._delay_of: dict[str, tuple[int, bool]] = {}
        self._sqlite_windows: dict = {}
        self.dialect = session.get_bind().dialect.name
        self.counts = Counts()
        conn = session.connection()
        self.raw = conn.connection.driver_connection
        self.max_subject_id = session.execute(text("SELECT COALESCE(MAX(id), 0) FROM subjects")).scalar_one()
        if self.dialect == "postgresql":
            self._pg_setup()
        else:
            self._sqlite_setup()

    @staticmethod
    def lock(session: Session, resource: str) -> None:
        """Serialise writers of one resource (intake batches, withdrawals) on PostgreSQL; SQLite
        serialises every writer anyway."""
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_key(resource)})

    # -- set-up ----------------------------------------------------------------------------------

    def _pg_setup(self) -> None:
        with self.raw.cursor() as cur:
            # Our statements are many small key lookups: compiling them (JIT) costs more than it saves.
            cur.execute("SET LOCAL jit = off")
            cur.execute("""
                CREATE TEMP TABLE IF NOT EXISTS _intake_seen (
                    nk text COLLATE "C" PRIMARY KEY, content_hash text NOT NULL, row_no integer) ON COMMIT DROP;
                CREATE TEMP TABLE IF NOT EXISTS _intake_stage (
                    kind text, record_id bigint, version integer, nk text COLLATE "C", nk_text text, subject_id bigint,
                    main_date date, valid_until date, content_hash text, raw_hash text, data json,
                    personal_enc bytea, row_no integer, delay integer, on_time boolean,
                    severity text, published boolean, public_until date, repair_after date) ON COMMIT DROP;
                TRUNCATE _intake_seen, _intake_stage;
            """)
            # The transaction's timestamp, as now() gives it to every statement of the batch.
            cur.execute("SELECT now()::text")
            self._pg_now = cur.fetchone()[0]
        res, dept = _copy_text(self.resource.code), str(self.department_id)
        self._pg_record_affixes = (f"\t{res}\t", f"\t{dept}\t1\tactive\t")
        self._pg_batch_text = f"{self.batch_id}\t{self.submitted_on.isoformat()}"
        self._pg_version_head = f"\t{self.batch_id}\t{dept}"
        self._pg_sha = _copy_opt(self.file_sha256)
        self._pg_windows: dict = {}

    def _sqlite_setup(self) -> None:
        cur = self.raw.cursor()
        # A large page cache while the batch runs: the unique key index is updated in random order.
        cur.execute("PRAGMA cache_size")
        self._cache_size = cur.fetchone()[0]
        cur.execute(f"PRAGMA cache_size = {-SQLITE_CACHE_KIB}")
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS _intake_seen "
                    "(nk TEXT PRIMARY KEY, content_hash TEXT NOT NULL, row_no INTEGER)")
        cur.execute("DELETE FROM _intake_seen")
        # The batch row already holds SQLite's write lock: nobody else can take these ids.
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM records")
        self.next_record_id = cur.fetchone()[0] + 1
        cur.close()

    def close(self) -> None:
        if self.dialect != "postgresql":
            self.raw.execute(f"PRAGMA cache_size = {int(self._cache_size)}")

    # -- lookups ---------------------------------------------------------------------------------

    def hint_lookup(self, keys: list[str]) -> dict[str, tuple[str | None, str]]:
        """{nk: (raw_hash, content_hash)} of active records (in-process hint for the preparer)."""
        return {k: (e.raw_hash, e.content_hash) for k, e in self._records(keys).items() if e.status == "active"}

    def _records(self, keys: list[str]) -> dict[str, Existing]:
        existing: dict[str, Existing] = {}
        if not keys:
            return existing
        if self.dialect == "postgresql":
            # One index probe per key (LATERAL … LIMIT 1): the planner cannot fall back to scanning
            # the table, which its statistics — stale while a batch grows it — would suggest.
            with self.raw.cursor() as cur:
                cur.execute(PG_RECORD_LOOKUP, (",".join(keys), self.resource.code))
                for nk, *rest in cur:
                    existing[nk] = Existing(*rest)
            return existing
        cur = self.raw.cursor()
        for part in _chunks(keys, _SQLITE_IN):
            cur.execute("SELECT natural_key_hash, id, content_hash, raw_hash, status, current_version FROM records "
                        f"WHERE resource = ? AND natural_key_hash IN ({','.join('?' * len(part))})",
                        [self.resource.code, *part])
            for nk, *rest in cur.fetchall():
                existing[nk] = Existing(*rest)
        cur.close()
        return existing

    def _seen(self, keys: list[str]) -> dict[str, tuple[str, int]]:
        """Keys this batch has already taken (content hash, first row)."""
        seen: dict[str, tuple[str, int]] = {}
        if not keys:
            return seen
        if self.dialect == "postgresql":
            with self.raw.cursor() as cur:
                cur.execute("SELECT k.nk, s.content_hash, s.row_no FROM unnest(string_to_array(%s, ',')) k(nk) "
                            "CROSS JOIN LATERAL "
                            "(SELECT content_hash, row_no FROM _intake_seen WHERE nk = k.nk LIMIT 1) s",
                            (",".join(keys),))
                for nk, content, row_no in cur:
                    seen[nk] = (content, row_no)
            return seen
        cur = self.raw.cursor()
        for part in _chunks(keys, _SQLITE_IN):
            cur.execute(f"SELECT nk, content_hash, row_no FROM _intake_seen WHERE nk IN ({','.join('?' * len(part))})",
                        part)
            for nk, content, row_no in cur.fetchall():
                seen[nk] = (content, row_no)
        cur.close()
        return seen

    # -- one chunk -------------------------------------------------------------------------------

    def apply(self, chunk: PreparedChunk) -> list[ErrorItem]:
        """Classify and write one prepared chunk; returns the errors of rows rejected here
        (ambiguous subject, conflicting duplicate, withdrawn record)."""
        c = self.counts
        c.rows_total += chunk.rows
        c.rows_rejected += chunk.rejected
        errors: list[ErrorItem] = []
        items: list[PreparedRow | HintedRow] = sorted([*chunk.accepted, *chunk.hinted], key=lambda r: r.row_no)
        if not items:
            return errors
        subjects, ambiguous = self._match([r for r in chunk.accepted])
        # Every key this batch took exists as a record, so only keys of existing records can have
        # been seen; a hinted row's record exists and is unchanged unless this batch took its key.
        existing = self._records(list({r.nk_hash for r in chunk.accepted}))
        seen = self._seen(list({r.nk_hash for r in chunk.hinted} | {k for k in existing}))
        chunk_seen: dict[str, tuple[str, int]] = {}
        creates: list[PreparedRow] = []
        updates: list[tuple[PreparedRow, Existing]] = []
        new_seen: list[tuple[str, str, int]] = []
        for r in items:
            nk = r.nk_hash
            if isinstance(r, PreparedRow) and r.row_no in ambiguous:
                errors.append(ambiguous[r.row_no])
                c.rows_rejected += 1
                continue
            prior = chunk_seen.get(nk) or seen.get(nk)
            if prior is not None:
                if prior[0] == r.content_hash:
                    c.rows_duplicate += 1
                    c.records_unchanged += 1
                    c.rows_matched += 1
                else:
                    c.rows_rejected += 1
                    errors.append(ErrorItem(
                        r.row_no, None, None, "duplicate_key_conflict",
                        f"与第{prior[1]}行是同一条记录（{self._key_label()}相同）但内容不同，无法确定以哪一行为准："
                        "请删除或更正其中一行后重新报送。", None))
                continue
            rec = existing.get(nk) if isinstance(r, PreparedRow) else None
            if rec is not None and rec.status != "active":
                c.rows_rejected += 1
                errors.append(ErrorItem(r.row_no, None, None, "record_withdrawn",
                                        "该记录已被撤销，不再接收新的报送；如撤销有误，请联系平台管理员。", None))
                continue
            chunk_seen[nk] = (r.content_hash, r.row_no)
            new_seen.append((nk, r.content_hash, r.row_no))
            if isinstance(r, HintedRow):
                # Same cells as the stored current version, read under this resource's writer lock.
                c.records_unchanged += 1
                c.rows_matched += 1
            elif rec is None:
                creates.append(r)
            elif rec.content_hash == r.content_hash:
                c.records_unchanged += 1
                c.rows_matched += 1
            else:
                updates.append((r, rec))
        to_write = [*creates, *(u for u, _ in updates)]
        subject_ids = self._resolve_subjects(to_write, subjects)
        self._write(creates, updates, subject_ids)
        self._remember(new_seen)
        c.records_created += len(creates)
        c.records_updated += len(updates)
        return errors

    def _key_label(self) -> str:
        return "、".join(self.resource.field(k).label for k in self.resource.natural_key)

    # -- subjects --------------------------------------------------------------------------------

    def _match(self, rows: list[PreparedRow]) -> tuple[dict[int, tuple[str, int | None]], dict[int, ErrorItem]]:
        """Per row: (how matched, subject id or None when a new subject is needed); and the rows
        whose name matches several subjects (never guessed). Each step queries only the rows the
        previous ones left unresolved, one query per identifier kind."""
        out: dict[int, tuple[str, int | None]] = {}
        ambiguous: dict[int, ErrorItem] = {}
        by_uscc = subjects_by_uscc(self.session, {r.subject.uscc for r in rows if r.subject.uscc})
        rest = []
        for r in rows:
            sid = by_uscc.get(r.subject.uscc) if r.subject.uscc else None
            if sid is not None:
                out[r.row_no] = ("uscc", sid)
            else:
                rest.append(r)
        if not rest:
            return out, ambiguous
        pairs = set()
        for r in rest:
            pairs.update(self._legacy_keys(r.subject))
        by_ident, uscc_of = subjects_by_identifier(self.session, pairs) if pairs else ({}, {})
        by_hash = subjects_by_id_hash(self.session, {r.subject.id_hash for r in rest if r.subject.id_hash})
        named = []
        for r in rest:
            s = r.subject
            hit = None
            for key in self._legacy_keys(s):
                sid = by_ident.get(key)
                # A legacy code pointing at a subject with another USCC is a contradiction, not a match.
                if sid is not None and not (s.uscc and uscc_of.get(sid) and uscc_of[sid] != s.uscc):
                    hit = ("legacy_code", sid)
                    break
            if hit is None and s.id_hash:
                sid = by_hash.get(s.id_hash)
                hit = ("personal_id", sid) if sid is not None else ("new_subject", None)
            if hit is None and (s.kind == "natural_person" or not s.name.strip()):
                hit = ("new_subject", None)
            if hit is None:
                named.append(r)
            else:
                out[r.row_no] = hit
        if not named:
            return out, ambiguous
        norms = {r.row_no: normalize_name(r.subject.name) for r in named}
        by_name = subjects_by_name(self.session, set(norms.values()))
        for r in named:
            s = r.subject
            pool = [c for c in by_name.get(norms[r.row_no], ())
                    if (not s.uscc or not c[1] or c[1] == s.uscc)
                    and (self.region is None or c[2] is None or c[2].startswith(self.region))]
            if len(pool) == 1:
                out[r.row_no] = ("name", pool[0][0])
            elif not pool:
                out[r.row_no] = ("new_subject", None)
            else:
                name_field = self.resource.subject_fields.name
                ambiguous[r.row_no] = ErrorItem(
                    r.row_no, name_field, self.resource.field(name_field).label, "ambiguous_subject",
                    f"主体名称“{s.name}”对应{len(pool)}个已登记主体，无法确定是哪一个：请补充统一社会信用代码等"
                    "主体代码后重新报送。", s.name)
        return out, ambiguous

    @staticmethod
    def _legacy_keys(s: SubjectKey) -> list[tuple[str, str]]:
        keys = list(s.legacy)
        if s.uscc:
            keys.insert(0, ("org_code", s.uscc[8:17]))  # the organisation code embedded in the USCC
        return keys

    def _resolve_subjects(self, rows: list[PreparedRow], matches: dict[int, tuple[str, int | None]]) -> dict[int, int]:
        c = self.counts
        ids: dict[int, int] = {}
        pending: dict[tuple, list[int]] = {}
        specs: list[dict] = []
        for r in rows:
            how, sid = matches[r.row_no]
            if sid is not None:
                ids[r.row_no] = sid
                c.matched_by[how] += 1
                if sid <= self.max_subject_id:
                    c.rows_matched += 1
                continue
            s = r.subject
            key = ("uscc", s.uscc) if s.uscc else ("id", s.id_hash) if s.id_hash else ("name", s.kind, normalize_name(s.name))
            if key not in pending:
                pending[key] = []
                specs.append({"kind": s.kind, "name": s.name, "uscc": s.uscc, "region": s.region or
                              (self.region if self.region and len(self.region) == 6 else None),
                              "citizen_id_enc": s.id_enc, "citizen_id_hash": s.id_hash,
                              "citizen_id_masked": s.id_masked, "identifiers": dict(s.legacy)})
            pending[key].append(r.row_no)
            c.matched_by["new_subject"] += 1
        if specs:
            new_ids = create_unverified_subjects(self.session, specs)
            for sid, rows_of in zip(new_ids, pending.values()):
                for row_no in rows_of:
                    ids[row_no] = sid
                if sid > self.max_subject_id:
                    c.subjects_created += 1
                else:
                    c.rows_matched += len(rows_of)  # created meanwhile by someone else: it existed
        return ids

    # -- writes ----------------------------------------------------------------------------------

    def _timeliness(self, r: PreparedRow) -> tuple[int | None, bool | None]:
        if self.delays is None or not r.main_date:
            return None, None
        hit = self._delay_of.get(r.main_date)
        if hit is None:
            delay = self.delays(date.fromisoformat(r.main_date))
            hit = self._delay_of[r.main_date] = (delay, delay <= DEADLINE_WORKDAYS)
        if hit[1]:
            self.counts.on_time += 1
        else:
            self.counts.late += 1
        return hit

    def _write(self, creates: list[PreparedRow], updates: list[tuple[PreparedRow, Existing]],
               subject_ids: dict[int, int]) -> None:
        if not creates and not updates:
            return
        if self.dialect == "postgresql":
            self._write_pg(creates, updates, subject_ids)
        else:
            self._write_sqlite(creates, updates, subject_ids)

    def _write_pg(self, creates, updates, subject_ids) -> None:
        with self.raw.cursor() as cur:
            if creates:
                self._create_pg(cur, creates, subject_ids)
            if updates:
                self._update_pg(cur, updates, subject_ids)

    def _create_pg(self, cur, creates: list[PreparedRow], subject_ids: dict[int, int]) -> None:
        """New records and their first versions, each ``COPY``'d straight into its table (no staging
        table, no ``INSERT … SELECT``): the server parses each row once and inserts in batches.
        The lines are built here (COPY text format): cheaper than a generic row encoder."""
        # Ids drawn up front, so records and their first versions go in without a join.
        cur.execute("SELECT nextval(pg_get_serial_sequence('records', 'id')) FROM generate_series(1, %s)",
                    (len(creates),))
        ids = [row[0] for row in cur]
        head, tail = self._pg_record_affixes
        ver_head = self._pg_version_head
        now = self._pg_now
        window_text = self._pg_window_text
        timeliness = self._timeliness
        records: list[str] = []
        versions: list[str] = []
        batch_text, sha = self._pg_batch_text, self._pg_sha
        null = "\\N"
        for rid, r in zip(ids, creates):
            delay, on_time = timeliness(r)
            sid = subject_ids[r.row_no]
            data = r.data_json
            if "\\" in data:
                data = data.replace("\\", "\\\\")
            enc = null if r.personal_enc is None else "\\\\x" + r.personal_enc.hex()
            delay_text = null if delay is None else str(delay)
            on_time_text = null if on_time is None else ("t" if on_time else "f")
            records.append(
                f"{rid}{head}{r.nk_hash}\t{_copy_text(r.nk_text)}\t{sid}{tail}{_copy_opt(r.main_date)}\t"
                f"{_copy_opt(r.valid_until)}\t{r.content_hash}\t{_copy_opt(r.raw_hash)}\t{data}\t{enc}\t"
                f"{batch_text}\t{delay_text}\t{on_time_text}\t{now}\t{now}\t{window_text(r.window)}\tf\n")
            versions.append(f"{rid}\t1\tcreated\tactive{ver_head}\t{sid}\t{sha}\t{r.row_no}\t"
                            f"{r.content_hash}\t{data}\t{enc}\t{now}\n")
        _copy_lines(cur, "COPY records (id, resource, natural_key_hash, natural_key, subject_id, department_id, "
                    "current_version, status, main_date, valid_until, content_hash, raw_hash, data, personal_enc, "
                    "last_batch_id, submitted_on, delay_workdays, on_time, created_at, updated_at, severity, "
                    "published, public_until, repair_after, objection_open) FROM STDIN", records)
        del records
        _copy_lines(cur, "COPY record_versions (record_id, version, change, status, batch_id, department_id, "
                    "subject_id, file_sha256, row_no, content_hash, data, personal_enc, created_at) FROM STDIN",
                    versions)

    def _pg_window_text(self, w) -> str:
        hit = self._pg_windows.get(w)
        if hit is None:
            if len(self._pg_windows) > 100_000:
                self._pg_windows.clear()
            severity, published, until, repair = w
            hit = self._pg_windows[w] = "\t".join((
                _copy_opt(severity), "t" if published else "f", _copy_opt(until.isoformat() if until else None),
                _copy_opt(repair.isoformat() if repair else None)))
        return hit

    def _update_pg(self, cur, updates: list[tuple[PreparedRow, Existing]], subject_ids: dict[int, int]) -> None:
        with cur.copy("COPY _intake_stage (kind, record_id, version, nk, nk_text, subject_id, main_date, "
                      "valid_until, content_hash, raw_hash, data, personal_enc, row_no, delay, on_time, "
                      "severity, published, public_until, repair_after) FROM STDIN") as cp:
            write = cp.write_row
            for r, rec in updates:
                write(("changed", rec.id, rec.version + 1, r.nk_hash, r.nk_text, subject_ids[r.row_no],
                       r.main_date, r.valid_until, r.content_hash, r.raw_hash, r.data_json, r.personal_enc,
                       r.row_no, None, None, *r.window))
        p = {"dept": self.department_id, "batch": self.batch_id, "sha": self.file_sha256}
        cur.execute("""
            UPDATE records r SET current_version = s.version, subject_id = s.subject_id,
                department_id = %(dept)s, main_date = s.main_date, valid_until = s.valid_until,
                content_hash = s.content_hash, raw_hash = s.raw_hash, natural_key = s.nk_text,
                data = s.data, personal_enc = s.personal_enc, last_batch_id = %(batch)s, updated_at = now(),
                severity = s.severity, published = s.published, public_until = s.public_until,
                repair_after = s.repair_after, window_closed_on = NULL
            FROM _intake_stage s WHERE s.kind = 'changed' AND r.id = s.record_id
        """, p)
        cur.execute("""
            INSERT INTO record_versions (record_id, version, change, status, batch_id, department_id,
                subject_id, file_sha256, row_no, content_hash, data, personal_enc, created_at)
            SELECT record_id, version, 'updated', 'active', %(batch)s, %(dept)s, subject_id, %(sha)s, row_no,
                content_hash, data, personal_enc, now()
            FROM _intake_stage
        """, p)
        cur.execute("TRUNCATE _intake_stage")

    def _write_sqlite(self, creates, updates, subject_ids) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        sub = self.submitted_on.isoformat()
        cur = self.raw.cursor()
        window = self._sqlite_window
        if creates:
            first = self.next_record_id
            self.next_record_id += len(creates)
            record_rows, version_rows = [], []
            for rid, r in enumerate(creates, start=first):
                delay, on_time = self._timeliness(r)
                sid = subject_ids[r.row_no]
                record_rows.append((rid, self.resource.code, r.nk_hash, r.nk_text, sid, self.department_id,
                                    r.main_date, r.valid_until, r.content_hash, r.raw_hash, r.data_json,
                                    r.personal_enc, self.batch_id, sub, delay, on_time, now, now,
                                    *window(r.window)))
                version_rows.append((rid, 1, "created", self.batch_id, self.department_id, sid, self.file_sha256,
                                     r.row_no, r.content_hash, r.data_json, r.personal_enc, now))
            cur.executemany(
                "INSERT INTO records (id, resource, natural_key_hash, natural_key, subject_id, department_id, "
                "current_version, status, main_date, valid_until, content_hash, raw_hash, data, personal_enc, "
                "last_batch_id, submitted_on, delay_workdays, on_time, created_at, updated_at, "
                "severity, published, public_until, repair_after, objection_open) "
                "VALUES (?,?,?,?,?,?,1,'active',?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0)", record_rows)
            self._sqlite_versions(cur, version_rows)
        if updates:
            rows, version_rows = [], []
            for r, rec in updates:
                sid = subject_ids[r.row_no]
                rows.append((rec.version + 1, sid, self.department_id, r.main_date, r.valid_until, r.content_hash,
                             r.raw_hash, r.nk_text, r.data_json, r.personal_enc, self.batch_id, now,
                             *window(r.window), rec.id))
                version_rows.append((rec.id, rec.version + 1, "updated", self.batch_id, self.department_id, sid,
                                     self.file_sha256, r.row_no, r.content_hash, r.data_json, r.personal_enc, now))
            cur.executemany(
                "UPDATE records SET current_version = ?, subject_id = ?, department_id = ?, main_date = ?, "
                "valid_until = ?, content_hash = ?, raw_hash = ?, natural_key = ?, data = ?, personal_enc = ?, "
                "last_batch_id = ?, updated_at = ?, severity = ?, published = ?, public_until = ?, "
                "repair_after = ?, window_closed_on = NULL WHERE id = ?", rows)
            self._sqlite_versions(cur, version_rows)
        cur.close()

    def _sqlite_window(self, w) -> tuple:
        hit = self._sqlite_windows.get(w)
        if hit is None:
            if len(self._sqlite_windows) > 100_000:
                self._sqlite_windows.clear()
            hit = self._sqlite_windows[w] = _sqlite_window(w)
        return hit

    @staticmethod
    def _sqlite_versions(cur, rows: list[tuple]) -> None:
        cur.executemany(
            "INSERT INTO record_versions (record_id, version, change, status, batch_id, department_id, subject_id, "
            "file_sha256, row_no, content_hash, data, personal_enc, created_at) "
            "VALUES (?,?,?,'active',?,?,?,?,?,?,?,?,?)", rows)

    def _remember(self, seen: list[tuple[str, str, int]]) -> None:
        if not seen:
            return
        if self.dialect == "postgresql":
            with self.raw.cursor() as cur:
                _copy_lines(cur, "COPY _intake_seen (nk, content_hash, row_no) FROM STDIN",
                            [f"{nk}\t{content}\t{row_no}\n" for nk, content, row_no in seen])
        else:
            self.raw.executemany("INSERT OR IGNORE INTO _intake_seen (nk, content_hash, row_no) VALUES (?,?,?)", seen)


def _sqlite_window(w) -> tuple:
    """A window as SQLite stores it (ISO dates, 0/1)."""
    return (w.severity, 1 if w.published else 0, w.public_until.isoformat() if w.public_until else None,
            w.repair_after.isoformat() if w.repair_after else None)


# --- COPY text format ---------------------------------------------------------------------------------

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str) -> str:
    """A text value in COPY's text format (backslash, tab and line ends escaped)."""
    return value.translate(_COPY_ESCAPES)


def _copy_opt(value: str | None) -> str:
    return "\\N" if value is None else value.translate(_COPY_ESCAPES)


def _copy_lines(cur, statement: str, lines: list[str], block: int = 2000) -> None:
    with cur.copy(statement) as cp:
        for i in range(0, len(lines), block):
            cp.write("".join(lines[i:i + block]).encode())
