from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from xinyong.accounts.access import current_actor
from xinyong.accounts.schemas import AccessHistoryPage, WhoAmI
from xinyong.audit.service import access_history
from xinyong.web.deps import get_session
from xinyong.web.errors import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1/me", tags=["账户"], responses=ERROR_RESPONSES)


@router.get("", response_model=WhoAmI, summary="当前身份")
def whoami(request: Request) -> dict:
    """Who the credentials in this request belong to: role, department, scopes (never a secret)."""
    a = current_actor(request)
    return {"kind": a.kind, "role": a.role, "role_label": a.role_label, "name": a.name,
            "department": a.department_code, "department_name": a.department_name,
            "subject_id": a.subject_id,
            "resources": sorted(a.resources) if a.resources is not None else None,
            "disclosures": sorted(a.disclosures) if a.disclosures is not None else None}


@router.get("/access-history", response_model=AccessHistoryPage, summary="本主体的查询记录")
def my_access_history(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    page: Annotated[int, Query(ge=1, le=10000)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict:
    """For a subject account: which departments, in which role and for what declared purpose,
    read this subject's non-public information (查询记录), newest first."""
    actor = current_actor(request)
    if actor.subject_id is None:
        return {"total": 0, "page": page, "size": size, "items": []}
    from xinyong.catalogue import load_catalogue

    names = {r.code: r.name for r in load_catalogue()}
    return access_history(session, actor.subject_id, page=page, size=size, resource_names=names)
