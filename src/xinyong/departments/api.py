from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from xinyong.departments import service
from xinyong.departments.schemas import DepartmentOut
from xinyong.web.deps import get_session

router = APIRouter(prefix="/api/v1/departments", tags=["数据来源单位"])


@router.get("", response_model=list[DepartmentOut], summary="数据来源单位列表")
def list_departments(session: Annotated[Session, Depends(get_session)]) -> list[dict]:
    """All registered source departments, city level first."""
    return [service.department_to_dict(d) for d in service.list_departments(session)]
