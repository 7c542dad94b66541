"""The route policy: every route of the application and the roles allowed to call it.

Enforced centrally by ``xinyong.accounts.access.enforce_policy`` (an application-wide
dependency); a route missing from this table is refused, and
``tests/accounts/test_authorization_matrix.py`` fails until it is added here.

``public`` means anyone, signed in or not. Finer rules (disclosure class, API-client scopes,
purpose of access, a subject's own file, a department's own affairs) are applied by
``require_access`` and the services on top of this table.
"""

from __future__ import annotations

from dataclasses import dataclass

from xinyong.accounts.roles import (
    ADMIN,
    AUTHENTICATED,
    DEPT_QUERIER,
    DEPT_SUBMITTER,
    PUBLIC,
    REVIEWER,
    ROLES,
    SUBJECT,
)


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]
    #: An HTML page: an anonymous visitor is sent to /login, errors are shown as a page.
    page: bool = False

    def allows(self, role: str) -> bool:
        return PUBLIC in self.roles or role in self.roles


def allow(*roles: str, page: bool = False) -> Rule:
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles in route policy: {sorted(unknown)}")
    return Rule(frozenset(roles), page=page)


ANYONE = allow(PUBLIC)
SIGNED_IN = tuple(sorted(AUTHENTICATED))

#: (method, path template) → rule. HEAD is checked as GET.
ROUTE_POLICY: dict[tuple[str, str], Rule] = {
    # Operations and documentation
    ("GET", "/healthz"): ANYONE,
    ("GET", "/docs"): ANYONE,
    ("GET", "/docs/oauth2-redirect"): ANYONE,
    ("GET", "/redoc"): ANYONE,
    ("GET", "/openapi.json"): ANYONE,
    # Public credit information
    ("GET", "/"): allow(PUBLIC, page=True),
    ("GET", "/api/v1/catalogue"): ANYONE,
    ("GET", "/api/v1/catalogue/{code}"): ANYONE,
    ("GET", "/api/v1/departments"): ANYONE,
    ("GET", "/api/v1/subjects"): ANYONE,
    ("GET", "/api/v1/subjects/{code}"): ANYONE,
    # Intake (归集): departments submit; staff of the department and the credit office read batches
    ("POST", "/api/v1/intake/{resource}"): allow(ADMIN, DEPT_SUBMITTER),
    ("GET", "/api/v1/intake/batches/{batch_id}"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, DEPT_QUERIER),
    ("GET", "/api/v1/intake/batches/{batch_id}/errors.{fmt}"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER,
                                                                      DEPT_QUERIER),
    # Accounts
    ("GET", "/login"): allow(PUBLIC, page=True),
    ("POST", "/login"): allow(PUBLIC, page=True),
    ("POST", "/logout"): allow(*SIGNED_IN, page=True),
    ("GET", "/me"): allow(*SIGNED_IN, page=True),
    ("GET", "/api/v1/me"): allow(*SIGNED_IN),
    ("GET", "/api/v1/me/access-history"): allow(SUBJECT),
}


def rule_for(method: str, path: str) -> Rule | None:
    method = method.upper()
    return ROUTE_POLICY.get(("GET" if method == "HEAD" else method, path))
