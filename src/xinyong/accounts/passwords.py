"""Password policy (with a Chinese explanation) and argon2id hashing."""

from __future__ import annotations

import secrets
import string
import unicodedata
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from xinyong.accounts.settings import get_account_settings
from xinyong.errors import InvalidInput

MIN_LENGTH = 10
MAX_LENGTH = 128
POLICY_TEXT = (f"密码要求：长度 {MIN_LENGTH}–{MAX_LENGTH} 个字符；不能全是数字或同一个字符；"
               "至少包含字母、数字、符号（含汉字）中的两类；不能包含用户名；不能是常见弱密码；"
               "不能含控制字符或首尾空格。")
# Frequent leaked passwords of policy length; the rest of the policy catches the patterns.
_COMMON = frozenset({
    "password123", "password1234", "passw0rd123", "qwertyuiop", "qwerty123456", "1qaz2wsx3edc",
    "1q2w3e4r5t", "1q2w3e4r5t6y", "a123456789", "abc1234567", "abcd123456", "woaini1314",
    "iloveyou123", "admin12345", "admin123456", "administrator", "qazwsxedc123", "zxcvbnm123",
    "asdfghjkl1", "aa123456789", "p@ssw0rd123", "1234567890a", "a1234567890", "xinyong123",
})
_GEN_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "Il1O0o")


def _classes(password: str) -> int:
    letters = any(c.isascii() and c.isalpha() for c in password)
    digits = any(c.isdigit() for c in password)
    others = any(not (c.isascii() and c.isalnum()) for c in password)
    return letters + digits + others


def password_problems(password: str, username: str | None = None) -> list[str]:
    """Everything wrong with a candidate password, as Chinese sentences (empty: acceptable)."""
    problems: list[str] = []
    if not isinstance(password, str):
        return ["密码必须是文本。"]
    n = len(password)
    if n < MIN_LENGTH:
        problems.append(f"密码太短：至少需要 {MIN_LENGTH} 个字符（当前 {n} 个）。")
    if n > MAX_LENGTH:
        problems.append(f"密码太长：最多 {MAX_LENGTH} 个字符。")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in password):
        problems.append("密码不能包含控制字符或不可见字符。")
    if password != password.strip():
        problems.append("密码首尾不能是空格。")
    if password and password.isdigit():
        problems.append("密码不能全是数字。")
    elif password and len(set(password)) == 1:
        problems.append("密码不能由同一个字符重复组成。")
    elif password and _classes(password) < 2:
        problems.append("密码至少要包含字母、数字、符号（含汉字）中的两类。")
    lowered = password.casefold()
    if username and len(username) >= 3 and username.casefold() in lowered:
        problems.append("密码不能包含用户名。")
    if lowered in _COMMON:
        problems.append("该密码是常见弱密码，请换一个。")
    return problems


def check_password_policy(password: str, username: str | None = None) -> None:
    problems = password_problems(password, username)
    if problems:
        raise InvalidInput("密码不符合要求：" + "".join(problems) + POLICY_TEXT,
                           code="weak_password", details={"problems": problems})


def generate_password(length: int = 16) -> str:
    """A random password that satisfies the policy (shown to the operator once)."""
    while True:
        pw = "".join(secrets.choice(_GEN_ALPHABET) for _ in range(length))
        if any(c.isdigit() for c in pw) and any(c.isalpha() for c in pw):
            return pw


@lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)


def hasher() -> PasswordHasher:
    s = get_account_settings()
    return _hasher(s.argon2_time_cost, s.argon2_memory_cost, s.argon2_parallelism)


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    if not stored_hash:
        # Same work as a real check so unknown users cannot be told apart by timing.
        hasher().hash(password or "x")
        return False
    try:
        return hasher().verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    try:
        return hasher().check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True
