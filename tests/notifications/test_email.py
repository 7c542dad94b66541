"""E-mail through a real local SMTP server (aiosmtpd), the outbox, retries, and the inbox."""

from __future__ import annotations

import email
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller

from xinyong.accounts.actor import Actor
from xinyong.config import reset_settings
from xinyong.db.engine import session_scope
from xinyong.errors import InvalidInput, NotFound
from xinyong.notifications.models import EmailMessage
from xinyong.notifications.service import (
    add_contact,
    check_email,
    deliver_pending,
    inbox,
    mark_all_read,
    mark_read,
    notify,
)

from ..live import free_port


class Collector:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"



@pytest.fixture
def smtp(monkeypatch):
    collector = Collector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("XINYONG_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("XINYONG_SMTP_PORT", str(port))
    monkeypatch.setenv("XINYONG_SMTP_FROM", "xinyong@example.org")
    reset_settings()
    try:
        yield collector
    finally:
        controller.stop()
        reset_settings()


def test_inbox_audiences_and_email_delivery(db_url, smtp):
    with session_scope(db_url) as s:
        add_contact(s, "department", 7, "dept7@example.org")
        add_contact(s, "department", 7, "dept7@example.org")  # idempotent
        notify(s, "department", 7, "新异议待处理", "请在期限内答复。", link="/objections/1")
        notify(s, "subject", 3, "异议已受理", "您的异议已受理。", emails=["boss@example.com"])
        notify(s, "credit_office", None, "逾期督办", "已逾期。", urgent=True)
    with session_scope(db_url) as s:
        assert deliver_pending(s) == {"sent": 2, "failed": 0, "pending": 0}
        assert deliver_pending(s)["sent"] == 0  # nothing twice
    by_to = {m["To"]: m for m in smtp.messages}
    assert set(by_to) == {"dept7@example.org", "boss@example.com"}
    msg = by_to["dept7@example.org"]
    assert "新异议待处理" in msg["Subject"] and "xinyong@example.org" in msg["From"]
    assert "/objections/1" in msg.get_content() and "请在期限内答复" in msg.get_content()

    dept_user = Actor(kind="user", role="dept_submitter", id=11, department_id=7)
    subject_user = Actor(kind="user", role="subject", id=12, subject_id=3)
    reviewer = Actor(kind="user", role="reviewer", id=13)
    other_dept = Actor(kind="user", role="dept_querier", id=14, department_id=8)
    with session_scope(db_url) as s:
        assert [n["title"] for n in inbox(s, dept_user)["items"]] == ["新异议待处理"]
        assert [n["title"] for n in inbox(s, subject_user)["items"]] == ["异议已受理"]
        box = inbox(s, reviewer)
        assert box["items"][0]["urgent"] is True and box["unread"] == 1
        assert inbox(s, other_dept)["total"] == 0
        nid = inbox(s, subject_user)["items"][0]["id"]
        with pytest.raises(NotFound):
            mark_read(s, dept_user, nid)  # not theirs
        assert mark_read(s, subject_user, nid)["read"] is True
        assert mark_all_read(s, reviewer) == 1
        assert inbox(s, reviewer)["unread"] == 0


def test_unreachable_server_keeps_the_message_and_gives_up_after_retries(db_url, monkeypatch):
    monkeypatch.setenv("XINYONG_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("XINYONG_SMTP_PORT", str(free_port()))  # nobody listens
    monkeypatch.setenv("XINYONG_SMTP_TIMEOUT", "2")
    reset_settings()
    with session_scope(db_url) as s:
        notify(s, "subject", 1, "标题", "正文", emails=["a@example.com"])
    for attempt in range(1, 6):
        with session_scope(db_url) as s:
            out = deliver_pending(s)
            assert out["failed"] == 1
    with session_scope(db_url) as s:
        m = s.query(EmailMessage).one()
        assert m.status == "failed" and m.attempts == 5 and "connect failed" in m.last_error
        assert deliver_pending(s)["failed"] == 0
    reset_settings()


def test_without_smtp_host_messages_wait(db_url):
    with session_scope(db_url) as s:
        notify(s, "subject", 1, "标题", "正文", emails=["a@example.com"])
        assert deliver_pending(s) == {"sent": 0, "failed": 0, "pending": 0}
        assert s.query(EmailMessage).one().status == "pending"


@pytest.mark.parametrize("bad", ["no-at-sign", "a@b", "a..b@example.com", "a b@example.com", "x@" + "y" * 300 + ".cn"])
def test_email_addresses_are_checked(bad):
    with pytest.raises(InvalidInput) as err:
        check_email(bad)
    assert "电子邮箱格式不正确" in err.value.message


def test_blank_email_is_none():
    assert check_email("  ") is None and check_email("li.si+x@example.com.cn") == "li.si+x@example.com.cn"


from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_check_email_accepts_or_explains(value):
    try:
        out = check_email(value)
    except InvalidInput as exc:
        assert exc.code == "invalid_email"
    else:
        assert out is None or ("@" in out and out == value.strip())


def test_contacts_cli(db_url):
    from typer.testing import CliRunner

    from xinyong.cli import app
    from xinyong.departments.service import seed_departments
    from xinyong.notifications.models import NotificationContact

    with session_scope(db_url) as s:
        seed_departments(s)
    runner = CliRunner()
    assert runner.invoke(app, ["contacts", "add", "scj@example.org", "--department", "market_regulation"]).exit_code == 0
    assert runner.invoke(app, ["contacts", "add", "scj@example.org", "--department", "market_regulation"]).exit_code == 0
    r = runner.invoke(app, ["contacts", "add", "bad", "--credit-office"])
    assert r.exit_code == 1 and "电子邮箱格式不正确" in r.output
    assert runner.invoke(app, ["contacts", "add", "x@example.org"]).exit_code == 2
    with session_scope(db_url) as s:
        assert s.query(NotificationContact).count() == 1
