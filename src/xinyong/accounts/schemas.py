from __future__ import annotations

from pydantic import BaseModel


class WhoAmI(BaseModel):
    kind: str
    role: str
    role_label: str
    name: str | None
    department: str | None
    department_name: str | None
    subject_id: int | None
    resources: list[str] | None = None
    disclosures: list[str] | None = None


class AccessResource(BaseModel):
    code: str
    name: str


class AccessRecord(BaseModel):
    time: str
    department: str
    role: str | None
    role_label: str
    channel: str
    action: str
    resources: list[AccessResource]
    purpose_code: str | None
    purpose: str | None
    purpose_text: str | None


class AccessHistoryPage(BaseModel):
    total: int
    page: int
    size: int
    items: list[AccessRecord]
