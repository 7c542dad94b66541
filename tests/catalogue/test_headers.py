"""Column headers in every variant departments write map back to the right field."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyong.catalogue import load_catalogue, normalize_header

CATALOGUE = load_catalogue()
HEADERS = [(r.code, f.code, text) for r in CATALOGUE for f in r.fields for text in (f.label, f.code, *f.aliases)]
BRACKETED = [(r.code, f.code, f.label) for r in CATALOGUE for f in r.fields if re.search(r"[(（][^()（）]+[)）]$", f.label)]
SPACES = st.text(alphabet=[" ", "\t", "\u3000", "\u00a0"], max_size=3)


def _vary_brackets(draw, text: str) -> str:
    out = []
    for ch in text:
        if ch in "(（":
            ch = draw(st.sampled_from(["(", "（"]))
        elif ch in ")）":
            ch = draw(st.sampled_from([")", "）"]))
        out.append(ch)
    return "".join(out)


@st.composite
def header_variant(draw):
    resource, field, text = draw(st.sampled_from(HEADERS))
    variant = _vary_brackets(draw, text)
    if draw(st.booleans()):
        variant += draw(st.sampled_from(["*", "＊", " *"]))
    if text == field and draw(st.booleans()):
        variant = variant.upper()
    return resource, field, draw(SPACES) + variant + draw(SPACES)


@settings(max_examples=400, deadline=None)
@given(header_variant())
def test_every_label_code_and_alias_variant_matches(case):
    resource, field, header = case
    found = CATALOGUE.get(resource).field_by_header(header)
    assert found is not None and found.code == field, (resource, header)


@st.composite
def bracket_part(draw):
    resource, field, label = draw(st.sampled_from(BRACKETED))
    m = re.match(r"^(.*?)[(（]([^()（）]+)[)）]$", label)
    part = draw(st.sampled_from([p for p in (m.group(1), m.group(2)) if p]))
    return resource, field, draw(SPACES) + part + draw(SPACES)


@settings(max_examples=200, deadline=None)
@given(bracket_part())
def test_bracketed_part_alone_never_matches_the_wrong_field(case):
    resource, field, header = case
    found = CATALOGUE.get(resource).field_by_header(header)
    # Ambiguous parts (two fields share the unit "万元") match nothing rather than a wrong field.
    assert found is None or found.code == field, (resource, header)


@pytest.mark.parametrize("resource", ["admin_penalty", "admin_license"])
@pytest.mark.parametrize(("header", "code"), [
    ("行政相对人代码_1（统一社会信用代码）", "uscc"),
    ("行政相对人代码_1(统一社会信用代码)", "uscc"),
    ("统一社会信用代码", "uscc"),
    (" uscc ", "uscc"),
    ("行政相对人代码_1", "uscc"),
    ("工商注册号", "reg_no"),
    ("组织机构代码", "org_code"),
    ("税务登记号", "tax_no"),
    ("事业单位证书号", "institution_no"),
    ("社会组织登记证号", "social_org_no"),
    ("行政相对人名称*", "subject_name"),
    ("　证件号码　", "id_no"),
])
def test_double_publicity_header_forms(resource, header, code):
    assert CATALOGUE.get(resource).field_by_header(header).code == code


def test_units_alone_do_not_match_and_unknown_headers_are_none():
    penalty = CATALOGUE.get("admin_penalty")
    assert penalty.field_by_header("罚款金额").code == "fine_amount"
    assert penalty.field_by_header("罚款金额(万元)").code == "fine_amount"
    assert penalty.field_by_header("万元") is None
    assert penalty.field_by_header("不存在的列") is None
    assert penalty.map_headers(["处罚机关", "x", "处罚类别"]) == [
        penalty.field("authority"), None, penalty.field("penalty_category")]


def test_normalize_header():
    assert normalize_header(" 行政相对人代码_1（统一社会信用代码） ") == normalize_header("行政相对人代码_1(统一社会信用代码)")
    assert normalize_header("ＵＳＣＣ") == "uscc"
    assert normalize_header("【备注】") == "(备注)"
