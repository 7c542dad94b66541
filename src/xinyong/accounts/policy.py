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
    # Operations (issue #12): readiness and Prometheus metrics (aggregates only; the reverse
    # proxy limits /metrics to the monitoring network).
    ("GET", "/readyz"): ANYONE,
    ("GET", "/metrics"): ANYONE,
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
    # Self-service account security (session logins only; the service refuses API keys):
    # change one's password; staff bind, replace or turn off their TOTP.
    ("GET", "/me/password"): allow(*SIGNED_IN, page=True),
    ("POST", "/me/password"): allow(*SIGNED_IN, page=True),
    ("GET", "/me/totp"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, DEPT_QUERIER, page=True),
    ("POST", "/me/totp"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, DEPT_QUERIER, page=True),
    ("POST", "/me/totp/disable"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, DEPT_QUERIER, page=True),
    ("GET", "/api/v1/me/access-history"): allow(SUBJECT),
    # Workflows (issue #6): objections, repair, list determinations, commitments, inbox.
    # Roles here; whose case and which department are checked by xinyong.workflows services.
    ("POST", "/api/v1/objections"): ANYONE,
    ("GET", "/api/v1/objections"): allow(*SIGNED_IN),
    ("GET", "/api/v1/objections/{objection_id}"): ANYONE,
    ("POST", "/api/v1/objections/{objection_id}/decision"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER),
    ("POST", "/api/v1/objections/{objection_id}/cancel"): ANYONE,
    ("POST", "/api/v1/objections/{objection_id}/attachments"): ANYONE,
    ("GET", "/api/v1/attachments/{attachment_id}"): ANYONE,
    ("GET", "/api/v1/repairs/precheck"): allow(ADMIN, REVIEWER, SUBJECT),
    ("POST", "/api/v1/repairs"): allow(SUBJECT),
    ("GET", "/api/v1/repairs"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, DEPT_QUERIER, SUBJECT),
    ("GET", "/api/v1/repairs/{application_id}"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, DEPT_QUERIER, SUBJECT),
    ("POST", "/api/v1/repairs/{application_id}/decision"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER),
    ("POST", "/api/v1/repairs/{application_id}/cancel"): allow(SUBJECT),
    ("POST", "/api/v1/repairs/{application_id}/attachments"): allow(SUBJECT),
    ("POST", "/api/v1/lists/{resource}/determinations"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER),
    ("GET", "/api/v1/lists/{resource}/determinations"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, DEPT_QUERIER,
                                                              SUBJECT),
    ("GET", "/api/v1/lists/{resource}/determinations/{determination_id}"): allow(
        ADMIN, REVIEWER, DEPT_SUBMITTER, DEPT_QUERIER, SUBJECT),
    ("POST", "/api/v1/lists/{resource}/determinations/{determination_id}/steps"): allow(ADMIN, REVIEWER,
                                                                                       DEPT_SUBMITTER),
    ("POST", "/api/v1/lists/{resource}/determinations/{determination_id}/statement"): allow(SUBJECT),
    ("GET", "/api/v1/commitments"): ANYONE,
    ("GET", "/api/v1/commitments/types"): ANYONE,
    ("POST", "/api/v1/commitments"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, SUBJECT),
    ("GET", "/api/v1/commitments/{commitment_id}"): ANYONE,
    ("POST", "/api/v1/commitments/{commitment_id}/verification"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER),
    ("GET", "/api/v1/policy"): ANYONE,
    ("GET", "/api/v1/inbox"): allow(*SIGNED_IN),
    ("POST", "/api/v1/inbox/{notification_id}/read"): allow(*SIGNED_IN),
    ("POST", "/api/v1/inbox/read-all"): allow(*SIGNED_IN),
    ("GET", "/objections/new"): allow(PUBLIC, page=True),
    ("POST", "/objections/new"): allow(PUBLIC, page=True),
    ("GET", "/objections/{objection_id}"): allow(PUBLIC, page=True),
    ("POST", "/objections/{objection_id}/decision"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, page=True),
    ("POST", "/objections/{objection_id}/cancel"): allow(PUBLIC, page=True),
    ("GET", "/repairs/new"): allow(SUBJECT, page=True),
    ("POST", "/repairs/new"): allow(SUBJECT, page=True),
    ("GET", "/repairs/{application_id}"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, DEPT_QUERIER, SUBJECT, page=True),
    ("POST", "/repairs/{application_id}/decision"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, page=True),
    ("POST", "/repairs/{application_id}/cancel"): allow(SUBJECT, page=True),
    ("GET", "/determinations/{determination_id}"): allow(*SIGNED_IN, page=True),
    ("GET", "/commitments/{commitment_id}"): allow(PUBLIC, page=True),
    # Workflows (issue #6) console forms: list determinations and commitments.
    ("GET", "/console/determinations"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, DEPT_QUERIER, page=True),
    ("GET", "/console/determinations/new"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, page=True),
    ("POST", "/console/determinations/new"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, page=True),
    ("POST", "/determinations/{determination_id}/steps"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, page=True),
    ("POST", "/determinations/{determination_id}/statement"): allow(SUBJECT, page=True),
    ("GET", "/commitments"): allow(PUBLIC, page=True),
    ("GET", "/commitments/new"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, SUBJECT, page=True),
    ("POST", "/commitments/new"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, SUBJECT, page=True),
    ("POST", "/commitments/{commitment_id}/verification"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, page=True),
    ("GET", "/me/inbox"): allow(*SIGNED_IN, page=True),
    ("POST", "/me/inbox/read-all"): allow(*SIGNED_IN, page=True),
    ("GET", "/console/inbox"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, DEPT_QUERIER, page=True),
    ("POST", "/console/inbox/read-all"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, DEPT_QUERIER, page=True),
    # Indicators (统计监测): the credit office's dashboard and exports; public statistics
    ("GET", "/indicators"): allow(ADMIN, REVIEWER, page=True),
    ("POST", "/indicators/refresh"): allow(ADMIN, page=True),
    ("GET", "/indicators/report.xlsx"): allow(ADMIN, REVIEWER, page=True),
    ("GET", "/indicators/league/export.xlsx"): allow(ADMIN, REVIEWER, page=True),
    ("GET", "/indicators/{code}"): allow(ADMIN, REVIEWER, page=True),
    ("GET", "/indicators/{code}/export.xlsx"): allow(ADMIN, REVIEWER, page=True),
    ("GET", "/indicators/static/{name}"): ANYONE,
    ("GET", "/api/v1/indicators"): allow(ADMIN, REVIEWER),
    ("GET", "/api/v1/indicators/{code}"): allow(ADMIN, REVIEWER),
    ("GET", "/statistics"): allow(PUBLIC, page=True),
    ("GET", "/api/v1/statistics"): ANYONE,
    # Public credit website (portal, issue #5): pages, search API, vendored assets
    ("GET", "/search"): allow(PUBLIC, page=True),
    ("GET", "/api/v1/search"): ANYONE,
    ("GET", "/subjects/{code}"): allow(PUBLIC, page=True),
    ("GET", "/publicity/{kind}"): allow(PUBLIC, page=True),
    ("GET", "/publicity/{kind}/export.{fmt}"): allow(PUBLIC, page=True),
    ("GET", "/lists"): allow(PUBLIC, page=True),
    ("GET", "/lists/{code}"): allow(PUBLIC, page=True),
    ("GET", "/notices"): allow(PUBLIC, page=True),
    ("GET", "/notices/{slug}"): allow(PUBLIC, page=True),
    ("GET", "/static/{path:path}"): ANYONE,
    # Department console (工作台): staff read; submitters upload and withdraw; administrators edit notices
    ("GET", "/console"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, DEPT_QUERIER, page=True),
    ("GET", "/console/upload"): allow(ADMIN, DEPT_SUBMITTER, page=True),
    ("POST", "/console/upload"): allow(ADMIN, DEPT_SUBMITTER, page=True),
    ("GET", "/console/batches"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, DEPT_QUERIER, page=True),
    ("GET", "/console/batches/{batch_id}"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, DEPT_QUERIER, page=True),
    ("GET", "/console/records"): allow(ADMIN, REVIEWER, DEPT_SUBMITTER, DEPT_QUERIER, page=True),
    ("POST", "/console/records/{record_id}/withdraw"): allow(ADMIN, DEPT_SUBMITTER, page=True),
    ("GET", "/console/notices"): allow(ADMIN, page=True),
    ("GET", "/console/notices/new"): allow(ADMIN, page=True),
    ("POST", "/console/notices"): allow(ADMIN, page=True),
    ("GET", "/console/notices/{notice_id}/edit"): allow(ADMIN, page=True),
    ("POST", "/console/notices/{notice_id}"): allow(ADMIN, page=True),
    # Subject self-service: my complete file and who looked at it
    ("GET", "/me/file"): allow(SUBJECT, page=True),
    ("GET", "/me/access-history"): allow(SUBJECT, page=True),
    # Credit reports (信用报告): public download, the subject's own full report, department API,
    # online verification, published signing keys
    ("GET", "/subjects/{code}/report.{fmt}"): allow(PUBLIC, page=True),
    ("GET", "/me/report.{fmt}"): allow(SUBJECT, page=True),
    ("POST", "/api/v1/reports"): allow(ADMIN, REVIEWER, DEPT_QUERIER),
    ("GET", "/verify/{number}"): allow(PUBLIC, page=True),
    ("GET", "/.well-known/xinyong-report-keys.json"): ANYONE,
    # Joint rewards and punishments (联合奖惩, issue #7): the measures catalogue is public; checks
    # by the credit office and department queriers; feedback by the checking department (the
    # service checks which); batch checks; console pages.
    ("GET", "/api/v1/measures"): ANYONE,
    ("GET", "/api/v1/measures/feedback-rates"): allow(ADMIN, REVIEWER, DEPT_QUERIER, DEPT_SUBMITTER),
    ("POST", "/api/v1/checks"): allow(ADMIN, REVIEWER, DEPT_QUERIER),
    ("GET", "/api/v1/checks"): allow(ADMIN, REVIEWER, DEPT_QUERIER, DEPT_SUBMITTER),
    ("GET", "/api/v1/checks/{check_id}"): allow(ADMIN, REVIEWER, DEPT_QUERIER, DEPT_SUBMITTER, SUBJECT),
    ("POST", "/api/v1/checks/{check_id}/feedback"): allow(ADMIN, DEPT_QUERIER, DEPT_SUBMITTER),
    ("POST", "/api/v1/check-batches"): allow(ADMIN, REVIEWER, DEPT_QUERIER),
    ("GET", "/api/v1/check-batches/{batch_id}"): allow(ADMIN, REVIEWER, DEPT_QUERIER),
    ("GET", "/api/v1/check-batches/{batch_id}/result.{fmt}"): allow(ADMIN, REVIEWER, DEPT_QUERIER),
    ("GET", "/console/checks"): allow(ADMIN, REVIEWER, DEPT_QUERIER, DEPT_SUBMITTER, page=True),
    ("GET", "/console/checks/new"): allow(ADMIN, REVIEWER, DEPT_QUERIER, page=True),
    ("POST", "/console/checks/new"): allow(ADMIN, REVIEWER, DEPT_QUERIER, page=True),
    ("GET", "/console/checks/{check_id}"): allow(ADMIN, REVIEWER, DEPT_QUERIER, DEPT_SUBMITTER, page=True),
    ("POST", "/console/checks/{check_id}/feedback"): allow(ADMIN, DEPT_QUERIER, DEPT_SUBMITTER, page=True),
    ("GET", "/console/check-batches/new"): allow(ADMIN, REVIEWER, DEPT_QUERIER, page=True),
    ("POST", "/console/check-batches/new"): allow(ADMIN, REVIEWER, DEPT_QUERIER, page=True),
    ("GET", "/console/check-batches/{batch_id}"): allow(ADMIN, REVIEWER, DEPT_QUERIER, page=True),
    ("GET", "/console/measures/feedback-rates"): allow(ADMIN, REVIEWER, DEPT_QUERIER, DEPT_SUBMITTER, page=True),
    # Rating and tiered supervision (issue #8): the public model and draws; the subject's appeal;
    # explanations for authorised departments (audited); the model report for the credit office
    ("GET", "/rating/model"): allow(PUBLIC, page=True),
    ("GET", "/api/v1/rating/model"): ANYONE,
    ("GET", "/rating/static/{name}"): ANYONE,
    ("GET", "/inspections/draws"): allow(PUBLIC, page=True),
    ("GET", "/inspections/draws/{draw_id}"): allow(PUBLIC, page=True),
    ("GET", "/api/v1/inspections/draws"): ANYONE,
    ("GET", "/api/v1/inspections/draws/{draw_id}"): ANYONE,
    ("POST", "/api/v1/rating/appeals"): allow(SUBJECT),
    ("POST", "/me/rating/appeal"): allow(SUBJECT, page=True),
    ("GET", "/api/v1/rating/subjects/{subject}"): allow(ADMIN, REVIEWER, DEPT_QUERIER),
    ("GET", "/console/rating"): allow(ADMIN, REVIEWER, DEPT_QUERIER, page=True),
    ("GET", "/api/v1/rating/report"): allow(ADMIN, REVIEWER),
    ("GET", "/rating/report"): allow(ADMIN, REVIEWER, page=True),
    # Sharing and exchange (共享交换, issue #10): department queries, change feed, webhooks, packages.
    # Clearance, scopes, purpose and audit by require_access; own subscriptions by the service.
    ("GET", "/api/v1/exchange/subjects/{identifier}"): allow(ADMIN, REVIEWER, DEPT_QUERIER),
    ("GET", "/api/v1/exchange/records/{resource}"): allow(ADMIN, REVIEWER, DEPT_QUERIER),
    ("POST", "/api/v1/exchange/lookup"): allow(ADMIN, REVIEWER, DEPT_QUERIER),
    ("GET", "/api/v1/changes"): allow(ADMIN, REVIEWER, DEPT_QUERIER),
    ("GET", "/api/v1/exchange/package"): allow(ADMIN, DEPT_QUERIER),
    ("POST", "/api/v1/exchange/subscriptions"): allow(ADMIN, DEPT_QUERIER),
    ("GET", "/api/v1/exchange/subscriptions"): allow(ADMIN, REVIEWER, DEPT_QUERIER),
    ("DELETE", "/api/v1/exchange/subscriptions/{subscription_id}"): allow(ADMIN, DEPT_QUERIER),
    ("GET", "/console/exchange"): allow(ADMIN, REVIEWER, page=True),
    ("POST", "/console/exchange/{subscription_id}/retry"): allow(ADMIN, page=True),
}


def rule_for(method: str, path: str) -> Rule | None:
    method = method.upper()
    return ROUTE_POLICY.get(("GET" if method == "HEAD" else method, path))
