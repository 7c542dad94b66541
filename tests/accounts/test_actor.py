"""The Actor's own rules (no database)."""

from __future__ import annotations

import pytest

from xinyong.accounts.actor import Actor
from xinyong.errors import Forbidden

QUERIER = Actor(kind="client", role="dept_querier", id=1, department_id=3, department_code="tax",
                resources=frozenset({"admin_enforcement"}), disclosures=frozenset({"public", "government"}))


def test_anonymous_and_cli():
    anon = Actor.anonymous("rid-123456")
    assert anon.is_anonymous and anon.role == "public" and anon.request_id == "rid-123456"
    assert anon.can_read("admin_penalty", "public") and not anon.can_read(None, "government")
    cli = Actor.cli("ops")
    assert (cli.kind, cli.role, cli.name) == ("cli", "admin", "ops") and cli.can_read(None, "internal")


def test_client_scope_and_disclosure():
    assert QUERIER.can_read("admin_enforcement", "government")
    assert QUERIER.can_read("anything_public", "public")
    assert not QUERIER.can_read("food_drug_violations", "government")
    assert not QUERIER.can_read("admin_enforcement", "internal")
    with pytest.raises(Forbidden) as exc:
        QUERIER.ensure_can_read("food_drug_violations", "government")
    assert exc.value.code == "scope_forbidden"
    narrowed = QUERIER.with_(disclosures=frozenset({"public"}))
    with pytest.raises(Forbidden) as exc:
        narrowed.ensure_can_read("admin_enforcement", "government")
    assert exc.value.code == "disclosure_forbidden" and "政务共享" in exc.value.message


def test_own_department_and_own_subject():
    QUERIER.ensure_department(3)
    with pytest.raises(Forbidden):
        QUERIER.ensure_department(4)
    Actor(kind="user", role="reviewer").ensure_department(4)  # the credit office is not a department role
    subject = Actor(kind="user", role="subject", subject_id=9)
    subject.ensure_subject(9)
    for other in (8, None):
        with pytest.raises(Forbidden) as exc:
            subject.ensure_subject(other)
        assert exc.value.code == "not_own_subject"
    with pytest.raises(Forbidden):
        Actor(kind="user", role="subject").ensure_subject(9)  # not yet bound to a registered subject
    assert "仅主体本人" in _message(lambda: QUERIER.ensure_can_read(None, "subject"))


def _message(fn) -> str:
    with pytest.raises(Forbidden) as exc:
        fn()
    return exc.value.message
