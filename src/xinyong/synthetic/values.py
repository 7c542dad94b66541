"""Field values for synthetic records, driven by the catalogue.

Each field is filled from the subject when the catalogue names it as a subject field, then by
a hint for well-known field codes, then by its type. A resource added to the catalogue gets
plausible values without code changes.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from xinyong.catalogue import SUBJECT_KINDS, Field, Resource
from xinyong.synthetic.population import SyntheticSubject

OPEN_END = date(2099, 12, 31)
_AFTER = re.compile(r"(until|_end|expire|deadline|_to$|removal|valid_to)")
_DEPT_ABBR = {
    "market_regulation": "佛市监", "chancheng_market_regulation": "佛禅市监", "nanhai_market_regulation": "佛南市监",
    "shunde_market_regulation": "佛顺市监", "tax": "佛税", "hrss": "佛人社", "ecology_environment": "佛环",
    "housing": "佛建", "transport": "佛交", "finance": "佛财", "emergency": "佛应急", "statistics": "佛统",
    "health": "佛卫", "education": "佛教", "public_security": "佛公", "commerce": "佛商",
    "culture_tourism": "佛文广旅", "medical_insurance": "佛医保", "natural_resources": "佛自然资源",
    "agriculture": "佛农", "civil_affairs": "佛民", "justice": "佛司", "water": "佛水",
    "urban_management": "佛城管", "customs": "佛关", "pbc": "佛银", "development_reform": "佛发改",
    "court": "粤06",
}
VIOLATIONS = [
    ("未按规定公示年度报告", "《企业信息公示暂行条例》第十八条"),
    ("销售不符合食品安全标准的食品", "《中华人民共和国食品安全法》第一百二十四条"),
    ("未取得排污许可证排放污染物", "《中华人民共和国环境保护法》第六十三条"),
    ("未按规定开展安全生产教育和培训", "《中华人民共和国安全生产法》第九十七条"),
    ("发布虚假广告", "《中华人民共和国广告法》第五十五条"),
    ("未按规定办理税务登记变更", "《中华人民共和国税收征收管理法》第六十条"),
    ("违法建设", "《中华人民共和国城乡规划法》第六十四条"),
    ("超限运输", "《公路安全保护条例》第六十四条"),
    ("未按规定缴纳社会保险费", "《中华人民共和国社会保险法》第八十六条"),
    ("统计数据造假", "《中华人民共和国统计法》第四十一条"),
    ("无证经营", "《无证无照经营查处办法》第十三条"),
    ("价格违法", "《中华人民共和国价格法》第四十条"),
]
_ENTERPRISE_TYPES = ["有限责任公司（自然人投资或控股）", "有限责任公司（法人独资）", "股份有限公司（非上市、自然人投资或控股）",
                     "有限责任公司（台港澳法人独资）", "个人独资企业", "普通合伙企业"]
_HONOURS = ["守合同重信用企业", "诚信纳税人", "质量诚信企业", "安全生产标准化企业", "劳动关系和谐企业",
            "诚信经营示范单位", "优秀志愿者", "道德模范"]
_QUALIFICATIONS = ["注册会计师", "执业律师", "执业医师", "中小学教师资格", "导游资格", "一级建造师", "注册造价工程师",
                   "工程师（中级职称）", "高级经济师", "执业药师"]


@dataclass
class Ctx:
    rng: random.Random
    subject: SyntheticSubject
    dept: dict
    resource: Resource
    seq: int
    as_of: date
    base: date
    values: dict = field(default_factory=dict)


def _doc_no(ctx: Ctx, kind: str = "决") -> str:
    abbr = _DEPT_ABBR.get(ctx.dept["code"], ctx.dept["name"][:4])
    return f"{abbr}{kind}〔{ctx.base.year}〕{ctx.seq}号"


def _serial(prefix: str) -> Callable[[Ctx], str]:
    return lambda c: f"{prefix}{c.base.year}{c.dept['region']}{c.seq:07d}"


def _violation(ctx: Ctx) -> tuple[str, str]:
    return VIOLATIONS[(ctx.seq * 7 + ctx.subject.index) % len(VIOLATIONS)]


def _amount(ctx: Ctx) -> str:
    return f"{round(ctx.rng.lognormvariate(0.0, 1.3), 4):.4f}".rstrip("0").rstrip(".")


def _person_only(ctx: Ctx) -> bool:
    return ctx.subject.kind == "natural_person"


# Hints by field code. Return None to leave the cell empty.
HINTS: dict[str, Callable[[Ctx], str | None]] = {
    "legal_rep": lambda c: None if _person_only(c) else c.subject.legal_rep,
    "operator": lambda c: c.subject.legal_rep,
    "legal_rep_id_type": lambda c: None if _person_only(c) else "身份证",
    "legal_rep_id_no": lambda c: None if _person_only(c) else c.subject.legal_rep_id,
    "address": lambda c: c.subject.address,
    "region_code": lambda c: c.subject.region,
    "tax_no": lambda c: c.subject.uscc,
    "source_department": lambda c: c.dept["name"],
    "court": lambda c: c.dept["name"],
    "case_no": lambda c: f"（{c.base.year}）粤06{c.seq % 90 + 4:02d}执{c.seq}号",
    "decision_no": lambda c: _doc_no(c, "罚" if c.resource.code == "admin_penalty" else
                                     "许" if c.resource.code == "admin_license" else "决"),
    "document_no": lambda c: _doc_no(c, "文"),
    "listing_decision_no": lambda c: _doc_no(c, "列"),
    "penalty_decision_no": lambda c: _doc_no(c, "罚"),
    "order_no": lambda c: _doc_no(c, "限"),
    "basis_doc_no": lambda c: f"（{c.base.year - 1}）粤06{c.seq % 90 + 4:02d}民初{c.seq}号",
    "basis_issuer": lambda c: f"佛山市{c.subject.district}人民法院",
    "customs_code": lambda c: f"4406{c.seq % 1_000_000:06d}",
    "industry_code": lambda c: "C" + f"{c.subject.index % 40 + 13:02d}",
    "enterprise_type": lambda c: _ENTERPRISE_TYPES[c.subject.index % len(_ENTERPRISE_TYPES)],
    "business_scope": lambda c: f"{c.subject.industry}的研发、生产与销售；货物进出口（依法须经批准的项目，经相关部门批准后方可开展经营活动）",
    "purpose_scope": lambda c: f"促进{c.subject.industry or '行业'}发展，开展行业交流、培训与咨询服务",
    "violation_type": lambda c: _violation(c)[0],
    "violation_facts": lambda c: f"经查，当事人{_violation(c)[0]}，违反了有关规定。",
    "main_facts": lambda c: f"当事人{_violation(c)[0]}，情节严重。",
    "dishonest_facts": lambda c: f"当事人{_violation(c)[0]}，经认定属严重失信行为。",
    "legal_basis": lambda c: _violation(c)[1],
    "penalty_basis": lambda c: _violation(c)[1],
    "listing_provision": lambda c: c.resource.legal_basis[0] if c.resource.legal_basis else "有关规定",
    "penalty_content": lambda c: f"罚款人民币{c.values.get('fine_amount') or '0.5'}万元" if "罚款" in (c.values.get("penalty_category") or "")
    else f"给予{c.values.get('penalty_category') or '警告'}的行政处罚",
    "license_content": lambda c: f"准予{c.subject.industry or '相关'}经营许可",
    "decision_title": lambda c: "准予行政许可决定书",
    "certificate_name": lambda c: f"{c.subject.industry or '经营'}许可证",
    "license_no": _serial("许"),
    "record_no": _serial("JL"),
    "commitment_no": _serial("CN"),
    "filing_no": _serial("BA"),
    "submission_no": _serial("ZY"),
    "certificate_no": _serial("ZS"),
    "account_no": _serial("YH"),
    "honour_name": lambda c: _HONOURS[c.seq % len(_HONOURS)],
    "qualification_name": lambda c: _QUALIFICATIONS[c.seq % len(_QUALIFICATIONS)],
    "employer": lambda c: f"佛山市{c.subject.district}{'医院' if c.seq % 3 == 0 else '中学' if c.seq % 3 == 1 else '会计师事务所'}",
    "remarks": lambda c: None,
    "gender": lambda c: ("男" if int(c.subject.citizen_id[16]) % 2 else "女") if _person_only(c) else None,
    "fine_amount": lambda c: _amount(c) if "罚款" in (c.values.get("penalty_category") or "") else None,
    "confiscated_amount": lambda c: _amount(c) if "没收" in (c.values.get("penalty_category") or "") else None,
    "license_affected": lambda c: f"{c.subject.industry or '经营'}许可证（编号{c.base.year}{c.seq:06d}）"
    if any(k in (c.values.get("penalty_category") or "") for k in ("吊销", "暂扣")) else None,
    "unperformed_part": lambda c: c.values.get("obligations") if c.values.get("performance_status") != "全部履行" else None,
    "removal_reason": lambda c: None,
    "removal_authority": lambda c: None,
    "performed_part": lambda c: None,
    "obligations": lambda c: f"支付货款人民币{(c.seq % 90 + 1) * 1000}元及利息",
}


def _dept_field(code: str) -> bool:
    return code.endswith("authority") or code in ("publicity_authority", "supervising_unit")


def _text_fallback(fld: Field, ctx: Ctx) -> str:
    code = fld.code
    if code.endswith("_uscc"):
        return ctx.dept["uscc"]
    if _dept_field(code):
        return ctx.dept["name"]
    if "facts" in code or "reason" in code or code in ("violation", "arrears_facts"):
        return f"当事人{_violation(ctx)[0]}。"
    if code.endswith("_no") or code.endswith("_code"):
        return f"{ctx.base.year}{ctx.seq:08d}"
    if "name" in code:
        return f"{ctx.subject.industry or ctx.resource.name}{fld.label}"
    return f"{fld.label}：{ctx.resource.name}（{ctx.base.year}年第{ctx.seq}号）"


def _date_value(fld: Field, ctx: Ctx) -> str:
    code = fld.code
    if code == ctx.resource.date_field:
        return ctx.base.isoformat()
    if _AFTER.search(code):
        if code == "removal_date" or code.startswith("removal"):
            return ""
        if fld.open_ended_value and ctx.rng.random() < 0.3:
            return fld.open_ended_value
        return min(ctx.base + timedelta(days=ctx.rng.randint(180, 1460)), OPEN_END).isoformat()
    if code in ("valid_from", "publish_date", "approval_date", "registration_date"):
        return ctx.base.isoformat()
    return max(ctx.base - timedelta(days=ctx.rng.randint(0, 120)), date(1990, 1, 1)).isoformat()


def _enum_value(fld: Field, ctx: Ctx) -> str:
    values = fld.enum_values
    # The catalogue lists the usual value first; the rest are rarer.
    pick = values[0] if ctx.rng.random() < 0.65 or len(values) == 1 else ctx.rng.choice(values[1:])
    if fld.multiple and len(values) > 1 and ctx.rng.random() < 0.2:
        other = ctx.rng.choice([v for v in values if v != pick])
        return f"{pick}；{other}"
    return pick


def _decimal_value(fld: Field, ctx: Ctx) -> str:
    if fld.code == "registered_capital" and ctx.subject.capital is not None:
        return f"{ctx.subject.capital:.2f}"
    return f"{round(ctx.rng.lognormvariate(0.5, 1.2), 4):.4f}".rstrip("0").rstrip(".")


def _integer_value(fld: Field, ctx: Ctx) -> str:
    code = fld.code
    if code == "age":
        return str(max(18, ctx.as_of.year - ctx.subject.established.year)) if _person_only(ctx) else ""
    if "year" in code:
        return str(ctx.base.year - 1)
    return str(ctx.rng.randint(1, 60))


def subject_value(role: str, ctx: Ctx) -> str | None:
    s = ctx.subject
    person = s.kind == "natural_person"
    return {
        "name": s.name,
        "category": SUBJECT_KINDS[s.kind],
        "uscc": None if person else s.uscc,
        "reg_no": s.reg_no,
        "org_code": (f"{s.org_code[:8]}-{s.org_code[8]}" if ctx.seq % 3 == 0 else s.org_code) if s.org_code else None,
        "citizen_id": s.citizen_id if person else None,
        "id_type": "身份证" if person else None,
    }.get(role)


@dataclass(frozen=True)
class _Plan:
    ordered: list[tuple[Field, str | None]]  # (field, subject role), enums first
    conditional: list[Field]  # fields whose requirement depends on other values
    codes: list[str]


_PLANS: dict[int, tuple[Resource, _Plan]] = {}


def _plan(resource: Resource) -> _Plan:
    # Keyed by identity; the resource is kept alive with its plan so an id is never reused.
    owner, plan = _PLANS.get(id(resource), (None, None))
    if owner is not resource:
        roles = {code: role for role, code in resource.subject_fields.referenced().items()}
        # Enums first: content fields refer to them (e.g. 罚款 needs a fine amount).
        ordered = sorted(resource.fields, key=lambda f: 0 if f.type == "enum" else 1)
        plan = _Plan(ordered=[(f, roles.get(f.code)) for f in ordered],
                     conditional=[f for f in resource.fields if f.required or f.required_when],
                     codes=[f.code for f in resource.fields])
        _PLANS[id(resource)] = (resource, plan)
    return plan


def fill_record(resource: Resource, ctx: Ctx) -> list[str]:
    """One record's cells, in the resource's field order."""
    plan = _plan(resource)
    values = ctx.values
    for fld, role in plan.ordered:
        values[fld.code] = _value(fld, ctx, role)
    for fld in plan.conditional:  # conditional requirements decided now that enums are set
        if not values[fld.code] and fld.is_required(values, resource):
            values[fld.code] = _value(fld, ctx, None, force=True)
    return [values[c] or "" for c in plan.codes]


def _value(fld: Field, ctx: Ctx, role: str | None, force: bool = False) -> str | None:
    if role:
        return subject_value(role, ctx)
    if fld.code in HINTS:
        v = HINTS[fld.code](ctx)
        # A hint never overrides the catalogue: a value outside the field's enum is dropped.
        if v is not None and fld.enum and fld.match_enum(v) is None:
            v = None
        elif v is not None or not force:
            return v
    if not force and not fld.required and ctx.rng.random() < 0.35:
        return None  # optional cells are often blank in real exports
    t = fld.type
    if t == "enum" and fld.enum:
        return _enum_value(fld, ctx)
    if t == "date":
        return _date_value(fld, ctx)
    if t == "decimal":
        return _decimal_value(fld, ctx)
    if t == "integer":
        return _integer_value(fld, ctx)
    if t == "boolean":
        return "是"
    if t == "uscc":
        return ctx.dept["uscc"] if _dept_field(fld.code) or fld.code.endswith("_uscc") else ctx.subject.uscc
    if t == "org_code":
        return ctx.subject.org_code
    if t == "reg_no":
        return ctx.subject.reg_no
    if t == "citizen_id":
        return ctx.subject.citizen_id or ctx.subject.legal_rep_id
    if t == "phone":
        return ctx.subject.phone
    text = _text_fallback(fld, ctx)
    return text[: fld.max_length] if fld.max_length else text
