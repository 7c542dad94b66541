"""`xinyong codes check` as a user runs it (mounted under the root CLI as `codes`)."""

from __future__ import annotations

import json
import random

import pytest
from typer.testing import CliRunner

from xinyong.identity.cli import app
from xinyong.identity.codes import generate_citizen_id, mask_citizen_id

runner = CliRunner()
CITIZEN_ID = "11010519491231002X"


def run(*args: str):
    return runner.invoke(app, ["check", *args])


def run_json(*args: str) -> tuple[int, dict]:
    result = run(*args, "--json")
    return result.exit_code, json.loads(result.output)  # the whole output is one object


def test_valid_uscc_exits_0_with_chinese_summary():
    result = run("91110000600037341L")
    assert result.exit_code == 0
    assert "统一社会信用代码有效" in result.output
    assert "91110000600037341L" in result.output
    assert "工商/市场监管" in result.output


def test_invalid_uscc_exits_1_and_says_how_to_fix():
    result = run("91110000600037341X")
    assert result.exit_code == 1
    assert "校验位错误" in result.output and "最后一位应为 L" in result.output


def test_json_shape():
    code, data = run_json("９１１１００００６０００３７３４１ｌ")
    assert code == 0
    assert {"valid", "kind", "normalized", "message", "error", "parts"} <= set(data)
    assert data["valid"] is True and data["kind"] == "uscc" and data["error"] is None
    assert data["normalized"] == "91110000600037341L"
    assert data["parts"]["region"] == "110000"


def test_json_invalid_exits_1():
    code, data = run_json("D2143569-1")
    assert code == 1
    assert data["valid"] is False and data["kind"] == "org_code" and data["error"] == "bad_check_digit"


@pytest.mark.parametrize("value", ["12345", "hello world", "９１１１"])
def test_unrecognisable_value_gives_null_kind_and_exit_1(value):
    code, data = run_json(value)
    assert code == 1
    assert data["kind"] is None and data["valid"] is False and data["error"] == "unrecognised"
    assert "无法识别" in data["message"]


@pytest.mark.parametrize(
    ("value", "kind", "expected_exit"),
    [
        ("D2143569-X", "org_code", 0),
        ("91110000600037341L", "org_code", 1),
        ("91110000600037341L", "USCC", 0),
        (CITIZEN_ID, "citizen_id", 0),
    ],
)
def test_explicit_kind(value, kind, expected_exit):
    code, data = run_json(value, "--kind", kind)
    assert code == expected_exit
    assert data["kind"] == kind.lower()


def test_unknown_kind_is_a_usage_error():
    assert run("D2143569-X", "--kind", "passport").exit_code == 2


def test_json_for_citizen_id_is_masked_and_not_reconstructible():
    code, data = run_json(CITIZEN_ID)
    assert code == 0
    assert data["kind"] == "citizen_id" and data["valid"] is True
    assert data["normalized"] == mask_citizen_id(CITIZEN_ID)
    text = json.dumps(data, ensure_ascii=False)
    # neither the ID nor the digits the mask hides (birth date, sequence) appear anywhere
    for secret in (CITIZEN_ID, "19491231", "1949-12-31", "110105"):
        assert secret not in text
    assert data["parts"]["gender"] == "女"


def test_citizen_ids_never_printed_in_clear():
    rng = random.Random(1)
    for _ in range(8):
        cid = generate_citizen_id(rng)
        broken = cid[:10] + str((int(cid[10]) + 1) % 10) + cid[11:]
        for value in (cid, broken, cid[:-1], cid[:6] + cid[8:17]):  # valid, typo, 17 digits, 15 digits
            for extra in ((), ("--json",), ("--kind", "uscc"), ("--kind", "uscc", "--json")):
                result = run(value, *extra)
                assert value not in result.output, (value, extra)
                assert cid not in result.output
                assert cid[6:14] not in result.output  # birth date


def test_legacy_id_summary():
    result = run("110105491231002")
    assert result.exit_code == 0
    assert "1101**********002X" in result.output
    assert "15位" in result.output
    assert "110105491231002" not in result.output and CITIZEN_ID not in result.output


def test_markup_in_value_is_printed_literally():
    result = run("[red]123")
    assert result.exit_code == 1
    assert "无法识别" in result.output
