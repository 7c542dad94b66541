"""Public search API: the same search as the website's 信用查询 page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session

from xinyong.portal.search import MAX_PAGE_SIZE, PAGE_SIZE, search_subjects
from xinyong.web.deps import get_session
from xinyong.web.errors import ErrorResponse

router = APIRouter(prefix="/api/v1", tags=["信用查询"])


class Badge(BaseModel):
    code: str
    label: str


class SearchItem(BaseModel):
    name: str
    uscc: str | None
    kind: str
    kind_label: str
    region: str | None
    region_name: str | None
    status: str | None
    id_masked: str | None
    badges: list[Badge]
    url: str


class SearchResult(BaseModel):
    total: int
    total_exact: bool
    page: int
    size: int
    pages: int
    items: list[SearchItem]


@router.get("/search", response_model=SearchResult, summary="信用主体查询",
            responses={400: {"model": ErrorResponse, "description": "查询内容不合法"}})
def search(
    session: Annotated[Session, Depends(get_session)],
    q: Annotated[str | None, Query(description="主体名称中连续的至少2个字（不区分全角半角、中英文括号），"
                                               "拼音首字母，或统一社会信用代码、注册号、组织机构代码")] = None,
    kind: Annotated[str | None, Query(description="主体类别：legal_entity、individual_business、natural_person")] = None,
    region: Annotated[str | None, Query(description="6位行政区划代码，例如 440604")] = None,
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = PAGE_SIZE,
) -> dict:
    """Search subjects by name fragment, pinyin initials or any code.

    `total` counts matches up to 1,000 (`total_exact` is false beyond that: refine the query).
    `badges` lists red/black/watch-list entries and open objections of the records the public
    sees now. Natural persons appear only while a record about them is public, with the ID
    number masked (`id_masked`).
    """
    return search_subjects(session, q, kind=kind, region=region, page=page, size=size)
