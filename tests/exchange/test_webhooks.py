"""Webhooks against a real local HTTP receiver: signed, retried with back-off, every change
exactly once although the receiver is down, failing, and loses an acknowledgement."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy import select

from xinyong.accounts.actor import Actor
from xinyong.db.engine import get_engine, session_scope
from xinyong.exchange.models import Delivery, Subscription
from xinyong.exchange.webhooks import deliver_all, verify_signature
from xinyong.intake.models import Record
from xinyong.intake.service import ingest_rows, withdraw_record

from .conftest import add_client, headers, penalty, seed_platform
from ..live import free_port


class Receiver:
    """A department system: checks the signature, remembers delivery ids, applies each once."""

    def __init__(self, port: int, secret: str) -> None:
        self.port, self.secret = port, secret
        self.mode = "ok"  # ok | error | lose_ack
        self.raw: list[str] = []  # delivery ids as received (with retries)
        self.processed: set[str] = set()
        self.changes: list[int] = []
        self.bad_signatures = 0
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if not verify_signature(owner.secret, self.headers.get("X-Xinyong-Signature", ""), body):
                    owner.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                did = self.headers["X-Xinyong-Delivery"]
                owner.raw.append(did)
                if owner.mode == "error":
                    self.send_response(500)
                    self.end_headers()
                    return
                if did not in owner.processed:  # idempotent on the delivery id
                    owner.processed.add(did)
                    owner.changes.extend(c["seq"] for c in json.loads(body)["changes"])
                self.send_response(500 if owner.mode == "lose_ack" else 204)
                self.end_headers()
                if owner.mode == "lose_ack":
                    owner.mode = "ok"

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None



def test_receiver_down_then_failing_gets_every_change_exactly_once(client, db_url, monkeypatch):
    monkeypatch.setenv("XINYONG_EXCHANGE_RETRY_BASE", "60")
    monkeypatch.setenv("XINYONG_EXCHANGE_BATCH_SIZE", "3")
    codes = seed_platform(db_url, companies=2, per_company=2)  # 4 changes
    key = add_client(db_url)
    port = free_port()
    r = client.post("/api/v1/exchange/subscriptions", headers=headers(key),
                    json={"url": f"http://127.0.0.1:{port}/hook", "resources": ["admin_penalty"],
                          "subject_kinds": ["legal_entity"]})
    assert r.status_code == 200, r.text
    secret, sub_id = r.json()["secret"], r.json()["id"]
    assert secret.startswith("whsec_")
    engine = get_engine(db_url)
    clock = [datetime(2026, 11, 20, 8, 0, tzinfo=UTC)]

    def now():
        return clock[0]

    # Down: nothing listens on the port.
    out = deliver_all(engine, now=now)
    assert out["failed"] == 1 and out["delivered"] == 0
    with session_scope(db_url) as s:
        sub = s.get(Subscription, sub_id)
        assert sub.failures == 1 and sub.cursor == 0 and "无法连接" in sub.last_error
        first_retry = sub.next_attempt_at
    assert abs((first_retry.replace(tzinfo=UTC) - clock[0]).total_seconds() - 60) < 1
    # Not due yet: no attempt.
    assert deliver_all(engine, now=now)["subscriptions"] == 0
    # Changes keep happening meanwhile: a correction and a withdrawal.
    with session_scope(db_url) as s:
        ingest_rows(s, [penalty(10, codes[0], name="佛山市测试1号企业有限公司", fine_amount="7000")], "admin_penalty",
                    "market_regulation", today=date(2026, 11, 2))
    with session_scope(db_url) as s:
        rid = s.scalars(select(Record.id).order_by(Record.id)).all()[-1]
        withdraw_record(s, rid, reason="决定已撤销", actor=Actor.cli("pytest"))
    receiver = Receiver(port, secret)
    receiver.start()
    try:
        receiver.mode = "error"
        clock[0] += timedelta(seconds=61)
        assert deliver_all(engine, now=now)["failed"] == 1
        with session_scope(db_url) as s:
            sub = s.get(Subscription, sub_id)
            assert sub.failures == 2 and "HTTP 500" in sub.last_error
            assert abs((sub.next_attempt_at.replace(tzinfo=UTC) - clock[0]).total_seconds() - 120) < 1  # doubled
        # Up, but the first acknowledgement is lost: the same delivery id comes again.
        receiver.mode = "lose_ack"
        clock[0] += timedelta(seconds=121)
        out = deliver_all(engine, now=now)
        assert out["failed"] == 1
        clock[0] += timedelta(seconds=60 * 8)
        out = deliver_all(engine, now=now)
        assert out["failed"] == 0 and out["changes"] == 6
        assert receiver.changes == [1, 2, 3, 4, 5, 6]  # exactly once, in order
        assert receiver.raw[0] == receiver.raw[1] == receiver.raw[2]  # retried under one id
        assert receiver.bad_signatures == 0
        with session_scope(db_url) as s:
            sub = s.get(Subscription, sub_id)
            assert sub.failures == 0 and sub.last_success_at is not None and sub.delivered_total == 6
            assert all(d.status == "delivered" for d in s.scalars(select(Delivery)))
        # Nothing new: nothing sent. A later change goes out alone.
        before = len(receiver.raw)
        assert deliver_all(engine, now=now)["delivered"] == 0 and len(receiver.raw) == before
        with session_scope(db_url) as s:
            ingest_rows(s, [penalty(99, codes[1], name="佛山市测试2号企业有限公司")], "admin_penalty",
                        "market_regulation", today=date(2026, 11, 3))
        deliver_all(engine, now=now)
        assert receiver.changes == [1, 2, 3, 4, 5, 6, 7]
    finally:
        receiver.stop()
    # The subscription is visible through the API with its figures.
    listed = client.get("/api/v1/exchange/subscriptions", headers=headers(key)).json()["subscriptions"]
    assert listed[0]["delivered_total"] == 7 and listed[0]["behind"] == 0 and listed[0]["last_success_at"]


def test_subscription_validation_and_console_page(client, db_url, monkeypatch):
    monkeypatch.setenv("XINYONG_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("XINYONG_ARGON2_MEMORY_COST", "8")
    monkeypatch.setenv("XINYONG_ARGON2_PARALLELISM", "1")
    seed_platform(db_url, companies=1, per_company=1)
    key = add_client(db_url)
    r = client.post("/api/v1/exchange/subscriptions", headers=headers(key), json={"url": "ftp://x"})
    assert r.status_code in (400, 422) and "http" in r.json()["error"]["message"]
    r = client.post("/api/v1/exchange/subscriptions", headers=headers(key),
                    json={"url": "http://127.0.0.1:9/h", "subject_kinds": ["aliens"]})
    assert r.status_code in (400, 422) and "主体类别" in r.json()["error"]["message"]
    scoped = add_client(db_url, name="许可系统", resources=["admin_license"])
    r = client.post("/api/v1/exchange/subscriptions", headers=headers(scoped),
                    json={"url": "http://127.0.0.1:9/h", "resources": ["admin_penalty"]})
    assert r.status_code == 403
    r = client.post("/api/v1/exchange/subscriptions", headers=headers(key), json={"url": "http://127.0.0.1:9/h"})
    sub_id = r.json()["id"]
    other = add_client(db_url, name="其他系统")
    assert client.delete(f"/api/v1/exchange/subscriptions/{sub_id}", headers=headers(other)).status_code == 403
    deliver_all(get_engine(db_url))  # port 9: refused → a failure to show
    from tests.accounts.conftest import add_user, login

    add_user(db_url, "admin1", "admin")
    assert login(client, "admin1").status_code == 303
    page = client.get("/console/exchange")
    assert page.status_code == 200 and "变更推送监控" in page.text and "http://127.0.0.1:9/h" in page.text
    assert "无法连接接收方" in page.text
    assert client.delete(f"/api/v1/exchange/subscriptions/{sub_id}", headers=headers(key)).status_code == 200


def test_the_scheduler_service_delivers_webhooks(db_url, tmp_path):
    """Production runs `xinyong scheduler` (deploy/systemd/xinyong-scheduler.service) and the API
    servers without --scheduler: the scheduler process alone must push the changes."""
    import os
    import subprocess
    import sys
    import time

    from xinyong.db.engine import dispose_all
    from xinyong.exchange.webhooks import create_subscription

    seed_platform(db_url, companies=2, per_company=1)  # 2 changes
    client_id = int(add_client(db_url).split("_")[1])  # keys read xy_<id>_<secret>
    port = free_port()
    with session_scope(db_url) as s:
        _sub, secret = create_subscription(s, Actor.cli("pytest"), url=f"http://127.0.0.1:{port}/hook",
                                           client_id=client_id)
    dispose_all()
    receiver = Receiver(port, secret)
    receiver.start()
    env = {**os.environ, "XINYONG_EXCHANGE_POLL_SECONDS": "0.2"}
    proc = subprocess.Popen([sys.executable, "-m", "xinyong.cli", "scheduler"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(receiver.changes) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert receiver.changes == [1, 2], proc.stdout.read() if proc.poll() is not None else receiver.changes
        assert receiver.bad_signatures == 0
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        receiver.stop()
