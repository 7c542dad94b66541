from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from xinyong.catalogue.loader import load_catalogue
from xinyong.catalogue.views import catalogue_summary, resource_detail
from xinyong.web.errors import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1/catalogue", tags=["信用信息目录"], responses=ERROR_RESPONSES)


@router.get("", summary="信用信息目录")
def get_catalogue() -> dict[str, Any]:
    """Every information resource: category, polarity, disclosure class, legal basis and field labels."""
    return catalogue_summary(load_catalogue())


@router.get("/{code}", summary="信息资源详情")
def get_resource(code: Annotated[str, Path(max_length=64, description="资源代码，如 admin_penalty")]) -> dict[str, Any]:
    """One resource with all its fields, disclosure window rules and legal basis."""
    return resource_detail(load_catalogue().get(code))
