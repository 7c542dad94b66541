from __future__ import annotations

from pydantic import BaseModel, Field


class DepartmentOut(BaseModel):
    code: str = Field(description="部门编码")
    name: str = Field(description="部门名称")
    uscc: str = Field(description="统一社会信用代码")
    region: str | None = Field(None, description="行政区划代码")
    level: str = Field(description="city（市级）或 district（区县级）")
    level_label: str
    note: str | None = None
