"""Exchange over HTTP (共享交换接口): department queries, the change feed, webhook subscriptions
and packages for pulling platforms. Thin translations of the services; roles in
``accounts.policy``, clearance, scopes, purpose and audit through ``require_access``."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from sqlalchemy.orm import Session

from xinyong.accounts.access import require_access
from xinyong.accounts.actor import Actor
from xinyong.web.deps import get_session
from xinyong.web.errors import ERROR_RESPONSES

from . import feed, packages, query, webhooks

router = APIRouter(tags=["共享交换"])
DbSession = Annotated[Session, Depends(get_session)]
PACKAGE_LIMIT = 20_000


@router.get("/api/v1/exchange/subjects/{identifier}", summary="查询主体信用档案", responses=ERROR_RESPONSES)
def subject_file(identifier: str, session: DbSession,
                 actor: Annotated[Actor, Depends(require_access(subject_param="identifier",
                                                                action="exchange.subject_query"))]) -> dict:
    """A subject by any of its codes (USCC, legacy codes, citizen ID), with every current record
    the caller may see: public fields for public clearance; non-public fields and masked personal
    fields for government clearance. Needs a purpose (header ``X-Purpose``); audited."""
    return query.subject_file(session, actor, identifier)


@router.get("/api/v1/exchange/records/{resource}", summary="按资源查询记录", responses=ERROR_RESPONSES)
def records(resource: str, session: DbSession,
            actor: Annotated[Actor, Depends(require_access(resource_param="resource", disclosure="government",
                                                                    action="exchange.records"))],
            date_from: Annotated[date | None, Query(alias="from", description="主日期起（含）")] = None,
            date_to: Annotated[date | None, Query(alias="to", description="主日期止（含）")] = None,
            cursor: Annotated[str | None, Query(max_length=100, description="上一页的 next_cursor")] = None,
            limit: Annotated[int, Query(ge=1, le=query.MAX_RECORD_PAGE)] = query.RECORD_PAGE) -> dict:
    """A resource's records by main date, in a stable order; page with ``next_cursor``. Always
    at government clearance (non-public fields, masked personal fields): a purpose is required
    and every call is audited, whatever the resource's own disclosure class."""
    return query.records_page(session, actor, resource, date_from=date_from, date_to=date_to, cursor=cursor,
                              limit=limit)


@router.post("/api/v1/exchange/lookup", summary="批量查询主体（最多 1000 个）", responses=ERROR_RESPONSES)
def lookup(session: DbSession,
           actor: Annotated[Actor, Depends(require_access(action="exchange.lookup_batch"))],
           body: Annotated[dict[str, Any], Body(examples=[{"items": [{"id": "a1", "identifier": "91440604MA4UJ3TL0X"}]}])],
           ) -> dict:
    """``{"items": [{"id": "<your id>", "identifier": "<any subject code>"}, …], "records": true}``
    → ``{"results": {"<your id>": {"status": "found"|"not_found"|"invalid", …}}, "counts": …}``.
    Each subject found is recorded in its access history."""
    return query.batch_lookup(session, actor, body.get("items"), with_records=bool(body.get("records", True)))


@router.get("/api/v1/changes", summary="变更订阅（增量）", responses=ERROR_RESPONSES)
def changes(session: DbSession,
            actor: Annotated[Actor, Depends(require_access(disclosure="government", purpose_required=False,
                                                           action="exchange.changes"))],
            since: Annotated[str | None, Query(max_length=100, description="上次的 next_cursor；留空从头开始")] = None,
            resources: Annotated[str | None, Query(max_length=2000, description="资源代码，逗号分隔")] = None,
            limit: Annotated[int, Query(ge=1, le=feed.MAX_PAGE)] = feed.DEFAULT_PAGE) -> dict:
    """Every record version, withdrawal (tombstone), repair, closed disclosure window and list
    removal, in one commit-ordered sequence, filtered by the caller's scopes. Keep
    ``next_cursor`` and pass it back as ``since``: the same cursor always gives the same page."""
    wanted = [r for r in (resources or "").split(",") if r.strip()] or None
    return feed.read_page(session, actor, since=since, resources=wanted, limit=limit).to_dict()


@router.get("/api/v1/exchange/package", summary="拉取交换包（平台之间）", responses=ERROR_RESPONSES)
def package(session: DbSession,
            actor: Annotated[Actor, Depends(require_access(disclosure="government", action="exchange.package"))],
            since: Annotated[str | None, Query(max_length=100)] = None,
            resources: Annotated[str | None, Query(max_length=2000)] = None,
            recipient_key: Annotated[str | None, Query(max_length=100, description="接收平台的交换公钥（base64）：个人信息为它加密；缺省则不含个人信息")] = None) -> dict:
    """A signed package of the changes after ``since`` (at most 20,000; ``has_more`` in the
    manifest), as ``{"manifest.json": "...", "files": {"<resource>.ndjson": "..."}}``.
    ``xinyong exchange pull`` fetches, verifies and imports these."""
    wanted = [r for r in (resources or "").split(",") if r.strip()] or None
    return packages.package_payload(session, actor, since=since, resources=wanted, limit=PACKAGE_LIMIT,
                                    include_personal=feed.full_clearance(actor), recipient_key=recipient_key or None)


@router.post("/api/v1/exchange/subscriptions", summary="订阅变更推送（Webhook）", responses=ERROR_RESPONSES)
def subscribe(session: DbSession,
              actor: Annotated[Actor, Depends(require_access(disclosure="government", purpose_required=False,
                                                             action="exchange.subscription"))],
              body: Annotated[dict[str, Any], Body(examples=[{"url": "https://example.gov.cn/hook",
                                                              "resources": ["admin_penalty"],
                                                              "subject_kinds": ["legal_entity"]}])]) -> dict:
    """Subscribe this API client: ``url``, ``resources`` (default all it may read),
    ``subject_kinds``, ``from_now`` (skip the history). The answer carries the HMAC ``secret``
    once: keep it to check ``X-Xinyong-Signature``."""
    sub, secret = webhooks.create_subscription(
        session, actor, url=str(body.get("url") or ""), resources=body.get("resources"),
        subject_kinds=body.get("subject_kinds"), client_id=body.get("client_id"),
        from_now=bool(body.get("from_now")))
    return {**webhooks.subscription_to_dict(sub), "secret": secret}


@router.get("/api/v1/exchange/subscriptions", summary="我的订阅", responses=ERROR_RESPONSES)
def subscriptions(session: DbSession,
                  actor: Annotated[Actor, Depends(require_access(disclosure="government", purpose_required=False,
                                                                 action="exchange.subscription_read"))]) -> dict:
    """Subscriptions with their cursor, how far behind, last success and failures."""
    return {"subscriptions": webhooks.list_subscriptions(session, actor)}


@router.delete("/api/v1/exchange/subscriptions/{subscription_id}", summary="取消订阅", responses=ERROR_RESPONSES)
def unsubscribe(subscription_id: int, session: DbSession,
                actor: Annotated[Actor, Depends(require_access(disclosure="government", purpose_required=False,
                                                               action="exchange.subscription"))]) -> dict:
    webhooks.delete_subscription(session, actor, subscription_id)
    return {"id": subscription_id, "status": "deleted"}
