"""Console page for webhooks (推送监控): each subscription's cursor, backlog, last success and
failures, with its recent deliveries; administrators can retry a backed-off subscription now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from xinyong.accounts.access import current_actor
from xinyong.audit.service import record_event
from xinyong.errors import NotFound
from xinyong.portal.templating import page, render
from xinyong.web.deps import get_session
from xinyong.web.security import form_csrf_token

from . import webhooks
from .models import Subscription

router = APIRouter(prefix="/console/exchange", include_in_schema=False)
DbSession = Annotated[Session, Depends(get_session)]


@router.get("", name="console_exchange")
@page
def exchange_console(request: Request, session: DbSession) -> Response:
    actor = current_actor(request)
    subs = webhooks.list_subscriptions(session, actor)
    for s in subs:
        s["deliveries"] = webhooks.recent_deliveries(session, s["id"], limit=5)
    return render(request, "exchange/console.html", {
        "actor": actor, "csrf_token": form_csrf_token(request)[0], "subscriptions": subs,
        "is_admin": actor.role == "admin", "retried": request.query_params.get("retried")}, private=True)


@router.post("/{subscription_id}/retry", name="console_exchange_retry")
@page
def retry(request: Request, session: DbSession, subscription_id: int) -> Response:
    actor = current_actor(request)
    sub = session.get(Subscription, subscription_id)
    if sub is None or sub.status == "deleted":
        raise NotFound(f"未找到编号为 {subscription_id} 的订阅。", code="subscription_not_found")
    sub.next_attempt_at = None
    if sub.status == "paused":
        sub.status = "active"
    record_event(session, "exchange.retry", actor=actor, details={"subscription_id": sub.id})
    return RedirectResponse(f"/console/exchange?retried={sub.id}", status_code=303)
