from __future__ import annotations

from pydantic import BaseModel, Field


class IdentifierOut(BaseModel):
    scheme: str = Field(description="代码类型：uscc / reg_no / org_code / tax_no / institution_no / social_org_no")
    label: str = Field(description="代码类型中文名")
    value: str


class SubjectOut(BaseModel):
    name: str = Field(description="主体名称")
    kind: str = Field(description="主体类别：legal_entity / individual_business")
    kind_label: str
    org_type: str | None = None
    org_type_label: str | None = None
    uscc: str | None = Field(None, description="统一社会信用代码")
    region: str | None = Field(None, description="行政区划代码")
    region_name: str | None = None
    legal_rep: str | None = Field(None, description="法定代表人（负责人、经营者）")
    reg_status: str | None = Field(None, description="登记状态")
    established: str | None = Field(None, description="成立日期")
    address: str | None = None
    verified: bool = Field(description="是否已与登记信息核实")
    identifiers: list[IdentifierOut]
    former_names: list[str]


class SubjectPage(BaseModel):
    total: int
    page: int
    size: int
    items: list[SubjectOut]
