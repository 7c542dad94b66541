"""Users, logins, sessions and TOTP. Every write is audited in the same transaction."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

import pyotp
from cryptography.exceptions import InvalidTag
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from xinyong.accounts.actor import Actor
from xinyong.accounts.models import User, UserSession
from xinyong.accounts.passwords import (
    check_password_policy,
    generate_password,
    hash_password,
    needs_rehash,
    password_problems,
    verify_password,
)
from xinyong.accounts.roles import (
    DEPARTMENT_ROLES,
    ROLES,
    STAFF_ROLES,
    SUBJECT,
    USER_ROLES,
    role_label,
)
from xinyong.accounts.settings import get_account_settings
from xinyong.audit.service import record_event
from xinyong.db.base import utcnow
from xinyong.departments.models import Department
from xinyong.departments.service import find_department
from xinyong.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthorized,
    XinyongError,
)
from xinyong.identity.codes import detect_and_check
from xinyong.identity.crypto import Keyring, get_keyring
from xinyong.subjects.models import Subject

USERNAME_RE = re.compile(r"^[a-z][a-z0-9_.@-]{2,63}$")
_LONG_DIGITS = re.compile(r"\d{11,}")
BEIJING = timezone(timedelta(hours=8))  # China has no daylight saving time
TOTP_ISSUER = "Xinyong"


def as_utc(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; everything stored is UTC.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def beijing_time(value: datetime) -> str:
    """Minutes, rounded up: "retry after 12:16" must not be a minute too early."""
    local = as_utc(value).astimezone(BEIJING)
    if local.second or local.microsecond:
        local = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return local.strftime("%Y-%m-%d %H:%M")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def normalize_username(raw: str) -> str:
    name = unicodedata.normalize("NFKC", raw or "").strip().lower()
    if not USERNAME_RE.match(name):
        raise InvalidInput("用户名格式不正确：3–64 个字符，以英文字母开头，只能包含小写字母、数字和 _ . @ -。",
                           code="invalid_username")
    if _LONG_DIGITS.search(name):
        # A username is shown in logs and the audit trail: keep ID and phone numbers out of it.
        raise InvalidInput("用户名不能包含11位以上的连续数字（避免把身份证号、手机号用作用户名）。",
                           code="invalid_username")
    return name


# -- users ----------------------------------------------------------------------------------------


@dataclass
class NewUser:
    user: User
    #: The generated password, to be shown exactly once (None when the caller supplied one).
    password: str | None = None
    #: ``otpauth://`` URI for the authenticator app, shown exactly once.
    totp_uri: str | None = None


def _subject_binding(session: Session, code: str, keyring: Keyring) -> tuple[int | None, str]:
    """(subject id if registered, binding key). The citizen ID itself is never kept."""
    result = detect_and_check(code or "")
    if not result.valid or result.kind not in ("uscc", "citizen_id"):
        raise InvalidInput(f"主体代码无效：{result.message}（应为统一社会信用代码或公民身份号码）",
                           code="invalid_subject_code")
    if result.kind == "uscc":
        key = f"uscc:{result.normalized}"
        sid = session.scalar(select(Subject.id).where(Subject.uscc == result.normalized))
    else:
        digest = keyring.keyed_hash(result.normalized)
        key = f"cid:{digest}"
        sid = session.scalar(select(Subject.id).where(Subject.citizen_id_hash == digest))
    return sid, key


def _resolve_binding(session: Session, key: str | None) -> int | None:
    if not key:
        return None
    kind, _, value = key.partition(":")
    column = Subject.uscc if kind == "uscc" else Subject.citizen_id_hash
    return session.scalar(select(Subject.id).where(column == value))


def _totp_secret_uri(username: str, secret: str | None = None) -> tuple[str, str]:
    """A secret (new unless given) and its ``otpauth://`` URI for the authenticator app."""
    secret = secret or pyotp.random_base32()
    return secret, pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER)


def create_user(session: Session, actor: Actor, *, username: str, role: str,
                department: str | None = None, subject: str | None = None,
                password: str | None = None, display_name: str | None = None,
                totp: bool = False, keyring: Keyring | None = None) -> NewUser:
    """Create an account. Department roles need ``department``; subject accounts need ``subject``
    (USCC or citizen ID). Without ``password`` a strong one is generated and returned once."""
    name = normalize_username(username)
    if role not in USER_ROLES:
        raise InvalidInput(f"未知角色：{role}。可选：" + "、".join(f"{r}（{ROLES[r]}）" for r in USER_ROLES) + "。",
                           code="invalid_role")
    dept: Department | None = None
    if role in DEPARTMENT_ROLES and not department:
        raise InvalidInput(f"{role_label(role)}必须指定所属部门（--dept 部门编码）。", code="department_required")
    if department:
        if role == SUBJECT:
            raise InvalidInput("信用主体账户不属于任何部门，请不要指定 --dept。", code="department_not_allowed")
        dept = find_department(session, department)
    subject_id, subject_key = None, None
    if role == SUBJECT:
        if not subject:
            raise InvalidInput("信用主体账户必须绑定主体（--subject 统一社会信用代码或公民身份号码）。",
                               code="subject_required")
        subject_id, subject_key = _subject_binding(session, subject, keyring or get_keyring())
    elif subject:
        raise InvalidInput("只有信用主体账户可以绑定主体。", code="subject_not_allowed")
    if totp and role not in STAFF_ROLES:
        raise InvalidInput("动态验证码（TOTP）用于工作人员账户。", code="totp_not_allowed")
    if session.scalar(select(User.id).where(User.username == name)) is not None:
        raise Conflict(f"用户名 {name} 已被使用。", code="username_taken")
    generated = None
    if password is None:
        password = generated = generate_password()
    check_password_policy(password, name)
    totp_uri = None
    secret_enc = None
    if totp:
        secret, totp_uri = _totp_secret_uri(name)
        secret_enc = (keyring or get_keyring()).encrypt(secret)
    now = utcnow()
    user = User(username=name, display_name=(display_name or "").strip() or None, role=role,
                department_id=dept.id if dept else None, subject_id=subject_id, subject_key=subject_key,
                password_hash=hash_password(password), password_changed_at=now,
                totp_secret_enc=secret_enc, disabled=False, failed_logins=0)
    session.add(user)
    session.flush()
    record_event(session, "user.create", actor=actor, subject_id=subject_id,
                 details={"user_id": user.id, "username": name, "role": role,
                          "department": dept.code if dept else None, "totp": bool(totp),
                          "password_generated": generated is not None})
    return NewUser(user=user, password=generated, totp_uri=totp_uri)


def get_user(session: Session, username: str) -> User:
    name = unicodedata.normalize("NFKC", username or "").strip().lower()
    user = session.scalar(select(User).where(User.username == name))
    if user is None:
        raise NotFound(f"未找到用户 {name}。可用 `xinyong users list` 查看。", code="user_not_found")
    return user


def list_users(session: Session, *, role: str | None = None) -> list[User]:
    stmt = select(User).order_by(User.id)
    if role:
        stmt = stmt.where(User.role == role)
    return list(session.scalars(stmt))


def user_to_dict(user: User) -> dict:
    """Safe to print: no hash, no TOTP secret, no binding key (it may be a keyed ID hash)."""
    return {"id": user.id, "username": user.username, "display_name": user.display_name,
            "role": user.role, "role_label": role_label(user.role),
            "department": user.department.code if user.department else None,
            "department_name": user.department.name if user.department else None,
            "subject_id": user.subject_id, "subject_bound": user.subject_key is not None,
            "totp": user.totp_enabled, "disabled": user.disabled,
            "locked_until": as_utc(user.locked_until).isoformat() if user.locked_until else None,
            "last_login_at": as_utc(user.last_login_at).isoformat() if user.last_login_at else None}


def _revoke_sessions(session: Session, user_id: int, *, keep: int | None = None) -> int:
    """End the user's live sessions, except the one with id ``keep`` (the caller's own)."""
    stmt = update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    if keep is not None:
        stmt = stmt.where(UserSession.id != keep)
    res = session.execute(stmt.values(revoked_at=utcnow()))
    return res.rowcount or 0


def set_disabled(session: Session, actor: Actor, username: str, disabled: bool = True) -> User:
    """Disable (and log out everywhere) or re-enable an account."""
    user = get_user(session, username)
    if user.disabled == disabled:
        return user
    user.disabled = disabled
    ended = _revoke_sessions(session, user.id) if disabled else 0
    if not disabled:
        user.failed_logins, user.locked_until = 0, None
    record_event(session, "user.disable" if disabled else "user.enable", actor=actor,
                 subject_id=user.subject_id,
                 details={"user_id": user.id, "username": user.username, "sessions_ended": ended})
    return user


def reset_password(session: Session, actor: Actor, username: str, password: str | None = None) -> str | None:
    """Set a new password (generated if None, returned once); ends every session, clears the lock."""
    user = get_user(session, username)
    generated = None
    if password is None:
        password = generated = generate_password()
    check_password_policy(password, user.username)
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    user.failed_logins, user.locked_until = 0, None
    ended = _revoke_sessions(session, user.id)
    record_event(session, "user.password_reset", actor=actor, subject_id=user.subject_id,
                 details={"user_id": user.id, "username": user.username,
                          "password_generated": generated is not None, "sessions_ended": ended})
    return generated


def enable_totp(session: Session, actor: Actor, username: str, *, keyring: Keyring | None = None) -> str:
    """(Re)issue a TOTP secret for a staff account; returns the otpauth URI, shown once."""
    user = get_user(session, username)
    if user.role not in STAFF_ROLES:
        raise InvalidInput("动态验证码（TOTP）用于工作人员账户。", code="totp_not_allowed")
    secret, uri = _totp_secret_uri(user.username)
    user.totp_secret_enc = (keyring or get_keyring()).encrypt(secret)
    user.totp_last_step = None
    record_event(session, "user.totp_enable", actor=actor,
                 details={"user_id": user.id, "username": user.username})
    return uri


def disable_totp(session: Session, actor: Actor, username: str, reason: str) -> int:
    """An administrator turns a staff account's TOTP off (a lost or replaced phone, after the
    person's identity was checked another way); every session of the account ends. Returns the
    number of sessions ended. The account's holder re-enrols at /me/totp once logged in."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("请用 --reason 说明关闭原因，例如“手机遗失，已电话核实本人身份”；该原因记入审计日志。",
                           code="reason_required")
    user = get_user(session, username)
    if not user.totp_enabled:
        raise Conflict(f"用户 {user.username} 尚未启用动态验证码，无需关闭。", code="totp_not_enabled")
    user.totp_secret_enc, user.totp_last_step = None, None
    user.failed_logins, user.locked_until = 0, None
    ended = _revoke_sessions(session, user.id)
    record_event(session, "user.totp_disable", actor=actor,
                 details={"user_id": user.id, "username": user.username, "self_service": False,
                          "reason": reason[:500], "sessions_ended": ended})
    return ended


# -- login ----------------------------------------------------------------------------------------


@dataclass
class LoginResult:
    ok: bool
    user: User | None = None
    #: The session cookie value (only on success; only its SHA-256 is stored).
    token: str | None = None
    error: XinyongError | None = None
    #: The password was right and a TOTP code is now needed.
    need_totp: bool = False


def _totp_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step a code belongs to (±1 step of clock drift), or None."""
    code = "".join((code or "").split())
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    for offset in (0, -1, 1):
        when = now + timedelta(seconds=offset * totp.interval)
        if hmac.compare_digest(totp.at(when), code):
            return totp.timecode(when)
    return None


def _count_failure(session: Session, user: User, reason: str, now: datetime, *, actor: Actor,
                   action: str = "auth.login_failed") -> TooManyRequests | None:
    """Count a wrong password or code toward the lockout (logins and the self-service forms
    share one counter); the lock error once the threshold is reached, else None."""
    s = get_account_settings()
    # Counted in SQL so concurrent failures cannot overwrite each other.
    count = session.execute(update(User).where(User.id == user.id)
                            .values(failed_logins=User.failed_logins + 1)
                            .returning(User.failed_logins)).scalar_one()
    locked = count >= s.lockout_threshold
    if locked:
        until = now + timedelta(minutes=s.lockout_minutes)
        session.execute(update(User).where(User.id == user.id).values(failed_logins=0, locked_until=until))
    session.refresh(user)
    record_event(session, action, actor=actor, subject_id=user.subject_id,
                 details={"reason": reason, "locked": locked})
    return _locked_error(user.locked_until, now) if locked else None


def _login_failed(session: Session, user: User, reason: str, request_id: str | None,
                  now: datetime) -> XinyongError:
    locked = _count_failure(session, user, reason, now, actor=_actor_for_user(user, request_id=request_id))
    if locked:
        return locked
    if reason == "invalid_totp":
        return Unauthorized("动态验证码错误或已使用过，请等待新的验证码后重试。", code="invalid_totp")
    return Unauthorized("用户名或密码错误。", code="invalid_credentials")


def _locked_error(until: datetime, now: datetime) -> TooManyRequests:
    until = as_utc(until)
    seconds = max(1.0, (until - now).total_seconds())
    wait = math.ceil(seconds)
    return TooManyRequests(
        f"登录失败次数过多，账户已临时锁定。请于北京时间 {beijing_time(until)} 之后重试"
        f"（约 {math.ceil(seconds / 60)} 分钟后）；如忘记密码请联系平台管理员重置。",
        code="account_locked", retry_after=wait)


def login(session: Session, username: str, password: str, totp_code: str | None = None, *,
          request_id: str | None = None, now: datetime | None = None) -> LoginResult:
    """Check a password login. Returns the outcome instead of raising, so the caller commits
    the failure count and the audit event either way."""
    now = now or utcnow()
    name = unicodedata.normalize("NFKC", username or "").strip().lower()
    user = session.scalar(select(User).where(User.username == name)) if name else None
    if user is None:
        verify_password(None, password or "")
        # The typed name is not recorded: people type their password into the wrong box.
        record_event(session, "auth.login_failed", actor=Actor.anonymous(request_id),
                     details={"reason": "unknown_user"})
        return LoginResult(False, error=Unauthorized("用户名或密码错误。", code="invalid_credentials"))
    if user.locked_until is not None and as_utc(user.locked_until) > now:
        record_event(session, "auth.login_failed", actor=_actor_for_user(user, request_id=request_id),
                     subject_id=user.subject_id, details={"reason": "locked", "locked": True})
        return LoginResult(False, user=user, error=_locked_error(user.locked_until, now))
    if not verify_password(user.password_hash, password or ""):
        return LoginResult(False, user=user, error=_login_failed(session, user, "bad_password", request_id, now))
    if user.disabled:
        record_event(session, "auth.login_failed", actor=_actor_for_user(user, request_id=request_id),
                     subject_id=user.subject_id, details={"reason": "disabled"})
        return LoginResult(False, user=user,
                           error=Forbidden("该账户已停用，请联系平台管理员。", code="account_disabled"))
    if user.totp_enabled:
        if not (totp_code or "").strip():
            return LoginResult(False, user=user, need_totp=True,
                               error=Unauthorized("该账户已启用动态验证码，请输入验证器中的6位数字。",
                                                  code="totp_required"))
        secret = get_keyring().decrypt(user.totp_secret_enc)
        step = _totp_step(secret, totp_code or "", now)
        if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
            return LoginResult(False, user=user, need_totp=True,
                               error=_login_failed(session, user, "invalid_totp", request_id, now))
        user.totp_last_step = step
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)  # parameters were raised since
    if user.role == SUBJECT and user.subject_id is None:
        user.subject_id = _resolve_binding(session, user.subject_key)
    token = secrets.token_urlsafe(32)
    s = get_account_settings()
    row = UserSession(user_id=user.id, token_hash=token_hash(token),
                      expires_at=now + timedelta(hours=s.session_hours))
    session.add(row)
    session.flush()
    record_event(session, "auth.login", actor=_actor_for_user(user, session_id=row.id, request_id=request_id),
                 subject_id=user.subject_id, details={"totp": user.totp_enabled})
    return LoginResult(True, user=user, token=token)


def logout(session: Session, actor: Actor, token: str | None) -> bool:
    if not token:
        return False
    row = session.scalar(select(UserSession).where(UserSession.token_hash == token_hash(token)))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    record_event(session, "auth.logout", actor=actor, subject_id=actor.subject_id,
                 details={"session_id": row.id})
    return True


def _actor_for_user(user: User, *, session_id: int | None = None, request_id: str | None = None) -> Actor:
    dept = user.department
    return Actor(kind="user", role=user.role, id=user.id, name=user.username,
                 department_id=dept.id if dept else None, department_code=dept.code if dept else None,
                 department_name=dept.name if dept else None, subject_id=user.subject_id,
                 session_id=session_id, request_id=request_id)


def actor_for_session(session: Session, token: str, *, request_id: str | None = None,
                      now: datetime | None = None) -> Actor | None:
    """The actor behind a session cookie, or None if the session is unknown, ended or expired."""
    now = now or utcnow()
    if not token or len(token) > 200:
        return None
    row = session.scalar(select(UserSession).where(UserSession.token_hash == token_hash(token)))
    if row is None or row.revoked_at is not None or as_utc(row.expires_at) <= now:
        return None
    user = row.user
    if user.disabled:
        return None
    if user.role == SUBJECT and user.subject_id is None and user.subject_key:
        user.subject_id = _resolve_binding(session, user.subject_key)  # registered since login
    return _actor_for_user(user, session_id=row.id, request_id=request_id)


def totp_now(uri_or_secret: str, when: datetime | None = None) -> str:
    """The current code for a secret or otpauth URI (tests, and operators checking a device)."""
    totp = pyotp.parse_uri(uri_or_secret) if uri_or_secret.startswith("otpauth://") else pyotp.TOTP(uri_or_secret)
    return totp.at(when or utcnow())



# -- self-service: /me/password and /me/totp ------------------------------------------------------

#: Sealed inside the pending-enrolment field, so no other ciphertext of the keyring fits there.
TOTP_PENDING_TAG = "totp-enrol:v1"
#: How long a QR code shown for enrolment stays usable.
TOTP_PENDING_MINUTES = 30
_BASE32_SECRET = re.compile(r"^[A-Z2-7]{16,128}$")


@dataclass
class FormResult:
    """Outcome of a self-service form. Returned, not raised, so the caller commits the failure
    count and its audit event either way (as with ``login``)."""

    ok: bool
    #: Form field name → Chinese problems, shown next to that field.
    fields: dict[str, list[str]] = field(default_factory=dict)
    #: A problem about the whole form (the account lock), shown at the top.
    error: XinyongError | None = None
    sessions_ended: int = 0

    @property
    def status_code(self) -> int:
        return self.error.status_code if self.error is not None else 400


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str
    uri: str
    #: Hidden form field: the keyring-sealed "tag:user id:issued:secret" (AES-GCM, so it cannot
    #: be forged, altered or carried to another account).
    pending: str


def session_user(session: Session, actor: Actor, *, staff: bool = False) -> User:
    """The user behind a cookie session. API keys and the CLI cannot use the self-service forms."""
    if actor.kind != "user" or actor.id is None or actor.session_id is None:
        raise Forbidden("请在网页上登录后，在“我的账户”中办理（接口密钥不能修改账户安全设置）。",
                        code="session_required")
    user = session.get(User, actor.id)
    if user is None or user.disabled:
        raise Forbidden("该账户已停用，请联系平台管理员。", code="account_disabled")
    if staff and user.role not in STAFF_ROLES:
        raise Forbidden("动态验证码（TOTP）用于工作人员账户。", code="totp_not_allowed")
    return user


def _reauthenticate(session: Session, user: User, actor: Actor, password: str, now: datetime, *,
                    purpose: str) -> FormResult | None:
    """Check the current password before a security change (None: right). A wrong one counts
    toward the same lockout as a failed login."""
    if user.locked_until is not None and as_utc(user.locked_until) > now:
        return FormResult(False, error=_locked_error(user.locked_until, now))
    if not password:
        return FormResult(False, fields={"current_password": ["请输入当前密码。"]})
    if not verify_password(user.password_hash, password):
        locked = _count_failure(session, user, f"{purpose}:bad_password", now, actor=actor,
                                action="auth.reauth_failed")
        return FormResult(False, fields={"current_password": ["当前密码不正确。"]}, error=locked)
    return None


def change_password(session: Session, actor: Actor, current: str, new: str, repeat: str, *,
                    now: datetime | None = None) -> FormResult:
    """A signed-in user changes their own password: the current one must be right (a wrong one
    counts toward the lockout), the new one must meet the policy and be typed twice. Every other
    session of the user ends; the one in use stays."""
    now = now or utcnow()
    user = session_user(session, actor)
    failed = _reauthenticate(session, user, actor, current or "", now, purpose="password_change")
    if failed is not None and failed.error is not None:
        return failed  # locked: nothing else to say
    fields = dict(failed.fields) if failed is not None else {}
    new, repeat = new or "", repeat or ""
    if not new:
        fields["new_password"] = ["请输入新密码。"]
    else:
        problems = password_problems(new, user.username)
        if new == current:
            problems.append("新密码不能与当前密码相同。")
        if problems:
            fields["new_password"] = problems
        if repeat != new:
            fields["repeat_password"] = ["两次输入的新密码不一致，请重新输入。"]
    if fields:
        return FormResult(False, fields=fields)
    user.password_hash = hash_password(new)
    user.password_changed_at = now
    user.failed_logins, user.locked_until = 0, None
    ended = _revoke_sessions(session, user.id, keep=actor.session_id)
    record_event(session, "user.password_change", actor=actor, subject_id=user.subject_id,
                 details={"user_id": user.id, "username": user.username, "sessions_ended": ended})
    return FormResult(True, sessions_ended=ended)


def seal_totp_pending(keyring: Keyring, user_id: int, secret: str, now: datetime) -> str:
    blob = keyring.encrypt(f"{TOTP_PENDING_TAG}:{user_id}:{int(now.timestamp())}:{secret}")
    return base64.urlsafe_b64encode(blob).decode("ascii").rstrip("=")


def open_totp_pending(token: str | None, user_id: int, *, now: datetime | None = None,
                      keyring: Keyring | None = None) -> str | None:
    """The secret in a pending-enrolment field, or None unless this platform sealed it for this
    user less than ``TOTP_PENDING_MINUTES`` ago. Never raises on malformed input."""
    if not isinstance(token, str) or not token or len(token) > 400 or not token.isascii():
        return None
    try:
        blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        text = (keyring or get_keyring()).decrypt(blob)
    except (ValueError, InvalidTag):
        return None
    tag, _, rest = text.rpartition(":")  # rest: the secret
    head, _, issued = tag.rpartition(":")
    expected_tag, _, uid = head.rpartition(":")
    if expected_tag != TOTP_PENDING_TAG or uid != str(user_id) or not issued.isdigit():
        return None
    age = (now or utcnow()).timestamp() - int(issued)
    if not -60 <= age <= TOTP_PENDING_MINUTES * 60 or not _BASE32_SECRET.match(rest):
        return None
    return rest


def totp_enrolment(session: Session, actor: Actor, pending: str | None = None, *,
                   keyring: Keyring | None = None, now: datetime | None = None) -> TotpEnrolment:
    """What the enrolment page shows: the secret still pending in ``pending`` (so a mistyped code
    needs no new scan), else a new one. Nothing is stored until ``enable_own_totp``."""
    now = now or utcnow()
    keyring = keyring or get_keyring()
    user = session_user(session, actor, staff=True)
    secret = open_totp_pending(pending, user.id, now=now, keyring=keyring) if pending else None
    secret, uri = _totp_secret_uri(user.username, secret)
    return TotpEnrolment(secret=secret, uri=uri, pending=seal_totp_pending(keyring, user.id, secret, now))


def enable_own_totp(session: Session, actor: Actor, pending: str, code: str, current_password: str, *,
                    keyring: Keyring | None = None, now: datetime | None = None) -> FormResult:
    """A staff user binds (or replaces) their authenticator: the current password, and a code
    from the new secret proving the app has it. Other sessions end (they began without it)."""
    now = now or utcnow()
    keyring = keyring or get_keyring()
    user = session_user(session, actor, staff=True)
    secret = open_totp_pending(pending, user.id, now=now, keyring=keyring)
    if secret is None:
        return FormResult(False, fields={"pending": [
            f"绑定信息无效或已过期（二维码 {TOTP_PENDING_MINUTES} 分钟内有效），请用下面新生成的二维码重新绑定。"]})
    failed = _reauthenticate(session, user, actor, current_password or "", now, purpose="totp_enable")
    if failed is not None:
        return failed
    step = _totp_step(secret, code or "", now)
    if step is None:
        # A code of the secret being set up proves nothing about the account: not counted.
        return FormResult(False, fields={"code": [
            "验证码不正确：请输入验证器 App 中本账户当前显示的 6 位数字（手机时间需准确）。"]})
    replaced = user.totp_enabled
    user.totp_secret_enc = keyring.encrypt(secret)
    user.totp_last_step = step  # the code just typed cannot be used again to log in
    user.failed_logins, user.locked_until = 0, None
    ended = _revoke_sessions(session, user.id, keep=actor.session_id)
    record_event(session, "user.totp_enable", actor=actor,
                 details={"user_id": user.id, "username": user.username, "self_service": True,
                          "replaced": replaced, "sessions_ended": ended})
    return FormResult(True, sessions_ended=ended)


def disable_own_totp(session: Session, actor: Actor, current_password: str, code: str, *,
                     keyring: Keyring | None = None, now: datetime | None = None) -> FormResult:
    """A staff user turns their TOTP off: the current password and a current code, both counted
    toward the lockout when wrong (staff TOTP is optional: no setting makes it compulsory)."""
    now = now or utcnow()
    user = session_user(session, actor, staff=True)
    if not user.totp_enabled:
        raise Conflict("该账户尚未启用动态验证码。", code="totp_not_enabled")
    failed = _reauthenticate(session, user, actor, current_password or "", now, purpose="totp_disable")
    if failed is not None:
        return failed
    if not (code or "").strip():
        return FormResult(False, fields={"code": ["请输入验证器中的 6 位数字。"]})
    secret = (keyring or get_keyring()).decrypt(user.totp_secret_enc)
    step = _totp_step(secret, code, now)
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        locked = _count_failure(session, user, "totp_disable:invalid_totp", now, actor=actor,
                                action="auth.reauth_failed")
        return FormResult(False, fields={"code": ["动态验证码错误或已使用过，请等待新的验证码后重试。"]},
                          error=locked)
    user.totp_secret_enc, user.totp_last_step = None, None
    user.failed_logins, user.locked_until = 0, None
    record_event(session, "user.totp_disable", actor=actor,
                 details={"user_id": user.id, "username": user.username, "self_service": True})
    return FormResult(True)
