"""Subjects: registration, identifier resolution (一码关联多码) and the public view.

Every path that creates or finds a subject goes through here: the demo loader today,
intake and the portal later.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import islice
from typing import Any

from sqlalchemy import String, bindparam, func, insert, literal, or_, select, union_all
from sqlalchemy.orm import Session

from xinyong.catalogue.schemas import SUBJECT_KINDS
from xinyong.db.sql import in_bound
from xinyong.errors import InvalidInput, NotFound
from xinyong.identity.codes import (
    check_citizen_id,
    check_org_code,
    check_uscc,
    detect_and_check,
    mask_citizen_id,
    normalize_code,
)
from xinyong.identity.crypto import Keyring, get_keyring
from xinyong.identity.regions import region_name
from xinyong.subjects.models import Subject, SubjectIdentifier, SubjectName

# The catalogue's subject kinds: one vocabulary for records and subjects.
KINDS = SUBJECT_KINDS
KIND_BY_LABEL = {v: k for k, v in KINDS.items()}
ORG_TYPES = {
    "enterprise": "企业",
    "public_institution": "事业单位",
    "social_org": "社会组织",
    "government": "机关",
    "other": "其他组织",
}
# Codes other than the USCC that identify the same subject; the citizen ID is never stored here.
SCHEMES = {
    "uscc": "统一社会信用代码",
    "reg_no": "工商注册号",
    "org_code": "组织机构代码",
    "tax_no": "税务登记号",
    "institution_no": "事业单位证书号",
    "social_org_no": "社会组织登记证号",
}
MAX_IDENTIFIER_LEN = 64
_BRACKETS = str.maketrans({"（": "(", "）": ")", "【": "[", "】": "]", "〔": "[", "〕": "]"})


def normalize_name(name: str) -> str:
    """Width-, bracket- and space-insensitive key for names (matching and search)."""
    text = unicodedata.normalize("NFKC", name or "").translate(_BRACKETS)
    # Normalise again: dropping spaces can join a base letter to a combining mark ("A¯" → "A\u0304").
    return unicodedata.normalize("NFKC", "".join(text.split()).upper())


@dataclass
class SubjectIn:
    kind: str
    name: str
    uscc: str | None = None
    citizen_id: str | None = None
    org_type: str | None = None
    region: str | None = None
    legal_rep: str | None = None
    reg_status: str | None = None
    established: date | None = None
    address: str | None = None
    verified: bool = True
    identifiers: dict[str, str] = field(default_factory=dict)


@dataclass
class UpsertStats:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


def _clean(item: SubjectIn, keyring: Keyring) -> tuple[SubjectIn, dict]:
    """Validate one subject; returns the item and the extra columns (codes, personal data)."""
    if item.kind not in KINDS:
        raise InvalidInput(f"未知的主体类别：{item.kind}。可选：{'、'.join(KINDS.values())}。",
                           code="invalid_subject_kind")
    name = (item.name or "").strip()
    if not name:
        raise InvalidInput("主体名称不能为空。", code="subject_name_required")
    if item.org_type is not None and item.org_type not in ORG_TYPES:
        raise InvalidInput(f"未知的组织类型：{item.org_type}。", code="invalid_org_type")
    extra: dict = {"uscc": None, "citizen_id_enc": None, "citizen_id_hash": None, "citizen_id_masked": None}
    if item.uscc:
        r = check_uscc(item.uscc)
        if not r.valid:
            raise InvalidInput(f"“{name}”的统一社会信用代码无效：{r.message}", code="invalid_uscc")
        extra["uscc"] = r.normalized
    elif item.kind == "legal_entity":
        raise InvalidInput(f"法人及非法人组织“{name}”必须有统一社会信用代码。", code="uscc_required")
    if item.citizen_id:
        r = check_citizen_id(item.citizen_id)
        if not r.valid:
            raise InvalidInput(f"“{name}”的公民身份号码无效：{r.message}", code="invalid_citizen_id")
        extra["citizen_id_enc"] = keyring.encrypt(r.normalized)
        extra["citizen_id_hash"] = keyring.keyed_hash(r.normalized)
        extra["citizen_id_masked"] = mask_citizen_id(r.normalized)
    elif item.kind == "natural_person":
        raise InvalidInput(f"自然人“{name}”必须有公民身份号码。", code="citizen_id_required")
    idents: dict[str, str] = {}
    for scheme, value in (item.identifiers or {}).items():
        if not value:
            continue
        if scheme not in SCHEMES or scheme == "uscc":
            raise InvalidInput(f"未知的代码类型：{scheme}。", code="invalid_identifier_scheme")
        if scheme == "org_code":
            r = check_org_code(value)
            if not r.valid:
                raise InvalidInput(f"“{name}”的组织机构代码无效：{r.message}", code="invalid_org_code")
            idents[scheme] = r.normalized
        else:
            idents[scheme] = normalize_code(value)
    if extra["uscc"]:
        idents["uscc"] = extra["uscc"]
        embedded = check_org_code(extra["uscc"][8:17])
        # The USCC embeds the legacy organisation code (GB 32100); index it when it is one.
        if embedded.valid and "org_code" not in idents:
            idents["org_code"] = embedded.normalized
    region = item.region or (extra["uscc"][2:8] if extra["uscc"] else None)
    item = SubjectIn(**{**item.__dict__, "name": name, "region": region})
    return item, {**extra, "identifiers": idents}


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


_UPDATABLE = ("name", "org_type", "region", "legal_rep", "reg_status", "established", "address")


def upsert_subjects(session: Session, items: Iterable[SubjectIn], *, source: str = "registered",
                    keyring: Keyring | None = None, chunk_size: int = 2000) -> UpsertStats:
    """Create or update subjects, keyed by USCC or citizen-ID hash. Idempotent.

    A changed name is kept in the name history; identifiers are only ever added.
    The caller's transaction decides atomicity: nothing is committed here.
    """
    keyring = keyring or get_keyring()
    stats = UpsertStats()
    for chunk in _chunks(items, chunk_size):
        cleaned = [_clean(item, keyring) for item in chunk]
        usccs = [e["uscc"] for _, e in cleaned if e["uscc"]]
        hashes = [e["citizen_id_hash"] for _, e in cleaned if e["citizen_id_hash"]]
        existing: dict[str, Subject] = {}
        if usccs or hashes:
            conds = []
            if usccs:
                conds.append(Subject.uscc.in_(usccs))
            if hashes:
                conds.append(Subject.citizen_id_hash.in_(hashes))
            for subj in session.scalars(select(Subject).where(or_(*conds))):
                existing[subj.uscc or subj.citizen_id_hash] = subj
        new_rows, new_keys, ident_rows, name_rows = [], [], [], []
        reindex: list[int] = []
        seen_in_chunk: set[str] = set()
        for item, extra in cleaned:
            key = extra["uscc"] or extra["citizen_id_hash"] or None
            subj = existing.get(key) if key else None
            if subj is None and key in seen_in_chunk:
                stats.unchanged += 1  # duplicate row in the same input
                continue
            if subj is None:
                if key:
                    seen_in_chunk.add(key)
                row = {a: getattr(item, a) for a in _UPDATABLE}
                row.update(kind=item.kind, name_norm=normalize_name(item.name), verified=item.verified,
                           uscc=extra["uscc"], citizen_id_enc=extra["citizen_id_enc"],
                           citizen_id_hash=extra["citizen_id_hash"],
                           citizen_id_masked=extra["citizen_id_masked"])
                new_rows.append(row)
                new_keys.append((item, extra))
                continue
            changed = False
            if subj.name != item.name or (item.region is not None and subj.region != item.region):
                reindex.append(subj.id)
            if subj.name != item.name:
                name_rows.append({"subject_id": subj.id, "name": subj.name,
                                  "name_norm": subj.name_norm, "valid_to": date.today(), "source": source})
                subj.name_norm = normalize_name(item.name)
            for attr in _UPDATABLE:
                new = getattr(item, attr)
                if new is not None and getattr(subj, attr) != new:
                    setattr(subj, attr, new)
                    changed = True
            if item.verified and not subj.verified:
                subj.verified = changed = True
            known = {(i.scheme, i.value) for i in subj.identifiers}
            for scheme, value in extra["identifiers"].items():
                if (scheme, value) not in known:
                    ident_rows.append({"subject_id": subj.id, "scheme": scheme, "value": value, "source": source})
                    changed = True
            if changed:
                stats.updated += 1
            else:
                stats.unchanged += 1
        if new_rows:
            ids = session.scalars(insert(Subject).returning(Subject.id, sort_by_parameter_order=True),
                                  new_rows).all()
            for sid, (item, extra) in zip(ids, new_keys, strict=True):
                for scheme, value in extra["identifiers"].items():
                    ident_rows.append({"subject_id": sid, "scheme": scheme, "value": value,
                                       "source": "derived" if scheme == "org_code" and scheme not in (item.identifiers or {}) else source})
            stats.created += len(ids)
            reindex.extend(ids)
        if ident_rows:
            _insert_identifiers(session, ident_rows)
        if name_rows:
            session.execute(insert(SubjectName), name_rows)
        session.flush()
        if reindex:
            _index_for_search(session, reindex)
    return stats


def _index_for_search(session: Session, ids: list[int], *, only_missing: bool = False) -> None:
    """The portal's name-search index follows every subject creation or rename (same transaction)."""
    from xinyong.portal.search import index_subjects

    index_subjects(session, ids, only_missing=only_missing)


def _insert_identifiers(session: Session, rows: list[dict]) -> None:
    """Add identifiers, refusing a code that already names another subject."""
    pairs = {(r["scheme"], r["value"]) for r in rows}
    taken = {}
    for scheme, value, sid in session.execute(
        select(SubjectIdentifier.scheme, SubjectIdentifier.value, SubjectIdentifier.subject_id).where(
            SubjectIdentifier.value.in_([v for _, v in pairs]))):
        taken[(scheme, value)] = sid
    fresh, seen = [], set()
    for r in rows:
        k = (r["scheme"], r["value"])
        owner = taken.get(k)
        if owner is not None and owner != r["subject_id"]:
            if r["source"] == "derived":
                continue  # an embedded code never overrides a registered one
            raise InvalidInput(f"{SCHEMES[r['scheme']]} {r['value']} 已关联到另一个主体，不能重复关联。"
                               "请核对代码，或先处理重复主体。", code="identifier_conflict")
        if owner is None and k not in seen:
            seen.add(k)
            fresh.append(r)
    if fresh:
        session.execute(insert(SubjectIdentifier), fresh)


def resolve_subject(session: Session, identifier: str, *, keyring: Keyring | None = None) -> Subject:
    """Find a subject by any of its codes (USCC, legacy codes, citizen ID).

    Raises InvalidInput for a malformed code and NotFound for a well-formed one we do not hold.
    """
    value = lookup_value(identifier)
    subj = session.scalar(_SUBJECT_BY_IDENTIFIER, {"value": value})
    return subj if subj is not None else _resolve_by_citizen_id(session, value, keyring)


#: Built once (every public profile and API lookup resolves a code; building cost more than running).
_SUBJECT_BY_IDENTIFIER = (select(Subject).join(SubjectIdentifier)
                          .where(SubjectIdentifier.value == bindparam("value")).limit(1))


_BRIEF_BY_IDENTIFIER = (
    select(*(Subject.__table__.c[k] for k in ("id", "kind", "name", "uscc", "citizen_id_masked")))
    .join(SubjectIdentifier.__table__, SubjectIdentifier.__table__.c.subject_id == Subject.__table__.c.id)
    .where(SubjectIdentifier.__table__.c.value == bindparam("value")).limit(1))


@dataclass(frozen=True)
class SubjectBrief:
    """What a hot path needs of a subject: ``resolve_subject_brief``'s answer."""

    id: int
    kind: str
    name: str
    uscc: str | None
    citizen_id_masked: str | None


def resolve_subject_brief(session: Session, identifier: str, *, keyring: Keyring | None = None) -> SubjectBrief:
    """``resolve_subject`` (same lookups, same errors) answering only id, kind, name and codes:
    one prepared Core statement, no ORM object (a joint-measures check resolves one per request)."""
    value = lookup_value(identifier)
    row = session.connection().execute(_BRIEF_BY_IDENTIFIER, {"value": value}).first()
    if row is None:
        subj = _resolve_by_citizen_id(session, value, keyring)
        row = (subj.id, subj.kind, subj.name, subj.uscc, subj.citizen_id_masked)
    return SubjectBrief(*row)


def lookup_value(identifier: str) -> str:
    """The normalised code ``resolve_subject`` looks up; InvalidInput for a malformed one."""
    raw = (identifier or "").strip()
    if not raw:
        raise InvalidInput("请提供主体代码：统一社会信用代码、组织机构代码、工商注册号等。", code="identifier_required")
    if len(raw) > MAX_IDENTIFIER_LEN:
        raise InvalidInput(f"代码过长（{len(raw)} 个字符）：主体代码不超过 {MAX_IDENTIFIER_LEN} 个字符。",
                           code="identifier_too_long")
    value = normalize_code(raw)
    if not value or not value.isascii() or not value.isalnum():
        raise InvalidInput("代码格式不正确：只能包含数字和字母（可带空格或连字符）。", code="malformed_identifier")
    return value


def _resolve_by_citizen_id(session: Session, value: str, keyring: Keyring | None) -> Subject:
    """The rest of ``resolve_subject`` once no identifier row holds ``value``."""
    check = detect_and_check(value)
    if check.kind == "citizen_id" and check.valid:
        keyring = keyring or get_keyring()
        subj = session.scalar(select(Subject).where(Subject.citizen_id_hash == keyring.keyed_hash(check.normalized)))
        if subj is not None:
            return subj
    elif check.kind is not None and not check.valid:
        raise InvalidInput(check.message, code=f"invalid_{check.kind}")
    raise NotFound("未找到该代码对应的信用主体。请核对代码是否正确。", code="subject_not_found")


Codes = list[tuple[str, str]]
#: Subjects by id, the ids bound as ``ids`` (pages of search results and lists).
SUBJECTS_BY_ID = select(Subject).where(in_bound(Subject.id, "ids"))


def _codes_and_names_statement() -> Any:
    si, sn = SubjectIdentifier.__table__.c, SubjectName.__table__.c
    both = union_all(
        select(si.subject_id, literal(0).label("part"), si.id, si.scheme, si.value)
        .where(in_bound(si.subject_id, "ids")),
        select(sn.subject_id, literal(1).label("part"), sn.id, literal(None, String).label("scheme"), sn.name)
        .where(in_bound(sn.subject_id, "ids"))).subquery()
    return select(both).order_by(both.c.part, both.c.id)


#: Built once: building it cost more than running it.
_CODES_AND_NAMES = _codes_and_names_statement()


def codes_and_former_names(session: Session, subject_ids: Iterable[int]) -> dict[int, tuple[Codes, list[str]]]:
    """Each subject's codes (scheme, value) and name history, in the order the ORM relationships
    keep them, read in one statement (loading both relationships cost a profile page two
    round trips)."""
    ids = sorted(set(subject_ids))
    out: dict[int, tuple[Codes, list[str]]] = {sid: ([], []) for sid in ids}
    if not ids:
        return out
    for sid, part, _id, scheme, value in session.connection().execute(_CODES_AND_NAMES, {"ids": ids}):
        if part == 0:
            out[sid][0].append((scheme, value))
        else:
            out[sid][1].append(value)
    return out


def public_profile(subject: Subject, loaded: tuple[Codes, list[str]]) -> dict:
    """The subject's registration facts that are public. Natural persons have none here.
    ``loaded``: its codes and former names, from ``codes_and_former_names``."""
    codes, former = loaded
    return {
        "name": subject.name,
        "kind": subject.kind,
        "kind_label": KINDS[subject.kind],
        "org_type": subject.org_type,
        "org_type_label": ORG_TYPES.get(subject.org_type or ""),
        "uscc": subject.uscc,
        "region": subject.region,
        "region_name": region_name(subject.region),
        "legal_rep": subject.legal_rep,
        "reg_status": subject.reg_status,
        "established": subject.established.isoformat() if subject.established else None,
        "address": subject.address,
        "verified": subject.verified,
        "identifiers": [{"scheme": scheme, "label": SCHEMES.get(scheme, scheme), "value": value}
                        for scheme, value in codes],
        "former_names": list(former),
    }


def get_public_subject(session: Session, identifier: str) -> dict:
    subj = resolve_subject(session, identifier)
    if subj.kind == "natural_person":
        # A person's existence in the platform is not public by itself (personal information
        # protection); public records about persons are shown by their resource, masked.
        raise NotFound("未找到该代码对应的公开信用主体。", code="subject_not_found")
    return public_profile(subj, codes_and_former_names(session, [subj.id])[subj.id])


def list_subjects(session: Session, *, q: str | None = None, kind: str | None = None,
                  region: str | None = None, page: int = 1, size: int = 20) -> dict:
    """Page through non-person subjects, optionally filtered by name fragment, kind and region."""
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"未知的主体类别：{kind}。可选：{', '.join(k for k in KINDS if k != 'natural_person')}。",
                           code="invalid_subject_kind")
    if kind == "natural_person":
        raise InvalidInput("自然人信息不在主体列表中公开。", code="invalid_subject_kind")
    stmt = select(Subject).where(Subject.kind != "natural_person")
    if kind:
        stmt = stmt.where(Subject.kind == kind)
    if region:
        stmt = stmt.where(Subject.region == region)
    if q:
        if any(unicodedata.category(ch) == "Cc" for ch in q):
            raise InvalidInput("查询词包含不可见的控制字符，请删除后重试。", code="invalid_query")
        needle = normalize_name(q)
        if len(needle) < 2:
            raise InvalidInput("查询词至少需要2个字符。", code="query_too_short")
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Subject.name_norm.like(f"%{escaped}%", escape="\\"))
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.scalars(stmt.order_by(Subject.id).offset((page - 1) * size).limit(size)).all()
    loaded = codes_and_former_names(session, [s.id for s in rows])
    return {"total": total, "page": page, "size": size, "items": [public_profile(s, loaded[s.id]) for s in rows]}


# --- bulk matching and creation (intake) -----------------------------------------------------------

_IN_CHUNK = 900  # under SQLite's bound-parameter limit with room for other parameters


def _values_in(session: Session, column, values: Iterable[str]) -> Iterator:
    """``column IN values`` as few statements as the dialect allows: one ``= ANY(array)`` on
    PostgreSQL, lists under SQLite's bound-parameter limit elsewhere."""
    values = sorted(set(values))
    if not values:
        return
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy import String, any_, bindparam
        from sqlalchemy.dialects.postgresql import ARRAY

        yield column == any_(bindparam("values_in", values, type_=ARRAY(String)))
        return
    for part in _chunks(values, _IN_CHUNK):
        yield column.in_(part)


def subjects_by_uscc(session: Session, usccs: Iterable[str]) -> dict[str, int]:
    """USCC → subject id, for many USCCs at once (intake matching)."""
    out: dict[str, int] = {}
    for cond in _values_in(session, Subject.uscc, usccs):
        out.update((u, i) for i, u in session.execute(select(Subject.id, Subject.uscc).where(cond)))
    return out


def subjects_by_identifier(session: Session, pairs: Iterable[tuple[str, str]]
                           ) -> tuple[dict[tuple[str, str], int], dict[int, str | None]]:
    """(scheme, value) → subject id for legacy codes, and each found subject's USCC."""
    wanted = set(pairs)
    found: dict[tuple[str, str], int] = {}
    uscc_of: dict[int, str | None] = {}
    for cond in _values_in(session, SubjectIdentifier.value, (v for _, v in wanted)):
        rows = session.execute(
            select(SubjectIdentifier.scheme, SubjectIdentifier.value, SubjectIdentifier.subject_id, Subject.uscc)
            .join(Subject, Subject.id == SubjectIdentifier.subject_id).where(cond))
        for scheme, value, sid, uscc in rows:
            if (scheme, value) in wanted:
                found[(scheme, value)] = sid
                uscc_of[sid] = uscc
    return found, uscc_of


def subjects_by_id_hash(session: Session, hashes: Iterable[str]) -> dict[str, int]:
    """Personal-ID keyed hash → subject id."""
    out: dict[str, int] = {}
    for cond in _values_in(session, Subject.citizen_id_hash, hashes):
        out.update((h, i) for i, h in session.execute(select(Subject.id, Subject.citizen_id_hash).where(cond)))
    return out


def subjects_by_name(session: Session, names: Iterable[str]) -> dict[str, list[tuple[int, str | None, str | None]]]:
    """Normalised name → [(subject id, uscc, region)] of organisations bearing it now or formerly.
    Natural persons are never matched by name."""
    out: dict[str, list[tuple[int, str | None, str | None]]] = {}
    names = list(names)
    for column, stmt in ((Subject.name_norm, select(Subject.name_norm, Subject.id, Subject.uscc, Subject.region)),
                         (SubjectName.name_norm, select(SubjectName.name_norm, Subject.id, Subject.uscc, Subject.region)
                          .join(Subject, Subject.id == SubjectName.subject_id))):
        for cond in _values_in(session, column, names):
            for name_norm, sid, uscc, region in session.execute(stmt.where(cond, Subject.kind != "natural_person")):
                candidates = out.setdefault(name_norm, [])
                if all(c[0] != sid for c in candidates):
                    candidates.append((sid, uscc, region))
    return out


def _insert_ignoring_conflicts(session: Session, table, rows: list[dict]) -> None:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    session.execute(dialect_insert(table).on_conflict_do_nothing(), rows)


def create_unverified_subjects(session: Session, rows: list[dict], *, source: str = "intake") -> list[int]:
    """Create subjects that a data row named but the registry does not hold (``verified=False``).

    Each row: kind, name, uscc, citizen_id_enc/hash/masked, region, identifiers {scheme: value}.
    Returns the subject ids in input order. A subject another transaction created meanwhile
    (same USCC or personal-ID hash) is reused, not duplicated. Identifiers already held by
    another subject are left where they are.
    """
    if not rows:
        return []
    now = datetime.now(UTC)
    values = [{"kind": r["kind"], "name": r["name"][:255], "name_norm": normalize_name(r["name"])[:255],
               "uscc": r.get("uscc"), "region": r.get("region"), "verified": False,
               "citizen_id_enc": r.get("citizen_id_enc"), "citizen_id_hash": r.get("citizen_id_hash"),
               "citizen_id_masked": r.get("citizen_id_masked"), "created_at": now, "updated_at": now}
              for r in rows]
    keyed = [v for v in values if v["uscc"] or v["citizen_id_hash"]]
    plain_idx = [i for i, v in enumerate(values) if not (v["uscc"] or v["citizen_id_hash"])]
    ids: list[int | None] = [None] * len(rows)
    if keyed:
        _insert_ignoring_conflicts(session, Subject.__table__, keyed)
        by_uscc = subjects_by_uscc(session, (v["uscc"] for v in keyed if v["uscc"]))
        by_hash = subjects_by_id_hash(session, (v["citizen_id_hash"] for v in keyed if v["citizen_id_hash"]))
        for i, v in enumerate(values):
            if v["uscc"]:
                ids[i] = by_uscc[v["uscc"]]
            elif v["citizen_id_hash"]:
                ids[i] = by_hash[v["citizen_id_hash"]]
    if plain_idx:
        new = session.scalars(insert(Subject).returning(Subject.id, sort_by_parameter_order=True),
                              [values[i] for i in plain_idx]).all()
        for i, sid in zip(plain_idx, new, strict=True):
            ids[i] = sid
    idents = []
    for sid, r in zip(ids, rows):
        codes = dict(r.get("identifiers") or {})
        if r.get("uscc"):
            codes["uscc"] = r["uscc"]
            embedded = check_org_code(r["uscc"][8:17])
            if embedded.valid and "org_code" not in codes:
                codes["org_code"] = embedded.normalized
        for scheme, value in codes.items():
            if scheme in SCHEMES and value and len(value) <= MAX_IDENTIFIER_LEN:
                idents.append({"subject_id": sid, "scheme": scheme, "value": value, "source": source,
                               "created_at": now, "updated_at": now})
    if idents:
        _insert_ignoring_conflicts(session, SubjectIdentifier.__table__, idents)
    _index_for_search(session, [int(i) for i in ids if i is not None], only_missing=True)
    return [int(i) for i in ids]  # type: ignore[arg-type]
