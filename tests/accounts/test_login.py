"""Users, login/logout, CSRF, lockout, TOTP and the users CLI — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from xinyong.accounts import service
from xinyong.accounts.models import User, UserSession
from xinyong.app import create_app
from xinyong.audit.models import AuditEvent
from xinyong.cli import app as cli
from xinyong.db.base import utcnow
from xinyong.db.engine import session_scope
from xinyong.identity.codes import generate_citizen_id, generate_uscc
from xinyong.subjects.service import SubjectIn, upsert_subjects

from .conftest import PASSWORD, add_user, csrf_from, login, seed

runner = CliRunner()


def _actions(db_url: str) -> list[str]:
    with session_scope(db_url) as s:
        return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_login_me_logout(client, db_url):
    seed(db_url)
    add_user(db_url, "alice", "admin")
    r = client.get("/me", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fme"
    assert client.get("/api/v1/me").json()["error"]["code"] == "auth_required"

    r = login(client, "Alice")  # usernames are case-insensitive
    assert r.status_code == 303 and r.headers["location"] == "/me"
    cookie = r.headers["set-cookie"]
    assert "xy_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie.split("xy_prelogin")[0]  # plain http in this test
    me = client.get("/me")
    assert me.status_code == 200 and "alice" in me.text and "平台管理员" in me.text
    assert me.headers["cache-control"] == "no-store"
    assert client.get("/api/v1/me").json()["role"] == "admin"
    token = client.cookies.get("xy_session")

    # Logging out is a form POST: without the per-session CSRF token it is refused.
    r = client.post("/logout", follow_redirects=False)
    assert r.status_code == 403 and "CSRF" in r.text and "text/html" in r.headers["content-type"]
    r = client.post("/logout", data={"csrf_token": "0" * 64}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post("/logout", data={"csrf_token": csrf_from(me.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?logged_out=1"
    assert "您已安全退出" in client.get("/login?logged_out=1").text
    assert client.get("/me", follow_redirects=False).status_code == 303
    # The old token is dead server-side, even if someone kept the cookie.
    client.cookies.set("xy_session", token)
    assert client.get("/api/v1/me").status_code == 401
    assert _actions(db_url) == ["user.create", "auth.login", "auth.logout"]
    with session_scope(db_url) as s:
        row = s.scalar(select(UserSession))
        assert row.token_hash == service.token_hash(token) and row.revoked_at is not None


def test_login_form_csrf(client, db_url):
    seed(db_url)
    add_user(db_url, "alice", "admin")
    form = {"username": "alice", "password": PASSWORD}
    assert client.post("/login", data=form).status_code == 403  # no token, no cookie
    page = client.get("/login")
    token = csrf_from(page.text)
    assert client.post("/login", data={**form, "csrf_token": "x" * 64}).status_code == 403
    # A token minted for another visitor's pre-login cookie does not fit this one.
    other = TestClient(create_app())
    other_token = csrf_from(other.get("/login").text)
    r = client.post("/login", data={**form, "csrf_token": other_token})
    assert r.status_code == 403 and "CSRF 校验失败" in r.text
    r = client.post("/login", data={**form, "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert _actions(db_url) == ["user.create", "auth.login"]
    # Signed in, any unsafe request needs the session's token, in the form or the header
    # (a JSON body does not exempt a cookie-authenticated request).
    assert client.post("/logout", json={}).status_code == 403
    me_token = csrf_from(client.get("/me").text)
    assert me_token != token
    r = client.post("/logout", headers={"X-CSRF-Token": me_token}, follow_redirects=False)
    assert r.status_code == 303


def test_wrong_password_unknown_user_and_open_redirect(client, db_url):
    seed(db_url)
    add_user(db_url, "alice", "reviewer", dept="development_reform")
    r = login(client, "alice", "Wrong-password-1")
    assert r.status_code == 401 and "用户名或密码错误" in r.text and 'value="alice"' in r.text
    r = login(client, "nobody", "Correct-Horse-99")
    assert r.status_code == 401 and "用户名或密码错误" in r.text
    r = login(client, "alice", next_url="//evil.example/x")
    assert r.status_code == 303 and r.headers["location"] == "/me"
    with session_scope(db_url) as s:
        failed = s.scalars(select(AuditEvent).where(AuditEvent.action == "auth.login_failed")
                           .order_by(AuditEvent.seq)).all()
        assert [e.details["reason"] for e in failed] == ["bad_password", "unknown_user"]
        # The name typed for an unknown account is not kept (it may be a password).
        assert failed[1].actor_name is None and failed[0].actor_name == "alice"


def test_lockout_after_five_failures(client, db_url):
    seed(db_url)
    add_user(db_url, "bob", "dept_querier", dept="tax")
    for _ in range(4):
        assert login(client, "bob", "Wrong-password-1").status_code == 401
    r = login(client, "bob", "Wrong-password-1")
    assert r.status_code == 429 and "账户已临时锁定" in r.text and "北京时间" in r.text
    assert 800 <= int(r.headers["retry-after"]) <= 901
    # Locked: even the right password is refused until the time shown.
    r = login(client, "bob")
    assert r.status_code == 429 and "请于北京时间" in r.text
    with session_scope(db_url) as s:
        user = s.scalar(select(User).where(User.username == "bob"))
        until = service.as_utc(user.locked_until)
        assert timedelta(minutes=14) < until - utcnow() <= timedelta(minutes=15)
        # Fifteen minutes later the right password works again and the count restarts.
        later = service.login(s, "bob", PASSWORD, now=until + timedelta(seconds=1))
        assert later.ok and later.user.failed_logins == 0 and later.user.locked_until is None
    reasons = [a for a in _actions(db_url) if a.startswith("auth.")]
    assert reasons == ["auth.login_failed"] * 6 + ["auth.login"]


def test_lockout_threshold_is_configurable(client, db_url, monkeypatch):
    monkeypatch.setenv("XINYONG_LOCKOUT_THRESHOLD", "2")
    monkeypatch.setenv("XINYONG_LOCKOUT_MINUTES", "1")
    seed(db_url)
    add_user(db_url, "bob", "admin")
    assert login(client, "bob", "Wrong-password-1").status_code == 401
    r = login(client, "bob", "Wrong-password-1")
    assert r.status_code == 429 and "约 1 分钟后" in r.text


def test_totp_login(client, db_url):
    seed(db_url)
    made = add_user(db_url, "carol", "admin", totp=True)
    assert made.totp_uri.startswith("otpauth://totp/Xinyong:carol?")
    r = login(client, "carol")
    assert r.status_code == 401 and "动态验证码" in r.text and "required autofocus" in r.text
    r = login(client, "carol", totp="000000" if service.totp_now(made.totp_uri) != "000000" else "111111")
    assert r.status_code == 401 and "动态验证码错误" in r.text
    code = service.totp_now(made.totp_uri)
    r = login(client, "carol", totp=code)
    assert r.status_code == 303, r.text
    assert client.get("/api/v1/me").json()["name"] == "carol"
    # The same code cannot be replayed by someone who watched it being typed.
    other = TestClient(create_app())
    assert login(other, "carol", totp=code).status_code == 401
    with session_scope(db_url) as s:
        user = s.scalar(select(User).where(User.username == "carol"))
        assert user.totp_secret_enc and user.totp_last_step
        assert made.totp_uri.split("secret=")[1].split("&")[0].encode() not in user.totp_secret_enc


def test_secure_cookie_over_https(db_url):
    seed(db_url)
    add_user(db_url, "alice", "admin")
    with TestClient(create_app(), base_url="https://testserver") as c:
        r = login(c, "alice")
        assert r.status_code == 303
        session_cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("xy_session="))
        assert "Secure" in session_cookie and "HttpOnly" in session_cookie


def test_disable_ends_sessions_and_expiry(client, db_url):
    seed(db_url)
    add_user(db_url, "dave", "dept_submitter", dept="housing")
    assert login(client, "dave").status_code == 303
    assert client.get("/api/v1/me").json()["department"] == "housing"
    res = runner.invoke(cli, ["users", "disable", "dave", "--json"])
    assert res.exit_code == 0, res.output and json.loads(res.output)["disabled"] is True
    assert client.get("/api/v1/me").status_code == 401
    r = login(client, "dave")
    assert r.status_code == 403 and "已停用" in r.text
    assert runner.invoke(cli, ["users", "enable", "dave"]).exit_code == 0
    assert login(client, "dave").status_code == 303
    token = client.cookies.get("xy_session")
    with session_scope(db_url) as s:
        assert service.actor_for_session(s, token) is not None
        assert service.actor_for_session(s, token, now=utcnow() + timedelta(hours=9)) is None


def test_users_cli(db_url):
    assert runner.invoke(cli, ["init"]).exit_code == 0
    res = runner.invoke(cli, ["users", "add", "erin", "--role", "dept_querier", "--dept", "tax", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    generated = out["password"]
    assert out["department"] == "tax" and len(generated) >= 16 and "password_hash" not in out
    res = runner.invoke(cli, ["users", "add", "frank", "--role", "reviewer", "--password-stdin", "--json"],
                        input=PASSWORD + "\n")
    assert res.exit_code == 0, res.output and "password" not in json.loads(res.output)
    res = runner.invoke(cli, ["users", "add", "gina", "--role", "admin", "--password-stdin"], input="12345678901\n")
    assert res.exit_code == 1 and "不能全是数字" in res.output
    res = runner.invoke(cli, ["users", "add", "hank", "--role", "dept_querier", "--json"])
    assert res.exit_code == 1 and json.loads(res.output)["error"]["code"] == "department_required"
    res = runner.invoke(cli, ["users", "add", "ivan", "--role", "boss", "--json"])
    assert json.loads(res.output)["error"]["code"] == "invalid_role"
    assert "admin（平台管理员）" in json.loads(res.output)["error"]["message"]
    res = runner.invoke(cli, ["users", "add", "erin", "--role", "admin", "--json"])
    assert json.loads(res.output)["error"]["code"] == "username_taken"
    listed = json.loads(runner.invoke(cli, ["users", "list", "--json"]).output)
    assert [u["username"] for u in listed] == ["erin", "frank"]
    assert generated not in json.dumps(listed)
    assert "erin" in runner.invoke(cli, ["users", "list"]).output
    res = runner.invoke(cli, ["users", "reset-password", "erin", "--json"])
    new = json.loads(res.output)["password"]
    assert new != generated
    with session_scope(db_url) as s:
        assert not service.login(s, "erin", generated).ok
        assert service.login(s, "erin", new).ok
        assert s.scalar(select(func.count()).select_from(AuditEvent)
                        .where(AuditEvent.action == "user.password_reset")) == 1
        assert s.scalar(select(AuditEvent.actor_kind).where(AuditEvent.action == "user.create").limit(1)) == "cli"
    totp = json.loads(runner.invoke(cli, ["users", "enable-totp", "frank", "--json"]).output)
    assert totp["totp_uri"].startswith("otpauth://")


def test_subject_accounts_bind_to_their_subject(client, db_url):
    seed(db_url)
    rng = random.Random(7)
    uscc = generate_uscc(rng, region="440604")
    cid = generate_citizen_id(rng)
    with session_scope(db_url) as s:
        upsert_subjects(s, [SubjectIn(kind="legal_entity", org_type="enterprise", name="佛山市禅城区示例有限公司",
                                      uscc=uscc)])
    company = add_user(db_url, "acme", "subject", subject=uscc.lower()).user
    person = add_user(db_url, "wang", "subject", subject=cid).user
    assert company.subject_id is not None and company.subject_key == f"uscc:{uscc}"
    assert person.subject_id is None and person.subject_key.startswith("cid:") and cid not in person.subject_key
    # The person is registered later: the account finds its subject at the next login.
    with session_scope(db_url) as s:
        upsert_subjects(s, [SubjectIn(kind="natural_person", name="王五", citizen_id=cid)])
    assert login(client, "wang").status_code == 303
    me = client.get("/api/v1/me").json()
    assert me["role"] == "subject" and me["subject_id"] is not None
    assert "王五" in client.get("/me").text
    with session_scope(db_url) as s:
        assert s.scalar(select(User.subject_id).where(User.username == "wang")) == me["subject_id"]
    bad = runner.invoke(cli, ["users", "add", "x-co", "--role", "subject", "--subject", "123", "--json"])
    assert bad.exit_code == 1 and json.loads(bad.output)["error"]["code"] == "invalid_subject_code"
    bad = runner.invoke(cli, ["users", "add", "x-co", "--role", "admin", "--subject", uscc, "--json"])
    assert json.loads(bad.output)["error"]["code"] == "subject_not_allowed"


def test_admin_turns_off_a_lost_phones_totp(db_url):
    """A staff member who lost their phone: the administrator turns TOTP off with a reason;
    their sessions end, a password alone then logs in, and the reason is in the audit log."""
    seed(db_url)
    import pyotp

    uri = add_user(db_url, "grace", "reviewer", totp=True).totp_uri
    add_user(db_url, "henry", "reviewer")
    with session_scope(db_url) as s:
        assert service.login(s, "grace", PASSWORD).need_totp
        assert service.login(s, "grace", PASSWORD, pyotp.parse_uri(uri).now()).ok  # a live session
    res = runner.invoke(cli, ["users", "disable-totp", "grace", "--json"])
    assert res.exit_code == 1 and json.loads(res.output)["error"]["code"] == "reason_required"
    assert "--reason" in json.loads(res.output)["error"]["message"]
    res = runner.invoke(cli, ["users", "disable-totp", "henry", "--reason", "误操作", "--json"])
    assert json.loads(res.output)["error"]["code"] == "totp_not_enabled"
    res = runner.invoke(cli, ["users", "disable-totp", "nobody", "--reason", "x", "--json"])
    assert res.exit_code == 1
    res = runner.invoke(cli, ["users", "disable-totp", "Grace", "--reason", "手机遗失，已电话核实本人身份", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["username"] == "grace" and out["totp_enabled"] is False
    with session_scope(db_url) as s:
        user = s.scalar(select(User).where(User.username == "grace"))
        assert user.totp_secret_enc is None and not user.totp_enabled
        assert s.scalar(select(func.count()).select_from(UserSession).where(
            UserSession.user_id == user.id, UserSession.revoked_at.is_(None))) == 0
        assert service.login(s, "grace", PASSWORD).ok
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "user.totp_disable"))
        assert event.actor_kind == "cli"
        assert event.details["reason"] == "手机遗失，已电话核实本人身份" and event.details["self_service"] is False
    assert out["sessions_ended"] == 1
