"""Batch checks (批量核查): a list of subjects (e.g. every bidder of a tender, up to 100,000) checked
in one scenario for one department → a result file (XLSX / CSV) and JSON, with progress.

* The file is read with intake's readers (CSV in any common encoding, XLSX): a column of subject
  codes (统一社会信用代码 / 证件号码 / 主体代码 …), optionally names and the department's own
  reference numbers. A one-column file of bare codes is accepted too.
* Codes are resolved set-based (one query per 5,000 codes), subjects evaluated set-based
  (``Evaluator``), and the checks written with multi-row inserts: no query per subject.
* The checks commit whole or not at all; progress is written beside them in its own short
  transactions so a console page or ``xinyong check-batch`` can follow it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, insert, select, update
from sqlalchemy.orm import Session

from xinyong.accounts.actor import Actor
from xinyong.catalogue import Resource
from xinyong.config import get_settings
from xinyong.departments.models import Department
from xinyong.errors import InvalidInput, NotFound
from xinyong.identity.codes import detect_and_check, normalize_code
from xinyong.identity.crypto import get_keyring
from xinyong.logging import mask_personal_data
from xinyong.subjects.models import Subject, SubjectIdentifier
from xinyong.workflows import clock

from .loader import load_measures
from .models import MeasureCheck, MeasureCheckBatch, MeasureCheckItem
from .schemas import KIND_LABELS
from .service import (
    CHUNK,
    Evaluator,
    _department,
    _purpose,
    _subject_code,
    in_values,
    summarize,
)

MAX_SUBJECTS = 100_000
BATCH_ACTION = "measures.batch_check"
STATUS = {"checked": "已核查", "not_found": "未找到主体", "invalid": "代码有误"}
CODE_ALIASES = ["统一社会信用代码", "信用代码", "社会信用代码", "主体代码", "代码", "证件号码", "身份证号码",
                "公民身份号码", "组织机构代码", "工商注册号", "注册号", "纳税人识别号", "code", "uscc", "subject"]

ProgressFn = Callable[[int, int], None]


def _input_resource() -> Resource:
    """A catalogue-shaped description of the upload, so intake's readers can find its header."""
    return Resource.model_validate({
        "code": "measure_check_subjects", "name": "批量核查主体清单", "category": "登记注册基本信息", "sector": "综合",
        "subject_kinds": ["legal_entity", "individual_business", "natural_person"], "polarity": "neutral",
        "disclosure": "internal", "source_departments": ["development_reform"], "natural_key": ["code"],
        "subject_fields": {"name": "name"}, "date_field": "day",
        "fields": [
            {"code": "code", "label": "主体代码", "aliases": CODE_ALIASES, "required": True},
            {"code": "name", "label": "主体名称", "aliases": ["名称", "企业名称", "单位名称", "姓名", "投标人", "投标人名称",
                                                           "供应商", "供应商名称", "申请人", "name"]},
            {"code": "ref", "label": "业务编号", "aliases": ["序号", "编号", "标段", "ref", "id", "no"]},
            {"code": "day", "label": "日期", "type": "date"},
        ]})


@dataclass
class Entry:
    row: int
    code: str
    name: str | None = None
    ref: str | None = None


def read_entries(path: Path | str) -> list[Entry]:
    """The subjects listed in an uploaded CSV/XLSX file (header row found like intake's)."""
    from xinyong.intake.readers import FileRefused, open_source

    path = Path(path)
    res = _input_resource()
    try:
        src = open_source(path, res)
    except FileRefused as exc:
        bare = _bare_codes(path)
        if bare is None:
            raise InvalidInput(f"无法读取核查清单：{exc.message}　清单应有一列主体代码（表头如“统一社会信用代码”"
                               f"或“主体代码”），可另附“主体名称”“业务编号”列；也可以是每行一个代码的纯文本。",
                               code="batch_file_refused") from None
        return bare
    cols = src.columns
    if "code" not in cols:
        raise InvalidInput("核查清单缺少主体代码列（表头如“统一社会信用代码”“主体代码”“证件号码”）。",
                           code="batch_code_column_missing")
    out: list[Entry] = []

    def cell(cells: list[Any], key: str) -> str | None:
        i = cols.get(key)
        if i is None or i >= len(cells) or cells[i] is None:
            return None
        v = str(cells[i]).strip()
        return v or None

    for row, cells in src.rows():
        code = cell(cells, "code") or ""
        out.append(Entry(row, code, cell(cells, "name"), cell(cells, "ref")))
        if len(out) > MAX_SUBJECTS:
            raise InvalidInput(f"一次最多核查 {MAX_SUBJECTS:,} 个主体，请拆分清单后分批上传。", code="batch_too_large")
    if not out:
        raise InvalidInput("核查清单中没有任何主体。", code="batch_empty")
    return out


def _bare_codes(path: Path) -> list[Entry] | None:
    """A plain list, one code per line (first line may be a header)."""
    if path.suffix.lower() not in (".csv", ".txt", ".tsv"):
        return None
    from xinyong.intake.readers import detect_encoding

    raw = path.read_bytes()
    text = raw.decode(detect_encoding(raw[:65536]), errors="replace")
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        value = line.strip().strip(",;\t\"'")
        if not value or ("," in value or "\t" in value):
            if value:
                return None  # several columns without a recognisable header
            continue
        if n == 1 and not normalize_code(value).isalnum():
            continue  # a header such as 代码
        if n == 1 and not any(ch.isdigit() for ch in value):
            continue
        out.append(Entry(n, value))
        if len(out) > MAX_SUBJECTS:
            raise InvalidInput(f"一次最多核查 {MAX_SUBJECTS:,} 个主体，请拆分清单后分批上传。", code="batch_too_large")
    return out or None


# --- resolving codes ------------------------------------------------------------------------------


def resolve_codes(session: Session, codes: list[str]) -> dict[str, tuple[int | None, str]]:
    """Raw code → (subject id, status): set-based (identifiers, then citizen-ID hashes)."""
    norm = {c: normalize_code(c) for c in set(codes)}
    values = sorted({v for v in norm.values() if v and v.isascii() and v.isalnum() and len(v) <= 64})
    found: dict[str, int] = {}
    for i in range(0, len(values), CHUNK):
        part = values[i:i + CHUNK]
        for value, sid in session.execute(select(SubjectIdentifier.value, SubjectIdentifier.subject_id)
                                          .where(in_values(session, SubjectIdentifier.value, part))):
            found.setdefault(value, sid)
    missing = [v for v in values if v not in found]
    hashes: dict[str, str] = {}
    keyring = None
    for v in missing:
        chk = detect_and_check(v)
        if chk.kind == "citizen_id" and chk.valid:
            keyring = keyring or get_keyring()
            hashes[keyring.keyed_hash(chk.normalized)] = v
    hash_list = sorted(hashes)
    for i in range(0, len(hash_list), CHUNK):
        for h, sid in session.execute(select(Subject.citizen_id_hash, Subject.id)
                                      .where(Subject.citizen_id_hash.in_(hash_list[i:i + CHUNK]))):
            found[hashes[h]] = sid
    out: dict[str, tuple[int | None, str]] = {}
    for raw, v in norm.items():
        if v in found:
            out[raw] = (found[v], "checked")
        elif not v or not v.isascii() or not v.isalnum() or len(v) > 64:
            out[raw] = (None, "invalid")
        else:
            chk = detect_and_check(v)
            out[raw] = (None, "invalid" if chk.kind is not None and not chk.valid else "not_found")
    return out


# --- running --------------------------------------------------------------------------------------


def create_batch(session: Session, actor: Actor, scenario: str, department: str | None, *,
                 file_name: str | None = None, file_sha256: str | None = None) -> MeasureCheckBatch:
    mc = load_measures()
    sc = mc.scenario((scenario or "").strip())
    dept = _department(session, actor, department)
    b = MeasureCheckBatch(department_id=dept.id, scenario=sc.code, state="queued", file_name=file_name,
                          file_sha256=file_sha256, actor_name=actor.name or actor.kind, total=0, processed=0,
                          found=0, with_measures=0, rewards=0, punishments=0)
    session.add(b)
    session.flush()
    return b


def bulk_insert(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """Many rows into ``table`` in the caller's transaction: COPY on PostgreSQL, a multi-row
    executemany elsewhere."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    cols = list(rows[0])
    json_cols = {c.name for c in table.columns if isinstance(c.type, JSON)}
    raw = session.connection().connection.driver_connection
    names = ", ".join(f'"{c}"' for c in cols)
    with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as cp:
        for r in rows:
            cp.write_row([json.dumps(r[c], ensure_ascii=False) if c in json_cols and r[c] is not None else r[c]
                          for c in cols])


#: Progress of batches running in this process (batch id → rows done). The checks are written in
#: one transaction, which on SQLite holds the only write lock until it commits: progress cannot
#: be written beside it there, so the status reads it from here while the batch runs.
_RUNNING: dict[int, int] = {}


def _set_progress(url: str | None, batch_id: int, **values: Any) -> None:
    from xinyong.db.engine import session_scope

    with session_scope(url) as s:
        s.execute(update(MeasureCheckBatch).where(MeasureCheckBatch.id == batch_id).values(**values))


def results_dir(batch_id: int) -> Path:
    return get_settings().var_dir / "measures" / "batches" / str(batch_id)


def run_batch(actor: Actor, batch_id: int, entries: list[Entry], *, url: str | None = None,
              today: date | None = None, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Check every listed subject; write the result files; returns the batch summary."""
    from xinyong.audit.service import record_event
    from xinyong.db.engine import session_scope

    today = clock.today(today)
    total = len(entries)
    _set_progress(url, batch_id, state="running", total=total, processed=0)
    try:
        with session_scope(url) as session:
            b = session.get(MeasureCheckBatch, batch_id)
            mc = load_measures()
            sc = mc.scenarios[b.scenario]
            dept = session.get(Department, b.department_id)
            resolved = resolve_codes(session, [e.code for e in entries])
            sids = sorted({sid for sid, _ in resolved.values() if sid is not None})
            kinds: dict[int, str] = {}
            for i in range(0, len(sids), CHUNK):
                kinds.update((sid, kind) for sid, kind in session.execute(
                    select(Subject.id, Subject.kind).where(in_values(session, Subject.id, sids[i:i + CHUNK]))))
            ev = Evaluator(sc.code, today=today, catalogue=mc)
            due = today.fromordinal(today.toordinal() + mc.feedback_days)
            check_ids: dict[int, int] = {}
            outcomes: dict[int, Any] = {}
            done = 0
            for i in range(0, len(sids), CHUNK):
                part = {sid: kinds[sid] for sid in sids[i:i + CHUNK]}
                outs = ev.evaluate(session, part)
                outcomes.update(outs)
                rows = [{"subject_id": sid, "department_id": dept.id, "scenario": sc.code, "batch_id": batch_id,
                         "actor_kind": actor.kind, "actor_name": actor.name or None, "actor_role": actor.role,
                         "checked_at": clock.now(), "checked_on": today,
                         "feedback_due": due if o.applied else None, "measures_total": len(o.applied),
                         "rewards": o.rewards, "punishments": o.punishments, "feedback_done": 0,
                         "feedback_complete": False, "catalogue_version": mc.version,
                         "summary": summarize(o.rewards, o.punishments, due if o.applied else None)}
                        for sid, o in outs.items()]
                part_ids = list(part)
                bulk_insert(session, MeasureCheck.__table__, rows)
                for j in range(0, len(part_ids), CHUNK):
                    check_ids.update((sid, cid) for cid, sid in session.execute(
                        select(MeasureCheck.id, MeasureCheck.subject_id).where(
                            MeasureCheck.batch_id == batch_id,
                            in_values(session, MeasureCheck.subject_id, part_ids[j:j + CHUNK]))))
                items = [{"check_id": check_ids[sid], "measure": a.measure.code, "kind": a.measure.kind,
                          "strength": a.measure.strength, "triggers": a.triggers}
                         for sid, o in outs.items() for a in o.applied]
                if items:
                    bulk_insert(session, MeasureCheckItem.__table__, items)
                done += len(part)
                processed = min(total, round(total * done / max(1, len(sids))))
                _RUNNING[batch_id] = processed
                if progress:
                    progress(processed, total)
            subjects: dict[int, Any] = {}
            for i in range(0, len(sids), CHUNK):
                for s in session.execute(select(Subject.id, Subject.name, Subject.uscc, Subject.citizen_id_masked)
                                         .where(in_values(session, Subject.id, sids[i:i + CHUNK]))):
                    subjects[s.id] = s
            results = []
            for e in entries:
                sid, status = resolved[e.code]
                item: dict[str, Any] = {"row": e.row, "input": mask_personal_data(e.code), "name_in_file": e.name,
                                        "ref": e.ref, "status": status, "status_label": STATUS[status]}
                if sid is not None:
                    o, s = outcomes[sid], subjects[sid]
                    item.update({"check_id": check_ids[sid], "subject": {"id": sid, "name": s.name,
                                                                          "code": _subject_code(s)},
                                 "rewards": o.rewards, "punishments": o.punishments,
                                 "summary": summarize(o.rewards, o.punishments, due if o.applied else None),
                                 "measures": [{"code": a.measure.code, "name": a.measure.name, "kind": a.measure.kind,
                                               "strength": a.measure.strength, "basis": list(a.measure.legal_basis),
                                               "triggers": a.triggers} for a in o.applied]})
                results.append(item)
            with_measures = sum(1 for sid in sids if outcomes[sid].applied)
            summary = {"batch_id": batch_id, "scenario": {"code": sc.code, "name": sc.name},
                       "department": {"code": dept.code, "name": dept.name}, "checked_on": today.isoformat(),
                       "total": total, "found": sum(1 for r in results if r["status"] == "checked"),
                       "subjects": len(sids), "with_measures": with_measures,
                       "rewards": sum(o.rewards for o in outcomes.values()),
                       "punishments": sum(o.punishments for o in outcomes.values())}
            _write_results(batch_id, summary, results)
            b.state, b.processed, b.found = "done", total, summary["found"]
            b.with_measures, b.rewards, b.punishments = with_measures, summary["rewards"], summary["punishments"]
            b.finished_at = clock.now()
            b.message = (f"共 {total} 行，核查 {len(sids)} 个主体，其中 {with_measures} 个适用联合奖惩措施；"
                         f"未找到或代码有误 {total - summary['found']} 行。")
            record_event(session, BATCH_ACTION, actor=actor.with_(purpose=_purpose(sc)),
                         details={"batch_id": batch_id, "scenario": sc.code, "department": dept.code,
                                  "total": total, "subjects": len(sids), "with_measures": with_measures})
        return summary
    except Exception as exc:
        msg = getattr(exc, "message", None) or f"批量核查失败：{type(exc).__name__}"
        _set_progress(url, batch_id, state="failed", message=msg[:2000], finished_at=clock.now())
        raise
    finally:
        _RUNNING.pop(batch_id, None)


COLUMNS = ["行号", "输入代码", "清单中的名称", "业务编号", "核查状态", "核查编号", "主体名称", "主体代码",
           "激励措施数", "惩戒措施数", "适用措施", "结论"]


def _flat(r: dict[str, Any]) -> list[Any]:
    measures = "；".join(f"{m['name']}（{KIND_LABELS[m['kind']]}·{m['strength']}）" for m in r.get("measures", []))
    return [r["row"], r["input"], r.get("name_in_file") or "", r.get("ref") or "", r["status_label"],
            r.get("check_id") or "", (r.get("subject") or {}).get("name", ""), (r.get("subject") or {}).get("code") or "",
            r.get("rewards", ""), r.get("punishments", ""), measures, r.get("summary", "")]


def _write_results(batch_id: int, summary: dict[str, Any], results: list[dict[str, Any]]) -> None:
    """JSON and CSV now; the XLSX (slow to write: ~0.3 ms a row) when first asked for."""
    folder = results_dir(batch_id)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "result.json", "w", encoding="utf-8") as fh:
        fh.write(json.dumps({**summary, "results": results}, ensure_ascii=False))  # one shot: the C encoder
    with open(folder / "result.csv", "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for r in results:
            w.writerow(_flat(r))


def write_xlsx(batch_id: int) -> Path:
    """The result as a spreadsheet, from the stored JSON (written once, then served as is)."""
    import xlsxwriter

    folder = results_dir(batch_id)
    target = folder / "result.xlsx"
    if target.exists():
        return target
    results = json.loads((folder / "result.json").read_text(encoding="utf-8"))["results"]
    tmp = folder / f"result.{uuid.uuid4().hex}.xlsx.part"
    wb = xlsxwriter.Workbook(str(tmp), {"constant_memory": True, "strings_to_formulas": False,
                                        "strings_to_urls": False})
    ws = wb.add_worksheet("核查结果")
    bold = wb.add_format({"bold": True})
    ws.write_row(0, 0, COLUMNS, bold)
    for i, r in enumerate(results, start=1):
        ws.write_row(i, 0, _flat(r))
    wb.close()
    tmp.replace(target)
    return target


def batch_to_dict(b: MeasureCheckBatch, session: Session | None = None) -> dict[str, Any]:
    mc = load_measures()
    sc = mc.scenarios.get(b.scenario)
    dept = session.get(Department, b.department_id) if session is not None else None
    processed = _RUNNING.get(b.id, b.processed) if b.state == "running" else b.processed
    return {"batch_id": b.id, "state": b.state, "state_label": {"queued": "排队中", "running": "核查中", "done": "已完成",
                                                                 "failed": "失败"}.get(b.state, b.state),
            "scenario": {"code": b.scenario, "name": sc.name if sc else b.scenario},
            "department": {"code": dept.code, "name": dept.name} if dept else None,
            "file_name": b.file_name, "total": b.total, "processed": processed,
            "progress": round(processed / b.total, 4) if b.total else (1.0 if b.state == "done" else 0.0),
            "found": b.found, "with_measures": b.with_measures, "rewards": b.rewards, "punishments": b.punishments,
            "message": b.message, "created_at": b.created_at.isoformat() if b.created_at else None,
            "finished_at": b.finished_at.isoformat() if b.finished_at else None,
            "downloads": {f: f"/api/v1/check-batches/{b.id}/result.{f}" for f in ("xlsx", "csv", "json")}
            if b.state == "done" else {}}


def get_batch(session: Session, actor: Actor, batch_id: int) -> MeasureCheckBatch:
    b = session.get(MeasureCheckBatch, batch_id)
    if b is None or (actor.is_department and actor.department_id != b.department_id) or actor.is_subject:
        raise NotFound(f"未找到编号为 {batch_id} 的批量核查。", code="batch_not_found")
    return b


def result_path(session: Session, actor: Actor, batch_id: int, fmt: str) -> Path:
    if fmt not in ("xlsx", "csv", "json"):
        raise InvalidInput(f"不支持的格式“{fmt[:8]}”：可选 xlsx、csv、json。", code="unknown_format")
    b = get_batch(session, actor, batch_id)
    if b.state != "done":
        raise InvalidInput(f"批量核查 {batch_id} 尚未完成（{b.state}），完成后才能下载结果。", code="batch_not_done")
    path = results_dir(batch_id) / f"result.{fmt}"
    if fmt == "xlsx" and (results_dir(batch_id) / "result.json").exists():
        path = write_xlsx(batch_id)
    if not path.exists():
        raise NotFound("结果文件不存在（可能已被清理），请重新发起批量核查。", code="result_missing")
    return path


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def iter_csv(rows: Iterator[list[Any]]) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue()
