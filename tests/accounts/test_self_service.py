"""Self-service account security: /me/password and /me/totp — on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import random
import re
from datetime import timedelta

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import select

from xinyong.accounts import service
from xinyong.accounts.models import User
from xinyong.app import create_app
from xinyong.audit.models import AuditEvent
from xinyong.db.base import utcnow
from xinyong.db.engine import session_scope
from xinyong.identity.codes import generate_uscc
from xinyong.identity.crypto import get_keyring

from .conftest import PASSWORD, add_client, add_user, csrf_from, login, seed

NEW_PASSWORD = "Battery-Staple-77"
_SECRET = re.compile(r'<code class="totp-secret">([A-Z2-7 ]+)</code>')
_PENDING = re.compile(r'name="pending" value="([^"]+)"')


def _client() -> TestClient:
    return TestClient(create_app(), raise_server_exceptions=False)


def _user(db_url: str, name: str) -> dict:
    with session_scope(db_url) as s:
        u = s.scalar(select(User).where(User.username == name))
        return {"failed_logins": u.failed_logins, "locked_until": u.locked_until,
                "totp_secret": get_keyring().decrypt(u.totp_secret_enc) if u.totp_secret_enc else None,
                "totp_last_step": u.totp_last_step, "hash": u.password_hash}


def _events(db_url: str, action: str) -> list[AuditEvent]:
    with session_scope(db_url) as s:
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))
        s.expunge_all()
        return rows


def _post_password(client, current: str, new: str, repeat: str | None = None, *, csrf: str | None = None):
    token = csrf if csrf is not None else csrf_from(client.get("/me/password").text)
    return client.post("/me/password", follow_redirects=False, data={
        "csrf_token": token, "current_password": current, "new_password": new,
        "repeat_password": new if repeat is None else repeat})


def _other_code(secret: str) -> str:
    """A well-formed code that is not valid now (nor one step either side)."""
    totp = pyotp.TOTP(secret)
    valid = {totp.at(utcnow() + timedelta(seconds=d)) for d in (-60, -30, 0, 30, 60)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444", "555555") if c not in valid)


def _enrolment(client) -> tuple[str, str, str]:
    page = client.get("/me/totp?setup=1")
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    return _SECRET.search(page.text).group(1).replace(" ", ""), _PENDING.search(page.text).group(1), page.text


def _post_totp(client, pending: str, code: str, password: str = PASSWORD, *, csrf: str | None = None):
    token = csrf if csrf is not None else csrf_from(client.get("/me").text)
    return client.post("/me/totp", follow_redirects=False, data={
        "csrf_token": token, "pending": pending, "code": code, "current_password": password})


# -- password -------------------------------------------------------------------------------------


def test_change_password(client, db_url):
    seed(db_url)
    add_user(db_url, "alice", "reviewer")
    assert login(client, "alice").status_code == 303
    elsewhere = _client()
    assert login(elsewhere, "alice").status_code == 303
    me = client.get("/me")
    assert 'href="/me/password"' in me.text and 'href="/me/totp"' in me.text
    form = client.get("/me/password")
    assert form.status_code == 200 and "当前密码" in form.text and "密码要求" in form.text
    assert form.headers["cache-control"] == "no-store"

    # CSRF: a form posted without the session's token is refused, nothing changes.
    r = _post_password(client, PASSWORD, NEW_PASSWORD, csrf="")
    assert r.status_code == 403 and "CSRF" in r.text
    r = _post_password(client, PASSWORD, NEW_PASSWORD, csrf=csrf_from(elsewhere.get("/me").text))
    assert r.status_code == 403
    assert _events(db_url, "user.password_change") == []

    # A wrong current password is refused next to its field and counted like a failed login.
    r = _post_password(client, "Wrong-password-1", NEW_PASSWORD)
    assert r.status_code == 400 and "当前密码不正确" in r.text and 'id="current_password-error"' in r.text
    assert "Wrong-password-1" not in r.text and NEW_PASSWORD not in r.text
    assert _user(db_url, "alice")["failed_logins"] == 1
    failed = _events(db_url, "auth.reauth_failed")
    assert [e.details for e in failed] == [{"reason": "password_change:bad_password", "locked": False}]
    assert failed[0].actor_name == "alice"

    # Policy violations are explained in Chinese beside the field; nothing typed comes back.
    cases = [
        ("Ab1", "密码太短"),
        ("12345678901234", "不能全是数字"),
        ("alice-Secret-9", "不能包含用户名"),
        ("password123", "常见弱密码"),
        (PASSWORD, "不能与当前密码相同"),
    ]
    for new, message in cases:
        r = _post_password(client, PASSWORD, new)
        assert r.status_code == 400 and message in r.text, (new, r.text)
        assert 'id="new_password-error"' in r.text and 'value="' + new not in r.text
        assert 'aria-invalid="true" aria-describedby="new_password-error policy"' in r.text
    r = _post_password(client, PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x")
    assert r.status_code == 400 and "两次输入的新密码不一致" in r.text and NEW_PASSWORD not in r.text
    r = _post_password(client, "", "")
    assert "请输入当前密码" in r.text and "请输入新密码" in r.text
    assert _user(db_url, "alice")["failed_logins"] == 1  # only a wrong password counts
    before = _user(db_url, "alice")["hash"]

    r = _post_password(client, PASSWORD, NEW_PASSWORD)
    assert r.status_code == 303 and r.headers["location"] == "/me/password?done=1"
    assert "密码已修改" in client.get(r.headers["location"]).text
    after = _user(db_url, "alice")
    assert after["hash"] != before and after["failed_logins"] == 0
    # This session stays, the other one ended.
    assert client.get("/api/v1/me").status_code == 200
    assert elsewhere.get("/api/v1/me").status_code == 401
    # The new password logs in, the old one no longer does.
    assert login(_client(), "alice", PASSWORD).status_code == 401
    assert login(_client(), "alice", NEW_PASSWORD).status_code == 303
    [event] = _events(db_url, "user.password_change")
    assert event.actor_name == "alice" and event.details["sessions_ended"] == 1
    assert PASSWORD not in str(event.details) and NEW_PASSWORD not in str(event.details)
    with session_scope(db_url) as s:
        changed = s.scalar(select(User.password_changed_at).where(User.username == "alice"))
        assert utcnow() - service.as_utc(changed) < timedelta(minutes=1)


def test_wrong_current_password_shares_the_login_lockout(client, db_url, monkeypatch):
    monkeypatch.setenv("XINYONG_LOCKOUT_THRESHOLD", "3")
    seed(db_url)
    add_user(db_url, "bob", "subject", subject=generate_uscc(random.Random(3), region="440604"))
    assert login(client, "bob").status_code == 303
    assert login(_client(), "bob", "Wrong-password-1").status_code == 401  # one failed login
    assert _post_password(client, "Wrong-password-2", NEW_PASSWORD).status_code == 400
    r = _post_password(client, "Wrong-password-3", NEW_PASSWORD)
    assert r.status_code == 429 and "账户已临时锁定" in r.text and int(r.headers["retry-after"]) > 0
    assert _user(db_url, "bob")["locked_until"] is not None
    # Locked: even the right current password changes nothing, and logging in is refused too.
    r = _post_password(client, PASSWORD, NEW_PASSWORD)
    assert r.status_code == 429 and "账户已临时锁定" in r.text
    assert login(_client(), "bob").status_code == 429
    assert _events(db_url, "user.password_change") == []
    assert [e.details["locked"] for e in _events(db_url, "auth.reauth_failed")] == [False, True]


def test_subject_account_and_api_keys(client, db_url):
    seed(db_url)
    add_user(db_url, "acme", "subject", subject=generate_uscc(random.Random(4), region="440604"))
    assert login(client, "acme").status_code == 303
    me = client.get("/me")
    assert 'href="/me/password"' in me.text and "/me/totp" not in me.text
    assert client.get("/me/password").status_code == 200
    # TOTP is for staff: a subject account cannot open or post the page.
    r = client.get("/me/totp")
    assert r.status_code == 403 and 'data-code="role_forbidden"' in r.text
    r = client.post("/me/totp", data={"csrf_token": csrf_from(me.text), "pending": "x", "code": "123456"})
    assert r.status_code == 403 and 'data-code="role_forbidden"' in r.text
    assert _post_password(client, PASSWORD, NEW_PASSWORD).status_code == 303
    # A department API key reaches /me but cannot change account security.
    key = add_client(db_url)
    api = _client()
    api.headers["Authorization"] = f"Bearer {key}"
    assert "/me/password" not in api.get("/me").text
    for method, path in (("GET", "/me/password"), ("POST", "/me/password"), ("GET", "/me/totp")):
        r = api.request(method, path, data={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
        assert r.status_code == 403 and 'data-code="session_required"' in r.text, (method, path)


# -- TOTP -----------------------------------------------------------------------------------------


def test_totp_enrolment(client, db_url):
    seed(db_url)
    add_user(db_url, "carol", "admin")
    add_user(db_url, "dave", "dept_querier", dept="tax")
    assert login(client, "carol").status_code == 303
    elsewhere = _client()
    assert login(elsewhere, "carol").status_code == 303
    page = client.get("/me/totp")
    assert page.status_code == 200 and "未启用" in page.text and "<svg" in page.text
    assert "https://" not in page.text.split("<svg")[1].split("</svg>")[0]  # inline, nothing fetched
    secret, pending, _ = _enrolment(client)
    assert len(secret) == 32 and secret not in pending

    # A wrong code stores nothing and keeps the same secret (no need to scan again).
    r = _post_totp(client, pending, _other_code(secret))
    assert r.status_code == 400 and "验证码不正确" in r.text and "尚未绑定" in r.text
    assert _SECRET.search(r.text).group(1).replace(" ", "") == secret
    assert _user(db_url, "carol")["totp_secret"] is None
    assert _user(db_url, "carol")["failed_logins"] == 0  # a code of a secret being set up proves nothing
    # The right code with a wrong password: refused, counted, nothing stored.
    r = _post_totp(client, pending, pyotp.TOTP(secret).now(), "Wrong-password-1")
    assert r.status_code == 400 and "当前密码不正确" in r.text
    assert _user(db_url, "carol") | {"hash": None} == {"failed_logins": 1, "locked_until": None, "totp_secret": None,
                                                     "totp_last_step": None, "hash": None}

    # Forged, altered and another account's pending fields are refused.
    blob = bytearray(base64.urlsafe_b64decode(pending + "=" * (-len(pending) % 4)))
    blob[-1] ^= 1
    altered = base64.urlsafe_b64encode(bytes(blob)).decode().rstrip("=")
    other = _client()
    assert login(other, "dave").status_code == 303
    dave_secret, dave_pending, _ = _enrolment(other)
    for bad, code in (("forged", "123456"), (altered, pyotp.TOTP(secret).now()),
                      (dave_pending, pyotp.TOTP(dave_secret).now())):
        r = _post_totp(client, bad, code)
        assert r.status_code == 400 and "绑定信息无效或已过期" in r.text, bad
        assert _SECRET.search(r.text).group(1).replace(" ", "") not in (secret, dave_secret)  # a fresh one
    assert _user(db_url, "carol")["totp_secret"] is None and _user(db_url, "dave")["totp_secret"] is None
    # CSRF is required.
    r = _post_totp(client, pending, pyotp.TOTP(secret).now(), csrf="0" * 64)
    assert r.status_code == 403 and _user(db_url, "carol")["totp_secret"] is None

    code = pyotp.TOTP(secret).now()
    r = _post_totp(client, pending, code)
    assert r.status_code == 303 and r.headers["location"] == "/me/totp?done=enabled"
    done = client.get(r.headers["location"])
    assert "动态验证码已启用" in done.text and "已启用" in done.text and "<svg" not in done.text
    stored = _user(db_url, "carol")
    assert stored["totp_secret"] == secret and stored["totp_last_step"] and stored["failed_logins"] == 0
    assert client.get("/api/v1/me").status_code == 200 and elsewhere.get("/api/v1/me").status_code == 401
    [event] = _events(db_url, "user.totp_enable")
    assert event.actor_name == "carol"
    assert event.details == {"user_id": event.details["user_id"], "username": "carol", "self_service": True,
                             "replaced": False, "sessions_ended": 1}
    assert secret not in str(event.details)

    # Login now needs a code; the code used to confirm cannot be replayed.
    r = login(_client(), "carol")
    assert r.status_code == 401 and "请输入验证器中的6位数字" in r.text
    assert login(_client(), "carol", totp=code).status_code == 401
    later = utcnow() + timedelta(seconds=60)
    with session_scope(db_url) as s:
        assert service.login(s, "carol", PASSWORD, service.totp_now(secret, later), now=later).ok

    # Replacing: a new QR code; once confirmed, only the new secret works.
    new_secret, new_pending, page = _enrolment(client)
    assert new_secret != secret and "更换验证器" in page and "旧验证器立即失效" in page
    assert _post_totp(client, new_pending, pyotp.TOTP(new_secret).now()).status_code == 303
    assert _user(db_url, "carol")["totp_secret"] == new_secret
    assert _events(db_url, "user.totp_enable")[-1].details["replaced"] is True
    # A stale pending field of the old secret, replayed later, is refused once expired.
    with session_scope(db_url) as s:
        carol = service.session_user(s, service.actor_for_session(s, client.cookies.get("xy_session")))
        assert service.open_totp_pending(pending, carol.id) == secret
        assert service.open_totp_pending(pending, carol.id, now=utcnow() + timedelta(minutes=31)) is None


def test_totp_disable(client, db_url):
    seed(db_url)
    made = add_user(db_url, "erin", "dept_submitter", dept="housing", totp=True)
    secret = pyotp.parse_uri(made.totp_uri).secret
    code = pyotp.TOTP(secret).now()
    assert login(client, "erin", totp=code).status_code == 303
    page = client.get("/me/totp")
    assert "已启用" in page.text and "关闭动态验证码" in page.text and "<svg" not in page.text
    csrf = csrf_from(page.text)

    def disable(password: str, code: str, token: str = csrf):
        return client.post("/me/totp/disable", follow_redirects=False,
                           data={"csrf_token": token, "current_password": password, "code": code})

    # The code that logged in was used: it cannot also turn TOTP off.
    r = disable(PASSWORD, code)
    assert r.status_code == 400 and "动态验证码错误或已使用过" in r.text
    r = disable("Wrong-password-1", "123456")
    assert r.status_code == 400 and "当前密码不正确" in r.text
    assert _user(db_url, "erin")["failed_logins"] == 2
    assert [e.details["reason"] for e in _events(db_url, "auth.reauth_failed")] == [
        "totp_disable:invalid_totp", "totp_disable:bad_password"]
    assert disable(PASSWORD, "123456", "0" * 64).status_code == 403  # CSRF
    assert _user(db_url, "erin")["totp_secret"] == secret
    # A fresh code (the next time step, within the accepted clock drift) with the password turns it off.
    r = disable(PASSWORD, service.totp_now(secret, utcnow() + timedelta(seconds=30)))
    assert r.status_code == 303 and r.headers["location"] == "/me/totp?done=disabled"
    assert "动态验证码已关闭" in client.get(r.headers["location"]).text
    assert _user(db_url, "erin") | {"hash": None} == {"failed_logins": 0, "locked_until": None, "totp_secret": None,
                                                    "totp_last_step": None, "hash": None}
    [event] = _events(db_url, "user.totp_disable")
    assert event.actor_name == "erin" and event.details["self_service"] is True
    assert login(_client(), "erin").status_code == 303  # password alone again
    page = client.get("/me/totp")
    assert "未启用" in page.text and "<svg" in page.text
    r = disable(PASSWORD, "123456")
    assert r.status_code == 409 and "尚未启用动态验证码" in r.text
