"""The default catalogue: content, lawfulness and the double-publicity reference fields."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xinyong.catalogue import (
    CATEGORIES,
    DEFAULT_DIR,
    Catalogue,
    UnknownResource,
    known_department_codes,
    load_catalogue,
    validate_catalogue,
)

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared/reference/double-publicity.md"


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def test_default_catalogue_is_valid_and_large_enough(catalogue):
    assert validate_catalogue(DEFAULT_DIR) == []
    assert len(catalogue) >= 25
    assert len(catalogue.sectors) >= 10
    assert catalogue.version and re.fullmatch(r"[0-9a-f]{12}", catalogue.version)
    # Every national base catalogue category is represented.
    assert set(CATEGORIES) == {r.category for r in catalogue}


def test_default_load_is_cached_and_stable(catalogue):
    assert load_catalogue() is catalogue
    again = load_catalogue(DEFAULT_DIR)  # explicit directory: a fresh, equal load
    assert again is not catalogue
    assert again.version == catalogue.version
    assert again.codes == catalogue.codes


def test_a_configured_directory_is_loaded_once(tmp_path, monkeypatch):
    """A deployment's own catalogue (XINYONG_CATALOGUE_DIR) is cached like the default: the
    pages and the API ask for it on every request and must not rescan the YAML each time."""
    import shutil

    from xinyong.catalogue import clear_catalogue_cache
    from xinyong.config import reset_settings
    from xinyong.portal import service as portal

    shutil.copytree(DEFAULT_DIR, tmp_path / "catalogue")
    monkeypatch.setenv("XINYONG_CATALOGUE_DIR", str(tmp_path / "catalogue"))
    reset_settings()
    clear_catalogue_cache()
    try:
        first = portal.catalogue()
        assert load_catalogue() is first and portal.catalogue() is first
    finally:
        monkeypatch.delenv("XINYONG_CATALOGUE_DIR")
        reset_settings()
        clear_catalogue_cache()


def test_order_follows_national_categories(catalogue):
    rank = [CATEGORIES.index(r.category) for r in catalogue]
    assert rank == sorted(rank)


def test_get_unknown_code_is_a_chinese_key_error(catalogue):
    with pytest.raises(KeyError) as info:
        catalogue.get("no_such_resource")
    assert isinstance(info.value, UnknownResource)
    assert "no_such_resource" in str(info.value) and "没有资源" in str(info.value)
    assert "admin_penalty" in catalogue
    assert catalogue.get("admin_penalty").name == "行政处罚信息"


def test_required_resources_present(catalogue):
    for code in ("admin_license", "admin_penalty", "enterprise_registration", "individual_business_registration",
                 "social_organization_registration", "public_institution_registration",
                 "dishonest_judgment_debtors", "major_tax_violations", "market_serious_dishonesty",
                 "wage_arrears_blacklist", "procurement_serious_violations", "business_abnormality",
                 "tax_a_grade_taxpayers", "contract_honouring_enterprises", "credit_commitments",
                 "key_profession_records", "environmental_credit_ratings", "construction_bad_behavior",
                 "transport_dishonesty", "safety_production_blacklist", "statistical_serious_dishonesty",
                 "food_drug_violations", "medical_insurance_violations", "social_insurance_arrears",
                 "admin_inspection", "honours", "tax_credit_ratings", "customs_advanced_certified",
                 "utility_arrears", "professional_qualifications"):
        assert code in catalogue, code


def test_lists_have_expected_kinds(catalogue):
    black = {r.code for r in catalogue.lists("black")}
    assert {"dishonest_judgment_debtors", "major_tax_violations", "market_serious_dishonesty",
            "wage_arrears_blacklist", "procurement_serious_violations", "safety_production_blacklist",
            "statistical_serious_dishonesty"} <= black
    assert catalogue.get("business_abnormality").list_kind == "watch"
    red = {r.code for r in catalogue.lists("red")}
    assert {"tax_a_grade_taxpayers", "contract_honouring_enterprises", "customs_advanced_certified"} <= red
    for r in catalogue.lists("red"):
        assert r.polarity == "positive"
    assert {r.code for r in catalogue.double_publicity()} == {"admin_license", "admin_penalty"}


def test_every_negative_resource_and_list_names_a_legal_basis(catalogue):
    for r in catalogue:
        if r.polarity == "negative" or r.list_kind:
            assert r.legal_basis, r.code
            assert all(b.strip().startswith(("《", "省级")) for b in r.legal_basis), r.code


def test_unlawful_categories_are_excluded(catalogue):
    text = " ".join(f"{r.name} {r.description or ''}" for r in catalogue)
    assert "社会抚养费" not in text
    assert "网络言论" not in text
    excluded = {e.name for e in catalogue.excluded}
    assert "社会抚养费征收信息" in excluded and "个人网络言论评分" in excluded
    assert "社会抚养费" in (DEFAULT_DIR / "_catalogue.yaml").read_text(encoding="utf-8")


def test_departments_exist(catalogue):
    known = known_department_codes()
    for r in catalogue:
        assert set(r.source_departments) <= known, r.code


def test_natural_person_data_is_flagged_personal(catalogue):
    for r in catalogue:
        for f in r.fields:
            if f.type in ("citizen_id", "phone") or f.validate_as:
                assert f.personal, (r.code, f.code)
        if "natural_person" in r.subject_kinds:
            cid = r.field(r.subject_fields.citizen_id)
            assert cid.personal, r.code
    key = catalogue.get("key_profession_records")
    assert key.subject_kinds == ["natural_person"] and key.disclosure == "government"
    assert len(key.field("profession").enum_values) >= 20
    court = catalogue.get("dishonest_judgment_debtors")
    id_no = court.field("id_no")
    assert id_no.personal and id_no.public  # public court lists show masked IDs
    assert id_no in court.public_fields and id_no in court.personal_fields


def test_disclosure_windows(catalogue):
    penalty = catalogue.get("admin_penalty")
    w = penalty.disclosure_window
    assert "58号令" in w.basis
    assert (w.periods["minor"].min_months, w.periods["minor"].max_months) == (0, 0)
    assert not w.periods["minor"].published
    assert (w.periods["general"].min_months, w.periods["general"].max_months) == (3, 12)
    assert (w.periods["serious"].min_months, w.periods["serious"].max_months) == (12, 36)
    assert penalty.severity_of({"penalty_category": "警告"}) == "minor"
    assert penalty.severity_of({"penalty_category": "警告；罚款"}) == "general"
    assert penalty.severity_of({"penalty_category": ["罚款", "吊销许可证件"]}) == "serious"
    assert penalty.disclosure_period({"penalty_category": "通报批评"}).published is False

    court = catalogue.get("dishonest_judgment_debtors")
    assert court.disclosure_window.ends_when == {"performance_status": ["全部履行"]}
    assert court.matches(court.disclosure_window.ends_when, {"performance_status": "全部履行"})
    assert court.disclosure_period({"dishonest_behavior": "违反限制消费令"}).max_months == 24
    assert catalogue.get("major_tax_violations").disclosure_window.periods["general"].max_months == 36
    assert catalogue.get("market_serious_dishonesty").disclosure_window.periods["general"].max_months == 36


def test_admin_license_status_enum_has_labels(catalogue):
    status = catalogue.get("admin_license").field("status")
    assert status.enum_values == ["1", "2"]
    assert status.enum_label("1") == "有效" and status.enum_label("2") == "无效"
    assert status.match_enum("有效") == "1" and status.match_enum(" 2 ") == "2"
    assert status.match_enum("过期") is None


def test_conditional_requirements(catalogue):
    penalty = catalogue.get("admin_penalty")
    required = {f.code for f in penalty.required_for({"subject_category": "法人及非法人组织",
                                                      "penalty_category": "警告、罚款"})}
    assert {"uscc", "legal_rep", "fine_amount", "decision_no"} <= required
    assert "id_no" not in required
    person = {f.code for f in penalty.required_for({"subject_category": "自然人", "penalty_category": "警告"})}
    assert {"id_type", "id_no"} <= person and "uscc" not in person and "fine_amount" not in person
    id_no = penalty.field("id_no")
    assert id_no.validation_types({"id_type": "身份证"}, penalty) == ["string", "citizen_id"]
    assert id_no.validation_types({"id_type": "护照号"}, penalty) == ["string"]
    assert penalty.field("valid_until").open_ended_value == "2099-12-31"


def test_record_json_schema(catalogue):
    schema = catalogue.get("admin_penalty").record_json_schema()
    assert schema["properties"]["penalty_category"]["type"] == "array"
    assert schema["properties"]["fine_amount"]["type"] == "number"
    assert schema["properties"]["decision_date"]["format"] == "date"
    assert "subject_name" in schema["required"] and "fine_amount" not in schema["required"]


# --- the double-publicity reference -----------------------------------------------------------


def _parse_reference(text: str) -> dict[str, list[dict]]:
    """Rows of the two tables in double-publicity.md, license ranges expanded from the penalty table."""
    sections: dict[str, list[dict]] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"^## .*\((admin_\w+)\)", line)
        if m:
            current = sections.setdefault(m.group(1), [])
            continue
        if current is None or not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("#", "---") or set(cells[0]) <= {"-"}:
            continue
        num, label, code, notes = cells
        required = label.endswith("*")
        current.append({"num": num, "label": label.rstrip("*").strip(), "code": code,
                        "required": required, "notes": notes})
    penalty = sections["admin_penalty"]
    license_rows = []
    for row in sections["admin_license"]:
        m = re.match(r"^(\d+)[–-](\d+)$", row["num"])
        if m:  # "3–8 | 行政相对人代码_1 … _6 | as above": same rows as the penalty table
            license_rows.extend(penalty[int(m.group(1)) - 1:int(m.group(2))])
        else:
            license_rows.append(row)
    sections["admin_license"] = license_rows
    return sections


def _reference_enum(notes: str) -> tuple[list[str] | None, bool]:
    if notes.startswith("one or more of:"):
        return [v.strip() for v in notes.split(":", 1)[1].split(";")], True
    pairs = re.findall(r"(\d+) = ([^,\s]+)", notes)
    if pairs:
        return [v for v, _ in pairs], False
    if " / " in notes:
        return [v.strip() for v in notes.split(" / ")], False
    return None, False


@pytest.mark.skipif(not REFERENCE.exists(), reason="shared reference not checked out beside the repo")
@pytest.mark.parametrize("code", ["admin_penalty", "admin_license"])
def test_double_publicity_fields_match_reference(catalogue, code):
    rows = _parse_reference(REFERENCE.read_text(encoding="utf-8"))[code]
    resource = catalogue.get(code)
    assert [f.label for f in resource.fields] == [r["label"] for r in rows]
    assert [f.code for f in resource.fields] == [r["code"] for r in rows]
    assert [f.required for f in resource.fields] == [r["required"] for r in rows]
    for row in rows:
        values, multiple = _reference_enum(row["notes"])
        f = resource.field(row["code"])
        if values:
            assert f.type == "enum" and f.enum_values == values, row["code"]
            assert f.multiple is multiple
    for personal in ("legal_rep_id_no", "id_no"):
        assert resource.field(personal).personal and not resource.field(personal).public
    assert resource.field("uscc").required_when == {"subject_category": ["法人及非法人组织"]}
    assert resource.field("uscc").type == "uscc"
    assert resource.field("valid_until").type == "date"
    if code == "admin_penalty":
        assert resource.field("fine_amount").required_when == {"penalty_category": ["罚款"]}
        assert resource.field("fine_amount").type == "decimal"
        assert resource.natural_key == ["decision_no", "authority"]
