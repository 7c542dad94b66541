"""Canonical JSON, signatures, key sets and scenario definitions (pure: no database)."""

from __future__ import annotations

import json
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xinyong.errors import ConfigurationError, InvalidInput
from xinyong.reports.keys import KeySet, KeyStore
from xinyong.reports.scenarios import load_scenarios, parse_scenarios
from xinyong.reports.signing import (
    canonical_bytes,
    check_envelope,
    content_hash,
    envelope_bytes,
    sign_content,
)

leaves = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.text(max_size=20))
documents = st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                         max_leaves=20)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return KeyStore(tmp_path_factory.mktemp("keys"))


@given(doc=st.dictionaries(st.text(max_size=8), documents, max_size=6))
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_canonical_form_survives_any_json_round_trip(doc):
    # Whatever a JSON tool does to the layout (indentation, key order), the signed bytes are the same.
    reparsed = json.loads(json.dumps(doc, indent=3, ensure_ascii=True))
    assert canonical_bytes(reparsed) == canonical_bytes(doc)


@given(doc=st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=10), min_size=1, max_size=6),
       data=st.data())
@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_changed_value_breaks_the_signature(store, doc, data):
    kid, private = store.signing_key()
    keys = store.keyset()
    sig = sign_content(doc, kid, private)
    envelope = json.loads(envelope_bytes(doc, sig))
    assert check_envelope(envelope, keys).ok
    key = data.draw(st.sampled_from(sorted(doc)))
    new = data.draw(st.text(max_size=10).filter(lambda v: v != doc[key]))
    envelope["report"][key] = new
    result = check_envelope(envelope, keys)
    assert (result.ok, result.reason) == (False, "content_modified")


def test_floats_are_refused():
    with pytest.raises(TypeError):
        canonical_bytes({"amount": 1.5})
    assert content_hash({"amount": "1.5"}) == content_hash({"amount": "1.5"})


def test_malformed_envelopes_are_named(store):
    keys = store.keyset()
    assert check_envelope([], keys).reason == "not_a_report"
    assert check_envelope({"report": {}, "signature": {"alg": "RSA"}}, keys).reason == "malformed_signature"
    kid, private = store.signing_key()
    env = json.loads(envelope_bytes({"a": 1}, sign_content({"a": 1}, kid, private)))
    env["signature"]["value"] = "not base64!"
    assert check_envelope(env, keys).reason == "bad_signature"


def test_first_key_is_created_once_under_concurrency(tmp_path):
    kids = []

    def create():
        kids.append(KeyStore(tmp_path / "k").ensure()[0])

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(kids)) == 1 and len(KeyStore(tmp_path / "k").keyset()) == 1


def test_keyset_rejects_a_key_id_that_is_not_its_key(store):
    data = store.keyset().to_dict()
    data["keys"][0]["kid"] = "0" * 16
    with pytest.raises(InvalidInput, match="kid 与公钥不符"):
        KeySet.from_dict(data)
    with pytest.raises(InvalidInput, match="格式不正确"):
        KeySet.from_dict({"keys": "x"})


def test_default_scenarios_load():
    scenarios = load_scenarios()
    assert {"bidding", "procurement"} <= set(scenarios)


@pytest.mark.parametrize("yaml_text, message", [
    ("scenarios: []", "非空的 scenarios"),
    ("scenarios:\n  - {code: a, name: 甲, description: x, basis: [y]}", "未列出任何类别"),
    ("scenarios:\n  - {code: a, name: 甲, description: x, basis: [y], categories: [不存在的类别]}", "不在全国公共信用信息基础目录"),
    ("scenarios:\n  - {code: a, name: 甲, description: x, basis: [y], resources: [admin_enforcement]}", "非社会公开"),
    ("scenarios:\n  - {code: a, name: 甲, description: x, basis: [y], resources: [nope]}", "不存在的资源"),
    ("scenarios:\n  - {code: A-1, name: 甲, description: x, basis: [y], resources: [admin_penalty]}", "第 1 个场景有误"),
    (("scenarios:\n  - {code: a, name: 甲, description: x, basis: [y], resources: [admin_penalty]}\n"
     "  - {code: a, name: 乙, description: x, basis: [y], resources: [admin_penalty]}"), "重复定义"),
    ("scenarios: [", "不是有效的 YAML"),
])
def test_broken_scenario_files_are_refused_with_the_reason(yaml_text, message):
    with pytest.raises(ConfigurationError, match=message):
        parse_scenarios(yaml_text, source="test.yaml")
