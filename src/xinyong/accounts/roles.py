"""Roles and what each may read, by disclosure class of the catalogue."""

from __future__ import annotations

ADMIN = "admin"
REVIEWER = "reviewer"
DEPT_SUBMITTER = "dept_submitter"
DEPT_QUERIER = "dept_querier"
SUBJECT = "subject"
PUBLIC = "public"  # anonymous visitor; in a policy it means "anyone"

ROLES: dict[str, str] = {
    ADMIN: "平台管理员",
    REVIEWER: "信用办审核人员",
    DEPT_SUBMITTER: "部门报送人员",
    DEPT_QUERIER: "部门查询人员",
    SUBJECT: "信用主体账户",
    PUBLIC: "公众",
}
#: Roles a user account can hold (``public`` is the absence of an account).
USER_ROLES: tuple[str, ...] = (ADMIN, REVIEWER, DEPT_SUBMITTER, DEPT_QUERIER, SUBJECT)
STAFF_ROLES = frozenset({ADMIN, REVIEWER, DEPT_SUBMITTER, DEPT_QUERIER})
DEPARTMENT_ROLES = frozenset({DEPT_SUBMITTER, DEPT_QUERIER})
#: Roles an API client can hold: clients always act for one department.
CLIENT_ROLES: tuple[str, ...] = (DEPT_QUERIER, DEPT_SUBMITTER)
AUTHENTICATED = frozenset(USER_ROLES)
EVERYONE = frozenset({*USER_ROLES, PUBLIC})

DISCLOSURE_LABELS: dict[str, str] = {
    "public": "社会公开",
    "government": "政务共享",
    "subject": "仅主体本人",
    "internal": "内部",
}
#: Who may read information of each disclosure class at all. Scopes (API clients) and
#: the subject's own-file rule narrow this further.
DISCLOSURE_READERS: dict[str, frozenset[str]] = {
    "public": EVERYONE,
    "government": frozenset({ADMIN, REVIEWER, DEPT_QUERIER}),
    "subject": frozenset({ADMIN, REVIEWER, SUBJECT}),
    "internal": frozenset({ADMIN, REVIEWER}),
}


def role_label(role: str | None) -> str:
    return ROLES.get(role or PUBLIC, role or "")


def disclosures_for(role: str) -> list[str]:
    return [d for d, readers in DISCLOSURE_READERS.items() if role in readers]
