"""Schemathesis over every operation of the OpenAPI document, as every kind of caller.

Each generated request (valid ones, and invalid ones: wrong types, missing fields, odd
strings) is sent as one of: anonymous, a subject's account, a reviewer, an administrator, a
department's querying and submitting API clients. Required of every answer:

* no 5xx;
* a 4xx carries the documented error body ``{"error": {"code", "message"}}`` with a Chinese message;
* a 2xx (and any documented status) conforms to the response schema.

``XINYONG_FUZZ_EXAMPLES`` sets examples per operation and generation mode (default small for
``make test``); ``scripts/fuzz.sh`` runs a long one.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from tests.workflows.conftest import PASSWORD, cheap_argon2, penalty  # noqa: F401 - fixture
from xinyong.accounts.actor import Actor
from xinyong.db.engine import session_scope

EXAMPLES = int(os.environ.get("XINYONG_FUZZ_EXAMPLES", "5"))


@dataclass
class Identity:
    name: str
    headers: dict[str, str] = field(default_factory=dict)


def _identities(db_url: str, uscc: str) -> list[Identity]:
    from xinyong.accounts.clients import create_client
    from xinyong.accounts.service import create_user, login
    from xinyong.web.security import CSRF_HEADER, SESSION_COOKIE, csrf_token_for

    out = [Identity("anonymous")]
    for username, role, extra in (("fz_subject", "subject", {"subject": uscc}), ("fz_reviewer", "reviewer", {}),
                                  ("fz_admin", "admin", {}),
                                  ("fz_dept", "dept_submitter", {"department": "market_regulation"})):
        with session_scope(db_url) as s:
            create_user(s, Actor.cli("pytest"), username=username, role=role, password=PASSWORD, **extra)
        with session_scope(db_url) as s:
            token = login(s, username, PASSWORD).token
        out.append(Identity(role, {"Cookie": f"{SESSION_COOKIE}={token}", CSRF_HEADER: csrf_token_for(token)}))
    for role in ("dept_querier", "dept_submitter"):
        with session_scope(db_url) as s:
            key = create_client(s, Actor.cli("pytest"), department="market_regulation", name=f"fuzz-{role}",
                                role=role, rate_limit=100_000).key
        out.append(Identity(f"client:{role}", {"Authorization": f"Bearer {key}"}))
    return out


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


def _ctype(response) -> str:
    value = response.headers.get("content-type") or ""
    return (value[0] if isinstance(value, list | tuple) and value else value) or ""


def _is_page(case) -> bool:
    """Routes the policy marks as pages (reports as HTML, verification page) answer errors with
    an HTML page in Chinese, by design."""
    from xinyong.accounts.policy import ROUTE_POLICY

    rule = ROUTE_POLICY.get((case.method.upper(), case.operation.path))
    return bool(rule and rule.page)


def _problems(case, response) -> list[str]:
    from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

    out = []
    status = response.status_code
    html = _ctype(response).startswith("text/html")
    if status >= 500:
        out.append(f"server error {status}: {response.text[:300]}")
    elif status >= 400 and html and _is_page(case):
        if not _has_chinese(response.text):
            out.append(f"{status} page without a Chinese explanation")
        return out
    elif status >= 400:
        try:
            err = response.json()["error"]
            ok = isinstance(err["code"], str) and err["code"] and isinstance(err["message"], str)
            if not ok or not _has_chinese(err["message"]):
                out.append(f"{status} error body without a Chinese message: {response.text[:200]}")
        except Exception:  # noqa: BLE001
            out.append(f"{status} without the JSON error body: {_ctype(response)} "
                       f"{response.text[:200]!r}")
    if 300 <= status < 400:
        return out  # a page route sending an anonymous visitor to /login
    try:
        case.validate_response(response, checks=[response_schema_conformance, content_type_conformance])
    except BaseExceptionGroup as exc:  # schemathesis raises a FailureGroup of findings
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        out.append("schema: " + " / ".join(lines[:6])[:400])
    return out


@pytest.fixture
def fuzz_world(db_url):
    from xinyong.departments.service import seed_departments
    from xinyong.identity.codes import generate_uscc
    from xinyong.intake.service import ingest_rows

    with session_scope(db_url) as s:
        seed_departments(s)
    uscc = generate_uscc(random.Random(11), region="440604")
    with session_scope(db_url) as s:
        ingest_rows(s, [penalty(1, uscc), penalty(2, uscc, category="警告")], "admin_penalty", "market_regulation")
    return _identities(db_url, uscc)


def test_every_operation_as_every_role(fuzz_world, db_url, monkeypatch):
    import schemathesis
    from schemathesis import GenerationMode

    from xinyong.accounts.clients import limiter
    from xinyong.app import create_app

    monkeypatch.setenv("XINYONG_TODAY", "2026-11-20")
    app = create_app()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 45
    identities = fuzz_world
    failures: dict[str, list[str]] = {}
    counts = {"cases": 0, "requests": 0}

    for op in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategy = op.as_strategy(generation_mode=mode)
            except Exception as exc:  # noqa: BLE001
                failures.setdefault(op.label, []).append(f"strategy: {exc}")
                continue

            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=strategy, who=st.sampled_from(identities))
            def run(case, who):
                limiter.reset()
                counts["cases"] += 1
                counts["requests"] += 1
                try:
                    response = case.call(headers={**(case.headers or {}), **who.headers}, allow_redirects=False)
                    problems = _problems(case, response)
                except Exception as exc:  # noqa: BLE001 - an unhandled server exception is a 5xx
                    problems = [f"server exception {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"]
                for problem in problems:
                    bucket = failures.setdefault(f"{op.label} [{mode.value}]", [])
                    if len(bucket) < 3:
                        bucket.append(f"as {who.name}: {case.method} {case.formatted_path} "
                                      f"query={str(case.query)[:100]} body={str(case.body)[:100]} → {problem}")

            try:
                run()
            except Unsatisfiable:
                pass
    print(f"\nfuzz: {len(operations)} operations, {counts['cases']} cases, {counts['requests']} requests, "
          f"{len(identities)} identities")
    report = "\n".join(f"{label}:\n  " + "\n  ".join(items) for label, items in sorted(failures.items()))
    assert not failures, report
