"""The console forms for list determinations and the commitment forms (no browser; SQLite and
PostgreSQL): fields from the catalogue, Chinese validation messages shown on the form with the
entered values kept, every step through to the public list, paging and filters."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from xinyong.config import reset_settings

from .conftest import actor_for, login

LIST = "safety_production_blacklist"


def _app(monkeypatch, today="2026-11-01"):
    from xinyong.app import create_app

    monkeypatch.setenv("XINYONG_TODAY", today)
    reset_settings()
    return create_app()


def _client(app, username):
    c = TestClient(app, raise_server_exceptions=False)
    return c, login(c, username)


def _proposal(csrf: str, uscc: str, **extra) -> dict:
    return {"csrf_token": csrf, "resource": LIST, "subject": uscc, "facts": "发生较大生产安全事故，负有主要责任。",
            "basis": "《安全生产严重失信主体名单管理办法》第六条", "d_dishonest_facts": "发生较大生产安全事故",
            "d_penalty_decision_no": "佛应急罚〔2026〕8号", "d_decision_no": "佛应急失信〔2026〕1号",
            "d_decision_authority": "佛山市应急管理局", "d_status": "列入", **extra}


def test_determination_forms_from_proposal_to_the_public_list(world, monkeypatch):
    app = _app(monkeypatch)
    actor_for(world.url, "yjj", "dept_submitter", dept="emergency")
    actor_for(world.url, "hengtai", "subject", subject=world.uscc)
    dept, csrf = _client(app, "yjj")

    # The console links the page; the form shows the department's own list and its catalogue fields.
    assert 'href="/console/determinations"' in dept.get("/console").text
    page = dept.get("/console/determinations/new")
    assert page.status_code == 200
    assert f'name="resource" value="{LIST}"' in page.text
    assert 'name="d_dishonest_facts"' in page.text and 'name="d_penalty_decision_no"' in page.text
    assert 'name="d_listing_date"' not in page.text  # filled by the workflow
    other = dept.get("/console/determinations/new", params={"resource": "wage_arrears_blacklist"})
    assert 'name="resource" value="wage_arrears_blacklist"' in other.text and 'name="d_arrears_facts"' in other.text

    # Validation in Chinese, on the form, values kept; nothing is created.
    r = dept.post("/console/determinations/new", data=_proposal(csrf, world.uscc, facts="事故"))
    assert r.status_code == 422 and "认定事实过短" in r.text and 'role="alert"' in r.text
    assert "佛应急罚〔2026〕8号" in r.text and world.uscc in r.text
    r = dept.post("/console/determinations/new", data=_proposal(csrf, ""))
    assert r.status_code == 422 and "请填写被认定主体" in r.text
    r = dept.post("/console/determinations/new", data=_proposal(csrf, world.uscc, d_penalty_decision_no=""))
    assert r.status_code == 422 and "名单记录内容不完整或有误" in r.text
    assert dept.get("/console/determinations").text.count("data-determination-id=") == 0
    # Missing CSRF: refused.
    no_csrf = {k: v for k, v in _proposal(csrf, world.uscc).items() if k != "csrf_token"}
    assert dept.post("/console/determinations/new", data=no_csrf, follow_redirects=False).status_code == 403

    r = dept.post("/console/determinations/new", data=_proposal(csrf, world.uscc), follow_redirects=False)
    assert r.status_code == 303, r.text
    case_url = r.headers["location"].split("?")[0]
    did = int(case_url.rsplit("/", 1)[1])
    page = dept.get(r.headers["location"])
    assert "拟认定" in page.text and "已提出拟认定" in page.text and 'id="form-notify"' in page.text
    assert 'id="form-decide"' not in page.text  # not before the notice
    # The same subject again while the case is live: the reason, on the form.
    r = dept.post("/console/determinations/new", data=_proposal(csrf, world.uscc))
    assert r.status_code == 422 and f"编号 {did}" in r.text

    steps = f"{case_url}/steps"
    r = dept.post(steps, data={"csrf_token": csrf, "action": "notify"}, follow_redirects=False)
    assert r.status_code == 303
    page = dept.get(r.headers["location"])
    assert "已办理：告知当事人" in page.text and "陈述申辩期至" in page.text and 'id="form-decide"' in page.text

    # The subject is told and answers on the same page.
    subject, s_csrf = _client(app, "hengtai")
    assert "拟列入" in subject.get("/me/inbox").text
    page = subject.get(case_url)
    assert 'id="form-respond"' in page.text and 'id="form-decide"' not in page.text
    r = subject.post(f"{case_url}/statement", data={"csrf_token": s_csrf, "statement": "短"})
    assert r.status_code == 422 and "陈述申辩内容过短" in r.text
    r = subject.post(f"{case_url}/statement", data={"csrf_token": s_csrf, "statement": "事故责任认定尚在复议中，请暂缓。"},
                     follow_redirects=False)
    assert r.status_code == 303
    assert subject.post(steps, data={"csrf_token": s_csrf, "action": "publish"},
                        follow_redirects=False).status_code == 403

    # Decide: a malformed date and a period past the maximum are explained; the text is kept.
    decide = {"csrf_token": csrf, "action": "decide", "decision_no": "佛应急失信〔2026〕1号",
              "reason": "复议已维持原责任认定，陈述申辩不予采纳。", "valid_until": "2027-13-01"}
    r = dept.post(steps, data=decide)
    assert r.status_code == 422 and "不是有效日期" in r.text and "复议已维持原责任认定" in r.text
    r = dept.post(steps, data={**decide, "valid_until": "2040-01-01"})
    assert r.status_code == 422 and "有效期不能超过规定的最长期限" in r.text
    r = dept.post(steps, data={**decide, "valid_until": "2027-10-31"}, follow_redirects=False)
    assert r.status_code == 303
    r = dept.post(steps, data={"csrf_token": csrf, "action": "publish"}, follow_redirects=False)
    assert r.status_code == 303
    page = dept.get(case_url)
    assert "已列入并公示" in page.text and "2026-11-01 至 2027-10-31" in page.text and 'id="form-revoke"' in page.text
    # A step the state does not allow: the machine's reason.
    r = dept.post(steps, data={"csrf_token": csrf, "action": "notify"})
    assert r.status_code == 409 and "不能执行“告知当事人”" in r.text
    public = TestClient(app, raise_server_exceptions=False).get(f"/lists/{LIST}")
    assert "佛山市恒泰五金制品有限公司" in public.text

    # The console list: filters and the subject filter's explanation.
    listing = dept.get("/console/determinations", params={"state": "published"})
    assert f'data-determination-id="{did}"' in listing.text and "已列入并公示" in listing.text
    assert "data-determination-id" not in dept.get("/console/determinations", params={"state": "dropped"}).text
    r = dept.get("/console/determinations", params={"state": "nonsense"})
    assert r.status_code == 400 and "状态只能是" in r.text
    r = dept.get("/console/determinations", params={"subject": world.uscc})
    assert f'data-determination-id="{did}"' in r.text

    # Revoke with its reason: off the public list.
    r = dept.post(steps, data={"csrf_token": csrf, "action": "revoke", "reason": ""})
    assert r.status_code == 422 and "请填写撤销认定的理由" in r.text
    r = dept.post(steps, data={"csrf_token": csrf, "action": "revoke", "reason": "复议决定撤销原处罚，撤销认定。"},
                  follow_redirects=False)
    assert r.status_code == 303
    assert "佛山市恒泰五金制品有限公司" not in TestClient(app).get(f"/lists/{LIST}").text


def test_determination_list_pages_and_other_departments(world, monkeypatch):
    from xinyong.workflows import forms

    app = _app(monkeypatch)
    monkeypatch.setattr(forms, "PAGE_SIZE", 1)
    actor_for(world.url, "yjj", "dept_submitter", dept="emergency")
    actor_for(world.url, "rsj", "dept_submitter", dept="hrss")
    actor_for(world.url, "office", "admin")
    admin, a_csrf = _client(app, "office")
    # The credit office proposes for a department, which it must name.
    r = admin.post("/console/determinations/new", data=_proposal(a_csrf, world.uscc))
    assert r.status_code == 422 and "请指定认定部门" in r.text and 'id="department"' in r.text
    ids = []
    for n, code in enumerate((LIST, "wage_arrears_blacklist"), start=1):
        page = admin.get("/console/determinations/new", params={"resource": code})
        fields = re.findall(r'name="(d_[a-z_]+)"', page.text)
        assert fields, page.text[:500]
        data = _proposal(a_csrf, world.uscc, resource=code, department="emergency" if n == 1 else "hrss")
        data = {k: v for k, v in data.items() if not k.startswith("d_") or k in fields}
        if code != LIST:
            data.update(_fill_required(page.text))
        r = admin.post("/console/determinations/new", data=data, follow_redirects=False)
        assert r.status_code == 303, re.findall(r'role="alert">([^<]*)', r.text)
        ids.append(int(r.headers["location"].split("?")[0].rsplit("/", 1)[1]))
    first = admin.get("/console/determinations")
    assert "共 2 条" in first.text and f'data-determination-id="{ids[1]}"' in first.text
    assert 'rel="next"' in first.text
    second = admin.get("/console/determinations", params={"page": 2})
    assert f'data-determination-id="{ids[0]}"' in second.text and 'rel="prev"' in second.text
    # A department sees its own cases only, and cannot act on another's.
    hrss, h_csrf = _client(app, "rsj")
    mine = hrss.get("/console/determinations")
    assert "共 1 条" in mine.text and f'data-determination-id="{ids[1]}"' in mine.text
    assert hrss.get(f"/determinations/{ids[0]}").status_code == 404
    r = hrss.post(f"/determinations/{ids[0]}/steps", data={"csrf_token": h_csrf, "action": "notify"})
    assert r.status_code in (403, 404) and "认定" in r.text


def _fill_required(html: str) -> dict[str, str]:
    """Plausible values for a list's required text fields (``（必填）`` labels on the form)."""
    out = {}
    for name, label in re.findall(r'<label for="(d_[a-z_]+)">([^<]*)（必填）</label>', html):
        if f'<select id="{name}"' in html:
            continue
        out[name] = "2026-10-01" if "日期" in label else f"佛人社〔2026〕{len(out) + 1}号"
    return out


def test_commitment_forms_public_list_and_breach(world, monkeypatch):
    app = _app(monkeypatch)
    actor_for(world.url, "hengtai", "subject", subject=world.uscc)
    actor_for(world.url, "scjg", "dept_submitter", dept="market_regulation")
    from xinyong.workflows.commitments import commitment_types

    vocab = commitment_types()
    subject, csrf = _client(app, "hengtai")
    assert 'href="/commitments/new"' in subject.get("/me").text
    page = subject.get("/commitments/new")
    assert page.status_code == 200 and all(t in page.text for t in vocab["commitment_type"])
    assert 'id="subject"' not in page.text  # a subject commits for itself
    form = {"csrf_token": csrf, "department": "market_regulation", "commitment_type": vocab["commitment_type"][0],
            "domain": vocab["commitment_domain"][0], "matter": "食品经营许可", "content": "短"}
    r = subject.post("/commitments/new", data=form)
    assert r.status_code == 422 and "承诺内容过短" in r.text and "食品经营许可" in r.text
    r = subject.post("/commitments/new", data={**form, "department": ""})
    assert r.status_code == 422 and "请选择承诺受理部门" in r.text
    r = subject.post("/commitments/new", data={**form, "content": "本单位承诺所提交材料真实有效，按期补齐材料。",
                                               "valid_until": "2026-02-30"})
    assert r.status_code == 422 and "不是有效日期" in r.text
    r = subject.post("/commitments/new", data={**form, "content": "本单位承诺所提交材料真实有效，按期补齐材料。",
                                               "valid_until": "2027-11-01"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    case_url = r.headers["location"].split("?")[0]
    page = subject.get(r.headers["location"])
    assert "信用承诺已提交" in page.text and "履行中" in page.text and 'id="form-verification"' not in page.text

    anon = TestClient(app, raise_server_exceptions=False)
    listing = anon.get("/commitments")
    assert listing.status_code == 200 and "食品经营许可" in listing.text and "佛山市恒泰五金制品有限公司" in listing.text
    assert "食品经营许可" not in anon.get("/commitments", params={"state": "breached"}).text
    assert "状态只能是" in anon.get("/commitments", params={"state": "x"}).text

    dept, d_csrf = _client(app, "scjg")
    assert "新信用承诺" in dept.get("/console/inbox").text
    page = dept.get(case_url)
    assert 'id="form-verification"' in page.text
    r = dept.post(f"{case_url}/verification", data={"csrf_token": d_csrf, "outcome": "breach", "facts": ""})
    assert r.status_code == 422 and "请填写违诺情况" in r.text
    r = dept.post(f"{case_url}/verification", data={"csrf_token": d_csrf, "outcome": "breach",
                                                    "facts": "逾期未补齐材料，经催告仍未补正。"}, follow_redirects=False)
    assert r.status_code == 303
    page = dept.get(r.headers["location"])
    assert "未履行（违诺）" in page.text and "逾期未补齐材料" in page.text and 'id="form-verification"' not in page.text
    assert "食品经营许可" in anon.get("/commitments", params={"state": "breached"}).text
    assert "违诺" in subject.get("/me/inbox").text
    # Nothing more to verify: the machine's reason, on the page.
    r = dept.post(f"{case_url}/verification", data={"csrf_token": d_csrf, "outcome": "fulfil", "facts": "已履行。"})
    assert r.status_code == 409 and "不能执行" in r.text
