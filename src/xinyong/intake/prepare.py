"""The pure half of intake: rows of cells → validated, normalised, hashed, encrypted rows.

Nothing here touches the database except through the optional ``hints`` callable, so the work
can run in a separate process alongside the writer (``intake.pipeline``).

Hashes are keyed BLAKE2b (128 bits) with the personal-data lookup key: a stored hash of a row
or of a key never lets anyone confirm a guessed citizen ID.

* natural key hash: resource + the natural key's values, canonicalised (width, brackets,
  spaces and case do not make a different record);
* content hash: the normalised values, personal ones included (a changed ID number is a change);
* raw hash: the cells exactly as submitted plus the resource's definition and the column
  mapping. A re-submitted row whose raw hash equals the stored one is unchanged without being
  validated again; any change to the catalogue entry changes every raw hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import date
from functools import partial
from json.encoder import encode_basestring
from typing import Any, NamedTuple

from xinyong.catalogue.schemas import Field, Resource
from xinyong.catalogue.validation import RowError, row_validator
from xinyong.identity.codes import mask_citizen_id, normalize_code
from xinyong.identity.crypto import Keyring
from xinyong.logging import mask_personal_data
from xinyong.subjects.service import KIND_BY_LABEL, normalize_name
from xinyong.workflows.windows import OPEN, Window, WindowCalculator

from .readers import is_bad_row

LEGACY_SCHEMES = ("reg_no", "org_code", "tax_no", "institution_no", "social_org_no")
CITIZEN_ID_TYPE = "身份证"


class SubjectKey(NamedTuple):
    """What a row says about its subject (input to matching and to creating one)."""

    kind: str
    name: str
    uscc: str | None
    legacy: tuple[tuple[str, str], ...]
    id_hash: str | None
    id_enc: bytes | None
    id_masked: str | None
    region: str | None


class PreparedRow(NamedTuple):
    row_no: int
    nk_hash: str
    nk_text: str
    raw_hash: str
    content_hash: str
    data_json: str
    personal_enc: bytes | None
    main_date: str | None
    valid_until: str | None
    subject: SubjectKey
    # Disclosure window, computed here (helper process) rather than by the writer; rows share
    # the calculator's cached Window objects, which pickle once per chunk.
    window: Window


class HintedRow(NamedTuple):
    """A row identical to the stored current version (per the hint lookup): not re-validated."""

    row_no: int
    nk_hash: str
    raw_hash: str
    content_hash: str


class ErrorItem(NamedTuple):
    row_no: int
    field: str | None
    label: str | None
    code: str
    message: str
    value: str | None


def _new(cls: type) -> Callable[[Any], Any]:
    """A named tuple from an iterable without a Python-level call per row (``_make`` has one)."""
    return partial(tuple.__new__, cls)


class PreparedChunk(NamedTuple):
    rows: int
    accepted: list[PreparedRow]
    hinted: list[HintedRow]
    errors: list[ErrorItem]  # every error of every rejected row, in row order
    rejected: int
    position: int | None = None

    def pack(self) -> tuple:
        """Plain columns for the pipe: pickling named tuples one by one costs more than preparing them."""
        def columns(rows: list) -> list:
            return [list(c) for c in zip(*rows)] if rows else []

        accepted = columns(self.accepted)
        if accepted:
            accepted[-2] = list(map(tuple, accepted[-2]))
        return (self.rows, accepted, columns(self.hinted), columns(self.errors), self.rejected, self.position)

    @classmethod
    def unpack(cls, packed: tuple) -> PreparedChunk:
        rows, accepted, hinted, errors, rejected, position = packed
        if accepted:
            accepted[-2] = map(_new(SubjectKey), accepted[-2])
        return cls(rows, list(map(_new(PreparedRow), zip(*accepted))), list(map(_new(HintedRow), zip(*hinted))),
                   list(map(_new(ErrorItem), zip(*errors))), rejected, position)


class _Started(NamedTuple):
    """A block between ``Preparer.start`` and ``Preparer.finish``."""

    rows: int  # rows of the block
    n: int  # rows still in play (readable)
    columns: dict[str, Sequence[Any]]
    numbers: list[int]
    raws: list[str]
    errors: list[ErrorItem]
    rejected: int
    hashes: list[str | None] | None
    lookup: list[str] | None  # keys to look up (None: no lookup)


# (nk_hash list) → {nk_hash: (raw_hash, content_hash)} of active records with that key.
HintLookup = Callable[[list[str]], dict[str, tuple[str | None, str]]]


def _digest(key: bytes, person: bytes, data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16, key=key, person=person).hexdigest()


class _Hasher:
    """Keyed BLAKE2b for one purpose; copying a keyed state is cheaper than keying anew."""

    def __init__(self, key: bytes, person: bytes) -> None:
        self._base = hashlib.blake2b(digest_size=16, key=key, person=person)

    def __call__(self, data: bytes) -> str:
        h = self._base.copy()
        h.update(data)
        return h.hexdigest()


def resource_fingerprint(resource: Resource) -> str:
    text = json.dumps(resource.dump(), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def natural_key_hash(keyring: Keyring, resource_code: str, canonical: Sequence[str]) -> str:
    return _digest(keyring.hash_key, b"xy-natkey", (resource_code + "\x1f" + "\x1f".join(canonical)).encode())


def canonical_key(resource: Resource, values: Sequence[str]) -> list[str]:
    """Key values as compared: free-text parts ignore width, brackets, spaces and case."""
    return [normalize_name(v) if resource.field(c).type in ("string", "text") else v
            for c, v in zip(resource.natural_key, values)]


class Preparer:
    """Prepares blocks of rows for one resource and one file's column layout."""

    def __init__(self, resource: Resource, fields: Sequence[Field | None], *, keyring: Keyring,
                 today: date, hints: HintLookup | None = None, windows: WindowCalculator | None = None) -> None:
        self.resource = resource
        self.windows = windows if windows is not None else WindowCalculator(resource)
        self.keyring = keyring
        self.key = keyring.hash_key
        self._raw_hash = _Hasher(self.key, b"xy-raw")
        self._content_hash = _Hasher(self.key, b"xy-content")
        self._key_hash = _Hasher(self.key, b"xy-natkey")
        self.today = today
        self.hints = hints
        self.validator = row_validator(resource, today)
        self.width = len(fields)
        # Field code → column; a repeated column is ignored (reported by the reader).
        self.columns: dict[str, int] = {}
        for i, f in enumerate(fields):
            if f is not None and f.code not in self.columns:
                self.columns[f.code] = i
        layout = ",".join(f.code if f is not None else "" for f in fields)
        self.raw_prefix = (resource_fingerprint(resource) + "\x1e" + layout + "\x1e").encode()
        self.labels = resource.labels
        self.personal = {f.code for f in resource.personal_fields}
        self.nonpersonal_codes = [f.code for f in resource.fields if not f.personal]
        self.personal_codes = [f.code for f in resource.fields if f.personal]
        self._json_keys = {c: encode_basestring(c) + ":" for c in resource.field_codes}
        self.key_codes = list(resource.natural_key)
        self.key_string = {c: resource.field(c).type in ("string", "text") for c in self.key_codes}
        self.key_personal = {c: resource.field(c).personal for c in self.key_codes}
        self.sf = resource.subject_fields
        kinds = [k for k in resource.subject_kinds]
        self.default_kind = kinds[0] if len(kinds) == 1 else None

    # -- hashing ---------------------------------------------------------------------------------

    def canonical_key(self, values: Sequence[str]) -> list[str]:
        return [normalize_name(v) if self.key_string[c] else v for c, v in zip(self.key_codes, values)]

    def nk_hash(self, values: Sequence[str]) -> str:
        return natural_key_hash(self.keyring, self.resource.code, self.canonical_key(values))

    def nk_hashes(self, keys: Sequence[Sequence[str] | None]) -> list[str | None]:
        """``nk_hash`` of many keys; each distinct free-text part is canonicalised once."""
        prefix = self.resource.code + "\x1f"
        digest = self._key_hash
        present = [k for k in keys if k is not None]
        if not present:
            return [None] * len(keys)
        cols = list(zip(*present))
        for i, code in enumerate(self.key_codes):
            if self.key_string[code]:
                canon = {u: normalize_name(u) for u in set(cols[i])}
                cols[i] = list(map(canon.__getitem__, cols[i]))
        hashed = iter([digest((prefix + "\x1f".join(parts)).encode()) for parts in zip(*cols)])
        return [None if k is None else next(hashed) for k in keys]

    # -- the block ------------------------------------------------------------------------------

    def prepare(self, block: list[tuple[int, list[Any]]], position: int | None = None) -> PreparedChunk:
        started = self.start(block)
        found = self.hints(started.lookup) if started.lookup else None
        return self.finish(started, found, position)

    def start(self, block: list[tuple[int, list[Any]]]) -> _Started:
        """The first half of ``prepare``: everything before the hint lookup, whose keys it names
        (``lookup``), so that the lookup of one block can run while the next one starts."""
        width, raw_hash = self.width, self._raw_hash
        rows: list[list[Any]] = []
        numbers: list[int] = []
        raws: list[str] = []
        errors: list[ErrorItem] = []
        rejected = 0
        raw_prefix = self.raw_prefix
        for row_no, cells in block:
            if is_bad_row(cells):
                errors.append(ErrorItem(row_no, None, None, "invalid_row", "该行不是有效的 JSON 对象，无法读取。", None))
                rejected += 1
                continue
            if len(cells) != width:
                cells = (list(cells) + [None] * width)[:width]
            try:
                joined = "\x1f".join(cells)
            except TypeError:
                joined = "\x1f".join("" if c is None else str(c) for c in cells)
            if "\ufffd" in joined:
                errors.append(ErrorItem(row_no, None, None, "bad_encoding",
                                        "该行含有无法识别的字符（文件编码与内容不符或文件已损坏），请检查后重新报送。", None))
                rejected += 1
                continue
            rows.append(cells)
            numbers.append(row_no)
            raws.append(raw_hash(raw_prefix + joined.encode()))
        n = len(rows)
        if n == 0:
            return _Started(len(block), 0, {}, numbers, raws, errors, rejected, None, None)
        transposed = list(zip(*rows))
        columns = {code: transposed[i] for code, i in self.columns.items()}
        hashes: list[str | None] | None = None
        lookup = None
        if self.hints is not None:
            keys = self.validator.key_columns(columns, self.key_codes, n)
            if keys is not None:
                hashes = self.nk_hashes(keys)
                lookup = [h for h in hashes if h is not None]
        return _Started(len(block), n, columns, numbers, raws, errors, rejected, hashes, lookup)

    def finish(self, started: _Started, found: dict[str, tuple[str | None, str]] | None,
               position: int | None = None) -> PreparedChunk:
        """The second half of ``prepare``, given what the hint lookup found."""
        block_rows, n, columns, numbers, raws, errors, rejected, hashes, _ = started
        if n == 0:
            return PreparedChunk(block_rows, [], [], errors, rejected, position)
        hinted: list[HintedRow] = []
        todo: Sequence[int] = range(n)
        if hashes is not None and found:
            todo = []
            for i, h in enumerate(hashes):
                hit = found.get(h) if h is not None else None
                if hit is not None and hit[0] == raws[i]:
                    hinted.append(HintedRow(numbers[i], h, raws[i], hit[1]))
                else:
                    todo.append(i)
            if len(todo) < n:
                columns = {code: [col[i] for i in todo] for code, col in columns.items()}
                hashes = [hashes[i] for i in todo]
        m = len(todo)
        if not m:
            return PreparedChunk(block_rows, [], hinted, errors, rejected, position)
        result = self.validator.validate_columns(columns, m)
        values = result.values
        key_cols = [values[c] for c in self.key_codes]
        good: list[int] = []
        for j, key_values in enumerate(zip(*key_cols)):
            errs = result.errors.get(j)
            if errs is None and None in key_values:
                missing = [self.labels[c] for c, v in zip(self.key_codes, key_values) if v is None]
                errs = [RowError(None, "missing_key", f"无法确定记录的唯一标识：{'、'.join(missing)}为空。")]
            if errs is not None:
                rejected += 1
                errors.extend(self._error_items(numbers[todo[j]], errs, columns, j))
            else:
                good.append(j)
        if len(good) < m:
            values = {c: [col[j] for j in good] for c, col in values.items()}
            key_cols = [values[c] for c in self.key_codes]
            hashes = [hashes[j] for j in good] if hashes is not None else None
        if hashes is None:
            hashes = self.nk_hashes(list(zip(*key_cols)))
        accepted = self._rows([numbers[todo[j]] for j in good], [raws[todo[j]] for j in good], hashes,
                              key_cols, values)
        return PreparedChunk(block_rows, accepted, hinted, errors, rejected, position)

    def _json_column(self, codes: list[str], values: dict[str, list]) -> list[str | None]:
        """Each row's values of ``codes`` as a JSON object text (blank values left out), built a
        column at a time with the C string encoder."""
        jk = self._json_keys
        frags = [[None if v is None else k + encode_basestring(v) for v in values[c]]
                 for c, k in ((c, jk[c]) for c in codes)]
        out: list[str | None] = []
        for parts in zip(*frags):
            body = ",".join(filter(None, parts))
            out.append("{" + body + "}" if body else None)
        return out

    def _rows(self, numbers: list[int], raws: list[str], hashes: list[str], key_cols: list[list[str]],
              values: dict[str, list]) -> list[PreparedRow]:
        n = len(numbers)
        if not n:
            return []
        data = self._json_column(self.nonpersonal_codes, values)
        personal = self._json_column(self.personal_codes, values) if self.personal_codes else [None] * n
        content_hash, encrypt = self._content_hash, self.keyring.encrypt
        contents = [content_hash(((d or "{}") + "\x1e" + (p or "")).encode()) for d, p in zip(data, personal)]
        encs = [encrypt(p) if p else None for p in personal]
        if any(self.key_personal.values()):
            texts = [self.nk_text(k) for k in zip(*key_cols)]
        else:
            texts = [" / ".join(k)[:500] for k in zip(*key_cols)]
        blank = [None] * n
        mains = values.get(self.resource.date_field, blank)
        until_code = self.resource.valid_until_field
        untils = values.get(until_code, blank) if until_code else blank
        subjects = self._subjects(values, n)
        data = [d or "{}" for d in data]
        if self.windows.applies:
            window = self.windows.from_json
            windows = [window(d, m, u) for d, m, u in zip(data, mains, untils)]
        else:
            windows = [OPEN] * n
        return list(map(_new(PreparedRow), zip(numbers, hashes, texts, raws, contents, data, encs, mains, untils,
                                               subjects, windows)))

    def _subjects(self, values: dict[str, list], n: int) -> list[SubjectKey]:
        sf = self.sf
        blank = [None] * n

        def col(code: str | None) -> list:
            return values[code] if code else blank

        names, usccs, cats, ids = col(sf.name), col(sf.uscc), col(sf.category), col(sf.citizen_id)
        kind_of = {c: KIND_BY_LABEL.get(c) if c else None for c in set(cats)}
        legacy_cols = []
        for scheme in LEGACY_SCHEMES:
            code = getattr(sf, scheme)
            if code and any(values[code]):
                normal = {u: normalize_code(u) for u in set(values[code]) if u}
                legacy_cols.append([(scheme, normal[v]) if v else None for v in values[code]])
        legacy = [tuple(filter(None, parts)) for parts in zip(*legacy_cols)] if legacy_cols else [()] * n
        out = []
        for j, (name, uscc, cat) in enumerate(zip(names, usccs, cats)):
            kind = kind_of[cat] or self.default_kind or (
                "individual_business" if uscc and uscc[:2] == "92" else "legal_entity" if uscc else
                "natural_person" if ids[j] else "legal_entity")
            if kind != "natural_person":
                out.append(SubjectKey(kind, name or "", uscc, legacy[j], None, None, None, uscc[2:8] if uscc else None))
            else:
                out.append(self._person(name or "", ids[j], col(sf.id_type)[j]))
        return out

    def _person(self, name: str, number: str | None, id_type: str | None) -> SubjectKey:
        id_hash = id_enc = id_masked = region = None
        if number:
            if id_type in (None, CITIZEN_ID_TYPE):
                ident, id_masked = number, mask_citizen_id(number)
                region = number[:6] if number[:6].isdigit() else None
            else:
                # Other documents share the personal-ID columns, prefixed so they never collide
                # with a citizen ID.
                code = normalize_code(number)
                ident, id_masked = f"{id_type}:{code}", mask_citizen_id(code)[:18]
            id_hash = self.keyring.keyed_hash(ident)
            id_enc = self.keyring.encrypt(ident)
        return SubjectKey("natural_person", name, None, (), id_hash, id_enc, id_masked, region)

    def _error_items(self, row_no: int, errs: list[RowError], columns, j: int) -> list[ErrorItem]:
        items = []
        for e in errs:
            value = None
            if e.field is not None and e.field in columns:
                raw = columns[e.field][j]
                if raw is not None and str(raw).strip():
                    value = str(raw).strip()[:200]
                    value = mask_citizen_id(value) if e.field in self.personal else mask_personal_data(value)
            items.append(ErrorItem(row_no, e.field, self.labels.get(e.field) if e.field else None, e.code,
                                   mask_personal_data(e.message), value))
        return items
