"""What a report says: the subject, its records, sources, rights — as plain JSON-ready data.

Three kinds:

* ``public`` (公共信用信息报告): only records passing ``publication.public_record_clause``,
  only the resource's ``public_fields``; nothing personal is ever decrypted.
* ``scenario`` (专项信用报告): the public report restricted to the categories and resources
  the scenario names (``scenarios.yaml``), optionally to recent records.
* ``full`` (主体本人完整版): every record about the subject, public or not, with its status
  and window dates, plus the access history (who read the subject's non-public data, when,
  why). Personal fields are decrypted with the platform keyring and shown masked.

The result is split in two: ``data`` (depends only on the database: equal data → the same
report is re-issued, not a new number) and the issue metadata added by the service.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.catalogue import load_catalogue
from xinyong.catalogue.schemas import (
    CATEGORIES,
    DISCLOSURES,
    POLARITIES,
    Catalogue,
    Field,
    Resource,
)
from xinyong.config import get_settings
from xinyong.departments.models import Department
from xinyong.identity.codes import mask_citizen_id
from xinyong.identity.crypto import get_keyring, mask_phone
from xinyong.identity.regions import region_name
from xinyong.intake.models import Record
from xinyong.logging import mask_personal_data
from xinyong.publication import public_record_clause, record_status_label
from xinyong.reports.scenarios import Scenario
from xinyong.subjects.models import Subject
from xinyong.subjects.service import KINDS, ORG_TYPES, SCHEMES

log = logging.getLogger("xinyong.reports")
FORMAT = "xinyong-report/1"
KINDS_LABELS = {
    "public": "公共信用信息报告",
    "scenario": "专项信用信息报告",
    "full": "信用信息报告（主体本人完整版）",
}
REPORT_KINDS = tuple(KINDS_LABELS)
#: Field types never passed through the free-text masker (an all-digit USCC looks like an ID).
_CODE_TYPES = {"uscc", "org_code", "reg_no", "date", "integer", "decimal", "boolean", "enum"}
ACCESS_HISTORY_LIMIT = 200


def report_today() -> date:
    """The workflows' clock when present (an operator may set "today"), else China's date."""
    try:
        from xinyong.workflows.clock import today
    except ImportError:  # workflows not installed: the calendar day in China
        from xinyong.intake.service import china_today as today
    return today()


def _months_before(day: date, months: int) -> date:
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    m += 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(y, m, d)
        except ValueError:
            continue
    return date(y, m, 28)


def _mask_personal(f: Field, value: str) -> str:
    if f.type == "phone":
        return mask_phone(value)
    return mask_citizen_id(value)


def display_value(f: Field, value: Any) -> str | None:
    """One stored value as a reader sees it (enum labels, units, open-ended dates)."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, list):
        parts = [f.enum_label(str(v)) if f.enum else str(v) for v in value]
        text = "；".join(parts)
    elif isinstance(value, bool):
        text = "是" if value else "否"
    elif f.enum:
        text = "；".join(f.enum_label(v) for v in f.split(value)) if f.multiple else f.enum_label(str(value))
    else:
        text = str(value)
    if f.open_ended_value and text == f.open_ended_value:
        return "长期"
    if f.type == "date" and len(text) == 10 and text[4] == "-" and text[7] == "-":
        text = f"{int(text[:4])}年{int(text[5:7])}月{int(text[8:])}日"
    if f.unit and f.type in ("decimal", "integer") and f.unit not in f.label:
        text = f"{text} {f.unit}"
    if f.type not in _CODE_TYPES:
        text = mask_personal_data(text)
    return text


def _skipped_fields(resource: Resource) -> set[str]:
    """Fields a report does not repeat per record: the subject's own name and codes (stated once at
    the top), the main date (in the record's heading) and the source department (ditto)."""
    skip = set(resource.subject_fields.referenced().values()) | {resource.date_field, "source_department"}
    # Codes of the deciding authority and the source: the names are shown, the codes add only noise.
    return skip | {f.code for f in resource.fields if f.type == "uscc"}


def _record_entry(record: Record, resource: Resource, *, full: bool, departments: dict[int, str],
                  shown: set[int], personal: dict[str, Any] | None) -> dict[str, Any]:
    skip = _skipped_fields(resource)
    fields = resource.fields if full else resource.public_fields
    data = record.data or {}
    items = []
    for f in fields:
        if f.code in skip:
            continue
        if f.personal:
            raw = (personal or {}).get(f.code) if full else None
            value = _mask_personal(f, str(raw)) if raw not in (None, "") else None
        else:
            value = display_value(f, data.get(f.code))
        if value is not None:
            items.append({"code": f.code, "label": f.label, "value": value})
    entry: dict[str, Any] = {
        "date": record.main_date.isoformat() if record.main_date else None,
        "department": departments.get(record.department_id, ""),
        "status": record_status_label(record),
        "fields": items,
    }
    public_until = getattr(record, "public_until", None)
    if public_until is not None and resource.is_public:
        entry["public_until"] = public_until.isoformat()
    if full:
        repair_after = getattr(record, "repair_after", None)
        if repair_after is not None:
            entry["repair_after"] = repair_after.isoformat()
        entry["publicly_shown"] = record.id in shown
        entry["version"] = record.current_version
    return entry


def subject_block(subject: Subject) -> dict[str, Any]:
    block: dict[str, Any] = {
        "name": subject.name,
        "kind": subject.kind,
        "kind_label": KINDS.get(subject.kind, subject.kind),
    }
    if subject.kind == "natural_person":
        block["citizen_id"] = subject.citizen_id_masked
        return block
    block.update({
        "uscc": subject.uscc,
        "org_type": ORG_TYPES.get(subject.org_type or ""),
        "legal_rep": subject.legal_rep,
        "reg_status": subject.reg_status,
        "established": subject.established.isoformat() if subject.established else None,
        "region": region_name(subject.region) if subject.region else None,
        "address": subject.address,
        "identifiers": [{"label": SCHEMES.get(i.scheme, i.scheme), "value": i.value}
                        for i in subject.identifiers if i.scheme not in ("uscc", "citizen_id_hash")],
        "former_names": [n.name for n in subject.names if n.name != subject.name],
    })
    return {k: v for k, v in block.items() if v not in (None, [], "")}


def _rights(kind: str) -> list[dict[str, str]]:
    base = get_settings().public_base_url.rstrip("/")
    answer, review, not_repairable = None, None, {}
    try:
        from xinyong.workflows.policy import load_policy

        policy = load_policy()
        answer, review = policy.objections.answer_days, policy.repair.review_days
        not_repairable = policy.repair.not_repairable
    except Exception:  # noqa: BLE001 - the workflow policy is optional for the wording
        log.warning("workflow policy unavailable: report rights without deadlines")
    objection = ("认为本报告中的信息存在错误、遗漏，或侵犯商业秘密、个人隐私等合法权益的，可以提出异议："
                 f"登录信用主体账户（{base}/me）对相关记录提交异议申请并附证明材料，也可向数据来源单位或信用办书面提出。"
                 + (f"平台自受理之日起 {answer} 日内答复；" if answer else "平台依规定时限核查答复；")
                 + "核查期间相关记录标注“异议处理中”，经核实有误的予以更正或删除。")
    repair = ("失信信息公示期满最短期限、已纠正失信行为并履行相关义务的，可以申请信用修复：登录信用主体账户对相关记录"
              "提交修复申请并签署信用承诺书"
              + (f"，平台自受理之日起 {review} 日内审核" if review else "")
              + "；修复后相关信息停止公示。依据《失信行为纠正后的信用信息修复管理办法（试行）》（国家发展改革委2023年第58号令）。")
    if not_repairable:
        catalogue = load_catalogue()
        names = "、".join(catalogue.get(c).name for c in not_repairable if c in catalogue)
        if names:
            repair += f"{names}由认定机关按其专门程序办理，不适用本平台信用修复申请。"
    rights = [
        {"title": "异议申请", "text": objection},
        {"title": "信用修复", "text": repair},
        {"title": "知情权", "text": "信用主体可登录账户免费查询本主体的全部信用信息，以及各部门查询本主体非公开信息的记录"
                                     "（查询单位、时间和事由）。"},
    ]
    if kind != "full":
        rights.append({"title": "完整报告", "text": f"本报告仅含社会公开信息。信用主体本人可登录账户（{base}/me）下载"
                                                  "包含全部信息和查询记录的完整版报告。"})
    return rights


def _notes(kind: str, scenario: Scenario | None) -> list[str]:
    base = get_settings().public_base_url.rstrip("/")
    notes = [
        ("本报告内容来源于各数据来源单位依法归集至平台的公共信用信息，平台按信用信息目录和公示期规定出具，"
        "不代表对信用主体的综合评价。"),
        "报告以数据截止时间为准；此后新增、变更、撤销、修复的信息以平台最新记录为准。",
        (f"本报告经平台 Ed25519 数字签名。扫描二维码或访问“{base}/verify/报告编号”可核验真伪及是否为最新版本；"
        f"下载平台公钥（{base}/.well-known/xinyong-report-keys.json）后，可用 xinyong report verify 命令离线核验。"
        "对报告文件的任何改动都会使核验失败。"),
    ]
    if kind == "public":
        notes.insert(1, "公开报告仅包含公示期内的社会公开信息；已撤销、已修复、已过公示期或不予公示的信息不在报告中，"
                        "个人信息已作遮蔽处理。")
    if kind == "scenario" and scenario is not None:
        scope = "、".join([*scenario.categories] + ([f"{len(scenario.resources)} 类指定信息"] if scenario.resources else []))
        since = f"；失信、守信信息限于最近 {scenario.since_months} 个月内作出的" if scenario.since_months else ""
        notes.insert(1, f"本专项报告适用于“{scenario.name}”场景，仅包含：{scope}中的社会公开信息{since}。"
                        f"依据：{'；'.join(scenario.basis)}。")
    if kind == "full":
        notes.insert(1, "本报告为信用主体本人完整版，包含非公开信息，仅供主体本人使用，请妥善保管；"
                        "证件号码等个人信息已作遮蔽处理。")
    return notes


def _access_history(session: Session, subject_id: int, catalogue: Catalogue) -> dict[str, Any]:
    from xinyong.audit.service import access_history

    names = {r.code: r.name for r in catalogue}
    page = access_history(session, subject_id, page=1, size=ACCESS_HISTORY_LIMIT, resource_names=names)
    items = [{
        "time": it["time"],
        "department": it["department"],
        "role": it["role_label"],
        "channel": it["channel"],
        "purpose": it["purpose"] or "",
        "purpose_text": it["purpose_text"] or "",
        "resources": "、".join(r["name"] for r in it["resources"]) or "信用报告",
    } for it in page["items"]]
    return {"total": page["total"], "shown": len(items), "items": items}


def _rating(session: Session, subject: Subject, *, full: bool) -> dict[str, Any] | None:
    """The evaluation section: the whole explanation in the subject's own report; elsewhere the
    grade only where the deployment publishes grades (never a natural person's)."""
    from xinyong.rating.service import explain, public_grade

    if not full:
        shown = public_grade(session, subject.id)
        if shown is None:
            return None
    ex = explain(session, subject.id, detail=False)
    if not ex["scored"]:
        return {"scored": False, "message": ex["message"]} if full else None
    out: dict[str, Any] = {"scored": True, "score": ex["score"], "grade": ex["grade"],
                           "grade_label": ex["grade_label"], "model_version": ex["model_version"],
                           "as_of": ex["as_of"]}
    if full:
        out["base"] = ex["base"]
        out["factors"] = [{"name": f["name"], "points": f["points"], "rule": f["rule"]} for f in ex["factors"]]
    return out


def build_data(session: Session, subject: Subject, kind: str, *, scenario: Scenario | None = None,
               today: date | None = None, catalogue: Catalogue | None = None) -> dict[str, Any]:
    """The data part of a report (no number, no time): equal data means an equal dict."""
    if kind not in REPORT_KINDS:
        raise ValueError(f"unknown report kind {kind!r}")
    if (kind == "scenario") != (scenario is not None):
        raise ValueError("a scenario report needs a scenario, and only it")
    today = today or report_today()
    catalogue = catalogue or load_catalogue()
    full = kind == "full"
    stmt = select(Record).where(Record.subject_id == subject.id)
    if not full:
        stmt = stmt.where(public_record_clause(today))
    if scenario is not None:
        stmt = stmt.where(Record.resource.in_(scenario.resource_codes(catalogue) or [""]))
    records = [r for r in session.scalars(stmt) if r.resource in catalogue]
    if scenario is not None and scenario.since_months:
        since = _months_before(today, scenario.since_months)
        records = [r for r in records if catalogue.get(r.resource).polarity == "neutral"
                   or r.main_date is None or r.main_date >= since]
    dept_ids = {r.department_id for r in records}
    departments = dict(session.execute(select(Department.id, Department.name)
                                       .where(Department.id.in_(dept_ids))).all()) if dept_ids else {}
    shown: set[int] = set()
    if full:  # which of the subject's records the public sees today: the one rule, in SQL
        shown = set(session.scalars(select(Record.id).where(Record.subject_id == subject.id,
                                                            public_record_clause(today))))
    keyring = get_keyring() if full and any(r.personal_enc for r in records) else None

    rank = {code: i for i, code in enumerate(catalogue.codes)}
    records.sort(key=lambda r: (rank[r.resource], -(r.main_date.toordinal() if r.main_date else 0), r.id))
    by_category: OrderedDict[str, OrderedDict[str, list[dict]]] = OrderedDict((c, OrderedDict()) for c in CATEGORIES)
    for r in records:
        res = catalogue.get(r.resource)
        personal = json.loads(keyring.decrypt(r.personal_enc)) if keyring and r.personal_enc else None
        entry = _record_entry(r, res, full=full, departments=departments, shown=shown, personal=personal)
        by_category[res.category].setdefault(res.code, []).append(entry)

    sections = []
    counts = {"negative": 0, "positive": 0, "neutral": 0}
    for category, resources in by_category.items():
        if not resources:
            continue
        blocks = []
        for code, entries in resources.items():
            res = catalogue.get(code)
            counts[res.polarity] += len(entries)
            block = {"code": code, "name": res.name, "polarity": res.polarity,
                     "polarity_label": POLARITIES[res.polarity], "count": len(entries), "records": entries}
            if full:
                block["disclosure_label"] = DISCLOSURES[res.disclosure]
            blocks.append(block)
        sections.append({"category": category, "count": sum(b["count"] for b in blocks), "resources": blocks})

    data: dict[str, Any] = {
        "format": FORMAT,
        "kind": kind,
        "kind_label": KINDS_LABELS[kind],
        "issuer": {"name": get_settings().site_name, "platform": f"{get_settings().site_name}公共信用信息平台"},
        "subject": subject_block(subject),
        "as_of": today.isoformat(),
        "summary": {
            "total": len(records),
            "negative": counts["negative"], "positive": counts["positive"], "neutral": counts["neutral"],
            "categories": [{"category": s["category"], "count": s["count"]} for s in sections],
        },
        "sections": sections,
        "sources": sorted(set(departments.values())),
        "rights": _rights(kind),
        "notes": _notes(kind, scenario),
        "scenario": ({"code": scenario.code, "name": scenario.name, "description": scenario.description,
                      "basis": list(scenario.basis)} if scenario else None),
    }
    rating = _rating(session, subject, full=full)
    if rating is not None:
        data["rating"] = rating
    if full:
        data["access_history"] = _access_history(session, subject.id, catalogue)
    return data


def iter_records(content: dict[str, Any]):
    """(section, resource block, record) for every record of a report's content."""
    for section in content.get("sections", []):
        for block in section["resources"]:
            for rec in block["records"]:
                yield section, block, rec
