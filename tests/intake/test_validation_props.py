"""Row validation: every date format of the reference, full-width codes, formula-like cells,
conditional requirements, and properties that hold for any valid row (hypothesis)."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xinyong.catalogue import load_catalogue
from xinyong.catalogue.validation import (
    excel_serial,
    fast_valid_citizen_id,
    fast_valid_uscc,
    parse_date,
    row_validator,
    validate_row,
)
from xinyong.identity.codes import (
    check_citizen_id,
    check_uscc,
    generate_citizen_id,
    generate_uscc,
)

TODAY = date(2026, 11, 1)
PENALTY = load_catalogue().get("admin_penalty")
FULL = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})

dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2099, 12, 31))


def formats(d: date) -> list[str]:
    return [d.isoformat(), f"{d.year}/{d.month}/{d.day}", f"{d.year}.{d.month}.{d.day}",
            f"{d.year}年{d.month}月{d.day}日", f"{d:%Y%m%d}", str(excel_serial(d)),
            f"{d.year}年{d.month}月{d.day}日".translate(FULL), f" {d.isoformat()} 00:00:00 ",
            f"{d.year} 年 {d.month:02d} 月 {d.day:02d} 日"]


@given(dates)
def test_every_reference_date_format_parses_to_the_same_day(d):
    for text in formats(d):
        assert parse_date(text.strip()) == d, text


@given(st.text(max_size=12))
def test_date_parser_never_raises(text):
    result = parse_date(text)
    assert result is None or date(1900, 1, 1) <= result <= date(2099, 12, 31)


@pytest.mark.parametrize("text", ["2024-02-30", "2023/2/29", "2024.13.1", "2024年0月5日", "20241301", "abc", "1899-12-31",
                                  "2024-3/5", "3/5/2024", "2024"])
def test_impossible_or_ambiguous_dates_are_refused(text):
    assert parse_date(text) is None


# --- fast code checks agree with identity.codes ------------------------------------------------------

codes18 = st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXYX", min_size=18, max_size=18)


@given(st.one_of(codes18, st.builds(lambda s: generate_uscc(random.Random(s), region="440604"), st.integers(0, 10**9))))
def test_fast_uscc_agrees_with_check_uscc(code):
    assert fast_valid_uscc(code) == check_uscc(code).valid


@given(st.one_of(st.text(alphabet="0123456789X", min_size=18, max_size=18),
                 st.builds(lambda s: generate_citizen_id(random.Random(s)), st.integers(0, 10**9))))
def test_fast_citizen_id_agrees_with_check_citizen_id(code):
    assert fast_valid_citizen_id(code, TODAY) == check_citizen_id(code, today=TODAY).valid


# --- valid rows stay valid under harmless variations ---------------------------------------------------


def valid_penalty(seed: int, decided: date, kind: str) -> dict[str, str]:
    rng = random.Random(seed)
    person = kind == "自然人"
    row = {
        "subject_name": "张三" if person else "佛山市恒泰五金制品有限公司",
        "subject_category": kind,
        "uscc": "" if person else generate_uscc(rng, org_type="2" if kind == "个体工商户" else "1"),
        "id_type": "身份证" if person else "",
        "id_no": generate_citizen_id(rng) if person else "",
        "legal_rep": "" if person else "李四",
        "legal_rep_id_type": "" if person else "身份证",
        "legal_rep_id_no": "" if person else generate_citizen_id(rng),
        "decision_no": f"佛市监罚〔{decided.year}〕{rng.randint(1, 9999)}号",
        "violation_type": "无证经营", "violation_facts": "经查，当事人无证经营。",
        "legal_basis": "《无证无照经营查处办法》第十三条", "penalty_category": "警告；罚款",
        "penalty_content": "罚款人民币1万元", "fine_amount": "1.5",
        "decision_date": decided.isoformat(),
        "valid_until": (decided + timedelta(days=rng.randint(0, 900))).isoformat(),
        "authority": "佛山市市场监督管理局", "authority_uscc": "11440600862729575F",
        "source_department": "佛山市市场监督管理局", "source_department_uscc": "11440600862729575F",
    }
    return row


rows = st.builds(valid_penalty, st.integers(0, 10**9), st.dates(date(2015, 1, 1), TODAY),
                 st.sampled_from(["法人及非法人组织", "个体工商户", "自然人"]))
CODE_FIELDS = ("uscc", "authority_uscc", "source_department_uscc", "id_no", "legal_rep_id_no")
DATE_FIELDS = ("decision_date", "valid_until")


def vary(row: dict[str, str], data) -> dict[str, str]:
    out = dict(row)
    for f in CODE_FIELDS:
        if out[f] and data.draw(st.booleans(), label=f"width {f}"):
            out[f] = out[f].translate(FULL)
        if out[f] and data.draw(st.booleans(), label=f"lower {f}"):
            out[f] = out[f].lower()
    for f in DATE_FIELDS:
        d = date.fromisoformat(out[f])
        out[f] = data.draw(st.sampled_from(formats(d)), label=f"format {f}")
    for f, value in list(out.items()):
        if value and data.draw(st.booleans(), label=f"spaces {f}"):
            out[f] = f"  {value}\u3000"
    return out


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(rows, st.data())
def test_harmless_variations_keep_a_row_valid_and_normalise_the_same(row, data):
    base, errors = validate_row(PENALTY, row, today=TODAY)
    assert errors == []
    varied, errors = validate_row(PENALTY, vary(row, data), today=TODAY)
    assert [e.to_dict() for e in errors] == []
    assert varied == base
    assert base["uscc"] is None or base["uscc"] == base["uscc"].upper()


# (mutation, field, expected code) — each alone must give exactly that one error.
CORRUPTIONS = [
    (lambda r: {**r, "authority_uscc": r["authority_uscc"][:-1] + ("0" if r["authority_uscc"][-1] != "0" else "1")},
     "authority_uscc", "invalid_uscc"),
    (lambda r: {**r, "decision_date": "2023-02-29"}, "decision_date", "invalid_date"),
    (lambda r: {**r, "violation_type": ""}, "violation_type", "required"),
    (lambda r: {**r, "penalty_category": "罚没"}, "penalty_category", "invalid_enum"),
    (lambda r: {**r, "fine_amount": ""}, "fine_amount", "required"),
    (lambda r: {**r, "fine_amount": "-3"}, "fine_amount", "invalid_decimal"),
    (lambda r: {**r, "remarks": "=HYPERLINK(\"http://x\",\"点击\")"}, "remarks", "formula_like"),
    (lambda r: {**r, "violation_facts": "+1+cmd|' /C calc'!A0"}, "violation_facts", "formula_like"),
    (lambda r: {**r, "decision_date": (TODAY + timedelta(days=3)).isoformat(),
                "valid_until": (TODAY + timedelta(days=30)).isoformat()}, "decision_date", "date_in_future"),
    (lambda r: {**r, "valid_until": (date.fromisoformat(r["decision_date"]) - timedelta(days=1)).isoformat()},
     "valid_until", "until_before_start"),
    (lambda r: {**r, "authority": "局" * 201}, "authority", "too_long"),
]


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(rows, st.sampled_from(range(len(CORRUPTIONS))))
def test_each_single_corruption_gives_exactly_its_error(row, k):
    mutate, field, code = CORRUPTIONS[k]
    _, errors = validate_row(PENALTY, mutate(row), today=TODAY)
    assert [(e.field, e.code) for e in errors] == [(field, code)]


@settings(max_examples=25)
@given(rows.filter(lambda r: r["subject_category"] == "法人及非法人组织"))
def test_organisation_needs_a_uscc_and_its_check_digit(row):
    _, errors = validate_row(PENALTY, {**row, "uscc": ""}, today=TODAY)
    assert [(e.field, e.code) for e in errors] == [("uscc", "required")]
    bad = row["uscc"][:5] + ("1" if row["uscc"][5] != "1" else "2") + row["uscc"][6:]
    _, errors = validate_row(PENALTY, {**row, "uscc": bad}, today=TODAY)
    assert [(e.field, e.code) for e in errors] == [("uscc", "invalid_uscc")]


@settings(max_examples=20)
@given(rows.filter(lambda r: r["subject_category"] == "自然人"))
def test_person_id_number_is_checked_and_never_echoed(row):
    cid = row["id_no"]
    broken = cid[:-1] + ("0" if cid[-1] != "0" else "1")
    _, errors = validate_row(PENALTY, {**row, "id_no": broken}, today=TODAY)
    assert [(e.field, e.code) for e in errors] == [("id_no", "invalid_citizen_id")]
    assert broken not in errors[0].message and cid not in errors[0].message


def test_accepted_values_are_normalised():
    row = valid_penalty(5, date(2024, 3, 5), "法人及非法人组织")
    messy = {**row, "uscc": row["uscc"].lower().translate(FULL), "decision_date": "45356",
             "valid_until": "长期", "penalty_category": " 警告、罚款 ", "fine_amount": "１,２３４.５０",
             "org_code": "d2143569-x", "remarks": "—"}
    out, errors = validate_row(PENALTY, messy, today=TODAY)
    assert errors == []
    assert out["uscc"] == row["uscc"]
    assert out["decision_date"] == "2024-03-05"
    assert out["valid_until"] == "2099-12-31"
    assert out["penalty_category"] == "警告；罚款"
    assert out["fine_amount"] == "1234.5"
    assert out["org_code"] == "D2143569X"
    assert out["remarks"] is None  # a dash is "no value"


def test_a_lone_dash_in_a_required_field_is_missing_not_a_formula():
    row = valid_penalty(6, date(2024, 3, 5), "法人及非法人组织")
    _, errors = validate_row(PENALTY, {**row, "violation_type": "-"}, today=TODAY)
    assert [(e.field, e.code) for e in errors] == [("violation_type", "required")]


def test_column_validation_matches_row_validation():
    rng = random.Random(3)
    raw = [valid_penalty(rng.randrange(10**6), date(2020, 1, 1) + timedelta(days=rng.randrange(2000)),
                         rng.choice(["法人及非法人组织", "个体工商户", "自然人"])) for _ in range(120)]
    for i, (mutate, _, _) in enumerate(CORRUPTIONS * 3):
        raw[i * 3] = mutate(raw[i * 3])
    validator = row_validator(PENALTY, TODAY)
    result = validator.validate_columns({c: [r.get(c) for r in raw] for c in validator.field_order}, len(raw))
    for i, r in enumerate(raw):
        out, errors = validate_row(PENALTY, r, today=TODAY)
        assert result.row(i) == out
        assert result.errors.get(i, []) == errors
