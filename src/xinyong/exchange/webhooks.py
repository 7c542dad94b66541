"""Webhooks (变更推送): a client subscribes to resources and subject kinds; the worker posts each
new range of the feed to its URL, signed with HMAC-SHA256.

* A delivery is a fixed range of the feed with a stable id (``X-Xinyong-Delivery``): until the
  receiver acknowledges it (2xx) the same range is re-sent under the same id, so a receiver
  that stores the ids it has processed sees each change exactly once.
* Failures back off exponentially (``retry_base`` × 2^(failures−1), at most ``retry_max``).
* The subscription's cursor only moves on acknowledgement: a receiver that was down catches up
  from where it stopped, in order.

Signature: ``X-Xinyong-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from xinyong.accounts.actor import Actor
from xinyong.accounts.clients import client_actor, client_status
from xinyong.accounts.models import ApiClient
from xinyong.audit.service import record_event
from xinyong.db.base import utcnow
from xinyong.errors import Forbidden, InvalidInput, NotFound
from xinyong.identity.crypto import get_keyring

from .feed import encode_cursor, fetch_changes, full_clearance, present_changes, readable_resources, sequence_pending
from .models import Delivery, Subscription
from .settings import get_exchange_settings

log = logging.getLogger("xinyong.exchange.webhooks")
SUBJECT_KIND_LABELS = {"legal_entity": "法人和非法人组织", "individual_business": "个体工商户",
                       "natural_person": "自然人"}
STATUS_LABELS = {"active": "推送中", "paused": "已暂停", "deleted": "已删除"}
Sender = Callable[[str, bytes, dict[str, str], float], int]


def _as_utc(value: datetime | None) -> datetime | None:
    from xinyong.accounts.service import as_utc

    return as_utc(value) if value is not None else None


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, *, tolerance: float | None = None,
                     now: float | None = None) -> bool:
    """For receivers (and tests): does the header carry a valid signature of ``body``?"""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if tolerance is not None and abs((now or time.time()) - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, ts, body), header)


# --- subscriptions ---------------------------------------------------------------------------------


def _check_url(url: str) -> str:
    url = (url or "").strip()
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or len(url) > 1000:
        raise InvalidInput("推送地址应为 http:// 或 https:// 开头的完整网址（不超过 1000 个字符）。", code="invalid_url")
    return url


def _check_kinds(kinds: list[str] | None) -> list[str]:
    items = sorted({k.strip() for k in kinds or [] if k and k.strip()})
    bad = [k for k in items if k not in SUBJECT_KIND_LABELS]
    if bad:
        raise InvalidInput(f"主体类别只能是：{'、'.join(f'{k}（{v}）' for k, v in SUBJECT_KIND_LABELS.items())}；"
                           f"不认识：{'、'.join(bad)}。", code="invalid_subject_kind")
    return items


def create_subscription(session: Session, actor: Actor, *, url: str, resources: list[str] | None = None,
                        subject_kinds: list[str] | None = None, client_id: int | None = None,
                        from_now: bool = False) -> tuple[Subscription, str]:
    """A client subscribes (an administrator may subscribe on a client's behalf). Returns the
    subscription and its signing secret, shown exactly once."""
    if actor.kind == "client":
        client_id = actor.id
    elif client_id is None:
        raise InvalidInput("请指定接口客户端编号（client_id）。", code="client_required")
    client = session.get(ApiClient, client_id)
    if client is None:
        raise NotFound(f"未找到编号为 {client_id} 的接口客户端。", code="client_not_found")
    owner = client_actor(client)
    chosen = readable_resources(owner, resources) if resources else ["*"]
    secret = "whsec_" + secrets.token_urlsafe(32)
    cursor = 0
    if from_now:
        from .feed import decode_cursor, latest_cursor

        cursor = decode_cursor(latest_cursor(session))
    sub = Subscription(client_id=client.id, url=_check_url(url), resources=chosen,
                       subject_kinds=_check_kinds(subject_kinds), secret_enc=get_keyring().encrypt(secret),
                       cursor=cursor, status="active", failures=0, delivered_total=0)
    session.add(sub)
    session.flush()
    record_event(session, "exchange.subscribe", actor=actor, resources=[r for r in chosen if r != "*"],
                 details={"subscription_id": sub.id, "client_id": client.id, "url": sub.url,
                          "subject_kinds": sub.subject_kinds})
    return sub, secret


def _own(session: Session, actor: Actor, subscription_id: int) -> Subscription:
    sub = session.get(Subscription, subscription_id)
    if sub is None or sub.status == "deleted":
        raise NotFound(f"未找到编号为 {subscription_id} 的订阅。", code="subscription_not_found")
    if actor.kind == "client" and sub.client_id != actor.id:
        raise Forbidden("只能管理本接口客户端的订阅。", code="not_own_subscription")
    return sub


def delete_subscription(session: Session, actor: Actor, subscription_id: int) -> None:
    sub = _own(session, actor, subscription_id)
    sub.status = "deleted"
    record_event(session, "exchange.unsubscribe", actor=actor, details={"subscription_id": sub.id})


def subscription_to_dict(sub: Subscription, client: ApiClient | None = None, latest: int | None = None
                         ) -> dict[str, Any]:
    def iso(v: datetime | None) -> str | None:
        v = _as_utc(v)
        return v.isoformat(timespec="seconds") if v else None

    return {"id": sub.id, "client_id": sub.client_id, "client": client.name if client else None,
            "url": sub.url, "resources": list(sub.resources), "subject_kinds": list(sub.subject_kinds),
            "status": sub.status, "status_label": STATUS_LABELS.get(sub.status, sub.status),
            "cursor": encode_cursor(sub.cursor), "behind": None if latest is None else max(0, latest - sub.cursor),
            "failures": sub.failures, "last_success_at": iso(sub.last_success_at),
            "last_failure_at": iso(sub.last_failure_at), "last_error": sub.last_error,
            "next_attempt_at": iso(sub.next_attempt_at), "delivered_total": sub.delivered_total,
            "created_at": iso(sub.created_at)}


def list_subscriptions(session: Session, actor: Actor) -> list[dict[str, Any]]:
    from .models import ExchangeChange

    stmt = select(Subscription).where(Subscription.status != "deleted").order_by(Subscription.id)
    if actor.kind == "client":
        stmt = stmt.where(Subscription.client_id == actor.id)
    elif actor.is_department:
        stmt = stmt.join(ApiClient, ApiClient.id == Subscription.client_id).where(
            ApiClient.department_id == actor.department_id)
    latest = session.scalar(select(ExchangeChange.seq).order_by(ExchangeChange.seq.desc()).limit(1)) or 0
    subs = list(session.scalars(stmt))
    clients = {c.id: c for c in session.scalars(select(ApiClient).where(ApiClient.id.in_({s.client_id for s in subs})))}
    return [subscription_to_dict(s, clients.get(s.client_id), latest) for s in subs]


def recent_deliveries(session: Session, subscription_id: int, limit: int = 20) -> list[dict[str, Any]]:
    rows = session.scalars(select(Delivery).where(Delivery.subscription_id == subscription_id)
                           .order_by(Delivery.created_at.desc(), Delivery.seq_from.desc()).limit(limit))
    return [{"id": d.id, "seq_from": d.seq_from, "seq_to": d.seq_to, "changes": d.changes, "status": d.status,
             "attempts": d.attempts, "last_status_code": d.last_status_code, "last_error": d.last_error,
             "delivered_at": (_as_utc(d.delivered_at).isoformat(timespec="seconds") if d.delivered_at else None)}
            for d in rows]


# --- delivery --------------------------------------------------------------------------------------


def http_send(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST; the HTTP status (connection failures raise OSError)."""
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - http(s) checked at subscription
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def backoff(failures: int) -> float:
    s = get_exchange_settings()
    return min(s.retry_max, s.retry_base * (2 ** max(0, failures - 1)))


def _filters(sub: Subscription, owner: Actor) -> tuple[list[str], list[str] | None]:
    wanted = None if "*" in sub.resources else list(sub.resources)
    try:
        resources = readable_resources(owner, wanted)
    except Forbidden:  # scopes narrowed since: follow what is still allowed
        resources = [r for r in readable_resources(owner) if wanted is None or r in wanted]
    return resources, list(sub.subject_kinds) or None


def _next_delivery(session: Session, sub: Subscription, owner: Actor, batch: int) -> Delivery | None:
    pending = session.scalar(select(Delivery).where(Delivery.subscription_id == sub.id, Delivery.status == "pending")
                             .order_by(Delivery.seq_from).limit(1))
    if pending is not None:
        return pending
    resources, kinds = _filters(sub, owner)
    rows, _ = fetch_changes(session, sub.cursor, resources=resources, limit=batch, subject_kinds=kinds)
    if not rows:
        return None
    d = Delivery(id=f"{sub.id}-{rows[0].seq}-{rows[-1].seq}", subscription_id=sub.id, seq_from=rows[0].seq,
                 seq_to=rows[-1].seq, changes=len(rows), status="pending", attempts=0)
    session.add(d)
    session.flush()
    return d


def _payload(session: Session, sub: Subscription, owner: Actor, d: Delivery) -> bytes:
    resources, kinds = _filters(sub, owner)
    rows, _ = fetch_changes(session, d.seq_from - 1, resources=resources, limit=d.changes, subject_kinds=kinds)
    rows = [r for r in rows if r.seq <= d.seq_to]
    body = {"delivery_id": d.id, "subscription_id": sub.id, "next_cursor": encode_cursor(d.seq_to),
            "changes": present_changes(session, rows, full=full_clearance(owner))}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def deliver_subscription(engine: Engine, subscription_id: int, *, send: Sender = http_send,
                         now: Callable[[], datetime] = utcnow, max_rounds: int = 1000) -> dict[str, int]:
    """Deliver everything pending for one subscription until caught up or a failure."""
    s = get_exchange_settings()
    out = {"delivered": 0, "changes": 0, "failed": 0}
    for _ in range(max_rounds):
        with Session(engine, expire_on_commit=False) as session, session.begin():
            sub = session.get(Subscription, subscription_id)
            if sub is None or sub.status != "active":
                return out
            client = session.get(ApiClient, sub.client_id)
            if client is None or client_status(client) != "active":
                sub.status = "paused"
                sub.last_error = "接口客户端已吊销或过期，订阅已暂停。"
                return out
            owner = client_actor(client)
            d = _next_delivery(session, sub, owner, s.batch_size)
            if d is None:
                return out
            body = _payload(session, sub, owner, d)
            secret = get_keyring().decrypt(sub.secret_enc)
            url, delivery_id = sub.url, d.id
        ts = int(time.time())
        headers = {"Content-Type": "application/json; charset=utf-8", "X-Xinyong-Delivery": delivery_id,
                   "X-Xinyong-Signature": sign(secret, ts, body), "User-Agent": "xinyong-exchange/1"}
        code, error = None, None
        try:
            code = send(url, body, headers, s.timeout)
            if not 200 <= code < 300:
                error = f"接收方返回 HTTP {code}"
        except Exception as exc:  # noqa: BLE001 - any transport failure is a failed attempt
            error = f"无法连接接收方：{type(exc).__name__}"
        with Session(engine, expire_on_commit=False) as session, session.begin():
            sub = session.get(Subscription, subscription_id)
            d = session.get(Delivery, delivery_id)
            d.attempts += 1
            d.last_status_code = code
            at = now()
            if error is None:
                d.status, d.delivered_at, d.last_error = "delivered", at, None
                sub.cursor = max(sub.cursor, d.seq_to)
                sub.failures = 0
                sub.next_attempt_at = None
                sub.last_success_at = at
                sub.delivered_total += d.changes
                out["delivered"] += 1
                out["changes"] += d.changes
            else:
                d.last_error = error[:500]
                sub.failures += 1
                sub.last_failure_at = at
                sub.last_error = error[:500]
                sub.next_attempt_at = at + timedelta(seconds=backoff(sub.failures))
                out["failed"] += 1
                log.info("webhook %s delivery %s failed (%s); retry in %.0fs", subscription_id, delivery_id, error,
                         backoff(sub.failures))
                return out
    return out


def deliver_all(engine: Engine, *, send: Sender = http_send, now: Callable[[], datetime] = utcnow) -> dict[str, int]:
    """One round: every active subscription that is due."""
    sequence_pending(engine)
    at = now()
    with Session(engine) as session:
        subs = list(session.scalars(select(Subscription).where(Subscription.status == "active")
                                    .order_by(Subscription.id)))
        due = [sub.id for sub in subs if sub.next_attempt_at is None or _as_utc(sub.next_attempt_at) <= at]
    total = {"subscriptions": len(due), "delivered": 0, "changes": 0, "failed": 0}
    for sid in due:
        for k, v in deliver_subscription(engine, sid, send=send, now=now).items():
            total[k] += v
    return total


class DeliveryWorker:
    """``deliver_all`` every ``poll`` seconds in a thread (``xinyong serve --scheduler``, CLI)."""

    def __init__(self, engine: Engine, poll: float | None = None) -> None:
        self.engine = engine
        self.poll = poll if poll is not None else get_exchange_settings().poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                deliver_all(self.engine)
            except Exception:  # noqa: BLE001
                log.exception("webhook delivery round failed")
            self._stop.wait(self.poll)

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.run_forever, name="xinyong-webhooks", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


__all__ = ["DeliveryWorker", "backoff", "create_subscription", "delete_subscription", "deliver_all",
           "deliver_subscription", "list_subscriptions", "recent_deliveries", "sign", "verify_signature"]
