"""Property tests for the password policy, the purpose-of-access parser and the pending TOTP
enrolment field (no database)."""

from __future__ import annotations

import base64
import string
import unicodedata
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from xinyong.accounts.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    check_password_policy,
    generate_password,
    password_problems,
)
from xinyong.accounts.purposes import load_purposes, parse_purpose
from xinyong.accounts.service import TOTP_PENDING_MINUTES, TOTP_PENDING_TAG, seal_totp_pending, open_totp_pending
from xinyong.identity.crypto import Keyring
from xinyong.errors import Forbidden, InvalidInput

PURPOSES = load_purposes()
STAFF_CODES = sorted(c for c, d in PURPOSES.items() if "dept_querier" in d.roles)
PLAIN_CODES = sorted(c for c in STAFF_CODES if not PURPOSES[c].text_required)


def _cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


# -- password policy --------------------------------------------------------------------------


@given(st.text(max_size=300))
def test_policy_never_crashes_and_explains_in_chinese(pw):
    problems = password_problems(pw, "alice")
    assert all(_cjk(p) for p in problems)
    if problems:
        with pytest.raises(InvalidInput) as exc:
            check_password_policy(pw, "alice")
        assert "密码要求" in exc.value.message and exc.value.code == "weak_password"
    else:
        check_password_policy(pw, "alice")
        # Whatever is accepted satisfies every rule.
        assert MIN_LENGTH <= len(pw) <= MAX_LENGTH
        assert not pw.isdigit() and len(set(pw)) > 1
        assert "alice" not in pw.casefold() and pw == pw.strip()


@given(st.text(alphabet=string.digits, min_size=1, max_size=200))
def test_all_digit_passwords_are_refused(pw):
    assert any("全是数字" in p or "太短" in p or "太长" in p for p in password_problems(pw))


@given(st.text(min_size=0, max_size=MIN_LENGTH - 1))
def test_short_passwords_are_refused(pw):
    assert any("太短" in p for p in password_problems(pw))


@given(st.text(alphabet=string.ascii_letters, min_size=6, max_size=40),
       st.text(alphabet=string.digits, min_size=4, max_size=20))
def test_letters_plus_digits_of_policy_length_are_accepted(letters, digits):
    pw = letters + digits
    assume("bob" not in pw.casefold())
    problems = password_problems(pw, "bob")
    assert problems == [] or problems == ["该密码是常见弱密码，请换一个。"]


@given(st.text(alphabet=string.ascii_lowercase + string.digits, min_size=3, max_size=12))
def test_password_containing_username_is_refused(name):
    assume(not name.isdigit())
    assert any("用户名" in p for p in password_problems(f"Xy-{name.upper()}-2024!", name))


@settings(max_examples=50)
@given(st.integers(min_value=12, max_value=40))
def test_generated_passwords_pass_the_policy(n):
    assert password_problems(generate_password(n)) == []


def test_examples():
    assert password_problems("Correct-Horse-42") == []
    assert password_problems("中文密码也可以用123") == []
    assert password_problems("aaaaaaaaaaaa")[0].startswith("密码不能由同一个字符")
    assert password_problems("abcdefghijk") == ["密码至少要包含字母、数字、符号（含汉字）中的两类。"]
    assert "常见弱密码" in "".join(password_problems("Password123"))
    assert "控制字符" in "".join(password_problems("Correct\x00Horse42"))


# -- purpose parsing --------------------------------------------------------------------------


# Printable text without digits (digit runs may be masked as ID numbers).
PURPOSE_TEXT = st.text(alphabet=st.characters(categories=("L", "P", "S", "Zs"), exclude_characters="\ufffd"),
                       min_size=1, max_size=120)


@given(st.sampled_from(PLAIN_CODES), PURPOSE_TEXT)
def test_header_text_roundtrips_through_urlencoding(code, text):
    clean = text.strip()
    assume(clean and unicodedata.normalize("NFC", clean) == clean)
    p = parse_purpose(code, quote(text), role="dept_querier", from_header=True)
    assert p.code == code and p.name == PURPOSES[code].name
    assert p.text == clean


@given(st.one_of(st.none(), st.text(max_size=80)), st.one_of(st.none(), st.text(max_size=300)),
       st.sampled_from(["dept_querier", "subject", "admin", "reviewer", "public"]), st.booleans())
def test_parser_only_accepts_known_codes_or_refuses_in_chinese(code, text, role, from_header):
    try:
        p = parse_purpose(code, text, role=role, from_header=from_header)
    except Forbidden as exc:
        assert exc.status_code == 403 and _cjk(exc.message)
        assert exc.code in {"purpose_required", "invalid_purpose", "purpose_not_allowed",
                            "invalid_purpose_text", "purpose_text_required"}
        return
    assert p.code in PURPOSES and role in PURPOSES[p.code].roles
    assert p.text is None or (0 < len(p.text) <= 200 and "\x00" not in p.text and p.text == p.text.strip())


@given(st.text(alphabet=string.digits, min_size=18, max_size=18))
def test_purpose_text_masks_id_numbers(digits):
    p = parse_purpose("admin_licensing", f"核查 {digits} 的许可申请", role="dept_querier")
    assert digits not in (p.text or "")


def test_refusals_list_the_valid_codes():
    with pytest.raises(Forbidden) as exc:
        parse_purpose(None, None, role="dept_querier")
    assert exc.value.code == "purpose_required"
    assert "admin_licensing（行政许可审查）" in exc.value.message and "self_query" not in exc.value.message
    with pytest.raises(Forbidden) as exc:
        parse_purpose("curiosity", None, role="dept_querier")
    assert exc.value.code == "invalid_purpose" and "government_procurement（政府采购）" in exc.value.message
    with pytest.raises(Forbidden) as exc:
        parse_purpose("self_query", None, role="dept_querier")
    assert exc.value.code == "purpose_not_allowed"
    with pytest.raises(Forbidden) as exc:
        parse_purpose("judicial_assistance", "", role="dept_querier")
    assert exc.value.code == "purpose_text_required"


def test_chinese_name_and_raw_utf8_header_are_understood():
    assert parse_purpose("政府采购", None, role="dept_querier").code == "government_procurement"
    # A client that sent raw UTF-8 bytes in a header: Starlette hands us latin-1 text.
    raw = "行政许可审查".encode().decode("latin-1")
    text = "（2026）佛行许第12号".encode().decode("latin-1")
    p = parse_purpose(raw, text, role="dept_querier", from_header=True)
    assert p.code == "admin_licensing" and p.text == "（2026）佛行许第12号"


# -- pending TOTP enrolment field (/me/totp) ----------------------------------------------------

KEYRING = Keyring(enc_key=b"e" * 32, hash_key=b"h" * 32)  # fixed test keys, never a real one
NOW = datetime(2027, 3, 1, 4, 0, tzinfo=UTC)
SECRETS = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", min_size=16, max_size=64)
USER_IDS = st.integers(min_value=1, max_value=2**40)


def _open(token, user_id, now=NOW):
    return open_totp_pending(token, user_id, now=now, keyring=KEYRING)


@given(USER_IDS, SECRETS, st.integers(min_value=-60, max_value=TOTP_PENDING_MINUTES * 60))
def test_pending_roundtrips_for_its_own_user_only(user_id, secret, age):
    token = seal_totp_pending(KEYRING, user_id, secret, NOW - timedelta(seconds=age))
    assert _open(token, user_id) == secret
    assert _open(token, user_id + 1) is None and _open(token, user_id - 1) is None
    assert _open(token, user_id, NOW + timedelta(minutes=TOTP_PENDING_MINUTES, seconds=1 - age)) is None
    other = Keyring(enc_key=b"E" * 32, hash_key=b"h" * 32)
    assert open_totp_pending(token, user_id, now=NOW, keyring=other) is None
    assert secret not in token


@given(USER_IDS, SECRETS, st.data())
def test_any_altered_byte_is_refused(user_id, secret, data):
    token = seal_totp_pending(KEYRING, user_id, secret, NOW)
    blob = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    i = data.draw(st.integers(min_value=0, max_value=len(blob) - 1))
    blob[i] ^= data.draw(st.integers(min_value=1, max_value=255))
    assert _open(base64.urlsafe_b64encode(bytes(blob)).decode(), user_id) is None
    assert _open(base64.urlsafe_b64encode(bytes(blob[:i])).decode(), user_id) is None  # truncated


@given(st.one_of(st.none(), st.text(max_size=500), st.binary(max_size=300).map(
    lambda b: base64.urlsafe_b64encode(b).decode())), USER_IDS)
def test_arbitrary_input_never_opens_nor_raises(token, user_id):
    assert _open(token, user_id) is None


@given(USER_IDS, SECRETS)
def test_other_ciphertexts_of_the_keyring_do_not_fit(user_id, secret):
    # E.g. a stored (encrypted) TOTP secret, or a sealed value without the tag and time.
    for plain in (secret, f"{user_id}:{secret}", f"{user_id}:{int(NOW.timestamp())}:{secret}",
                  f"totp-enrol:v0:{user_id}:{int(NOW.timestamp())}:{secret}"):
        token = base64.urlsafe_b64encode(KEYRING.encrypt(plain)).decode()
        assert _open(token, user_id) is None


def test_pending_refuses_a_malformed_secret_or_time():
    t = int(NOW.timestamp())
    for plain in (f"{TOTP_PENDING_TAG}:7:{t}:not-base32!", f"{TOTP_PENDING_TAG}:7:soon:ABCDEFGHIJKLMNOP",
                  f"{TOTP_PENDING_TAG}:7:{t}:ABCD", f"{TOTP_PENDING_TAG}:07:{t}:ABCDEFGHIJKLMNOP",
                  f"{TOTP_PENDING_TAG}:7:{t}:ABCDEFGHIJKLMNOP:X"):
        assert _open(base64.urlsafe_b64encode(KEYRING.encrypt(plain)).decode(), 7) is None
    assert _open(seal_totp_pending(KEYRING, 7, "ABCDEFGHIJKLMNOP", NOW), 7) == "ABCDEFGHIJKLMNOP"
    future = seal_totp_pending(KEYRING, 7, "ABCDEFGHIJKLMNOP", NOW + timedelta(minutes=2))
    assert _open(future, 7) is None
