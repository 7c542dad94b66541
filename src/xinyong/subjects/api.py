from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.orm import Session

from xinyong.subjects import service
from xinyong.subjects.schemas import SubjectOut, SubjectPage
from xinyong.web.deps import get_session
from xinyong.web.errors import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1/subjects", tags=["信用主体"], responses=ERROR_RESPONSES)


@router.get("", response_model=SubjectPage, summary="信用主体列表")
def list_subjects(
    session: Annotated[Session, Depends(get_session)],
    q: Annotated[str | None, Query(max_length=100, description="名称片段（至少2个字符）")] = None,
    kind: Annotated[str | None, Query(description="legal_entity 或 individual_business")] = None,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$", description="6位行政区划代码")] = None,
    page: Annotated[int, Query(ge=1, le=10000)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict:
    """Page through registered organisations and individual businesses (natural persons are not listed)."""
    return service.list_subjects(session, q=q, kind=kind, region=region, page=page, size=size)


@router.get("/{code}", response_model=SubjectOut, summary="按任一代码查询信用主体")
def get_subject(
    code: Annotated[str, Path(max_length=64, description="统一社会信用代码、组织机构代码、工商注册号等")],
    session: Annotated[Session, Depends(get_session)],
) -> dict:
    """Look a subject up by any of its codes; returns its public registration facts only."""
    return service.get_public_subject(session, code)
