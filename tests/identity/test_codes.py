"""Validation and normalisation of USCCs, organisation codes and citizen IDs."""

from __future__ import annotations

import json
import random
import string
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from xinyong.identity.codes import (
    CodeResult,
    check_citizen_id,
    check_org_code,
    check_uscc,
    detect_and_check,
    generate_citizen_id,
    generate_org_code,
    generate_uscc,
    mask_citizen_id,
    normalize_code,
    upgrade_citizen_id,
)

DIGITS = string.digits
# Restated from GB 32100 on purpose rather than imported: I, O, S, V, Z are not used.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
ORG_BODY_CHARS = string.digits + string.ascii_uppercase  # value = index, A=10 … Z=35
TODAY = date(2025, 6, 1)

# (registration authority, organisation type) pairs seen in real codes.
AUTHORITY_TYPES = [
    ("1", "1"), ("1", "2"), ("1", "9"), ("3", "1"), ("5", "1"), ("5", "2"),
    ("5", "3"), ("7", "1"), ("8", "1"), ("9", "1"), ("9", "2"), ("9", "3"),
]
USCC_REGIONS = ["440604", "440600", "440000", "110000", "110105", "330106", "650102", "449999"]
# Counties python-stdnum lists without a validity period, so its region-versus-birth-year
# rule accepts every birth year and its verdict can be compared with ours one to one.
# (Chosen among those where stdnum's table lookup is quick, to keep the 100k loop fast.)
STDNUM_STABLE_REGIONS = [
    "110101", "110102", "110105", "110108", "120101", "120104",
    "140121", "210224", "310101", "310104", "330122",
]


def gb11714_check(body: str) -> str:
    """Reference GB 11714 check character, written from the standard."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    c9 = 11 - sum(ORG_BODY_CHARS.index(ch) * w for ch, w in zip(body, weights)) % 11
    return {10: "X", 11: "0"}.get(c9, str(c9))


def replace_at(code: str, pos: int, ch: str) -> str:
    return code[:pos] + ch + code[pos + 1 :]


def assert_no_full_id(result: CodeResult, *ids: str) -> None:
    for cid in ids:
        assert cid not in result.message
        assert all(cid not in value for value in result.parts.values())


# --- known answers ---------------------------------------------------------------------


def test_real_uscc_is_valid_and_split_into_parts():
    result = check_uscc("91110000600037341L")
    assert result.valid and result.kind == "uscc" and result.error is None
    assert result.message == "统一社会信用代码有效"
    assert result.parts == {
        "registration_authority": "9",
        "registration_authority_label": "工商/市场监管",
        "org_type": "1",
        "org_type_label": "企业",
        "region": "110000",
        "region_name": "北京市",
        "org_code": "600037341",
        "org_code_valid": "true",
    }


@pytest.mark.parametrize(
    ("authority", "label"),
    [("1", "机构编制"), ("5", "民政"), ("9", "工商/市场监管")],
)
def test_uscc_registration_authority_labels(authority, label):
    code = generate_uscc(random.Random(1), authority=authority, org_type="1")
    assert check_uscc(code).parts["registration_authority_label"] == label


def test_uscc_with_non_gb11714_body_is_still_valid_and_says_so():
    # Individual businesses often carry a body that is no organisation code.
    body = "92440604" + "123456780"
    assert gb11714_check("12345678") != "0"
    code = body + uscc.calc_check_digit(body)
    result = check_uscc(code)
    assert result.valid
    assert result.parts["org_code"] == "123456780"
    assert result.parts["org_code_valid"] == "false"
    assert result.parts["org_type_label"] == "个体工商户"


def test_uscc_wrong_check_digit_names_the_expected_character():
    result = check_uscc("91110000600037341X")
    assert not result.valid and result.error == "bad_check_digit"
    assert "最后一位应为 L" in result.message
    assert "核对" in result.message


@pytest.mark.parametrize(
    ("value", "error", "fragment"),
    [
        ("", "empty", "为空"),
        ("9111000060003734", "bad_length", "当前为16位"),
        ("9111000O600037341L", "bad_format", "第8位“O”"),  # letter O for digit 0
        ("A1110000600037341L", "bad_format", "第1位"),  # stdnum rejects letters in the first 8
        ("9111000060003734IL", "bad_format", "不使用 I、O、S、V、Z"),
    ],
)
def test_uscc_errors_are_specific(value, error, fragment):
    result = check_uscc(value)
    assert not result.valid and result.kind == "uscc"
    assert result.error == error
    assert fragment in result.message
    assert result.valid == uscc.is_valid(value)


def test_gb11714_example_and_edge_check_characters():
    assert check_org_code("D2143569-X").valid  # the example printed in GB 11714
    assert check_org_code("600037341").valid  # embedded in 91110000600037341L
    assert check_org_code("000000000").valid  # sum ≡ 0 → 11 → "0"
    result = check_org_code("d2143569－x")
    assert result.normalized == "D2143569X"
    assert result.parts == {"body": "D2143569", "check_digit": "X", "formatted": "D2143569-X"}
    bad = check_org_code("D2143569-1")
    assert bad.error == "bad_check_digit" and "校验码应为 X" in bad.message
    assert check_org_code("D2143569").error == "bad_length"
    assert check_org_code("D2143569-Y").error == "bad_format"
    assert check_org_code("D21435_9X").error == "bad_format"


def test_gb11643_example_and_legacy_upgrade():
    result = check_citizen_id("11010519491231002X")  # example from GB 11643
    assert result.valid
    assert result.parts["birth_date"] == "1949-12-31"
    assert result.parts["gender"] == "女"
    assert result.parts["region"] == "110105"
    assert result.parts["region_name"] == "北京市朝阳区"
    assert "converted_from_15" not in result.parts


def test_legacy_15_digit_id_is_upgraded_to_hand_computed_18():
    # 330106 900101 123 → body 33010619900101123
    # weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2:
    # 21+27+0+5+0+24+2+9+54+0+0+9+0+5+8+8+6 = 178; 178 mod 11 = 2 → "X" (1 0 X 9 8 7 6 5 4 3 2)
    assert upgrade_citizen_id("330106900101123") == "33010619900101123X"
    result = check_citizen_id("330106 900101 123")
    assert result.valid and result.kind == "citizen_id"
    assert result.normalized == "33010619900101123X"
    assert result.parts["converted_from_15"] == "true"
    assert result.parts["birth_date"] == "1990-01-01"
    assert result.parts["gender"] == "男"
    assert "15位" in result.message
    assert_no_full_id(result, "330106900101123", "33010619900101123X")
    # the pair published with GB 11643
    assert check_citizen_id("110105491231002").normalized == "11010519491231002X"
    assert check_citizen_id("110105491231002").parts["birth_date"] == "1949-12-31"


def test_legacy_id_with_impossible_date_is_rejected():
    result = check_citizen_id("110105900230123")
    assert result.error == "bad_birth_date" and "第7–12位" in result.message


# --- citizen ID rules --------------------------------------------------------------------


def with_check(body17: str) -> str:
    return body17 + ric.calc_check_digit(body17 + "0")


@pytest.mark.parametrize(
    ("cid", "error", "fragment"),
    [
        (with_check("11010519900230123"), "bad_birth_date", "不是有效日期"),  # 30 Feb
        (with_check("11010518991231123"), "bad_birth_date", "早于1900年"),
        (with_check("11010520250602123"), "bad_birth_date", "晚于今天"),
        (with_check("99010519900101123"), "bad_region", "“99”"),
        (with_check("11010519900101123")[:-1] + "0", "bad_check_digit", "最后一位应为"),
        ("1101051990O101123X", "bad_format", "是否应为数字 0"),
        ("11010519900101123Y", "bad_format", "最后一位"),
        ("1101051990010112", "bad_length", "当前为16位"),
        ("", "empty", "为空"),
    ],
)
def test_citizen_id_errors_are_specific_and_never_echo_the_id(cid, error, fragment):
    result = check_citizen_id(cid, today=TODAY)
    assert not result.valid and result.kind == "citizen_id"
    assert result.error == error
    assert fragment in result.message
    if cid:
        assert_no_full_id(result, normalize_code(cid))


def test_birth_date_today_is_accepted_tomorrow_is_not():
    assert check_citizen_id(with_check("11010520250601123"), today=TODAY).valid
    assert check_citizen_id(with_check("11010520250602123"), today=TODAY).error == "bad_birth_date"


def test_unknown_region_is_accepted_with_code_in_parts():
    cid = with_check("44999919900101123")
    result = check_citizen_id(cid)
    assert result.valid
    assert result.parts["region"] == "449999"
    # stdnum rejects unknown regions (for this one its lookup even raises KeyError)
    with pytest.raises((ValidationError, KeyError)):
        ric.validate(cid)


def test_region_created_after_birth_is_accepted_unlike_stdnum():
    # 禅城区 (440604) exists since 2002, yet people born earlier are issued numbers under it.
    cid = with_check("44060419900101123")
    assert check_citizen_id(cid).valid
    assert check_citizen_id(cid).parts["region_name"] == "广东省佛山市禅城区"
    assert not ric.is_valid(cid)
    assert ric.calc_check_digit(cid) == cid[-1]  # only stdnum's region/year rule differs


def test_gender_follows_parity_of_17th_digit_and_lowercase_x_is_accepted():
    rng = random.Random(7)
    for gender in ("男", "女"):
        for _ in range(50):
            cid = generate_citizen_id(rng, gender=gender)
            assert check_citizen_id(cid).parts["gender"] == gender
    assert check_citizen_id("11010519491231002x").valid


# --- property tests against python-stdnum ------------------------------------------------


def single_substitutions(rng: random.Random, codes: list[str], allowed_at) -> list[str]:
    """One random single-character substitution of each code."""
    out = []
    for code in codes:
        pos = rng.randrange(len(code))
        out.append(replace_at(code, pos, rng.choice(allowed_at(pos).replace(code[pos], ""))))
    return out


def test_100k_generated_usccs_agree_with_stdnum_and_single_substitutions_fail():
    rng = random.Random(32100)
    codes = []
    for _ in range(100_000):
        authority, org_type = rng.choice(AUTHORITY_TYPES)
        codes.append(generate_uscc(rng, authority=authority, org_type=org_type, region=rng.choice(USCC_REGIONS)))
    assert len(set(codes)) > 99_000
    assert [c for c in codes if not uscc.is_valid(c)] == []
    results = [check_uscc(c) for c in codes]
    assert [r.normalized for r in results if not r.valid] == []
    assert [r.normalized for r in results if r.parts["org_code_valid"] != "true"] == []
    assert [c for c in codes[::10] if gb11714_check(c[8:16]) != c[16]] == []

    # one random substitution of every fifth code, as stdnum's calls dominate the run time;
    # every possible substitution of a smaller sample is tried in the next test
    mutants = single_substitutions(rng, codes[::5], lambda pos: USCC_ALPHABET)
    assert [m for m in mutants if check_uscc(m).valid] == []
    assert [m for m in mutants if uscc.is_valid(m)] == []


def test_every_single_substitution_of_a_uscc_is_rejected():
    weights = [pow(3, i, 31) for i in range(17)]
    assert weights == [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]  # GB 32100 table
    # No weight is ≡ 0 and 31 is prime, so a substitution (shift 1…30) always moves the sum.
    assert all(w * delta % 31 for w in weights for delta in range(1, 31))
    rng = random.Random(11)
    for _ in range(25):
        authority, org_type = rng.choice(AUTHORITY_TYPES)
        code = generate_uscc(rng, authority=authority, org_type=org_type)
        for pos in range(18):
            for ch in USCC_ALPHABET.replace(code[pos], ""):
                mutated = replace_at(code, pos, ch)
                result = check_uscc(mutated)
                assert not result.valid and not uscc.is_valid(mutated)
                assert result.error == ("bad_format" if pos < 8 and ch not in DIGITS else "bad_check_digit")


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    authority=st.sampled_from(DIGITS),
    org_type=st.sampled_from(DIGITS),
    region=st.text(DIGITS, min_size=6, max_size=6),
)
def test_generated_uscc_any_parameters_valid(seed, authority, org_type, region):
    code = generate_uscc(random.Random(seed), authority=authority, org_type=org_type, region=region)
    assert code[:8] == authority + org_type + region
    assert check_uscc(code).valid and uscc.is_valid(code)


@settings(max_examples=200, deadline=None)
@given(st.text(USCC_ALPHABET + "IOSVZ", min_size=18, max_size=18))
def test_uscc_verdict_equals_stdnum_on_arbitrary_strings(value):
    assert check_uscc(value).valid == uscc.is_valid(value)


@settings(max_examples=200, deadline=None)
@given(st.text(DIGITS, min_size=8, max_size=8), st.text(USCC_ALPHABET, min_size=9, max_size=9))
def test_uscc_verdict_equals_stdnum_on_well_formed_bodies(head, tail):
    body = head + tail
    code = body + uscc.calc_check_digit(body)
    assert check_uscc(code).valid and uscc.is_valid(code)
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    assert not check_uscc(wrong).valid and not uscc.is_valid(wrong)


def test_100k_generated_citizen_ids_agree_with_stdnum_and_single_substitutions_fail():
    rng = random.Random(11643)
    ids = [generate_citizen_id(rng, region=rng.choice(STDNUM_STABLE_REGIONS)) for _ in range(100_000)]
    assert len(set(ids)) > 99_000
    assert [c for c in ids if not ric.is_valid(c)] == []
    results = [check_citizen_id(c, today=TODAY) for c in ids]
    assert [r.parts for r in results if not r.valid] == []
    births = [r.parts["birth_date"] for r in results]
    assert "1950-01-01" <= min(births) and max(births) <= "2005-12-31"

    mutants = single_substitutions(rng, ids[::5], lambda pos: DIGITS + "X" if pos == 17 else DIGITS)
    assert [m for m in mutants if check_citizen_id(m, today=TODAY).valid] == []
    assert [m for m in mutants if ric.is_valid(m)] == []


def test_citizen_check_digit_catches_every_single_substitution():
    weights = [pow(2, 17 - i, 11) for i in range(17)]
    assert weights == [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]  # GB 11643 table
    # A substitution d → d' moves the sum by w·(d' − d) with 0 < |d' − d| < 11; 11 is prime
    # and no weight is ≡ 0, so the sum mod 11 always changes — even inside the birth date.
    assert all(w * delta % 11 for w in weights for delta in range(1, 10))
    rng = random.Random(5)
    for _ in range(100):
        cid = generate_citizen_id(rng, region=rng.choice(STDNUM_STABLE_REGIONS))
        for pos in range(18):
            allowed = DIGITS + "X" if pos == 17 else DIGITS
            for ch in allowed.replace(cid[pos], ""):
                mutated = replace_at(cid, pos, ch)
                assert not check_citizen_id(mutated, today=TODAY).valid
                assert not ric.is_valid(mutated)


@settings(max_examples=200, deadline=None)
@given(
    region=st.sampled_from(STDNUM_STABLE_REGIONS),
    born=st.dates(date(1900, 1, 1), TODAY),
    seq=st.integers(0, 999),
    last=st.sampled_from(DIGITS + "X"),
)
def test_citizen_verdict_equals_stdnum(region, born, seq, last):
    cid = f"{region}{born:%Y%m%d}{seq:03d}{last}"
    assert check_citizen_id(cid, today=TODAY).valid == ric.is_valid(cid)


def test_generated_org_codes_valid_and_typos_rejected_as_far_as_gb11714_can():
    rng = random.Random(11714)
    for _ in range(5_000):
        code = generate_org_code(rng)
        assert check_org_code(code).valid and gb11714_check(code[:8]) == code[8]
        assert check_org_code(f"{code[:8]}-{code[8]}").normalized == code
        pos = rng.randrange(8)
        digit = rng.choice(DIGITS.replace(code[pos], ""))
        if code[pos] in DIGITS:  # a digit typed wrong is always caught
            assert not check_org_code(replace_at(code, pos, digit)).valid
        ch = rng.choice(ORG_BODY_CHARS.replace(code[pos], ""))
        shift = ORG_BODY_CHARS.index(ch) - ORG_BODY_CHARS.index(code[pos])
        # letters run to 35, so values 11 apart (0/B, 1/C, A/L …) share a residue mod 11
        assert check_org_code(replace_at(code, pos, ch)).valid == (shift % 11 == 0)
        wrong_check = rng.choice((DIGITS + "X").replace(code[8], ""))
        assert check_org_code(code[:8] + wrong_check).error == "bad_check_digit"


def test_gb11714_cannot_tell_characters_eleven_apart():
    # D (13) and 2 (2) differ by 11: a limitation of the standard, not of this code.
    assert check_org_code("D2143569X").valid and check_org_code("22143569X").valid


# --- normalisation -------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_normalize_is_idempotent_and_strips_separators(value):
    once = normalize_code(value)
    assert normalize_code(once) == once
    assert not any(ch.isspace() or ch in "-－—–" for ch in once)
    assert not any(ch in string.ascii_lowercase for ch in once)


FULLWIDTH = {ch: chr(ord(ch) + 0xFEE0) for ch in string.digits + string.ascii_letters}
SEPARATORS = ["", "", "", " ", "\u3000", "\u00a0", "\t", "-", "－", "—", "–", "\u200b"]


@st.composite
def decorated(draw, code: str) -> str:
    out = []
    for ch in code:
        out.append(draw(st.sampled_from(SEPARATORS)))
        if draw(st.booleans()):
            ch = ch.lower()
        if draw(st.booleans()):
            ch = FULLWIDTH.get(ch, ch)
        out.append(ch)
    out.append(draw(st.sampled_from(SEPARATORS)))
    return "".join(out)


@st.composite
def decorated_code(draw):
    rng = random.Random(draw(st.integers(0, 2**32)))
    kind = draw(st.sampled_from(["uscc", "org_code", "citizen_id"]))
    code = {
        "uscc": lambda: generate_uscc(rng),
        "org_code": lambda: generate_org_code(rng),
        "citizen_id": lambda: generate_citizen_id(rng),
    }[kind]()
    return kind, code, draw(decorated(code))


@settings(max_examples=150, deadline=None)
@given(decorated_code())
def test_full_width_lower_case_spaces_and_hyphens_normalise_to_the_valid_code(case):
    kind, code, messy = case
    assert normalize_code(messy) == code
    result = detect_and_check(messy)
    assert result.valid and result.kind == kind and result.normalized == code
    check = {"uscc": check_uscc, "org_code": check_org_code, "citizen_id": check_citizen_id}[kind]
    assert check(messy).valid


def test_full_width_example():
    assert normalize_code("９１１１　００００－６０００３７３４１ｌ") == "91110000600037341L"
    assert check_uscc("９１１１　００００－６０００３７３４１ｌ").valid
    assert normalize_code(" 9111 0000—6000 3734\u00a01l ") == "91110000600037341L"


# --- detection -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "valid"),
    [
        ("91110000600037341L", "uscc", True),
        ("91110000600037341X", "uscc", False),
        ("11010519491231002X", "citizen_id", True),
        ("11010519491231002", None, False),  # 17 chars
        ("110105491231002", "citizen_id", True),
        ("D2143569-X", "org_code", True),
        ("D2143569X", "org_code", True),
        ("D21435691", "org_code", False),
        ("12345", None, False),
        ("11010549123100A", None, False),  # 15 chars but not digits
        ("   ", None, False),
    ],
)
def test_detect_and_check_by_shape(value, kind, valid):
    result = detect_and_check(value, today=TODAY)
    assert result.kind == kind and result.valid is valid


def test_unrecognised_value_explains_the_accepted_kinds():
    result = detect_and_check("1234567890")
    assert result.error == "unrecognised" and result.kind is None
    assert "18位统一社会信用代码" in result.message and "9位组织机构代码" in result.message
    assert "当前为10位" in result.message
    assert detect_and_check("").error == "empty"


def test_value_valid_as_both_citizen_id_and_uscc_is_treated_as_citizen_id():
    rng = random.Random(3)
    cid = next(c for c in (generate_citizen_id(rng, region="110105") for _ in range(10_000)) if uscc.is_valid(c))
    assert check_uscc(cid).valid and check_citizen_id(cid).valid
    result = detect_and_check(cid)
    assert result.kind == "citizen_id" and result.valid
    assert result.to_public_dict()["normalized"] == mask_citizen_id(cid)


def test_id_shaped_valid_uscc_is_treated_as_uscc():
    # Feb 30 looks like a birth date but is not one; the USCC check digit is right.
    code = next(
        c
        for c in (f"11010519900230{n:03d}" + uscc.calc_check_digit(f"11010519900230{n:03d}") for n in range(1000))
        if c[-1] in DIGITS + "X"
    )
    assert not check_citizen_id(code).valid
    result = detect_and_check(code)
    assert result.kind == "uscc" and result.valid
    assert "也像公民身份号码" in result.message  # it may just as well be a mistyped ID
    assert result.to_public_dict()["normalized"] == mask_citizen_id(code)


def test_id_shaped_value_valid_as_neither_is_diagnosed_as_citizen_id():
    cid = with_check("11010519900230123")
    assert not uscc.is_valid(cid)
    result = detect_and_check(cid)
    assert result.kind == "citizen_id" and result.error == "bad_birth_date"
    # a USCC with letters never is
    assert detect_and_check("91440604MA4UXXXX1Y").kind == "uscc"


# --- masking and safe output -----------------------------------------------------------


def test_mask_examples():
    assert mask_citizen_id("330106199001011234") == "3301**********1234"
    assert mask_citizen_id("110105491231002") == "1101*******1002"
    assert mask_citizen_id("12345") == "***45"
    assert mask_citizen_id("ab") == "**"
    assert mask_citizen_id("") == ""


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32))
def test_mask_never_shows_more_than_eight_characters_of_an_id(seed):
    cid = generate_citizen_id(random.Random(seed))
    masked = mask_citizen_id(cid)
    assert len(masked) == len(cid)
    assert sum(ch != "*" for ch in masked) <= 8
    assert masked[4:14] == "*" * 10  # the birth date is always hidden
    assert cid not in masked


def test_to_dict_is_json_ready_and_public_dict_hides_citizen_ids():
    cid = "11010519491231002X"
    result = check_citizen_id(cid)
    data = result.to_dict()
    assert set(data) == {"valid", "kind", "normalized", "message", "error", "parts"}
    json.dumps(data, ensure_ascii=False)
    public = result.to_public_dict()
    text = json.dumps(public, ensure_ascii=False)
    assert cid not in text and "19491231" not in text and "1949-12-31" not in text
    assert public["normalized"] == "1101**********002X"
    assert public["parts"] == {"gender": "女"}
    # company codes are public information and stay in clear
    assert check_uscc("91110000600037341L").to_public_dict() == check_uscc("91110000600037341L").to_dict()


def test_citizen_id_checked_as_uscc_is_still_masked():
    cid = with_check("11010519900101123")
    public = check_uscc(cid).to_public_dict()
    assert cid not in json.dumps(public, ensure_ascii=False)


# --- generators ------------------------------------------------------------------------


def test_generators_validate_their_arguments():
    rng = random.Random(0)
    with pytest.raises(ValueError):
        generate_uscc(rng, authority="N")  # stdnum accepts only digits in the first 8
    with pytest.raises(ValueError):
        generate_uscc(rng, region="4406")
    with pytest.raises(ValueError):
        generate_citizen_id(rng, birth_from=date(2000, 1, 1), birth_to=date(1999, 1, 1))
    cid = generate_citizen_id(rng, region="330106", birth_from=date(1980, 5, 5), birth_to=date(1980, 5, 5))
    assert cid.startswith("33010619800505")
    assert generate_uscc(random.Random(9)) == generate_uscc(random.Random(9))  # reproducible
