"""The inbox over HTTP (every signed-in actor)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from xinyong.accounts.access import current_actor
from xinyong.accounts.actor import Actor
from xinyong.db.engine import session_scope
from xinyong.web.errors import ERROR_RESPONSES

from . import service

router = APIRouter(prefix="/api/v1/inbox", tags=["站内消息"], responses=ERROR_RESPONSES)


@router.get("", summary="我的站内消息")
def inbox(actor: Annotated[Actor, Depends(current_actor)], unread: bool = False,
          page: Annotated[int, Query(ge=1)] = 1, size: Annotated[int, Query(ge=1, le=100)] = 20) -> dict:
    """Messages to this account, to its subject, to its department, or (administrators and
    reviewers) to the credit office; newest first; ``urgent`` ones are overdue items."""
    with session_scope() as s:
        return service.inbox(s, actor, page=page, size=size, unread_only=unread)


@router.post("/{notification_id}/read", summary="标记为已读")
def read_one(notification_id: int, actor: Annotated[Actor, Depends(current_actor)]) -> dict:
    with session_scope() as s:
        return service.mark_read(s, actor, notification_id)


@router.post("/read-all", summary="全部标记为已读")
def read_all(actor: Annotated[Actor, Depends(current_actor)]) -> dict:
    with session_scope() as s:
        return {"marked": service.mark_all_read(s, actor)}
