"""Department API clients: keys shown once, stored hashed, scoped, expiring, revocable, rate-limited."""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.accounts.actor import Actor
from xinyong.accounts.models import ApiClient
from xinyong.accounts.roles import (
    CLIENT_ROLES,
    DISCLOSURE_LABELS,
    ROLES,
    disclosures_for,
    role_label,
)
from xinyong.accounts.service import as_utc, beijing_time
from xinyong.accounts.settings import get_account_settings
from xinyong.audit.service import record_event
from xinyong.db.base import utcnow
from xinyong.departments.service import find_department
from xinyong.errors import InvalidInput, NotFound, TooManyRequests, Unauthorized

KEY_RE = re.compile(r"^xy_(\d{1,12})_([A-Za-z0-9_-]{32,128})$")
MAX_RATE = 100_000


def _secret_hash(secret: str) -> str:
    # The secret is 256 random bits: a plain SHA-256 cannot be brute-forced back.
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


@dataclass
class NewClient:
    client: ApiClient
    #: ``xy_<id>_<secret>``: shown exactly once, never stored.
    key: str


def _check_resources(resources: Iterable[str]) -> list[str]:
    from xinyong.catalogue import load_catalogue

    items = sorted({r.strip() for r in resources if r and r.strip()}) or ["*"]
    if "*" in items:
        return ["*"]
    catalogue = load_catalogue()
    unknown = [r for r in items if r not in catalogue]
    if unknown:
        raise InvalidInput(f"信用信息目录中没有资源：{'、'.join(unknown)}。可用 `xinyong catalogue list` 查看资源代码，"
                           "或用 * 表示全部资源。", code="unknown_resource")
    return items


def create_client(session: Session, actor: Actor, *, department: str, name: str,
                  role: str = "dept_querier", resources: Iterable[str] = ("*",),
                  disclosures: Iterable[str] | None = None,
                  expires_days: int | None = None, rate_limit: int | None = None) -> NewClient:
    s = get_account_settings()
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("接口客户端名称不能为空，且不超过100个字符。", code="invalid_client_name")
    if role not in CLIENT_ROLES:
        raise InvalidInput("接口客户端角色只能是：" + "、".join(f"{r}（{ROLES[r]}）" for r in CLIENT_ROLES) + "。",
                           code="invalid_role")
    allowed = disclosures_for(role)
    # Default: everything the role may read at all (public + government for a querier).
    classes = sorted(set(allowed if disclosures is None else disclosures) or {"public"})
    bad = [d for d in classes if d not in allowed]
    if bad:
        labels = "、".join(f"{d}（{DISCLOSURE_LABELS.get(d, '未知')}）" for d in bad)
        raise InvalidInput(f"{role_label(role)}不能被授权查看：{labels}。可授权：{'、'.join(allowed)}。",
                           code="invalid_disclosure")
    days = s.client_default_days if expires_days is None else expires_days
    if days < 1 or days > 3660:
        raise InvalidInput("有效期应为 1–3660 天。", code="invalid_expiry")
    rate = s.client_default_rate_limit if rate_limit is None else rate_limit
    if rate < 1 or rate > MAX_RATE:
        raise InvalidInput(f"限流应为每分钟 1–{MAX_RATE} 次请求。", code="invalid_rate_limit")
    dept = find_department(session, department)
    secret = secrets.token_urlsafe(32)
    client = ApiClient(name=name, department_id=dept.id, role=role, key_hash=_secret_hash(secret),
                       resources=_check_resources(resources), disclosures=classes, rate_limit=rate,
                       expires_at=utcnow() + timedelta(days=days))
    session.add(client)
    session.flush()
    record_event(session, "client.create", actor=actor,
                 details={"client_id": client.id, "name": name, "department": dept.code, "role": role,
                          "resources": client.resources, "disclosures": classes, "rate_limit": rate,
                          "expires_at": client.expires_at.isoformat(timespec="seconds")})
    return NewClient(client=client, key=f"xy_{client.id}_{secret}")


def get_client(session: Session, client_id: int) -> ApiClient:
    client = session.get(ApiClient, client_id)
    if client is None:
        raise NotFound(f"未找到编号为 {client_id} 的接口客户端。", code="client_not_found")
    return client


def list_clients(session: Session, *, department: str | None = None) -> list[ApiClient]:
    stmt = select(ApiClient).order_by(ApiClient.id)
    if department:
        stmt = stmt.where(ApiClient.department_id == find_department(session, department).id)
    return list(session.scalars(stmt))


def client_status(client: ApiClient, now: datetime | None = None) -> str:
    now = now or utcnow()
    if client.revoked_at is not None:
        return "revoked"
    if client.expires_at is not None and as_utc(client.expires_at) <= now:
        return "expired"
    return "active"


STATUS_LABELS = {"active": "有效", "revoked": "已吊销", "expired": "已过期"}


def client_to_dict(client: ApiClient) -> dict:
    status = client_status(client)
    return {"id": client.id, "name": client.name, "department": client.department.code,
            "department_name": client.department.name, "role": client.role,
            "role_label": role_label(client.role), "resources": list(client.resources),
            "disclosures": list(client.disclosures), "rate_limit": client.rate_limit,
            "expires_at": as_utc(client.expires_at).isoformat(timespec="seconds") if client.expires_at else None,
            "revoked_at": as_utc(client.revoked_at).isoformat(timespec="seconds") if client.revoked_at else None,
            "status": status, "status_label": STATUS_LABELS[status]}


def revoke_client(session: Session, actor: Actor, client_id: int, *, reason: str | None = None) -> ApiClient:
    client = get_client(session, client_id)
    key_cache.forget(client.id)  # this process refuses the key at once; other workers within KEY_CACHE_SECONDS
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        record_event(session, "client.revoke", actor=actor,
                     details={"client_id": client.id, "name": client.name,
                              "department": client.department.code, "reason": (reason or "")[:200] or None})
    return client


def client_actor(client: ApiClient, request_id: str | None = None) -> Actor:
    dept = client.department
    return Actor(kind="client", role=client.role, id=client.id, name=client.name,
                 department_id=dept.id, department_code=dept.code, department_name=dept.name,
                 resources=frozenset(client.resources or ()), disclosures=frozenset(client.disclosures or ()),
                 request_id=request_id)


def authenticate_key(session: Session, raw: str, *, request_id: str | None = None,
                     now: datetime | None = None, audit: bool = True) -> tuple[Actor, ApiClient]:
    """The client behind ``xy_<id>_<secret>``; raises Unauthorized (rejections of a real client
    are audited, so a leaked or stale key in use shows up in the trail). ``audit=False`` only
    for a first look that repeats a rejection with ``audit=True`` before refusing."""
    now = now or utcnow()
    m = KEY_RE.match((raw or "").strip())
    if not m:
        raise Unauthorized("接口密钥格式不正确：应为 xy_编号_密钥。", code="invalid_api_key")
    client = session.get(ApiClient, int(m.group(1)))
    if client is None or not hmac.compare_digest(client.key_hash, _secret_hash(m.group(2))):
        if client is not None and audit:
            record_event(session, "auth.api_key_rejected", actor=client_actor(client, request_id),
                         details={"reason": "bad_secret"})
        raise Unauthorized("接口密钥无效。", code="invalid_api_key")
    status = client_status(client, now)
    if status != "active":
        if audit:
            record_event(session, "auth.api_key_rejected", actor=client_actor(client, request_id),
                         details={"reason": status})
        if status == "revoked":
            raise Unauthorized("接口密钥已被吊销，请联系信用办重新签发。", code="api_key_revoked")
        raise Unauthorized(f"接口密钥已于北京时间 {beijing_time(client.expires_at)} 过期，请联系信用办重新签发。",
                           code="api_key_expired")
    return client_actor(client, request_id), client


# -- accepted keys, remembered briefly ------------------------------------------------------------

#: How long a process trusts a key it has accepted without reading its client again. A key
#: revoked by this process is refused at once; one revoked elsewhere (another worker, the CLI,
#: a direct database change) within this many seconds. Expiry is checked on every request.
KEY_CACHE_SECONDS = 5.0


class KeyCache:
    """Accepted API keys, so a department's steady traffic does not read (and, on PostgreSQL,
    round-trip for) its client row on every request. Only successes are remembered: a bad,
    expired or revoked key always takes the audited path. Keyed by the client id and checked
    against the SHA-256 of the secret, as the stored row is (the raw key is not kept)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[int, tuple[str, float, datetime | None, Actor, tuple[int, str, int]]] = {}

    def get(self, raw: str, now: float | None = None) -> tuple[Actor, tuple[int, str, int]] | None:
        """(actor without a request id, rate-limit key) for a key accepted moments ago, else None."""
        m = KEY_RE.match(raw)
        if not m:
            return None
        entry = self._entries.get(int(m.group(1)))
        if entry is None:
            return None
        secret_hash, fetched, expires_at, actor, limit = entry
        now = time.monotonic() if now is None else now
        if (now - fetched >= KEY_CACHE_SECONDS or now < fetched
                or not hmac.compare_digest(secret_hash, _secret_hash(m.group(2)))
                or (expires_at is not None and expires_at <= utcnow())):
            return None
        return actor, limit

    def remember(self, actor: Actor, client: ApiClient, now: float | None = None) -> None:
        expires = as_utc(client.expires_at) if client.expires_at is not None else None
        entry = (client.key_hash, time.monotonic() if now is None else now, expires,
                 actor.with_(request_id=None), (client.id, client.key_hash, client.rate_limit))
        with self._lock:
            if len(self._entries) > 10_000:  # bounded: ids are chosen by the caller
                self._entries.clear()
            self._entries[client.id] = entry

    def forget(self, client_id: int | None = None) -> None:
        with self._lock:
            if client_id is None:
                self._entries.clear()
            else:
                self._entries.pop(client_id, None)


key_cache = KeyCache()


# -- rate limiting --------------------------------------------------------------------------------


class RateLimiter:
    """In-process token buckets, one per key: ``rate`` requests a minute, bursts up to ``rate``.

    Per process: with several workers each allows the full rate (documented for operators).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def hit(self, key: str, rate: int, now: float | None = None) -> float:
        """Take one token; returns 0 if allowed, else seconds until one is available."""
        now = time.monotonic() if now is None else now
        per_second = rate / 60.0
        with self._lock:
            tokens, last = self._buckets.get(key, (float(rate), now))
            tokens = min(float(rate), tokens + (now - last) * per_second)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / per_second

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()


limiter = RateLimiter()


def enforce_rate_limit(client_id: int, key_hash: str, rate: int) -> None:
    # Keyed by the key hash too: a re-issued client id in a fresh database starts afresh.
    wait = limiter.hit(f"{client_id}:{key_hash}", rate)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise TooManyRequests(f"请求过于频繁：该接口密钥限每分钟 {rate} 次，请 {seconds} 秒后重试。",
                              code="rate_limited", retry_after=seconds)
