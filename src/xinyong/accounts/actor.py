"""Who is acting: a user, a department API client, the command line, or an anonymous visitor."""

from __future__ import annotations

import getpass
from dataclasses import dataclass, replace

from xinyong.accounts.purposes import Purpose
from xinyong.accounts.roles import (
    ADMIN,
    DEPARTMENT_ROLES,
    DISCLOSURE_LABELS,
    DISCLOSURE_READERS,
    PUBLIC,
    STAFF_ROLES,
    SUBJECT,
    role_label,
)
from xinyong.errors import Forbidden


@dataclass(frozen=True)
class Actor:
    #: anonymous | user | client | cli
    kind: str
    role: str
    id: int | None = None
    name: str | None = None
    department_id: int | None = None
    department_code: str | None = None
    department_name: str | None = None
    #: Subject accounts: the subject they are (None until the subject is registered).
    subject_id: int | None = None
    #: API clients: catalogue resource codes they may read (``"*"`` for all); None = no limit.
    resources: frozenset[str] | None = None
    #: API clients: disclosure classes granted; None = whatever the role allows.
    disclosures: frozenset[str] | None = None
    #: Server-side session row behind a cookie login.
    session_id: int | None = None
    purpose: Purpose | None = None
    request_id: str | None = None

    @classmethod
    def anonymous(cls, request_id: str | None = None) -> Actor:
        return cls(kind="anonymous", role=PUBLIC, request_id=request_id)

    @classmethod
    def cli(cls, name: str | None = None) -> Actor:
        """The operator at the command line (has shell access to the server: administrator)."""
        try:
            who = name or getpass.getuser()
        except Exception:  # noqa: BLE001 - no login name in some containers
            who = "cli"
        return cls(kind="cli", role=ADMIN, name=who)

    # -- questions --

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_department(self) -> bool:
        return self.role in DEPARTMENT_ROLES

    @property
    def is_subject(self) -> bool:
        return self.role == SUBJECT

    @property
    def role_label(self) -> str:
        return role_label(self.role)

    def with_(self, **changes) -> Actor:
        return replace(self, **changes)

    def can_read(self, resource: str | None, disclosure: str) -> bool:
        if self.role not in DISCLOSURE_READERS.get(disclosure, frozenset()):
            return False
        if disclosure == "public":
            return True  # scopes limit what a key may see beyond the public, not the public itself
        if self.disclosures is not None and disclosure not in self.disclosures:
            return False
        if resource and self.resources is not None and "*" not in self.resources:
            return resource in self.resources
        return True

    def ensure_can_read(self, resource: str | None, disclosure: str) -> None:
        label = DISCLOSURE_LABELS.get(disclosure, disclosure)
        if self.role not in DISCLOSURE_READERS.get(disclosure, frozenset()):
            raise Forbidden(f"{self.role_label}无权查看“{label}”类信息。", code="disclosure_forbidden")
        if disclosure != "public" and self.disclosures is not None and disclosure not in self.disclosures:
            raise Forbidden(f"该接口凭据未获授权查看“{label}”类信息。", code="disclosure_forbidden")
        if not self.can_read(resource, disclosure):
            raise Forbidden(f"该接口凭据未获授权查询信息资源 {resource}。请联系信用办调整授权范围。",
                            code="scope_forbidden")

    def ensure_subject(self, subject_id: int | None) -> None:
        """A subject account sees only its own file; staff are limited by role elsewhere."""
        if self.is_subject and (self.subject_id is None or subject_id != self.subject_id):
            raise Forbidden("信用主体账户只能查看本主体的信息。", code="not_own_subject")

    def ensure_department(self, department_id: int | None) -> None:
        """A department user or client acts only for its own department."""
        if self.is_department and department_id != self.department_id:
            raise Forbidden("部门账户只能办理本部门的事项。", code="not_own_department")

    def describe(self) -> str:
        """For logs (English): never a secret, never personal data beyond the account name."""
        return f"{self.kind}:{self.id or '-'}:{self.role}"
